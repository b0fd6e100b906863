"""The command line's progress display: :class:`~vonedemo.progress.Progress` events → tqdm bars."""

from __future__ import annotations

from tqdm.auto import tqdm

from .progress import Progress


class Bar:
    """A tqdm bar fed with :class:`Progress` events (it is their callback); a context manager."""

    def __init__(self, description: str, total: int | None = None, unit: str = "it"):
        self.bar = tqdm(total=total, desc=description, unit=unit, leave=True, dynamic_ncols=True)

    def update_to(self, done: int, total: int | None = None) -> None:
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def __call__(self, progress: Progress) -> None:
        self.update_to(progress.done, progress.total)

    def postfix(self, **values) -> None:
        self.bar.set_postfix(**values)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def step_callback(bar: Bar):
    """Training steps on ``bar``, with the loss every 10 steps."""

    def on_step(progress: Progress) -> None:
        bar(progress)
        if progress.done % 10 == 0:
            bar.postfix(loss=f"{progress.metrics['loss']:.3f}")

    return on_step


class StageBars:
    """One bar per stage, opened at a stage's first event: the reproduction and the audit run
    several stages one after another."""

    def __init__(self, close_when_finished: bool = False):
        self.bars: dict[str, Bar] = {}
        self.close_when_finished = close_when_finished

    def __call__(self, progress: Progress) -> None:
        bar = self.bars.get(progress.stage)
        if bar is None:
            bar = self.bars[progress.stage] = Bar(progress.stage, total=progress.total)
        bar(progress)
        if self.close_when_finished and progress.finished:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()
