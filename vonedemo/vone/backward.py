"""The fast VOneBlock's hand-written backward pass (for attacks: the input gradient).

Why (speed): autograd through the dense block would keep the 25x25 convolutions of both
quadrature banks. Here the forward pass convolves with each kernel's exact non-zero support
(the gradient depends on exact signs at "tail-only" positions: a simple cell's ReLU at
q0 = +1e-40, a complex cell's direction at tiny energy) and saves the local derivatives; the
backward pass is then linear and uses the cropped kernels. The study's NaN (0/0 in the raw
complex cell, spread by the dense backward over its whole footprint, since 0 x NaN is NaN) is
reproduced from the forward pass's zero-energy map. Images proven NaN everywhere
(:mod:`vonedemo.vone.nan_proof`) take the cropped values and an all-NaN gradient; the rare
cases the linear backward cannot decide (non-finite incoming gradients, energies that
underflow under noise) are replayed through the dense block by autograd.

Proven equal to the study's dense block, with the exact non-finite pattern, in
tests/test_fast_vone.py (``test_gradients_match_the_dense_block`` and the fallback tests).
"""

from __future__ import annotations

import torch

from .nan_proof import spread


class VOneGradient(torch.autograd.Function):
    """The block (cells, gain, noise, ReLU) of ``bank`` (a :class:`~vonedemo.vone.block.GaborBank`)
    with the hand-written backward described above."""

    @staticmethod
    def forward(ctx, x, noise, bank, gradient, canonical=False):  # type: ignore[override]
        b = x.shape[0]
        raw = gradient == "raw"
        all_nan = bank.nan_everywhere(x) if raw else torch.zeros(b, dtype=torch.bool)
        exact_idx = torch.nonzero(~all_nan).flatten().to(x.device)
        nan_idx = torch.nonzero(all_nan).flatten().to(x.device)
        mixed = 0 < len(exact_idx) < b
        out = x.new_empty(bank.output_shape(x))
        derivs: list[torch.Tensor] = []
        zero = underflow = None
        if len(nan_idx):
            # Every input-gradient entry is NaN here: values are all these images need.
            xs = x.index_select(0, nan_idx) if mixed else x
            ns = noise.index_select(0, nan_idx) if mixed and noise is not None else noise
            o = bank.fast_cells(xs, ns, x.new_empty(bank.output_shape(xs)) if mixed else out)
            if mixed:
                out.index_copy_(0, nan_idx, o)
        x_e, n_e = x, noise
        if len(exact_idx):
            if mixed:
                x_e = x.index_select(0, exact_idx)
                n_e = noise.index_select(0, exact_idx) if noise is not None else None
            o = x.new_empty(bank.output_shape(x_e)) if mixed else out
            derivs, zero, underflow = bank.exact_cells(x_e, n_e, o, raw)
            if mixed:
                out.index_copy_(0, exact_idx, o)
        ctx.bank, ctx.gradient, ctx.mixed, ctx.canonical = bank, gradient, mixed, canonical
        ctx.n_exact, ctx.input_shape = len(exact_idx), x.shape
        ctx.save_for_backward(x_e, n_e, exact_idx, zero, underflow, *derivs)
        # Reordered here, outside autograd: its backward (a scatter into a zero tensor of the
        # maps' size) is then only paid where a gradient is really computed.
        return out.index_select(1, bank.inverse_order) if canonical else out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        x_e, n_e, exact_idx, zero, underflow, *derivs = ctx.saved_tensors
        bank = ctx.bank
        grad_x = grad_out.new_full(ctx.input_shape, float("nan"))
        if ctx.n_exact == 0:
            return grad_x, None, None, None, None
        if ctx.canonical:
            grad_out = grad_out.index_select(1, bank.channel_order)
        g = grad_out.index_select(0, exact_idx) if ctx.mixed else grad_out
        part = bank.exact_backward(g, derivs)
        if not torch.isfinite(part).all():
            # A non-finite incoming gradient: let autograd replay the dense block, which
            # decides exactly where it stays NaN (a ReLU blocks it, a product spreads it).
            part = dense_input_gradient(bank, x_e, n_e, g, ctx.gradient)
        elif zero is not None and underflow is not None:
            covered = spread(zero.unsqueeze(1).to(part.dtype), bank.config.ksize) > 0
            part.masked_fill_(covered, float("nan"))
            if underflow.any():
                idx = torch.nonzero(underflow).flatten()
                n_u = n_e.index_select(0, idx) if n_e is not None else None
                dense = dense_input_gradient(bank, x_e[idx], n_u, g[idx], ctx.gradient)
                part.index_copy_(0, idx, dense)
        if ctx.mixed:
            grad_x.index_copy_(0, exact_idx, part)
        else:
            grad_x = part
        return grad_x, None, None, None, None


def dense_input_gradient(
    bank, x: torch.Tensor, noise: torch.Tensor | None, grad_out: torch.Tensor, gradient: str
) -> torch.Tensor:
    """Input gradient by autograd through the study's dense block (the rare cases above).
    Without noise the final ReLU is left out: it changes no value (cells are >= 0)."""
    with torch.enable_grad():
        xx = x.detach().requires_grad_(True)
        y = bank.dense(xx, noise, gradient) if noise is not None else bank.dense_cells(xx, gradient)
        (grad,) = torch.autograd.grad(y, xx, grad_out)
    return grad
