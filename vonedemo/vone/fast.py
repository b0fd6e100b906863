"""The fast computations of the Gabor bank, and the block's chunked 1x1 projection.

Why (speed): the study's block is two dense 25x25 convolutions of 512 and 256 filters, then
cells, gain and noise in separate memory passes. :class:`FastGaborBank` computes only the
filters that are used, each at the size it needs (:mod:`vonedemo.vone.kernels`), and writes
each group's cells (and noise) straight into the output:

* no input gradient (inference, and training: the bank has no parameters) —
  :meth:`FastGaborBank.fast_cells`, cropped kernels with the gains folded in;
* input gradient — :meth:`FastGaborBank.exact_cells` and :meth:`FastGaborBank.exact_backward`,
  driven by :class:`vonedemo.vone.backward.VOneGradient`.

float64, strides other than 1 and non-finite inputs take the study's dense path instead
(:class:`vonedemo.vone.block.GaborBank`, which also defines what these computations must
equal). :func:`project_in_chunks` runs block and bottleneck a chunk of images at a time.
Proven equal to the dense block in tests/test_fast_vone.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime import allocator_tuned
from .backward import VOneGradient
from .kernels import KernelWeights, make_weights, plan_groups, small_conv
from .modes import active_gradient
from .nan_proof import nan_everywhere, proof_kernels
from .noise import fill_normal, noise_without_graph, per_image_seeds

# Images per step in project_in_chunks. With glibc's default thresholds every map-sized
# tensor above 32 MB is page-faulted in afresh, so chunks stay small; with the allocator tuned
# (vonedemo.runtime) bigger chunks amortise per-call costs (benchmarks/ compares the two).
PROJECT_CHUNK = 16
PROJECT_CHUNK_TUNED = 32


def project_chunk() -> int:
    return PROJECT_CHUNK_TUNED if allocator_tuned() else PROJECT_CHUNK


class FastGaborBank(nn.Module):
    """Planned kernels and the fast computations over them. The study's bank (a subclass)
    provides ``config``, ``dense`` and ``dense_cells`` and calls :meth:`set_kernels`. Outputs
    are in *group order*: ``channel_order[i]`` is the canonical channel (simple first, then
    complex) at position i."""

    config: object  # the block's VOneConfig

    def set_kernels(self, q0: torch.Tensor, q1: torch.Tensor) -> None:
        """Store float32 kernels q0 [C, 1, k, k] and q1 [complex, 1, k, k] (non-persistent
        buffers) and plan the groups, the channel order and the NaN proof for them."""
        n_s = self.config.simple_channels
        self.register_buffer("q0", q0, persistent=False)
        self.register_buffer("q1", q1, persistent=False)
        order, self._groups = plan_groups(q0, q1, n_s)
        self.register_buffer("channel_order", order, persistent=False)
        self.register_buffer("inverse_order", torch.argsort(order), persistent=False)
        self._nan_proof = proof_kernels(q0[n_s:], q1)
        self._weight_cache: dict[tuple, KernelWeights] = {}

    def _weights(self, like: torch.Tensor) -> KernelWeights:
        """The planned kernels for ``like``'s device and dtype (made once, then cached)."""
        key = (like.device, like.dtype)
        cached = self._weight_cache.get(key)
        if cached is None:
            cached = self._weight_cache[key] = make_weights(
                self.q0,
                self.q1,
                self.channel_order,
                self._groups,
                self.config.k_exc,
                self._nan_proof,
                like,
            )
        return cached

    def output_shape(self, x: torch.Tensor) -> tuple[int, int, int, int]:
        cfg = self.config
        h = (x.shape[2] - 1) // cfg.stride + 1
        w = (x.shape[3] - 1) // cfg.stride + 1
        return (x.shape[0], cfg.out_channels, h, w)

    def fast_path_applies(self, x: torch.Tensor) -> bool:
        """float32, stride 1, finite input: the cropped and exact-support paths apply."""
        return (
            x.dtype == torch.float32 and self.config.stride == 1 and bool(torch.isfinite(x).all())
        )

    def nan_everywhere(self, x: torch.Tensor) -> torch.Tensor:
        """bool [B]: images whose raw input gradient is certainly NaN at every pixel
        (:func:`vonedemo.vone.nan_proof.nan_everywhere`)."""
        if x.shape[0] == 0:
            return torch.zeros(0, dtype=torch.bool)
        return nan_everywhere(x, self._weights(x).nan_proof)

    def respond(
        self,
        x: torch.Tensor,
        noise: torch.Tensor | None = None,
        gradient: str = "raw",
        canonical: bool = False,
    ) -> torch.Tensor:
        """Cells, then noise (``noise`` [B, C, H, W] in channel order, or None) and ReLU;
        channels in ``channel_order``, or the canonical order with ``canonical``. The study's
        dense block (``self.dense``) where the fast paths do not apply."""
        if not self.fast_path_applies(x):
            y = self.dense(x, noise, gradient)
        elif torch.is_grad_enabled() and x.requires_grad:
            return VOneGradient.apply(x, noise, self, gradient, canonical)
        else:
            y = self.fast_cells(x, noise, x.new_empty(self.output_shape(x)))
        return y.index_select(1, self.inverse_order) if canonical else y

    def forward(self, x: torch.Tensor, gradient: str = "raw") -> torch.Tensor:
        """Gain-scaled [simple | complex] responses, channels in ``channel_order``."""
        return self.respond(x, None, gradient)

    def fast_cells(
        self, x: torch.Tensor, noise: torch.Tensor | None, out: torch.Tensor
    ) -> torch.Tensor:
        """Cells (and noise, then ReLU) from cropped kernels into ``out``; no autograd."""
        cfg = self.config
        weights = self._weights(x)
        fused = noise is not None and cfg.noise_level >= 0
        if fused:
            # relu(c*s + l) = c*s + l for c >= 0, l >= 0, so the noise's std is
            # sqrt(c + beta) / sqrt(s): one sqrt and one addcmul on each slice.
            beta = (cfg.noise_level + cfg.noise_eps) / cfg.noise_scale
            alpha = 1.0 / math.sqrt(cfg.noise_scale)
        with torch.no_grad():
            for g, w in zip(self._groups, weights.fast, strict=True):
                q = small_conv(x, w, g.radius)
                n_s, n_c, mid = g.simple, g.complex, g.start + g.simple
                if n_s:
                    torch.clamp(q[:, :n_s], min=0, out=out[:, g.start : mid])
                if n_c:
                    torch.hypot(q[:, n_s : n_s + n_c], q[:, n_s + n_c :], out=out[:, mid : g.stop])
                if fused:
                    o = out[:, g.start : g.stop]
                    std = torch.add(o, beta).sqrt_()
                    o.addcmul_(noise[:, g.start : g.stop], std, value=alpha).clamp_(min=0)
            if noise is not None and not fused:
                out.copy_(noise_without_graph(out, noise, cfg))
        return out

    def exact_cells(
        self, x: torch.Tensor, noise: torch.Tensor | None, out: torch.Tensor, raw: bool
    ) -> tuple[list[torch.Tensor], torch.Tensor | None, torch.Tensor | None]:
        """Cells from exact-support kernels, in the study's arithmetic, into ``out``.

        Returns per group the derivative of every output with respect to its convolution rows
        ([B, rows, H, W]); when ``raw``, where some complex cell has zero energy ([B, H, W]
        bool) and which images (bool [B]) have a zero energy from underflow (q0 or q1 != 0)
        under noise. There the study's gradient is ±inf·w rather than NaN where the noise
        passes a gradient, and only the dense backward says which pixels end up ±inf.
        """
        cfg = self.config
        weights = self._weights(x)
        sqrt2 = math.sqrt(2.0)
        b, _, h, w_ = out.shape
        derivs = [x.new_empty(b, g.rows, h, w_) for g in self._groups]
        zero_any = torch.zeros(b, h, w_, dtype=torch.bool, device=x.device) if raw else None
        underflow = torch.zeros(b, dtype=torch.bool, device=x.device) if raw else None
        with torch.no_grad():
            for g, d, part_weights in zip(self._groups, derivs, weights.exact, strict=True):
                mid = g.start + g.simple
                for p, w in zip(g.parts, part_weights, strict=True):
                    q = F.conv2d(x, w, padding=p.radius)  # rows: simple, complex q0, q1
                    n_s, n = p.simple, p.complex
                    if n_s:
                        # Gain after the ReLU, as the study: folded into the kernel it would
                        # turn some underflowing products (q0 = 0) into tiny positive ones.
                        qs, at = q[:, :n_s], p.simple_at
                        torch.mul(qs > 0, cfg.k_exc, out=d[:, at : at + n_s])
                        cells = out[:, g.start + at : g.start + at + n_s]
                        torch.clamp(qs, min=0, out=cells).mul_(cfg.k_exc)
                    if n:
                        q0, q1 = q[:, n_s : n_s + n], q[:, n_s + n :]
                        energy = q0 * q0 + q1 * q1  # as the study: separate squares, then sum
                        zero = energy == 0
                        if zero_any is not None and underflow is not None:
                            zero_any |= zero.any(1)
                            if noise is not None:
                                tiny = zero & ((q0 != 0) | (q1 != 0))
                                underflow |= tiny.flatten(1).any(1)
                        root = energy.sqrt_()
                        # d cell / d q0 = k/sqrt2 q0/|q|; 0 at zero energy (raw NaN comes later)
                        inv = torch.where(zero, 0.0, (cfg.k_exc / sqrt2) / root)
                        at = g.simple + p.complex_at
                        torch.mul(q0, inv, out=d[:, at : at + n])
                        torch.mul(q1, inv, out=d[:, at + g.complex : at + g.complex + n])
                        cells = out[:, mid + p.complex_at : mid + p.complex_at + n]
                        torch.div(root, sqrt2, out=cells).mul_(cfg.k_exc)
                if noise is None:
                    continue  # the final ReLU of cells >= 0 changes nothing
                o = out[:, g.start : g.stop]
                cell = o.clone()
                nz = noise[:, g.start : g.stop]
                shifted = cell * cfg.noise_scale + cfg.noise_level
                std = torch.sqrt(F.relu(shifted) + cfg.noise_eps)
                pre = cell + nz * std / cfg.noise_scale
                torch.clamp(pre, min=0, out=o)
                # d out / d cell = [pre > 0] (1 + n [shifted > 0] / (2 std))
                slope = (nz * (shifted > 0) / (2 * std)).add_(1).mul_(pre > 0)
                d[:, : g.simple].mul_(slope[:, : g.simple])
                d[:, g.simple :].view(b, 2, g.complex, h, w_).mul_(
                    slope[:, g.simple :].unsqueeze(1)
                )
        return derivs, zero_any, underflow

    def exact_backward(self, grad_out: torch.Tensor, derivs: list[torch.Tensor]) -> torch.Tensor:
        """Input gradient of :meth:`exact_cells` (finite part), by cropped kernels.

        A transposed convolution to one channel is slow in oneDNN, so it runs in two steps:
        a transposed convolution along x to one channel per kernel row, summed over rows
        (shifted along y) at the end.
        """
        weights = self._weights(grad_out)
        b, _, h, w_ = grad_out.shape
        half = self.config.ksize // 2
        rows = grad_out.new_zeros(b, 2 * half + 1, h, w_)
        for g, w, d in zip(self._groups, weights.back, derivs, strict=True):
            local = torch.empty_like(d)
            mid = g.start + g.simple
            torch.mul(d[:, : g.simple], grad_out[:, g.start : mid], out=local[:, : g.simple])
            complex_shape = (b, 2, g.complex, h, w_)
            torch.mul(
                d[:, g.simple :].view(complex_shape),
                grad_out[:, mid : g.stop].unsqueeze(1),
                out=local[:, g.simple :].view(complex_shape),
            )
            r = g.radius
            rows[:, half - r : half + r + 1] += F.conv_transpose2d(local, w, padding=(0, r))
        total = grad_out.new_zeros(b, h + 2 * half, w_)
        for i in range(2 * half + 1):
            total[:, i : i + h] += rows[:, i]
        return total[:, half : half + h].unsqueeze(1)


