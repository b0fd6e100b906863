"""The *Your digit* page's sections, drawn from :mod:`ui.digit_views`' results."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from vonedemo.viz import perturbation_rgb

from . import charts, digit_views, exports, text
from .i18n import t
from .pictures import digit_strip, gray_image


def _uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def _perturbation(delta: np.ndarray, eps: float) -> np.ndarray:
    return perturbation_rgb(torch.from_numpy(delta)[None, None], eps if eps > 0 else 1.0)[0]


def seen(digit: bytes) -> None:
    """The 28x28 picture the models see."""
    st.image(gray_image(digit_views.picture(digit), zoom=6), caption=t("text.digit_seen"))


def answers(rows: list[dict]) -> None:
    st.plotly_chart(charts.digit_answers(rows), key="yd_answers")
    st.caption(t("text.digit_spread", passes=digit_views.NOISY_PASSES))


def attacked(digit: bytes, shown: digit_views.DigitAttack, eps: float, label: int, target) -> None:
    """original | adversarial | perturbation, and which models the same picture fools."""
    original = digit_views.picture(digit)
    adversarial = np.frombuffer(shown.adversarial, dtype=np.float32).reshape(28, 28)
    strip = digit_strip(
        _uint8(original), _uint8(adversarial), _perturbation(shown.perturbation, eps)
    )
    st.image(strip, caption=t("digit.attacked_caption"))
    st.markdown(f"🩺 **{t('app.gradient_health')}:** {text.digit_health_words(shown.health, eps)}")
    if shown.stalled and eps > 0:
        st.warning(t("text.digit_not_moved"))
    rows = digit_views.answers(shown.adversarial)
    table = []
    for r in rows:
        reached = r["answer"] == target if isinstance(target, int) else r["answer"] != label
        table.append(
            {
                "model": r["label"],
                "answer on the attacked digit": r["answer"],
                "confidence %": f"{100 * r['confidence']:.0f}",
                "fooled": t("app.yes") if reached else t("app.no"),
            }
        )
    st.markdown(t("text.digit_transfer"))
    table = text.columns(table)
    st.dataframe(table, hide_index=True, key="yd_transfer")
    exports.buttons(
        [
            (
                t("digit.download_picture"),
                exports.png_bytes(strip),
                "your_digit_attacked.png",
                "image/png",
            ),
            (t("app.table_csv"), exports.csv_bytes(table), "your_digit_transfer.csv", "text/csv"),
        ],
        key="yd_download",
    )


def step_through(steps: list, index: int, eps: float, target: int | None) -> None:
    """One step of PGD: its image, its perturbation and the curves up to it."""
    step = steps[index]
    left, right = st.columns([1, 2])
    left.image(
        digit_strip(
            _uint8(steps[0].image), _uint8(step.image), _perturbation(step.perturbation, eps)
        ),
        caption=t(
            "digit.step_caption", step=step.index, last=len(steps) - 1, prediction=step.prediction
        ),
    )
    right.plotly_chart(charts.replay_figure(steps, index, target), key="yd_replay")


PLAY_EVERY_S = 0.7  # one PGD step per tick while playing


# The step shown lives in "yd_at": the play fragment and the buttons move it, and the slider
# (key "yd_step", a widget's own state, which only a full run may set) follows it.
def _advance() -> None:
    st.session_state["yd_at"] = st.session_state.get("yd_at", 0) + 1


def _slid() -> None:
    st.session_state["yd_at"] = st.session_state["yd_step"]


def _tick(last: int) -> None:
    """While playing: one step forward per tick, and a stop at the last step."""
    state = st.session_state
    if not state.get("yd_playing"):
        return
    if state.get("yd_at", 0) >= last:
        state["yd_playing"] = False
    else:
        state["yd_at"] = state.get("yd_at", 0) + 1
    st.rerun()


def pgd_section(digit: bytes, run: dict) -> None:
    """PGD step by step: play / pause / step and a step slider over iterates computed once."""
    st.subheader(t("digit.pgd_header"))
    steps = digit_views.replay(
        run["model"], digit, run["label"], run["eps"], run["steps"], run["gradient"], run["target"]
    )
    last = len(steps) - 1
    state = st.session_state
    b1, b2, b3 = st.columns(3)
    b1.button(t("digit.play"), key="yd_play", on_click=lambda: state.update(yd_playing=True))
    b2.button(t("digit.pause"), key="yd_pause", on_click=lambda: state.update(yd_playing=False))
    b3.button(t("digit.next"), key="yd_next", on_click=_advance)
    state["yd_at"] = min(int(state.get("yd_at", 0)), last)
    state["yd_step"] = state["yd_at"]  # before the slider exists in this run: allowed
    st.slider(t("digit.step"), 0, last, key="yd_step", on_change=_slid)
    step_through(steps, int(state["yd_at"]), run["eps"], run["target"])
    if state.get("yd_playing"):
        st.fragment(_tick, run_every=PLAY_EVERY_S)(last)
