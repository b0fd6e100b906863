"""The NaN shortcut: an attack's gradient pass on images whose study gradient is provably NaN
at every pixel skips what cannot change that gradient.

Why (speed): on real MNIST digits the raw complex cell makes the input gradient NaN
everywhere as a rule (:mod:`vonedemo.vone.nan_proof`). The back-end's and the bottleneck's
backward passes cannot change a NaN, so for such a batch the logits are computed without a
graph and given the study's all-NaN input gradient — and when the attack will not read the
logits either, the forward pass is skipped too. This makes VOne attacks several times faster
(README, "The fast VOneBlock ..."; ``benchmarks/``).

Two halves, one per side:

* the attack enters :func:`input_gradient_pass` around its forward and backward pass — a
  promise that autograd is asked for the input gradient only, optionally that the logits'
  values are not read, together with the pass's gradient and noise choices;
* the model computes "block + downstream" through :func:`nan_shortcut`, which applies the
  shortcut when (and only when) the promise is in force and the proof holds.

Outside :func:`input_gradient_pass`, for the repaired gradient, and for any batch without a
proof, :func:`nan_shortcut` is exactly ``forward(x)``. Proven to change no logits and no
gradient in tests/test_fast_vone.py (``test_attack_pass_...``, ``test_a_gradient_only_...``).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

import torch
from torch import nn

from .modes import GradientMode, NoiseMode, active_gradient, gradient_mode, noise_mode

# None: no promise; "values": input gradient only, but the outputs' values are used;
# "gradient": input gradient only, and nothing reads the outputs' values.
_promise: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "vonedemo_input_gradient_pass", default=None
)


@contextlib.contextmanager
def input_gradient_pass(
    values_used: bool = True,
    *,
    gradient: GradientMode | None = None,
    noise: NoiseMode | None = None,
    noise_seed: int = 0,
) -> Iterator[None]:
    """An attack's gradient pass, in this thread, for the ``with`` block.

    The caller promises that autograd will be asked for the gradient with respect to the
    *input* only (``torch.autograd.grad(loss, x)``): parameter gradients may then not be
    computed. With ``values_used=False`` it also promises not to read the model's outputs
    (only their gradient): they may be placeholders (zeros). ``gradient`` chooses the complex
    cell's backward and ``noise``/``noise_seed`` override the noise for the pass
    (:func:`~vonedemo.vone.modes.gradient_mode`, :func:`~vonedemo.vone.modes.noise_mode`;
    None leaves the thread's setting as it is).
    """
    with contextlib.ExitStack() as stack:
        if gradient is not None:
            stack.enter_context(gradient_mode(gradient))
        if noise is not None:
            stack.enter_context(noise_mode(noise, noise_seed))
        token = _promise.set("values" if values_used else "gradient")
        try:
            yield
        finally:
            _promise.reset(token)


class _NaNInputGradient(torch.autograd.Function):
    """``logits`` (computed without a graph) whose gradient with respect to ``x`` is NaN."""

    @staticmethod
    def forward(ctx, x, logits):  # type: ignore[override]
        ctx.input_shape = x.shape
        return logits.clone()

    @staticmethod
    def backward(ctx, grad_logits):  # type: ignore[override]
        return grad_logits.new_full(ctx.input_shape, float("nan")), None


def proves_nan_gradient(block: nn.Module, x: torch.Tensor) -> bool:
    """True when an :func:`input_gradient_pass` is in force, the gradient is the study's (raw),
    and every image of ``x`` has a raw input gradient through ``block`` (a VOneBlock) that is
    NaN at every pixel whatever arrives from above. Then nothing downstream of the block can
    change that gradient: it need not be computed."""
    return (
        _promise.get() is not None
        and torch.is_grad_enabled()
        and x.requires_grad
        and active_gradient() == "raw"
        and x.dim() == 4
        and x.shape[0] > 0
        and block.bank.fast_path_applies(x)
        and bool(block.bank.nan_everywhere(x).all())
    )


def nan_shortcut(
    block: nn.Module,
    x: torch.Tensor,
    forward: Callable[[torch.Tensor], torch.Tensor],
    outputs: int,
) -> torch.Tensor:
    """``forward(x)`` — ``block`` (a VOneBlock) and everything downstream of it, returning
    [B, outputs] — with the NaN shortcut applied where the proof and the caller's promise
    allow: the same values (same noise stream) and the same all-NaN input gradient, without
    the backward passes downstream of the block (and, when the values are not used, without
    the forward pass: zeros). Anywhere else, exactly ``forward(x)``."""
    if not proves_nan_gradient(block, x):
        return forward(x)
    if _promise.get() == "gradient":
        values = x.new_zeros(x.shape[0], outputs)
    else:
        with torch.no_grad():
            values = forward(x.detach())
    return _NaNInputGradient.apply(x, values.detach())
