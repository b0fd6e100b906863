"""The core's :class:`~vonedemo.progress.Progress` events → one Streamlit progress bar that
only moves forward, across the stages of a job (a quick audit). Training and fine-tuning run in
the background instead and are drawn by :mod:`ui.run_views`."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from vonedemo.progress import Progress

from .i18n import t


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
            now = t(
                "audit.progress_after", steps=steps, words=self.after
            )  # the unreported work runs now
        else:
            now = t(
                "audit.progress_step",
                index=index + 1,
                steps=steps,
                words=words,
                done=done,
                total=total,
            )
        self.bar.progress(min(1.0, start + share * progress.fraction), text=f"{self.text} · {now}")

    def done(self, text: str | None = None) -> None:
        self.bar.progress(1.0, text=text or self.text)
