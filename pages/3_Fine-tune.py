"""The study's experiment, live: fine-tune on FGSM digits and watch both accuracies move."""

import streamlit as st

from ui import jobs, loaders, panels, run_views, text, widgets
from ui.widgets import KEPT

# Whole passes over the training digits, as the study: on a baseline five take about a minute.
DEFAULTS = {"ft_eps": 0.35, "ft_rounds": 5, "ft_lr": 1e-4, "ft_train": 10000, "ft_eval": 500}
DEFAULTS |= {"ft_gradient": "raw", "ft_name": "", "ft_run": None}


def finetune_ui() -> tuple[loaders.ModelChoice | None, dict]:
    """(the model to fine-tune, the run's settings)."""
    choice = widgets.model_picker("ft_model", loaders.model_choices(), label="Model to fine-tune")
    left, right = st.columns(2)
    left.slider(
        "eps of the training (and test) attack",
        0.0,
        0.5,
        step=0.01,
        key="ft_eps",
        **KEPT,
    )
    left.slider("Rounds", 1, 30, key="ft_rounds", **KEPT, help="The study ran 30.")
    left.radio(
        "Gradient",
        ["raw", "repaired"],
        key="ft_gradient",
        horizontal=True,
        help=text.FINETUNE_GRADIENT_HELP,
        **KEPT,
    )
    left.select_slider(
        "Learning rate",
        options=[1e-5, 3e-5, 1e-4, 3e-4, 1e-3],
        key="ft_lr",
        **KEPT,
        format_func=lambda v: f"{v:g}",
        help="The study: 1e-4.",
    )
    right.select_slider(
        "Training images per round",
        options=[250, 500, 1000, 2000, 5000, 10000],
        key="ft_train",
        help="10,000: one whole pass over the training digits per round, as the study.",
        **KEPT,
    )
    right.select_slider(
        "Test images scored per round",
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
        "Save the fine-tuned model as",
        key="ft_name",
        **KEPT,
        placeholder=default_name,
        max_chars=64,
    )
    if st.button("💾 Save", key="ft_save"):
        return st.session_state["ft_name"] or default_name
    return None


widgets.page_setup("Adversarial fine-tuning", "🛡️", text.FINETUNE_INTRO)
widgets.init_state(DEFAULTS)

with widgets.guard("the fine-tuning page"):
    choice, run = finetune_ui()
    study, study_label = jobs.study_curves_for(choice)
    if choice is not None and study is None:
        st.caption("The study has no fine-tuning curve for this model.")
    if choice is not None and choice.is_vone:
        st.caption(text.FINETUNE_SLOW_VONE)

    if choice is not None and st.button("▶ Start fine-tuning", key="ft_start", type="primary"):
        started = jobs.start_finetune(choice, **run, study=study, study_label=study_label)
        run_views.keep(started, "ft_run")
    following = run_views.follow("finetune", "ft_run")
    if following is not None:
        run_views.live(following, panels.finetuning_run)
        last = following.snapshot().result
        if last and last["saved"]:
            st.success(f"Saved as **{last['saved']}** — pick it on the other pages.")
        elif last and (save_as := save_ui(last)):
            path = jobs.save_finetuned(last, save_as)
            st.success(f"Saved as **{path.name}** — pick it on the other pages.")
