"""Lesson links: a page's state in its URL (``st.query_params``), so that a link opens exactly
the same view.

Each page declares its parameters once (a :class:`Choice`, :class:`Int`, :class:`Float` or
:class:`Flag` per setting: its name in the URL, its session-state key, what it may be). On the
page's first run in a session the URL's values are checked one by one: a valid value replaces
the default, a forged or stale one (an unknown model, eps out of range, a huge or non-numeric
seed, markup) is dropped with a short notice that names the parameter, never its value. Every
run writes the page's state back into the URL and shows the link to copy; the URL is read again
whenever it holds settings the session did not write (a new link opened in the same tab).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import streamlit as st

from vonedemo import models
from vonedemo import vone_views as vv
from vonedemo.vone import NOISE_MODES

from . import block_views, digit_views, i18n, jobs, loaders
from .i18n import t

INTEGER = re.compile(r"\d{1,9}")  # digits only, and few: a huge seed is refused, not parsed
KEEP = ("run",)  # URL parameters that are not page settings (a background run's id)
TARGETS = ("none", "runner-up", *[str(k) for k in range(10)])
GRADIENTS = ("raw", "repaired")
ATTACKS = ("fgsm", "pgd")

Options = Sequence | Callable[[], Sequence]


def _resolve(values: Options) -> Sequence:
    return values() if callable(values) else values


@dataclass(frozen=True)
class Choice:
    """One of fixed options (strings, numbers): matched by its text in the URL."""

    name: str  # in the URL
    key: str  # in the session
    options: Options

    def parse(self, text: str):
        for option in _resolve(self.options):
            if str(option) == text:
                return option
        raise ValueError(self.name)


@dataclass(frozen=True)
class Int:
    """A whole number within [low, high] (``high`` may be worked out when the link is read)."""

    name: str
    key: str
    low: int
    high: int | Callable[[], int]

    def parse(self, text: str) -> int:
        high = self.high() if callable(self.high) else self.high
        if not INTEGER.fullmatch(text) or not self.low <= int(text) <= high:
            raise ValueError(self.name)
        return int(text)


@dataclass(frozen=True)
class Float:
    """A number within [low, high] on the slider's grid of ``digits`` decimals."""

    name: str
    key: str
    low: float
    high: float
    digits: int = 2

    def parse(self, text: str) -> float:
        if len(text) > 12:
            raise ValueError(self.name)
        try:
            value = float(text)
        except ValueError:
            raise ValueError(self.name) from None
        if not math.isfinite(value) or not self.low <= value <= self.high:
            raise ValueError(self.name)
        return round(value, self.digits)


@dataclass(frozen=True)
class Flag:
    """On or off: ``1`` / ``0`` in the URL."""

    name: str
    key: str

    def parse(self, text: str) -> bool:
        if text not in ("0", "1"):
            raise ValueError(self.name)
        return text == "1"


Param = Choice | Int | Float | Flag


@dataclass(frozen=True)
class Page:
    """A page's lesson-link parameters."""

    name: str  # which page (the session remembers that its link was read)
    params: tuple[Param, ...]


