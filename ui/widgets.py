"""Shared page furniture: page setup, the error guard, state defaults, the model picker, the
gradient-health note, verdicts and the page menu. Widgets only: nothing here loads or computes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import streamlit as st

from vonedemo.checkpoints import CheckpointError, PretrainedNotFoundError
from vonedemo.data import DataError

from .precompute import after_startup
from .settings import tiny_mode
from .text import GLOSSARY, STALLED_WARNING, health_words

if TYPE_CHECKING:
    from streamlit.navigation.page import StreamlitPage

    from .loaders import ModelChoice

# Widgets keep their values across page visits: ``st.slider(..., **KEPT)``.
KEPT = {"persist_state": "session"}

# The app's pages in menu order: (file, menu label, icon). The URL of each page comes from its
# file name without the number ("/Attack_explorer"); the home page lives at "/".
PAGES = (
    ("streamlit_app.py", "Home", "🏠"),
    ("pages/1_Attack_explorer.py", "Attack explorer", "🎯"),
    ("pages/2_Train.py", "Train a model", "🏋️"),
    ("pages/3_Fine-tune.py", "Adversarial fine-tuning", "🛡️"),
    ("pages/4_Compare.py", "Compare with the study", "📊"),
    ("pages/5_Inside_the_VOneBlock.py", "Inside the VOneBlock", "🔬"),
    ("pages/6_Is_it_real.py", "Is it real? The audit", "🔍"),
    ("pages/7_Your_digit.py", "Your digit", "✍️"),
    ("pages/8_Quiz.py", "Predict, then reveal: the quiz", "🗳️"),
    ("pages/9_Presenter.py", "Presenter mode", "📽️"),
)


def navigation(home: Callable[[], None]) -> StreamlitPage:
    """The sidebar menu, with the home page drawn by ``home``. Declared rather than discovered
    from ``pages/``: the discovered menu labels the home page with the entry script's file
    name ("streamlit app")."""
    _, label, icon = PAGES[0]
    menu = [st.Page(home, title=label, icon=icon, default=True)]
    menu += [st.Page(path, title=label, icon=icon) for path, label, icon in PAGES[1:]]
    return st.navigation(menu)


def page_setup(title: str, icon: str, intro: str | None = None) -> None:
    st.set_page_config(page_title=f"{title} · VOneNet lab", page_icon=icon, layout="wide")
    after_startup()  # every page may be a process's first: prepared views (ui.precompute)
    st.title(f"{icon} {title}")
    if intro:
        st.markdown(intro)
    if tiny_mode():
        st.caption("Test mode: models are small untrained stand-ins (`VONEDEMO_APP_MODELS=tiny`).")
    glossary()


def glossary() -> None:
    """The words a class meets on every page, in the sidebar."""
    with st.sidebar.expander("📖 Glossary"):
        for term, meaning in GLOSSARY.items():
            st.markdown(f"**{term}** — {meaning}")


@contextlib.contextmanager
def guard(what: str = "this page") -> Iterator[None]:
    """Turn any error into a short message: a classroom never sees a traceback. Streamlit's own
    rerun/stop signals are BaseExceptions and pass through."""
    try:
        yield
    except PretrainedNotFoundError as e:
        st.info(f"{e}")
    except (CheckpointError, DataError) as e:
        st.error(f"Could not load what {what} needs: {e}")
    except MemoryError:
        st.error("Out of memory: try fewer digits, fewer images or a smaller model.")
    except Exception as e:  # the last line of defence for a live demo
        st.error(f"Something went wrong in {what}: {type(e).__name__}: {e}")


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
    label: str = "Model",
    prefer: Sequence[str] = ("pretrained:basic-cnn",),
    container=st,
    help: str | None = None,
) -> ModelChoice | None:
    """A selectbox over ``choices``; returns the chosen one, or None (with the reason shown)
    when it is not available."""
    if not choices:
        container.info("No model to choose from yet.")
        return None
    by_key = {c.key: c for c in choices}
    available = [c.key for c in choices if c.available]
    default = next(
        (k for k in prefer if k in available), available[0] if available else choices[0].key
    )
    ensure_option(key, list(by_key), default)
    chosen = container.selectbox(
        label,
        list(by_key),
        key=key,
        help=help,
        persist_state="session",
        format_func=lambda k: by_key[k].label + ("" if by_key[k].available else " — not available"),
    )
    choice = by_key[chosen]
    if not choice.available:
        container.info(f"**{choice.label}** is not available: {choice.reason}")
        return None
    return choice


def health_note(
    health: dict,
    images: int,
    eps: float,
    details: str,
    stalled: bool,
    *,
    prefix: str = "Gradient health",
) -> None:
    """Did the attack work? In plain words, the measured figures beneath, a warning if not."""
    st.markdown(f"🩺 **{prefix}:** {health_words(health, images, eps)}")
    st.caption(f"Measured: {details}")
    if stalled:
        st.warning(STALLED_WARNING)


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
    for path, label, icon in PAGES[1:]:
        st.page_link(path, label=label, icon=icon)
