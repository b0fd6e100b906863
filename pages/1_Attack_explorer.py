"""Attack explorer: pick a model and an attack, move eps, watch digits change their minds."""

import streamlit as st

from ui import compute, loaders, panels, text, widgets
from ui.widgets import KEPT
from vonedemo.attack_view import AttackSettings
from vonedemo.vone import NOISE_MODES

DEFAULTS = {"ae_eps": 0.35, "ae_attack": "fgsm", "ae_gradient": "raw", "ae_eot": 1}
DEFAULTS |= {"ae_pgd_steps": 10, "ae_noise": "neuronal", "ae_n": 16, "ae_seed": 0}
DEFAULTS |= {"ae_sample": 100, "ae_digit": 0, "ae_target": "none"}
TARGETS = ["none", "runner-up", *[str(k) for k in range(10)]]


def _new_sample() -> None:
    st.session_state["ae_seed"] = int(st.session_state.get("ae_seed", 0)) + 1


def _target(choice: str) -> int | str:
    return choice if choice == "runner-up" else int(choice)


def controls_ui() -> tuple[loaders.ModelChoice | None, AttackSettings, int, int]:
    """The sidebar and the eps slider: (model, attack settings, digits shown, larger sample)."""
    side, state = st.sidebar, st.session_state
    choice = widgets.model_picker("ae_model", loaders.model_choices(), container=side)
    side.radio(
        "Attack",
        ["fgsm", "pgd"],
        key="ae_attack",
        horizontal=True,
        format_func=str.upper,
        help=text.ATTACK_HELP,
        **KEPT,
    )
    if state["ae_attack"] == "pgd":
        side.slider("PGD steps", 1, 40, key="ae_pgd_steps", help=text.PGD_STEPS_HELP, **KEPT)
    side.radio(
        "Gradient",
        ["raw", "repaired"],
        key="ae_gradient",
        horizontal=True,
        help=text.GRADIENT_HELP,
        **KEPT,
    )
    side.slider("EOT samples", 1, 8, key="ae_eot", help=text.EOT_HELP, **KEPT)
    side.selectbox("Target", TARGETS, key="ae_target", help=text.DIGIT_TARGET_HELP, **KEPT)
    is_vone = choice is not None and choice.is_vone
    side.radio(
        "Noise (VOne models)",
        list(NOISE_MODES),
        key="ae_noise",
        horizontal=True,
        help=text.NOISE_HELP,
        disabled=not is_vone,
        **KEPT,
    )
    side.select_slider("Digits shown", options=[8, 16, 24, 32], key="ae_n", **KEPT)
    side.number_input(
        "Seed (which digits; noise draws)",
        min_value=0,
        max_value=1_000_000,
        step=1,
        key="ae_seed",
        **KEPT,
    )
    side.button("🎲 New sample", key="ae_new_sample", on_click=_new_sample)
    sizes = [50, 100, 200, 500, 1000]
    side.select_slider(
        "Larger sample (first N test digits)", options=sizes, key="ae_sample", **KEPT
    )
    st.slider(text.EXPLORER_EPS, 0.0, 0.5, step=0.01, key="ae_eps", **KEPT)
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


widgets.page_setup("Attack explorer", "🎯", text.EXPLORER_INTRO)
widgets.init_state(DEFAULTS)

with widgets.guard("the attack explorer"):
    choice, settings, n, limit = controls_ui()
    if choice is not None:
        with st.spinner("Attacking the digits…"):
            view, pictures = compute.explorer_grid(choice, settings, n, settings.seed)
        st.caption(f"{settings.describe()} · model: {choice.label}")
        metrics, health_box = panels.shown_metrics(view)  # the box is filled last (larger sample)
        panels.digit_grid(view, pictures)
        panels.digit_up_close(view)
        panels.larger_sample(choice, settings, limit, metrics, health_box)
