"""The words the app shows, in English and Korean.

One structured catalog per language, ``ui/locales/<lang>.toml``: a table per page or part of the
app, a key per string (``t("explorer.title")``). Placeholders use ``str.format`` names
(``t("common.digits", n=3)``). The language is chosen in the sidebar or by ``?lang=ko`` and kept
in the session; outside a running app (tests of the wording, background threads) it is English
unless given (``tr("ko", key)``)."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

LOCALES = Path(__file__).resolve().parent / "locales"
LANGUAGES = {"en": "English", "ko": "한국어"}
DEFAULT_LANGUAGE = "en"
LANG_KEY = "lang"  # session-state key and query parameter
SELECTOR_KEY = "lang_select"  # the sidebar selector's own widget state


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


REFUSED_KEY = "_lang_refused"  # the URL asked for a language the app does not have


def _asked() -> str | None:
    """The language the URL asks for, if it names a known one (an unknown one is noted for the
    lesson link's notice, never shown)."""
    asked = st.query_params.get(LANG_KEY)
    if asked is not None and asked not in LANGUAGES:
        st.session_state[REFUSED_KEY] = True
    return asked if asked in LANGUAGES else None


def language() -> str:
    """The session's language: ``?lang=`` when the URL names one (a shared link, the first
    visit), else the session's choice; English outside a running app."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return DEFAULT_LANGUAGE
    asked = _asked()
    if asked is not None:
        st.session_state[LANG_KEY] = asked
    return st.session_state.setdefault(LANG_KEY, DEFAULT_LANGUAGE)


def tr(lang: str, key: str, **values: object) -> str:
    """The string ``key`` in ``lang`` (for words made away from the session, e.g. a cached view
    keyed on the language). A missing key raises ``KeyError``: the catalog tests keep both
    languages complete."""
    text = catalog(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)[key]
    return text.format(**values) if values else text


def t(key: str, **values: object) -> str:
    """The string ``key`` in the session's language."""
    return tr(language(), key, **values)


def _chosen() -> None:
    """The language changed. (A widget whose options are words gets new labels, so Streamlit
    makes it anew from its key's value in the session: the choice survives the switch.)"""
    state = st.session_state
    state[LANG_KEY] = state[SELECTOR_KEY]
    st.query_params[LANG_KEY] = state[LANG_KEY]


def selector() -> None:
    """The sidebar's language choice; the URL's ``?lang=`` follows it, so a copied link opens
    in the same language."""
    lang = language()
    st.session_state[SELECTOR_KEY] = lang
    st.sidebar.selectbox(
        f"🌐 {t('common.language')}",
        list(LANGUAGES),
        key=SELECTOR_KEY,
        format_func=LANGUAGES.get,
        on_change=_chosen,
    )
    if st.query_params.get(LANG_KEY) != lang:
        st.query_params[LANG_KEY] = lang
