"""The study's experiment, live: fine-tune on FGSM digits and watch both accuracies move."""

import streamlit as st

from ui import jobs, links, loaders, panels, run_views, text, widgets
from ui.i18n import t
from ui.widgets import KEPT

# Whole passes over the training digits, as the study: on a baseline five take about a minute.
DEFAULTS = {"ft_eps": 0.35, "ft_rounds": 5, "ft_lr": 1e-4, "ft_train": 10000, "ft_eval": 500}
DEFAULTS |= {"ft_gradient": "raw", "ft_name": "", "ft_run": None}


def finetune_ui() -> tuple[loaders.ModelChoice | None, dict]:
    """(the model to fine-tune, the run's settings)."""
    choice = widgets.model_picker("ft_model", loaders.model_choices(), label=t("finetune.model"))
    left, right = st.columns(2)
    left.slider(t("finetune.eps"), 0.0, 0.5, step=0.01, key="ft_eps", **KEPT)
    left.slider(
        t("finetune.rounds"), 1, 30, key="ft_rounds", **KEPT, help=t("finetune.rounds_help")
    )
    left.radio(
        t("app.gradient"),
        list(links.GRADIENTS),
        key="ft_gradient",
        horizontal=True,
        format_func=text.option_label(),
        help=t("text.finetune_gradient_help"),
        **KEPT,
    )
    left.select_slider(
        t("app.learning_rate"),
        options=[1e-5, 3e-5, 1e-4, 3e-4, 1e-3],
        key="ft_lr",
        **KEPT,
        format_func=lambda v: f"{v:g}",
        help=t("finetune.lr_help"),
    )
    right.select_slider(
        t("finetune.train"),
        options=[250, 500, 1000, 2000, 5000, 10000],
        key="ft_train",
        help=t("finetune.train_help"),
        **KEPT,
    )
    right.select_slider(
        t("finetune.eval"),
        options=[50, 100, 200, 500, 1000],
        key="ft_eval",
        **KEPT,
    )
    state = st.session_state
    run = {"rounds": int(state["ft_rounds"]), "lr": float(state["ft_lr"])}
    run |= {"eps": float(state["ft_eps"]), "train_limit": int(state["ft_train"])}
    run |= {"gradient": state["ft_gradient"]}
    return choice, run | {"eval_limit": int(state["ft_eval"])}


def save_ui(last: dict) -> str | None:
    """The name to save the fine-tuned model under, once the save button is pressed."""
    default_name = f"{last['name'] or 'model'}-ft{len(last['rows']) - 1}"
    st.text_input(
        t("finetune.save_as"),
        key="ft_name",
        **KEPT,
        placeholder=default_name,
        max_chars=64,
    )
    if st.button(t("finetune.save"), key="ft_save"):
        return st.session_state["ft_name"] or default_name
    return None


widgets.page_setup(t("finetune.title"), "🛡️", t("text.finetune_intro"))
links.restore(links.FINETUNE, DEFAULTS)

with widgets.guard(t("finetune.guard")):
    choice, run = finetune_ui()
    study, study_label = jobs.study_curves_for(choice)
    if choice is not None and study is None:
        st.caption(t("finetune.no_study"))
    if choice is not None and choice.is_vone:
        st.caption(t("text.finetune_slow_vone"))

    if choice is not None and st.button(t("finetune.start"), key="ft_start", type="primary"):
        started = jobs.start_finetune(choice, **run, study=study, study_label=study_label)
        run_views.keep(started, "ft_run")
    following = run_views.follow("finetune", "ft_run")
    if following is not None:
        run_views.live(following, panels.finetuning_run)
        last = following.snapshot().result
        if last and last["saved"]:
            st.success(t("app.saved_as", name=last["saved"]))
        elif last and (save_as := save_ui(last)):
            path = jobs.save_finetuned(last, save_as)
            st.success(t("app.saved_as", name=path.name))
    else:  # nothing running: the study's experiment as committed, for this model
        panels.committed_finetuning(choice, study, study_label)
links.share(links.FINETUNE)
