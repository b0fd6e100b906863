"""Adapters from the core's callbacks to tqdm bars (the command line's progress display)."""

from __future__ import annotations

from collections.abc import Callable

from tqdm.auto import tqdm


class Bar:
    """A tqdm bar fed by ``(done, total)`` callbacks; use as a context manager."""

    def __init__(self, description: str, total: int | None = None, unit: str = "it"):
        self.bar = tqdm(total=total, desc=description, unit=unit, leave=True, dynamic_ncols=True)

    def update_to(self, done: int, total: int | None = None) -> None:
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def __call__(self, done: int, total: int | None = None) -> None:
        self.update_to(done, total)

    def postfix(self, **values) -> None:
        self.bar.set_postfix(**values)

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


def step_callback(bar: Bar) -> Callable:
    def on_step(info) -> None:
        bar.update_to(info.step, info.total_steps)
        if info.step % 10 == 0:
            bar.postfix(loss=f"{info.loss:.3f}")

    return on_step
