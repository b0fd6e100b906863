"""Kernel planning and cropping for the fast VOneBlock.

Why (speed): the study convolves every channel with both 25x25 quadrature kernels, although
most Gabors hold their mass in a few pixels and a quarter of the products are thrown away.
Here every channel gets

* its *exact support*: the smallest centred square holding every non-zero entry (the
  gradient path needs exact signs, so nothing may be dropped there), and
* its *cropped support*: the square that holds all but ``CROP_TOLERANCE`` of its L1 mass
  (the no-gradient path, whose values stay within float rounding of the study's).

Channels are grouped by kernel size (sizes picked by a small cost model, rounding a radius up
only adds zero taps) so one convolution per group writes a contiguous run of output channels;
the smallest kernels run as a matrix product over unfolded patches. Proven equal to the study's
dense block in tests/test_fast_vone.py (``test_plan_covers_every_channel_once_...`` and the
value and gradient comparisons).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

CROP_TOLERANCE = 1e-6  # L1 mass a cropped kernel may leave out, relative to its total
GEMM_MAX_RADIUS = 2  # kernels up to 5x5 run as unfold + batched matrix product


def kernel_radius(kernels: torch.Tensor) -> torch.Tensor:
    """Per filter, the half-width of the smallest centred square holding every non-zero entry."""
    k = kernels.shape[-1]
    idx = (torch.arange(k) - k // 2).abs()
    dist = torch.maximum(idx[:, None], idx[None, :])  # Chebyshev distance to the centre
    nonzero = kernels.flatten(1) != 0
    return torch.where(nonzero, dist.flatten()[None], torch.zeros_like(dist.flatten())[None]).amax(
        1
    )


def crop_radius(kernels: torch.Tensor, tolerance: float = CROP_TOLERANCE) -> torch.Tensor:
    """Per filter (kernels [C, m, k, k], m = 1 or a quadrature pair), the smallest centred
    square half-width outside which at most ``tolerance`` of the L1 mass lies."""
    k = kernels.shape[-1]
    idx = (torch.arange(k) - k // 2).abs()
    dist = torch.maximum(idx[:, None], idx[None, :]).flatten()
    mass = kernels.abs().double().sum(1).flatten(1)  # [C, k*k]
    rings = mass.new_zeros(mass.shape[0], k // 2 + 1).index_add_(1, dist, mass)
    # outside[:, r]: mass of the rings beyond r (summed from the outermost in)
    outside = rings.flip(1).cumsum(1).flip(1) - rings
    return (outside <= tolerance * mass.sum(1, keepdim=True)).to(torch.int64).argmax(1)


def _conv_cost(rows: int, radius: int) -> float:
    """Rough relative time of one convolution with ``rows`` filters of half-width ``radius``
    (fitted on a 2-core AVX-512 CPU): oneDNN computes filters in blocks of 16, every output
    row costs a memory pass, every call has a fixed overhead."""
    return 2.9e-4 * 16 * math.ceil(rows / 16) * (2 * radius + 1) ** 2 + 0.013 * rows + 0.2


def _radius_levels(radii: list[int], rows: list[int]) -> list[int]:
    """The kernel half-widths (each filter rounded up to the next one) that minimise
    :func:`_conv_cost` for filters of the given ``radii`` (``rows`` convolution rows each).

    Levels split the sorted radii into runs, each rounded up to its largest; the best split
    is found by dynamic programming over where the last run starts.
    """
    weight: dict[int, int] = {}
    for r, n in zip(radii, rows, strict=True):
        weight[r] = weight.get(r, 0) + n
    distinct = sorted(weight)
    best = [0.0] + [math.inf] * len(distinct)  # best[j]: cost of the j smallest radii
    start = [0] * (len(distinct) + 1)
    for j in range(1, len(distinct) + 1):
        total = 0
        for i in range(j, 0, -1):  # last run: distinct[i - 1 : j]
            total += weight[distinct[i - 1]]
            cost = best[i - 1] + _conv_cost(total, distinct[j - 1])
            if cost < best[j]:
                best[j], start[j] = cost, i
    levels, j = [], len(distinct)
    while j > 0:
        levels.append(distinct[j - 1])
        j = start[j] - 1
    return levels[::-1]


@dataclass(frozen=True)
class KernelPart:
    """Cells of a group that also share their exact kernel size: one exact convolution, rows
    [simple q0 | complex q0 | complex q1]."""

    radius: int  # exact support (every non-zero entry)
    simple: int  # number of simple cells
    complex: int  # number of complex cells
    simple_at: int  # first simple cell within the group's simple cells
    complex_at: int  # first complex cell within the group's complex cells


@dataclass(frozen=True)
class KernelGroup:
    """Cells sharing a cropped kernel size: one convolution. Output channels [start, stop):
    its simple cells, then its complex cells; convolution rows [simple q0 | complex q0 |
    complex q1], each block in part order."""

    radius: int  # cropped support
    start: int
    simple: int
    complex: int
    parts: tuple[KernelPart, ...]

    @property
    def stop(self) -> int:
        return self.start + self.simple + self.complex

    @property
    def rows(self) -> int:
        return self.simple + 2 * self.complex


@dataclass
class KernelWeights:
    """Kernels for one device and dtype, rows in each group's / part's order."""

    fast: list[torch.Tensor]  # per group: cropped, gains folded in
    back: list[torch.Tensor]  # per group: cropped, no gain, [rows, k, 1, k] (see exact_backward)
    exact: list[list[torch.Tensor]]  # per group, per part: exact support, no gain
    nan_proof: torch.Tensor  # [K, 1, k, k] indicators of a few complex cells' exact supports


def plan_groups(
    q0: torch.Tensor, q1: torch.Tensor, n_simple: int
) -> tuple[torch.Tensor, list[KernelGroup]]:
    """(channel_order, groups) for the bank's kernels q0 [C, 1, k, k] and q1 [C - n_simple, ...].

    Output order: by cropped kernel size, simple before complex, then exact kernel size — so
    every convolution of either path writes contiguous runs of output channels.
    ``channel_order[i]`` is the canonical channel (simple first, then complex) at position i.
    """
    channels = q0.shape[0]
    pairs = torch.cat([q0[n_simple:], q1], 1)  # [n_c, 2, k, k]
    exact = torch.cat(
        [kernel_radius(q0[:n_simple]), kernel_radius(pairs.flatten(0, 1)).view(-1, 2).amax(1)]
    )
    crop = torch.cat([crop_radius(q0[:n_simple]), crop_radius(pairs)])
    is_complex = torch.arange(channels) >= n_simple
    rows = (1 + is_complex.long()).tolist()
    levels = _radius_levels(crop.tolist(), rows)
    crop = torch.tensor([next(lv for lv in levels if lv >= r) for r in crop.tolist()])
    for level in levels:  # exact kernel sizes, chosen the same way within each group
        members = torch.nonzero(crop == level).flatten()
        sub = _radius_levels(exact[members].tolist(), [rows[i] for i in members.tolist()])
        exact[members] = torch.tensor([next(s for s in sub if s >= int(exact[i])) for i in members])
    key = ((crop * 2 + is_complex.long()) * 100 + exact) * channels
    order = torch.argsort(key + torch.arange(channels))
    groups: list[KernelGroup] = []
    pos = 0
    for level in levels:
        in_group = crop == level
        n_s = int((in_group & ~is_complex).sum())
        n_c = int((in_group & is_complex).sum())
        parts, simple_at, complex_at = [], 0, 0
        for radius in sorted(set(exact[in_group].tolist())):
            members = in_group & (exact == radius)
            s_count = int((members & ~is_complex).sum())
            c_count = int((members & is_complex).sum())
            parts.append(KernelPart(radius, s_count, c_count, simple_at, complex_at))
            simple_at, complex_at = simple_at + s_count, complex_at + c_count
        if parts:
            groups.append(KernelGroup(level, pos, n_s, n_c, tuple(parts)))
            pos += n_s + n_c
    return order, groups


def group_rows(
    q0: torch.Tensor,
    q1: torch.Tensor,
    order: torch.Tensor,
    g: KernelGroup,
    p: KernelPart | None = None,
    gains: tuple[float, float] = (1.0, 1.0),
) -> torch.Tensor:
    """Kernels [rows, 1, k, k] of a group (or one of its parts) in row order, float64,
    times the (simple, complex) gains."""
    n_s = q0.shape[0] - q1.shape[0]
    s0, c0 = g.start, g.start + g.simple
    if p is not None:
        s0, c0 = s0 + p.simple_at, c0 + p.complex_at
    simple = order[s0 : s0 + (p.simple if p else g.simple)]
    complex_ = order[c0 : c0 + (p.complex if p else g.complex)]
    q0, q1 = q0.double(), q1.double()
    return torch.cat(
        [q0[simple] * gains[0], q0[complex_] * gains[1], q1[complex_ - n_s] * gains[1]]
    )


def make_weights(
    q0: torch.Tensor,
    q1: torch.Tensor,
    order: torch.Tensor,
    groups: list[KernelGroup],
    k_exc: float,
    nan_proof: torch.Tensor,
    like: torch.Tensor,
) -> KernelWeights:
    """Every kernel the fast paths use, cropped, for ``like``'s device and dtype."""
    c = q0.shape[-1] // 2

    def crop(w: torch.Tensor, r: int) -> torch.Tensor:
        w = w[:, :, c - r : c + r + 1, c - r : c + r + 1]
        return w.to(device=like.device, dtype=like.dtype).contiguous()

    # ReLU and the quadrature norm commute with a positive gain: fold it into the kernels.
    gains = (k_exc, k_exc / math.sqrt(2.0))
    fast, back, exact = [], [], []
    for g in groups:
        fast.append(crop(group_rows(q0, q1, order, g, gains=gains), g.radius))
        w = crop(group_rows(q0, q1, order, g), g.radius)
        back.append(w.view(g.rows, 2 * g.radius + 1, 1, 2 * g.radius + 1))
        exact.append([crop(group_rows(q0, q1, order, g, p), p.radius) for p in g.parts])
    proof = nan_proof.to(device=like.device, dtype=like.dtype)
    return KernelWeights(fast, back, exact, proof)


def small_conv(x: torch.Tensor, w: torch.Tensor, radius: int) -> torch.Tensor:
    """``F.conv2d(x, w, padding=radius)`` for one input channel. Small kernels run faster as
    a matrix product over unfolded 5x5 (or 3x3) patches: for a single input channel the patch
    matrix is tiny, and oneDNN's direct convolution is least efficient at these sizes."""
    if radius > GEMM_MAX_RADIUS or x.shape[1] != 1:
        return F.conv2d(x, w, padding=radius)
    b, _, h, w_ = x.shape
    k = 2 * radius + 1
    patches = F.unfold(x, k, padding=radius)  # [B, k*k, H*W]
    weights = w.view(1, w.shape[0], k * k).expand(b, -1, -1)
    return torch.bmm(weights, patches).view(b, w.shape[0], h, w_)
