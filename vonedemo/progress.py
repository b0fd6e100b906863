"""The one shape in which every long job of the core reports how far it has got.

Training, fine-tuning, the audit, the reproduction and the scoring of shipped checkpoints call
their callbacks with a :class:`Progress`: ``done`` of ``total`` units of ``stage``, and for the
jobs that measure something as they go, the latest figures in ``metrics``. A consumer that only
draws a bar reads ``stage``, ``done`` and ``total``; one that plots reads ``metrics`` by the
keys the job documents. The core never prints: the command line turns these into tqdm bars
(:mod:`vonedemo.bars`), the app into Streamlit bars and live charts (``ui/progress.py``).

The stages (unit) and their metrics:

- ``train``: on_step ``"train"`` (step; metrics epoch, loss, batch_accuracy), on_epoch
  ``"epoch"`` (epoch; train_loss, train_accuracy, test_accuracy, seconds);
- ``adversarial_finetune``: on_step ``"fine-tune"`` (step; round, loss, batch_accuracy),
  on_round ``"round"`` (round, 0 = before fine-tuning; clean_accuracy, adversarial_accuracy,
  train_loss, seconds);
- the audit: ``"audit NAME"`` (attack rung), ``"curves NAME"`` (curve point);
- the reproduction: ``"table: NAME"`` (image), ``"tables"`` and ``"eps curves"`` (model),
  ``"fine-tune: NAME"`` (round);
- scoring a shipped checkpoint: ``"score NAME"`` (image).

Accuracies are fractions in [0, 1]. Example::

    >>> train(model, data, on_step=lambda p: print(p.stage, p.done, p.total, p.metrics["loss"]))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Progress:
    stage: str  # what is running, in words a progress bar can show
    done: int  # units of the stage finished so far
    total: int  # units in the stage
    metrics: Mapping[str, float | int | None] = field(default_factory=dict)  # latest figures

    def __post_init__(self) -> None:
        # Frozen all the way down: one event may be handed to several consumers.
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))

    @property
    def fraction(self) -> float:
        """``done / total`` in [0, 1] (1 for an empty stage)."""
        return min(1.0, self.done / self.total) if self.total > 0 else 1.0

    @property
    def finished(self) -> bool:
        return self.done >= self.total


ProgressCallback = Callable[[Progress], None]


def counter(on_progress: ProgressCallback | None, stage: str) -> Callable[[int, int], None] | None:
    """The ``(done, total)`` batch counter that the evaluation loops call
    (:func:`vonedemo.evaluation.evaluate_attack`'s ``on_batch``), reported as ``stage``."""
    if on_progress is None:
        return None
    return lambda done, total: on_progress(Progress(stage, done, total))
