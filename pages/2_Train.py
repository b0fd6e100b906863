"""Train a model from scratch, watch the curves grow, and keep it as a named checkpoint."""

import streamlit as st

from ui import jobs, links, panels, run_views, settings, text, widgets
from ui.i18n import t
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
        t("app.model"),
        list(models.STUDY_MODELS),
        key="tr_model",
        on_change=_steer,
        **KEPT,
        format_func=lambda n: f"{models.model_label(n)} ({n})",
    )
    sizes = jobs.recommended_training(name)["sizes"]
    widgets.ensure_option("tr_size", list(sizes), sizes[0])
    left.slider(
        t("train.epochs"),
        1,
        10,
        key="tr_epochs",
        **KEPT,
        help=t("train.epochs_help"),
    )
    left.select_slider(
        t("app.learning_rate"),
        options=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
        key="tr_lr",
        **KEPT,
        format_func=lambda v: f"{v:g}",
        help=t("train.lr_help"),
    )
    right.select_slider(
        t("train.batch"),
        options=[16, 32, 64, 128, 256],
        key="tr_batch",
        **KEPT,
        help=t("train.batch_help"),
    )
    right.select_slider(
        t("train.images"),
        options=list(sizes),
        key="tr_size",
        **KEPT,
        help=t("train.images_help"),
    )
    state = st.session_state
    default_name = f"{name}-{state['tr_epochs']}ep-{state['tr_size']}img"
    right.text_input(
        t("train.save_as"),
        key="tr_name",
        **KEPT,
        placeholder=default_name,
        max_chars=64,
        help=t("text.train_name_help"),
    )
    sizes = {"epochs": int(state["tr_epochs"]), "lr": float(state["tr_lr"])}
    sizes |= {"batch": int(state["tr_batch"]), "size": int(state["tr_size"])}
    return name, sizes, state["tr_name"] or default_name


widgets.page_setup(t("train.title"), "🏋️", t("text.train_intro"))
links.restore(links.TRAIN, DEFAULTS)

with widgets.guard(t("train.guard")):
    name, sizes, save_as = training_ui()
    size, steps = jobs.training_plan(sizes["size"], sizes["batch"], sizes["epochs"])
    st.caption(text.training_plan(steps, size, slow=models.get_spec(name).vone))
    st.caption(t("text.run_goes_on"))
    if st.button(t("train.start"), key="tr_start", type="primary"):
        run_views.keep(jobs.start_training(name, **sizes, save_as=save_as), "tr_run")
    run = run_views.follow("train", "tr_run")
    if run is not None:
        run_views.live(run, panels.training_run)

    saved = settings.app_checkpoints()
    if saved:
        with st.expander(t("train.saved", n=len(saved))):
            rows = [{"file": p.name, "size kB": round(p.stat().st_size / 1024)} for p in saved]
            st.dataframe(text.columns(rows), hide_index=True, key="tr_saved")
links.share(links.TRAIN)