def _text(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _models(**which) -> Callable[[], list[str]]:
    return lambda: [c.key for c in loaders.model_choices(**which)]


def _test_digits() -> int:
    return len(loaders.test_data()) - 1


HOME = Page("home", (Int("digit", "home_index", 0, 1_000_000),))
EXPLORER = Page(
    "explorer",
    (
        Choice("model", "ae_model", _models()),
        Choice("attack", "ae_attack", ATTACKS),
        Float("eps", "ae_eps", 0.0, 0.5),
        Choice("gradient", "ae_gradient", GRADIENTS),
        Int("eot", "ae_eot", 1, 8),
        Int("steps", "ae_pgd_steps", 1, 40),
        Choice("target", "ae_target", TARGETS),
        Choice("noise", "ae_noise", tuple(NOISE_MODES)),
        Choice("n", "ae_n", (8, 16, 24, 32)),
        Int("seed", "ae_seed", 0, 1_000_000),
        Choice("sample", "ae_sample", (50, 100, 200, 500, 1000)),
        Int("digit", "ae_digit", 0, 31),
    ),
)
TRAIN = Page(
    "train",
    (
        Choice("model", "tr_model", tuple(models.STUDY_MODELS)),
        Int("epochs", "tr_epochs", 1, 10),
        Choice("lr", "tr_lr", (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)),
        Choice("batch", "tr_batch", (16, 32, 64, 128, 256)),
        Choice("size", "tr_size", jobs.TRAINING_SIZES),
    ),
)
FINETUNE = Page(
    "finetune",
    (
        Choice("model", "ft_model", _models()),
        Float("eps", "ft_eps", 0.0, 0.5),
        Int("rounds", "ft_rounds", 1, 30),
        Choice("gradient", "ft_gradient", GRADIENTS),
        Choice("lr", "ft_lr", (1e-5, 3e-5, 1e-4, 3e-4, 1e-3)),
        Choice("train", "ft_train", (250, 500, 1000, 2000, 5000, 10000)),
        Choice("eval", "ft_eval", (50, 100, 200, 500, 1000)),
    ),
)
COMPARE = Page("compare", (Choice("limit", "cmp_limit", (20, 50, 100, 200, 500, 1000)),))
VONE = Page(
    "vone",
    (
        Choice("source", "v1_source", lambda: list(block_views.block_sources()[0])),
        Choice("sort", "v1_sort", tuple(vv.SORT_KEYS)),
        Flag("desc", "v1_desc"),
        Choice("cells", "v1_kind", tuple(vv.CELL_KINDS)),
        Choice("part", "v1_part", ("q0", "q1")),
        Int("count", "v1_count", 1, 4096),  # the page keeps it among the counts its cells allow
        Int("digit", "v1_index", 0, _test_digits),
        Int("channel", "v1_channel", 0, 4096),
        Int("samples", "v1_noise_n", 1, 8),
        Float("eps", "v1_eps", 0.0, 0.5),
        Choice("gradient", "v1_gradient", GRADIENTS),
    ),
)
AUDIT = Page(
    "audit",
    (
        Choice("model", "real_model", _models(include_app=False)),
        Choice("limit", "real_limit", (20, 50, 100, 200)),
    ),
)
DIGIT = Page(
    "digit",
    (
        Choice("model", "yd_model", lambda: [c.key for c in digit_views.shipped_models()]),
        Choice("attack", "yd_attack", ATTACKS),
        Choice("gradient", "yd_gradient", GRADIENTS),
        Choice("target", "yd_target", TARGETS),
        Float("eps", "yd_eps", 0.0, 0.5),
        Int("steps", "yd_steps", 1, 60),
    ),
)


def read(page: Page, query: dict[str, str]) -> tuple[dict[str, object], list[str]]:
    """({session key: valid value} from ``query``, the names of the parameters refused)."""
    values, refused = {}, []
    for param in page.params:
        if param.name not in query:
            continue
        try:
            values[param.key] = param.parse(str(query[param.name]))
        except Exception:  # a forged link must never stop the page: every failure is a refusal
            refused.append(param.name)
    asked_lang = query.get(i18n.LANG_KEY)
    if asked_lang is not None and asked_lang not in i18n.LANGUAGES:
        refused.append(i18n.LANG_KEY)
    return values, refused


def _written_key(page: Page) -> str:
    return f"_link_{page.name}"


# How many of its own URLs a session remembers. A rerun that a quick widget move asks for can
# carry a URL this session wrote a few runs ago (the browser had not yet taken the newer one):
# such a URL is an echo, not a link, and must not undo the move.
WRITTEN_KEPT = 64


def restore(page: Page, defaults: dict) -> None:
    """The page's defaults in the session, then the URL's valid settings over them — when the
    URL holds settings this session did not write there itself (a link just opened, maybe in a
    tab that already had the page) — with a notice for any it refused."""
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)
    query = st.query_params.to_dict()
    asked = {p.name: query[p.name] for p in page.params if p.name in query}
    refused = []
    if asked and asked not in st.session_state.get(_written_key(page), ()):
        values, refused = read(page, asked)
        st.session_state.update(values)
    if st.session_state.pop(i18n.REFUSED_KEY, False):
        refused.append(i18n.LANG_KEY)  # the selector has mended the URL already
    if refused:
        st.warning(t("links.fallback", names=", ".join(refused)))


def current(page: Page) -> dict[str, str]:
    """The page's settings as URL parameters (and the language)."""
    state = st.session_state
    query = {p.name: _text(state[p.key]) for p in page.params if state.get(p.key) is not None}
    return query | {i18n.LANG_KEY: i18n.language()}


def share(page: Page) -> None:
    """Write the page's settings into the URL and show the link, ready to copy."""
    query = current(page)
    written = {k: v for k, v in query.items() if k != i18n.LANG_KEY}
    history = [q for q in st.session_state.get(_written_key(page), ()) if q != written]
    st.session_state[_written_key(page)] = (history + [written])[-WRITTEN_KEPT:]
    kept = {k: st.query_params[k] for k in KEEP if k in st.query_params}
    if st.query_params.to_dict() != query | kept:
        st.query_params.from_dict(query | kept)
    link = f"{st.context.url or ''}?{urlencode(query | kept)}"
    with st.sidebar.expander(t("links.title")):
        st.caption(t("links.help"))
        st.code(link, language=None, wrap_lines=True)
