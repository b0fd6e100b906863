"""Attack explorer: pick a model and an attack, move eps, watch digits change their minds."""

import streamlit as st

from ui import compute, links, loaders, panels, text, widgets
from ui.i18n import t
from ui.widgets import KEPT
from vonedemo.attack_view import AttackSettings
from vonedemo.vone import NOISE_MODES

DEFAULTS = {"ae_eps": 0.35, "ae_attack": "fgsm", "ae_gradient": "raw", "ae_eot": 1}
DEFAULTS |= {"ae_pgd_steps": 10, "ae_noise": "neuronal", "ae_n": 16, "ae_seed": 0}
DEFAULTS |= {"ae_sample": 100, "ae_digit": 0, "ae_target": "none"}


def _new_sample() -> None:
    st.session_state["ae_seed"] = int(st.session_state.get("ae_seed", 0)) + 1


def _target(choice: str) -> int | str:
    return choice if choice == "runner-up" else int(choice)


def controls_ui() -> tuple[loaders.ModelChoice | None, AttackSettings, int, int]:
    """The sidebar and the eps slider: (model, attack settings, digits shown, larger sample)."""
    side, state, words = st.sidebar, st.session_state, {"format_func": text.option_label(), **KEPT}
    choice = widgets.model_picker("ae_model", loaders.model_choices(), container=side)
    side.radio(
        t("app.attack"),
        list(links.ATTACKS),
        key="ae_attack",
        horizontal=True,
        help=t("text.attack_help"),
        **words,
    )
    if state["ae_attack"] == "pgd":
        side.slider(
            t("app.pgd_steps"), 1, 40, key="ae_pgd_steps", help=t("text.pgd_steps_help"), **KEPT
        )
    side.radio(
        t("app.gradient"),
        list(links.GRADIENTS),
        key="ae_gradient",
        horizontal=True,
        help=t("text.gradient_help"),
        **words,
    )
    side.slider(t("explorer.eot"), 1, 8, key="ae_eot", help=t("text.eot_help"), **KEPT)
    side.selectbox(
        t("explorer.target"),
        links.TARGETS,
        key="ae_target",
        help=t("text.digit_target_help"),
        **words,
    )
    is_vone = choice is not None and choice.is_vone
    side.radio(
        t("explorer.noise"),
        list(NOISE_MODES),
        key="ae_noise",
        horizontal=True,
        help=t("text.noise_help"),
        disabled=not is_vone,
        **words,
    )
    side.select_slider(t("explorer.digits_shown"), options=[8, 16, 24, 32], key="ae_n", **KEPT)
    side.number_input(
        t("explorer.seed"), min_value=0, max_value=1_000_000, step=1, key="ae_seed", **KEPT
    )
    side.button(t("explorer.new_sample"), key="ae_new_sample", on_click=_new_sample)
    sizes = [50, 100, 200, 500, 1000]
    side.select_slider(t("explorer.larger"), options=sizes, key="ae_sample", **KEPT)
    st.slider(t("text.explorer_eps"), 0.0, 0.5, step=0.01, key="ae_eps", **KEPT)
    settings = AttackSettings(
        attack=state["ae_attack"],
        eps=round(float(state["ae_eps"]), 4),
        gradient=state["ae_gradient"],
        eot_samples=int(state["ae_eot"]),
        pgd_steps=int(state["ae_pgd_steps"]),
        noise=state["ae_noise"] if is_vone else None,
        seed=int(state["ae_seed"]),
        target=None if state["ae_target"] == "none" else _target(state["ae_target"]),
    )
    return choice, settings, int(state["ae_n"]), int(state["ae_sample"])


widgets.page_setup(t("explorer.title"), "🎯", t("text.explorer_intro"))
links.restore(links.EXPLORER, DEFAULTS)

with widgets.guard(t("explorer.guard")):
    choice, settings, n, limit = controls_ui()
    if choice is not None:
        with st.spinner(t("explorer.spinner")):
            view, pictures = compute.explorer_grid(choice, settings, n, settings.seed)
        st.caption(t("explorer.caption", settings=text.describe(settings), model=choice.label))
        metrics, health_box = panels.shown_metrics(view)  # the box is filled last (larger sample)
        panels.digit_grid(view, pictures)
        panels.digit_up_close(view)
        panels.larger_sample(choice, settings, limit, metrics, health_box)
links.share(links.EXPLORER)
