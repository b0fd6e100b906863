"""Adapters from the core's callbacks to Streamlit: progress bars and live plotly charts.

Charts are redrawn into an ``st.empty()`` placeholder every few steps (not every step: a
redraw costs a few milliseconds, a VOne training step tens), each with a fresh key so the same
figure drawn twice never clashes.
"""

from __future__ import annotations

import time

import streamlit as st

from vonedemo.training import EpochInfo, RoundInfo, StepInfo

from . import charts


class ProgressBar:
    """``(done, total)`` callbacks → ``st.progress``."""

    def __init__(self, text: str):
        self.text = text
        self.bar = st.progress(0.0, text=text)

    def __call__(self, done: int, total: int) -> None:
        self.bar.progress(min(1.0, done / max(total, 1)), text=f"{self.text} {done}/{total}")

    def done(self, text: str | None = None) -> None:
        self.bar.progress(1.0, text=text or self.text)


class TrainingMonitor:
    """on_step / on_epoch for :func:`vonedemo.training.train`: a progress bar, a live loss curve
    and accuracy per epoch."""

    def __init__(self, total_steps: int, epochs: int, *, key: str, redraws: int = 40):
        self.total_steps, self.epochs, self.key = total_steps, epochs, key
        self.every = max(1, total_steps // redraws)
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.epoch_rows: list[dict] = []
        self.redraw_count = 0
        self.started = time.perf_counter()
        self.bar = st.progress(0.0, text="Starting…")
        left, right = st.columns(2)
        self.loss_slot, self.acc_slot = left.empty(), right.empty()

    def on_step(self, info: StepInfo) -> None:
        self.steps.append(info.step)
        self.losses.append(info.loss)
        if info.step % self.every == 0 or info.step == info.total_steps:
            elapsed = time.perf_counter() - self.started
            left = elapsed / info.step * (info.total_steps - info.step)
            self.bar.progress(
                min(1.0, info.step / max(info.total_steps, 1)),
                text=f"epoch {info.epoch}/{self.epochs} · step {info.step}/{info.total_steps} · "
                f"loss {info.loss:.3f} · about {left:.0f} s left",
            )
            self.draw_loss()

    def on_epoch(self, info: EpochInfo) -> None:
        self.epoch_rows.append(
            {
                "epoch": info.epoch,
                "train_loss": info.train_loss,
                "train_accuracy": info.train_accuracy,
                "test_accuracy": info.test_accuracy,
                "seconds": info.seconds,
            }
        )
        self.draw_accuracy()

    def draw_loss(self) -> None:
        self.redraw_count += 1
        fig = charts.loss_figure(self.steps, self.losses, self.total_steps)
        self.loss_slot.plotly_chart(fig, key=f"{self.key}_loss_{self.redraw_count}")

    def draw_accuracy(self) -> None:
        self.redraw_count += 1
        fig = charts.accuracy_figure(self.epoch_rows, self.epochs)
        self.acc_slot.plotly_chart(fig, key=f"{self.key}_acc_{self.redraw_count}")

    def finish(self, text: str) -> None:
        self.bar.progress(1.0, text=text)
        self.draw_loss()
        self.draw_accuracy()


class FinetuneMonitor:
    """on_round / on_step for :func:`vonedemo.training.adversarial_finetune`: the curves grow
    round by round beside the study's (dashed)."""

    def __init__(self, rounds: int, study: dict | None, study_label: str, *, key: str):
        self.rounds, self.study, self.study_label, self.key = rounds, study, study_label, key
        self.rows: list[dict] = []
        self.redraw_count = 0
        self.started = time.perf_counter()
        self.bar = st.progress(0.0, text="Scoring the model before fine-tuning…")
        self.slot = st.empty()
        self.last_step_draw = 0.0

    def on_round(self, info: RoundInfo) -> None:
        self.rows.append(
            {
                "round": info.round,
                "clean": 100 * info.clean_accuracy,
                "adversarial": 100 * info.adversarial_accuracy,
                "train_loss": info.train_loss,
                "seconds": info.seconds,
            }
        )
        self.bar.progress(
            min(1.0, info.round / max(self.rounds, 1)),
            text=f"round {info.round}/{self.rounds} · clean {100 * info.clean_accuracy:.1f}% · "
            f"adversarial {100 * info.adversarial_accuracy:.1f}%",
        )
        self.draw()

    def on_step(self, info: StepInfo) -> None:
        now = time.perf_counter()
        if now - self.last_step_draw < 0.5 and info.step != info.total_steps:
            return
        self.last_step_draw = now
        self.bar.progress(
            min(1.0, info.step / max(info.total_steps, 1)),
            text=f"round {info.epoch}/{self.rounds} · step {info.step}/{info.total_steps} · "
            f"loss on FGSM digits {info.loss:.3f}",
        )

    def draw(self) -> None:
        self.redraw_count += 1
        fig = charts.finetune_figure(self.rows, self.rounds, self.study, self.study_label)
        self.slot.plotly_chart(fig, key=f"{self.key}_{self.redraw_count}")
