"""Shared page furniture: page setup, the error guard, state defaults, the model picker, the
gradient-health note, verdicts and the page menu. Widgets only: nothing here loads or computes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import streamlit as st

from vonedemo.checkpoints import CheckpointError, PretrainedNotFoundError
from vonedemo.data import DataError

from . import i18n
from .i18n import t
from .precompute import after_startup
from .settings import tiny_mode
from .text import glossary as glossary_terms
from .text import health_figures, health_words

if TYPE_CHECKING:
    from streamlit.navigation.page import StreamlitPage

    from .loaders import ModelChoice

# Widgets keep their values across page visits: ``st.slider(..., **KEPT)``.
KEPT = {"persist_state": "session"}

# The app's pages in menu order: (file, menu label's key in the catalogs' [menu], icon). The URL
# of each page comes from its file name without the number ("/Attack_explorer"), never from its
# label, so a link works in every language; the home page lives at "/".
PAGES = (
    ("streamlit_app.py", "home", "🏠"),
    ("pages/1_Attack_explorer.py", "attack_explorer", "🎯"),
    ("pages/2_Train.py", "train", "🏋️"),
    ("pages/3_Fine-tune.py", "fine_tune", "🛡️"),
    ("pages/4_Compare.py", "compare", "📊"),
    ("pages/5_Inside_the_VOneBlock.py", "inside_the_vone_block", "🔬"),
    ("pages/6_Is_it_real.py", "is_it_real", "🔍"),
    ("pages/7_Your_digit.py", "your_digit", "✍️"),
    ("pages/8_Quiz.py", "quiz", "🗳️"),
    ("pages/9_Presenter.py", "presenter", "📽️"),
)


def menu_label(key: str) -> str:
    """A page's menu label in the session's language (a label not yet in the catalogs' [menu]
    shows as written; ``tests/test_i18n.py`` asks for every page's key)."""
    try:
        return t(f"menu.{key}")
    except KeyError:
        return key


def navigation(home: Callable[[], None]) -> StreamlitPage:
    """The sidebar menu, with the home page drawn by ``home``. Declared rather than discovered
    from ``pages/``: the discovered menu labels the home page with the entry script's file
    name ("streamlit app")."""
    _, key, icon = PAGES[0]
    menu = [st.Page(home, title=menu_label(key), icon=icon, default=True)]
    menu += [st.Page(path, title=menu_label(key), icon=icon) for path, key, icon in PAGES[1:]]
    return st.navigation(menu)


def page_setup(title: str, icon: str, intro: str | None = None) -> None:
    """The page's title and introduction, the sidebar's language choice and glossary."""
    st.set_page_config(page_title=f"{title} · {t('app.app_suffix')}", page_icon=icon, layout="wide")
    after_startup()  # every page may be a process's first: prepared views (ui.precompute)
    i18n.selector()
    st.title(f"{icon} {title}")
    if intro:
        st.markdown(intro)
    if tiny_mode():
        st.caption(t("app.tiny_mode"))
    glossary()


def glossary() -> None:
    """The words a class meets on every page, in the sidebar."""
    with st.sidebar.expander(t("app.glossary")):
        for term, meaning in glossary_terms().items():
            st.markdown(f"**{term}** — {meaning}")


@contextlib.contextmanager
def guard(what: str | None = None) -> Iterator[None]:
    """Turn any error into a short message: a classroom never sees a traceback. Streamlit's own
    rerun/stop signals are BaseExceptions and pass through."""
    what = what or t("app.guard_page")
    try:
        yield
    except PretrainedNotFoundError as e:
        st.info(f"{e}")
    except (CheckpointError, DataError) as e:
        st.error(t("app.guard_load", what=what, error=e))
    except MemoryError:
        st.error(t("app.guard_memory"))
    except Exception as e:  # the last line of defence for a live demo
        st.error(t("app.guard_other", what=what, kind=type(e).__name__, error=e))


def init_state(defaults: dict) -> None:
    """``st.session_state.setdefault`` for every default of a page."""
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def ensure_option(key: str, options: Sequence, default) -> None:
    """Reset ``key`` to ``default`` when its value is no longer among ``options``."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


def model_picker(
    key: str,
    choices: Sequence[ModelChoice],
    *,
    label: str | None = None,
    prefer: Sequence[str] = ("pretrained:basic-cnn",),
    container=st,
    help: str | None = None,
) -> ModelChoice | None:
    """A selectbox over ``choices``; returns the chosen one, or None (with the reason shown)
    when it is not available."""
    if not choices:
        container.info(t("app.no_models"))
        return None
    by_key = {c.key: c for c in choices}
    available = [c.key for c in choices if c.available]
    default = next(
        (k for k in prefer if k in available), available[0] if available else choices[0].key
    )
    ensure_option(key, list(by_key), default)
    suffix = t("app.not_available_suffix")
    chosen = container.selectbox(
        label or t("app.model"),
        list(by_key),
        key=key,
        help=help,
        persist_state="session",
        format_func=lambda k: by_key[k].label + ("" if by_key[k].available else suffix),
    )
    choice = by_key[chosen]
    if not choice.available:
        container.info(t("app.not_available", label=choice.label, reason=choice.reason))
        return None
    return choice


def health_note(
    health: dict,
    images: int,
    eps: float,
    stalled: bool,
    *,
    prefix: str | None = None,
) -> None:
    """Did the attack work? In plain words, the measured figures beneath, a warning if not."""
    prefix = prefix or t("app.gradient_health")
    st.markdown(f"🩺 **{prefix}:** {health_words(health, images, eps)}")
    st.caption(t("app.measured", details=health_figures(health, eps)))
    if stalled:
        st.warning(t("text.stalled_warning"))


def verdict(pred: int, conf: float, label: int) -> str:
    colour = "green" if pred == label else "red"
    return f":{colour}[**{pred}**] ({100 * conf:.0f}%)"


def before_after(view, i: int, *, before: str, after: str, sep: str) -> str:
    """ "<before> <verdict> <sep> <after> <verdict>" for digit ``i`` of an attack view."""
    label = int(view.labels[i])
    clean = verdict(int(view.clean_pred[i]), float(view.clean_confidence[i]), label)
    adv = verdict(int(view.adv_pred[i]), float(view.adv_confidence[i]), label)
    return f"{before} {clean}{sep}{after} {adv}"


def page_links() -> None:
    for path, key, icon in PAGES[1:]:
        st.page_link(path, label=menu_label(key), icon=icon)