def pointwise(y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``F.conv2d(y, weight)`` for a 1x1 ``weight``, as one matrix product per image: oneDNN
    reorders 512 NCHW maps into its blocked layout first, which costs more than the product."""
    b, c, h, w = y.shape
    if weight.shape[2:] != (1, 1) or y.dtype != weight.dtype:
        return F.conv2d(y, weight)
    # bmm with the weight expanded (a view): torch.matmul would fold the batch into one
    # product and copy the maps to a transposed layout first.
    w2 = weight.view(1, weight.shape[0], c).expand(b, -1, -1)
    return torch.bmm(w2, y.reshape(b, c, h * w)).view(b, -1, h, w)


def project_in_chunks(
    block: nn.Module, x: torch.Tensor, weight: torch.Tensor, chunk: int | None = None
) -> torch.Tensor:
    """``F.conv2d(block(x, canonical=False), weight)`` for a :class:`~vonedemo.vone.block.VOneBlock`
    and a 1x1 ``weight`` [out, C, 1, 1] whose input channels are in ``channel_order`` —
    computed ``chunk`` images at a time, so the 512 maps of a big batch never exist at once.

    The noise is the same as for the whole batch at once: each image draws from its own
    seed (:func:`~vonedemo.vone.noise.fill_normal`), and the seeds are drawn for the whole
    batch first.
    """
    bank = block.bank
    gradient = active_gradient()
    chunk = chunk or project_chunk()
    seeds = per_image_seeds(*block.effective_noise(), x.shape[0])
    graph = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    reuse = not graph and bank.fast_path_applies(x)
    if reuse:
        # Without autograd (which would keep the maps for the weight's gradient) they are
        # dead once projected: one buffer for every chunk. (Fresh tensors this large come
        # from the kernel page by page, every time.)
        shape = bank.output_shape(x[:chunk])
        maps = x.new_empty(shape)
        noise_buffer = x.new_empty(shape) if seeds is not None else None
    outs = []
    for start in range(0, max(len(x), 1), chunk):  # an empty batch still gives one (empty) part
        part = x[start : start + chunk]
        n = len(part)
        noise = None
        if seeds is not None:
            buffer = noise_buffer[:n] if reuse else part.new_empty(bank.output_shape(part))
            noise = fill_normal(buffer, seeds[start : start + n])
        y = bank.fast_cells(part, noise, maps[:n]) if reuse else bank.respond(part, noise, gradient)
        outs.append(pointwise(y, weight))
    return torch.cat(outs) if len(outs) > 1 else outs[0]
