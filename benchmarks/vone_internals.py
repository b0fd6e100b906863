"""Everything the benchmarks take from ``vonedemo.vone``, in one place.

The benchmarks reach past the public API: the dense reference rebuilds the Gabor kernels, and
the levers section times the Gabor bank's own paths against alternatives. When ``vonedemo.vone``
is reorganised, this module is the only one in ``benchmarks/`` to follow it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from vonedemo.vone import VOneBlock, VOneConfig, gabor_kernels, gradient_mode, noise_mode

__all__ = [
    "VOneBlock",
    "VOneConfig",
    "cropped_forward",
    "exact_derivatives",
    "exact_forward",
    "gabor_kernels",
    "gradient_mode",
    "noise_mode",
    "one_conv_per_group_backward",
    "shipped_backward",
]


def cropped_forward(block: VOneBlock, x: torch.Tensor) -> Callable[[], object]:
    """The bank's no-gradient path (cropped kernels), as a call to time."""
    bank = block.bank
    return lambda: bank.fast_cells(x, None, x.new_empty(bank.output_shape(x)))


def exact_forward(block: VOneBlock, x: torch.Tensor) -> Callable[[], object]:
    """The bank's gradient path (exact non-zero supports), as a call to time."""
    bank = block.bank
    return lambda: bank.exact_cells(x, None, x.new_empty(bank.output_shape(x)), True)


def exact_derivatives(block: VOneBlock, x: torch.Tensor) -> list[torch.Tensor]:
    """The local derivatives the exact path saves for its hand-written backward."""
    bank = block.bank
    derivs, _, _ = bank.exact_cells(x, None, x.new_empty(bank.output_shape(x)), True)
    return derivs


def shipped_backward(
    block: VOneBlock, grad_out: torch.Tensor, derivs: list[torch.Tensor]
) -> Callable[[], torch.Tensor]:
    """The bank's backward (transposed convolution along x to one channel per kernel row, rows
    summed), as a call to time."""
    bank = block.bank
    return lambda: bank.exact_backward(grad_out, derivs)


def one_conv_per_group_backward(
    block: VOneBlock, like: torch.Tensor, derivs: list[torch.Tensor]
) -> Callable[[], torch.Tensor]:
    """The alternative backward, one transposed convolution per kernel group to one channel, as
    a call to time (the bank's weights are fetched once, outside the timing)."""
    bank = block.bank
    weights = bank._weights(like)

    def run() -> torch.Tensor:
        total = None
        for g, w, d in zip(bank._groups, weights.back, derivs, strict=True):
            k = 2 * g.radius + 1
            part = F.conv_transpose2d(d, w.reshape(g.rows, 1, k, k), padding=g.radius)
            total = part if total is None else total + part
        return total

    return run
