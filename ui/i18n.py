"""The words the app shows, in English and Korean.

One structured catalog per language, ``ui/locales/<lang>.toml``: a table per page or part of the
app, a key per string (``t("quiz.vote_button")``). Placeholders use ``str.format`` names
(``t("quiz.votes", n=3)``). The language is chosen in the sidebar or by ``?lang=ko`` and kept in
the session."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

import streamlit as st

LOCALES = Path(__file__).resolve().parent / "locales"
LANGUAGES = {"en": "English", "ko": "한국어"}
DEFAULT_LANGUAGE = "en"
LANG_KEY = "lang"  # session-state key and query parameter


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    """Every key of one language's catalog, flattened to ``"table.key"``."""
    with open(LOCALES / f"{lang}.toml", "rb") as f:
        tree = tomllib.load(f)
    flat: dict[str, str] = {}

    def walk(prefix: str, node: dict) -> None:
        for name, value in node.items():
            key = f"{prefix}{name}"
            if isinstance(value, dict):
                walk(f"{key}.", value)
            else:
                flat[key] = str(value)

    walk("", tree)
    return flat


def language() -> str:
    """The session's language: ``?lang=`` on first visit, then whatever the sidebar chose."""
    if LANG_KEY not in st.session_state:
        asked = st.query_params.get(LANG_KEY, DEFAULT_LANGUAGE)
        st.session_state[LANG_KEY] = asked if asked in LANGUAGES else DEFAULT_LANGUAGE
    return st.session_state[LANG_KEY]


def t(key: str, **values: object) -> str:
    """The string ``key`` in the session's language. A key missing from the catalog raises
    ``KeyError``: the catalog tests keep both languages complete."""
    text = catalog(language())[key]
    return text.format(**values) if values else text
