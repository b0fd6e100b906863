"""Train a model from scratch, watch the curves grow, and keep it as a named checkpoint."""

import streamlit as st

from ui import jobs, panels, run_views, settings, text, widgets
from ui.widgets import KEPT
from vonedemo import models

DEFAULTS = {"tr_model": "basic-cnn", "tr_epochs": 1, "tr_lr": 1e-3, "tr_batch": 64}
DEFAULTS |= {"tr_size": 2000, "tr_name": "", "tr_run": None}


def _steer() -> None:
    """A newly picked model starts from settings that train it."""
    st.session_state["tr_lr"] = jobs.recommended_training(st.session_state["tr_model"])["lr"]


def training_ui() -> tuple[str, dict, str]:
    """(model name, the run's sizes, the name to save under — the default when left empty)."""
    left, right = st.columns(2)
    widgets.ensure_option("tr_model", list(models.STUDY_MODELS), "basic-cnn")
    name = left.selectbox(
        "Model",
        list(models.STUDY_MODELS),
        key="tr_model",
        on_change=_steer,
        **KEPT,
        format_func=lambda n: f"{models.model_label(n)} ({n})",
    )
    sizes = jobs.recommended_training(name)["sizes"]
    widgets.ensure_option("tr_size", list(sizes), sizes[0])
    left.slider(
        "Epochs",
        1,
        10,
        key="tr_epochs",
        **KEPT,
        help="The study trained for 10 epochs.",
    )
    left.select_slider(
        "Learning rate",
        options=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
        key="tr_lr",
        **KEPT,
        format_func=lambda v: f"{v:g}",
        help="The study: Adam at 0.001.",
    )
    right.select_slider(
        "Batch size",
        options=[16, 32, 64, 128, 256],
        key="tr_batch",
        **KEPT,
        help="The study: 64.",
    )
    right.select_slider(
        "Training images",
        options=list(sizes),
        key="tr_size",
        **KEPT,
        help="The first N of the 10,000 embedded training digits.",
    )
    state = st.session_state
    default_name = f"{name}-{state['tr_epochs']}ep-{state['tr_size']}img"
    right.text_input(
        "Save as",
        key="tr_name",
        **KEPT,
        placeholder=default_name,
        max_chars=64,
        help=text.TRAIN_NAME_HELP,
    )
    sizes = {"epochs": int(state["tr_epochs"]), "lr": float(state["tr_lr"])}
    sizes |= {"batch": int(state["tr_batch"]), "size": int(state["tr_size"])}
    return name, sizes, state["tr_name"] or default_name


widgets.page_setup("Train a model", "🏋️", text.TRAIN_INTRO)
widgets.init_state(DEFAULTS)

with widgets.guard("the training page"):
    name, sizes, save_as = training_ui()
    size, steps = jobs.training_plan(sizes["size"], sizes["batch"], sizes["epochs"])
    speed = text.TRAIN_SLOW_VONE if models.get_spec(name).vone else text.TRAIN_FAST_BASELINE
    st.caption(f"{steps} steps on {size} images. " + speed)
    st.caption(text.RUN_GOES_ON)
    if st.button("▶ Start training", key="tr_start", type="primary"):
        run_views.keep(jobs.start_training(name, **sizes, save_as=save_as), "tr_run")
    run = run_views.follow("train", "tr_run")
    if run is not None:
        run_views.live(run, panels.training_run)

    saved = settings.app_checkpoints()
    if saved:
        with st.expander(f"Checkpoints saved in this app ({len(saved)})"):
            st.dataframe(
                [{"file": p.name, "size kB": round(p.stat().st_size / 1024)} for p in saved],
                hide_index=True,
                key="tr_saved",
            )
