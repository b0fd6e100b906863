"""The run-time switches of every VOneBlock: which noise, which complex-cell backward.

One type per switch (:data:`NoiseMode`, :data:`GradientMode`) and one boundary check each
(:func:`check_noise_mode`, :func:`check_gradient_mode`): every place that takes a mode from a
user or a caller goes through them, so an unknown mode fails the same way everywhere.

The ``with`` overrides are context variables, hence per thread: one Streamlit session switching
noise or gradients never affects another session using the same cached model.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Literal, cast

NoiseMode = Literal["neuronal", "off", "seeded"]
GradientMode = Literal["raw", "repaired"]
NOISE_MODES: tuple[NoiseMode, ...] = ("neuronal", "off", "seeded")
GRADIENT_MODES: tuple[GradientMode, ...] = ("raw", "repaired")


def check_noise_mode(value: object) -> NoiseMode:
    """``value`` as a :data:`NoiseMode`; ValueError naming the allowed values otherwise."""
    if value not in NOISE_MODES:
        raise ValueError(f"unknown noise mode {value!r}; known: {', '.join(NOISE_MODES)}")
    return cast(NoiseMode, value)


def check_gradient_mode(value: object) -> GradientMode:
    """``value`` as a :data:`GradientMode`; ValueError naming the allowed values otherwise."""
    if value not in GRADIENT_MODES:
        raise ValueError(f"unknown gradient mode {value!r}; known: {', '.join(GRADIENT_MODES)}")
    return cast(GradientMode, value)


_noise_override: contextvars.ContextVar[tuple[NoiseMode, int] | None] = contextvars.ContextVar(
    "vonedemo_noise_override", default=None
)
_gradient_override: contextvars.ContextVar[GradientMode | None] = contextvars.ContextVar(
    "vonedemo_gradient_override", default=None
)


@contextlib.contextmanager
def noise_mode(mode: NoiseMode, seed: int = 0) -> Iterator[None]:
    """Override every VOneBlock's noise mode in this thread for the ``with`` block."""
    token = _noise_override.set((check_noise_mode(mode), int(seed)))
    try:
        yield
    finally:
        _noise_override.reset(token)


@contextlib.contextmanager
def gradient_mode(mode: GradientMode) -> Iterator[None]:
    """Choose the complex cell's backward pass in this thread: ``raw`` (the study's) or
    ``repaired`` (zero at zero energy). Forward values, hence predictions, never change."""
    token = _gradient_override.set(check_gradient_mode(mode))
    try:
        yield
    finally:
        _gradient_override.reset(token)


def noise_override() -> tuple[NoiseMode, int] | None:
    """The (mode, seed) of the innermost :func:`noise_mode` in this thread, or None."""
    return _noise_override.get()


def active_gradient() -> GradientMode:
    """The complex cell's backward in this thread: the innermost :func:`gradient_mode`, else raw."""
    return _gradient_override.get() or "raw"
