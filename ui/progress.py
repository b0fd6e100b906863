"""Adapters from the core's callbacks to Streamlit: progress bars and live plotly charts.

Charts are redrawn into an ``st.empty()`` placeholder every few steps (not every step: a
redraw costs a few milliseconds, a VOne training step tens), each with a fresh key so the same
figure drawn twice never clashes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import streamlit as st

from vonedemo.progress import Progress

from . import charts


class ProgressBar:
    """:class:`~vonedemo.progress.Progress` events → one ``st.progress`` bar (it is their
    callback) that only moves forward.

    A job of several stages reports each stage's own ``done``/``total``: shown as they come, the
    bar would start again at every stage. ``stages`` names them in the order they run, each as
    (the start of its ``Progress.stage``, its words, its share of the bar): the bar counts on
    across them, and an event of a stage already left behind is ignored. ``after``: the words
    shown once the last stage is through, for work that reports nothing; it fills the share the
    stages leave over."""

    def __init__(
        self,
        text: str,
        stages: Sequence[tuple[str, str, float]] = (),
        after: str | None = None,
    ):
        self.text, self.stages, self.after = text, tuple(stages), after
        self.current = 0  # the latest stage seen
        self.bar = st.progress(0.0, text=text)

    def stage_index(self, stage: str) -> int:
        for i, (prefix, _, _) in enumerate(self.stages):
            if stage == prefix or stage.startswith(prefix + " "):
                return i
        known = [prefix for prefix, _, _ in self.stages]
        raise ValueError(f"unknown progress stage {stage!r}; known: {known}")

    def __call__(self, progress: Progress) -> None:
        done, total = progress.done, progress.total
        if not self.stages:
            self.bar.progress(progress.fraction, text=f"{self.text} {done}/{total}")
            return
        index = self.stage_index(progress.stage)
        if index < self.current:
            return
        self.current = index
        _, words, share = self.stages[index]
        start = sum(s for _, _, s in self.stages[:index])
        steps = len(self.stages) + bool(self.after)
        if progress.finished and index == len(self.stages) - 1 and self.after:
            now = f"step {steps} of {steps}: {self.after}…"  # the unreported work runs now
        else:
            now = f"step {index + 1} of {steps}: {words} {done}/{total}"
        self.bar.progress(min(1.0, start + share * progress.fraction), text=f"{self.text} · {now}")

    def done(self, text: str | None = None) -> None:
        self.bar.progress(1.0, text=text or self.text)


class TrainingMonitor:
    """on_step / on_epoch for :func:`vonedemo.training.train` (its ``"train"`` and ``"epoch"``
    progress events): a progress bar, a live loss curve and accuracy per epoch."""

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

    def on_step(self, info: Progress) -> None:
        step, total, loss = info.done, info.total, info.metrics["loss"]
        self.steps.append(step)
        self.losses.append(loss)
        if step % self.every == 0 or step == total:
            elapsed = time.perf_counter() - self.started
            left = elapsed / step * (total - step)
            self.bar.progress(
                min(1.0, step / max(total, 1)),
                text=f"epoch {info.metrics['epoch']}/{self.epochs} · step {step}/{total} · "
                f"loss {loss:.3f} · about {left:.0f} s left",
            )
            self.draw_loss()

    def on_epoch(self, info: Progress) -> None:
        m = info.metrics
        self.epoch_rows.append(
            {
                "epoch": info.done,
                "train_loss": m["train_loss"],
                "train_accuracy": m["train_accuracy"],
                "test_accuracy": m["test_accuracy"],
                "seconds": m["seconds"],
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
    """on_round / on_step for :func:`vonedemo.training.adversarial_finetune` (its ``"round"``
    and ``"fine-tune"`` progress events): the curves grow round by round beside the study's
    (dashed)."""

    def __init__(self, rounds: int, study: dict | None, study_label: str, *, key: str):
        self.rounds, self.study, self.study_label, self.key = rounds, study, study_label, key
        self.rows: list[dict] = []
        self.redraw_count = 0
        self.started = time.perf_counter()
        self.bar = st.progress(0.0, text="Scoring the model before fine-tuning…")
        self.slot = st.empty()
        self.last_step_draw = 0.0

    def on_round(self, info: Progress) -> None:
        m = info.metrics
        self.rows.append(
            {
                "round": info.done,
                "clean": 100 * m["clean_accuracy"],
                "adversarial": 100 * m["adversarial_accuracy"],
                "train_loss": m["train_loss"],
                "seconds": m["seconds"],
            }
        )
        self.bar.progress(
            min(1.0, info.done / max(self.rounds, 1)),
            text=f"round {info.done}/{self.rounds} · clean {100 * m['clean_accuracy']:.1f}% · "
            f"adversarial {100 * m['adversarial_accuracy']:.1f}%",
        )
        self.draw()

    def on_step(self, info: Progress) -> None:
        now = time.perf_counter()
        if now - self.last_step_draw < 0.5 and info.done != info.total:
            return
        self.last_step_draw = now
        self.bar.progress(
            min(1.0, info.done / max(info.total, 1)),
            text=f"round {info.metrics['round']}/{self.rounds} · step {info.done}/{info.total} · "
            f"loss on FGSM digits {info.metrics['loss']:.3f}",
        )

    def draw(self) -> None:
        self.redraw_count += 1
        fig = charts.finetune_figure(self.rows, self.rounds, self.study, self.study_label)
        self.slot.plotly_chart(fig, key=f"{self.key}_{self.redraw_count}")
