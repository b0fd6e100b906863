"""The VOneBlock: a fixed, V1-like front-end (Dapello, Marques et al., NeurIPS 2020).

Written from the paper's description and configured as the 2021 VOneNet-FGSM study did:

* a bank of Gabor filters, parameters drawn from primate V1 measurements
  (spatial frequency and orientation: De Valois et al. 1982; envelope widths nx, ny:
  Ringach 2002, nx correlated with frequency), phase uniform;
* simple cells  ``s = ReLU(q0)`` and complex cells ``c = sqrt(q0² + q1²) / √2``, where q0 and q1
  are the responses of a quadrature pair (phase φ and φ + π/2);
* gain ``k_exc``, then Poisson-like neuronal noise ``x + N(0,1)·sqrt(relu(scale·x + level) + ε) / scale``
  followed by a ReLU — on in training *and* evaluation, as in the study;
* (in :mod:`vonedemo.models`) a learned 1x1 bottleneck to a few channels.

Faithful to the study, the complex cell adds nothing inside the square root. At zero energy
(a blank MNIST background seen through a narrow kernel) its derivative is 0/0 = NaN, which
spreads to the input gradient; ``torch.sign(NaN) == 0``. A *repaired* backward pass, defined at
zero energy, is available as an explicit, separate choice (:func:`gradient_mode`).

Noise and gradient behaviour can be switched at run time without touching any weight, either
per block (``block.noise_mode``) or per thread for a ``with`` block (:func:`noise_mode`,
:func:`gradient_mode`) — the latter is what shared, cached models must use.

Example::

    >>> block = VOneBlock(VOneConfig())
    >>> with noise_mode("off"):
    ...     y = block(torch.rand(2, 1, 28, 28))
    >>> y.shape
    torch.Size([2, 512, 28, 28])
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .runtime import allocator_tuned

NOISE_MODES = ("neuronal", "off", "seeded")
GRADIENT_MODES = ("raw", "repaired")


@dataclass(frozen=True)
class VOneConfig:
    """Every setting of the VOneBlock; travels inside checkpoints. Defaults are the study's."""

    simple_channels: int = 256  # simple cells (ReLU of the q0 response)
    complex_channels: int = 256  # complex cells (quadrature energy)
    ksize: int = 25  # Gabor kernel size in pixels
    stride: int = 1
    image_size: int = 28  # pixels across the input
    visual_degrees: float = 8.0  # field of view the image spans: 28 px / 8 deg = 3.5 px per degree
    sf_max: float = 6.0  # cap on spatial frequency, cycles/degree (the study's code)
    sf_min: float = 0.0
    sf_corr: float = 0.75  # correlation between nx and spatial frequency
    k_exc: float = 25.0  # gain applied to the Gabor responses
    noise_mode: str = "neuronal"  # default noise: "neuronal", "off" or "seeded"
    noise_scale: float = 0.35
    noise_level: float = 0.07
    noise_eps: float = 1e-4  # keeps the noise's square root differentiable
    noise_seed: int = 0  # seed used by the "seeded" noise mode
    bottleneck_channels: int = 32  # 1x1 conv after the block (built in models.py)
    seed: int = 0  # seed for sampling the Gabor parameters

    def __post_init__(self) -> None:
        if self.noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {self.noise_mode!r}")
        if self.simple_channels < 0 or self.complex_channels < 0:
            raise ValueError("channel counts must be non-negative")
        if self.simple_channels + self.complex_channels == 0:
            raise ValueError("the VOneBlock needs at least one channel")
        if self.ksize < 1 or self.ksize % 2 == 0:
            raise ValueError(f"ksize must be a positive odd number, got {self.ksize}")
        if self.visual_degrees <= 0 or self.image_size <= 0:
            raise ValueError("image_size and visual_degrees must be positive")

    @property
    def pixels_per_degree(self) -> float:
        return self.image_size / self.visual_degrees

    @property
    def out_channels(self) -> int:
        return self.simple_channels + self.complex_channels

    def to_dict(self) -> dict:
        return asdict(self)


# --- V1 parameter distributions (histograms reported in the papers cited above) -------------
_ORI_EDGES = np.array([-22.5, 22.5, 67.5, 112.5, 157.5])  # degrees; De Valois 1982a
_ORI_COUNTS = np.array([66, 49, 77, 54], dtype=float)
_SF_EDGES = np.array(
    [0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.2]
)  # cycles/deg; De Valois 1982b
_SF_COUNTS = np.array([4, 4, 8, 25, 32, 26, 28, 12, 8], dtype=float)
_N_EDGES = np.logspace(-1, 0.2, 6)  # nx and ny bin edges; Ringach 2002
_N_JOINT = np.array(  # rows: nx bins, columns: ny bins
    [
        [2, 0, 1, 0, 0],
        [8, 9, 4, 1, 0],
        [1, 2, 19, 17, 3],
        [0, 0, 1, 7, 4],
        [0, 0, 0, 0, 0],
    ],
    dtype=float,
)


def _inverse_cdf(u: np.ndarray, edges: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Map uniforms u in [0, 1] through a histogram's piecewise-linear inverse CDF."""
    cdf = np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])
    return np.interp(u, cdf, edges)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))


def sample_gabor_parameters(config: VOneConfig) -> dict[str, np.ndarray]:
    """Draw (sf [cycles/deg], ori [deg], phase [deg], nx, ny) for every channel, seeded.

    Orientation and phase are uniform within histogram bins. nx and sf are drawn through a
    Gaussian copula with correlation ``sf_corr``, each on a log scale within its bins; ny is
    drawn from the Ringach histogram conditioned on nx's bin.
    """
    n = config.out_channels
    rng = np.random.default_rng(config.seed)
    keep = (_SF_EDGES >= config.sf_min) & (_SF_EDGES <= config.sf_max)
    first, last = np.flatnonzero(keep)[[0, -1]]
    sf_edges, sf_counts = _SF_EDGES[first : last + 1], _SF_COUNTS[first:last]
    if len(sf_counts) == 0:
        raise ValueError(f"no spatial-frequency bin lies within [{config.sf_min}, {config.sf_max}]")

    phase = rng.uniform(0.0, 360.0, n)
    ori = _inverse_cdf(rng.uniform(size=n), _ORI_EDGES, _ORI_COUNTS) % 180.0
    z = rng.multivariate_normal([0.0, 0.0], [[1.0, config.sf_corr], [config.sf_corr, 1.0]], n)
    u = _normal_cdf(z)
    nx_marginal = _N_JOINT.sum(axis=1)
    log_nx = _inverse_cdf(u[:, 0], np.log10(_N_EDGES), nx_marginal)
    sf = 2.0 ** _inverse_cdf(u[:, 1], np.log2(sf_edges), sf_counts)
    nx_bin = np.clip(np.searchsorted(np.log10(_N_EDGES), log_nx, side="right") - 1, 0, 4)
    u_ny = rng.uniform(size=n)
    log_ny = np.array(
        [_inverse_cdf(u_ny[i], np.log10(_N_EDGES), _N_JOINT[b]) for i, b in enumerate(nx_bin)]
    )
    return {"sf": sf, "ori": ori, "phase": phase, "nx": 10.0**log_nx, "ny": 10.0**log_ny}


def gabor_kernels(
    params: torch.Tensor, config: VOneConfig, phase_shift: float = 0.0
) -> torch.Tensor:
    """Float32 Gabor kernels [C, 1, k, k] from a float64 parameter table [C, 5].

    G(x, y) = exp(-½(x'²/σx² + y'²/σy²)) / (2π σx σy) · cos(2π f x' + φ), with f in cycles per
    pixel, σx = nx / f and σy = ny / f in pixels. Computed in float64 then rounded, so the
    float32 bank (including which far entries underflow to exactly 0) is reproducible.
    """
    p = params.to(torch.float64)
    f = p[:, 0] / config.pixels_per_degree
    theta = torch.deg2rad(p[:, 1])
    phi = torch.deg2rad(p[:, 2]) + phase_shift
    sigma_x, sigma_y = p[:, 3] / f, p[:, 4] / f
    half = config.ksize // 2
    grid = torch.arange(-half, half + 1, dtype=torch.float64)
    y, x = torch.meshgrid(grid, grid, indexing="ij")
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    xr = x * c + y * s
    yr = -x * s + y * c
    sx, sy = sigma_x[:, None, None], sigma_y[:, None, None]
    envelope = torch.exp(-0.5 * (xr**2 / sx**2 + yr**2 / sy**2)) / (2 * math.pi * sx * sy)
    carrier = torch.cos(2 * math.pi * f[:, None, None] * xr + phi[:, None, None])
    return (envelope * carrier).to(torch.float32).unsqueeze(1)


# --- run-time switches ----------------------------------------------------------------------
# Context variables are per thread, so one Streamlit session switching noise or gradients
# never affects another session using the same cached model.
_noise_override: contextvars.ContextVar[tuple[str, int] | None] = contextvars.ContextVar(
    "vonedemo_noise_override", default=None
)
_gradient_override: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "vonedemo_gradient_override", default=None
)
# None: no promise; "values": input gradient only, but the outputs' values are used;
# "gradient": input gradient only, and nothing reads the outputs' values.
_input_gradient_only: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "vonedemo_input_gradient_only", default=None
)


@contextlib.contextmanager
def noise_mode(mode: str, seed: int = 0) -> Iterator[None]:
    """Override every VOneBlock's noise mode in this thread for the ``with`` block."""
    if mode not in NOISE_MODES:
        raise ValueError(f"unknown noise mode {mode!r}; known: {', '.join(NOISE_MODES)}")
    token = _noise_override.set((mode, int(seed)))
    try:
        yield
    finally:
        _noise_override.reset(token)


@contextlib.contextmanager
def gradient_mode(mode: str) -> Iterator[None]:
    """Choose the complex cell's backward pass in this thread: ``raw`` (the study's) or
    ``repaired`` (zero at zero energy). Forward values, hence predictions, never change."""
    if mode not in GRADIENT_MODES:
        raise ValueError(f"unknown gradient mode {mode!r}; known: {', '.join(GRADIENT_MODES)}")
    token = _gradient_override.set(mode)
    try:
        yield
    finally:
        _gradient_override.reset(token)


@contextlib.contextmanager
def input_gradient_only(values_used: bool = True) -> Iterator[None]:
    """Promise, for the ``with`` block in this thread, that autograd will be asked for the
    gradient with respect to the *input* only (``torch.autograd.grad(loss, x)``, as every
    attack does). A VOne model may then skip its back-end's backward pass for a batch whose
    raw input gradient it has proved NaN at every pixel (:meth:`VOneBlock.proves_nan_gradient`)
    — parameter gradients would not be computed. With ``values_used=False`` the caller also
    promises not to read the model's outputs (only their gradient): for such a batch the
    forward pass itself is skipped and the outputs are placeholders (zeros)."""
    token = _input_gradient_only.set("values" if values_used else "gradient")
    try:
        yield
    finally:
        _input_gradient_only.reset(token)


class _NaNInputGradient(torch.autograd.Function):
    """``logits`` (computed without a graph) whose gradient with respect to ``x`` is NaN."""

    @staticmethod
    def forward(ctx, x, logits):  # type: ignore[override]
        ctx.input_shape = x.shape
        return logits.clone()

    @staticmethod
    def backward(ctx, grad_logits):  # type: ignore[override]
        return grad_logits.new_full(ctx.input_shape, float("nan")), None


def logits_with_nan_input_gradient(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``logits`` as the output of ``x``, with the study's all-NaN input gradient."""
    return _NaNInputGradient.apply(x, logits.detach())


def complex_cell(q0: torch.Tensor, q1: torch.Tensor, gradient: str = "raw") -> torch.Tensor:
    """sqrt(q0² + q1²)/√2. ``raw``: plain autograd (NaN at zero energy, as the study);
    ``repaired``: the same values, with gradient 0 where the energy is 0."""
    energy = q0 * q0 + q1 * q1
    if gradient == "raw":
        return torch.sqrt(energy) / math.sqrt(2.0)
    positive = energy > 0
    # Double-where: sqrt never sees a 0 on the branch that carries gradient.
    safe = torch.sqrt(torch.where(positive, energy, torch.ones_like(energy)))
    return torch.where(positive, safe, torch.zeros_like(safe)) / math.sqrt(2.0)


# --- the fast Gabor convolution ---------------------------------------------------------------
# Three ways to the same block, chosen per call (all give the study's values and gradients):
#
# * no input gradient (inference, and training: the bank has no parameters) — every kernel is
#   cropped to the square that holds all but CROP_TOLERANCE of its L1 mass, gains are folded
#   into the kernels and each group's cells (and noise) are written straight into the output;
# * input gradient — the gradient depends on exact signs at "tail-only" positions (a simple
#   cell's ReLU at q0 = +1e-40, a complex cell's direction at tiny energy), so the forward pass
#   convolves with each kernel's exact non-zero support and saves the local derivatives; the
#   backward pass is then linear and uses the cropped kernels. The study's NaN (0/0 in the raw
#   complex cell, spread by the dense 25x25 backward over its whole footprint, since 0 x NaN is
#   NaN) is reproduced from the forward pass's zero-energy map;
# * raw gradient of an image whose every pixel will be NaN (blank MNIST corners make that the
#   rule for real digits, see GaborBank.nan_everywhere) — values from the cropped path,
#   gradient all NaN.
#
# float64, strides other than 1 and non-finite inputs take the dense path, as the study did.

CROP_TOLERANCE = 1e-6  # L1 mass a cropped kernel may leave out, relative to its total
# Images per step in VOneBlock.project. With glibc's default thresholds every map-sized tensor
# above 32 MB is page-faulted in afresh, so chunks stay small; with the allocator tuned
# (vonedemo.runtime) bigger chunks amortise per-call costs (measured: 32 was 10% faster than 16).
PROJECT_CHUNK = 16
PROJECT_CHUNK_TUNED = 32


def project_chunk() -> int:
    return PROJECT_CHUNK_TUNED if allocator_tuned() else PROJECT_CHUNK


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


def _spread(mask: torch.Tensor, k: int) -> torch.Tensor:
    """Max over the centred k x k square around each pixel (as two 1-D passes: 2k, not k²)."""
    mask = F.max_pool2d(mask, (k, 1), 1, (k // 2, 0))
    return F.max_pool2d(mask, (1, k), 1, (0, k // 2))


def _conv_cost(rows: int, radius: int) -> float:
    """Rough time of one convolution (batch 32, 2-core AVX-512 CPU, milliseconds) with
    ``rows`` filters of half-width ``radius``: oneDNN computes filters in blocks of 16, every
    output row costs a memory pass, every call has a fixed overhead."""
    return 2.9e-4 * 16 * math.ceil(rows / 16) * (2 * radius + 1) ** 2 + 0.013 * rows + 0.2


def _radius_levels(radii: list[int], rows: list[int]) -> list[int]:
    """The kernel half-widths (each filter rounded up to the next one) that minimise
    :func:`_conv_cost` for filters of the given ``radii`` (``rows`` convolution rows each).
    Rounding a radius up only adds zero taps, never changes what a kernel holds.

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
class _Part:
    """Cells of a group that also share their exact kernel size: one exact convolution, rows
    [simple q0 | complex q0 | complex q1]."""

    radius: int  # exact support (every non-zero entry)
    simple: int  # number of simple cells
    complex: int  # number of complex cells
    simple_at: int  # first simple cell within the group's simple cells
    complex_at: int  # first complex cell within the group's complex cells


@dataclass(frozen=True)
class _Group:
    """Cells sharing a cropped kernel size: one convolution. Output channels [start, stop):
    its simple cells, then its complex cells; convolution rows [simple q0 | complex q0 |
    complex q1], each block in part order."""

    radius: int  # cropped support
    start: int
    simple: int
    complex: int
    parts: tuple[_Part, ...]

    @property
    def stop(self) -> int:
        return self.start + self.simple + self.complex

    @property
    def rows(self) -> int:
        return self.simple + 2 * self.complex


@dataclass
class _Weights:
    """Kernels for one device and dtype, rows in each group's / part's order."""

    fast: list[torch.Tensor]  # per group: cropped, gains folded in
    back: list[torch.Tensor]  # per group: cropped, no gain, [rows, k, 1, k] (see exact_backward)
    exact: list[list[torch.Tensor]]  # per group, per part: exact support, no gain
    nan_proof: torch.Tensor  # [K, 1, k, k] indicators of a few complex cells' exact supports


class _VOneGradient(torch.autograd.Function):
    """The block (cells, gain, noise, ReLU) with a hand-written backward; see the notes above."""

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
            part = bank.dense_backward(x_e, n_e, g, ctx.gradient)
        elif zero is not None and underflow is not None:
            spread = _spread(zero.unsqueeze(1).to(part.dtype), bank.config.ksize) > 0
            part.masked_fill_(spread, float("nan"))
            if underflow.any():
                idx = torch.nonzero(underflow).flatten()
                n_u = n_e.index_select(0, idx) if n_e is not None else None
                part.index_copy_(0, idx, bank.dense_backward(x_e[idx], n_u, g[idx], ctx.gradient))
        if ctx.mixed:
            grad_x.index_copy_(0, exact_idx, part)
        else:
            grad_x = part
        return grad_x, None, None, None, None


class GaborBank(nn.Module):
    """The fixed quadrature filter bank. Only the filters that are used are computed (q0 for
    simple cells; q0 and q1 for complex cells), grouped by the support they need.

    ``forward`` returns the gain-scaled simple and complex responses in *group order*:
    ``channel_order[i]`` is the canonical channel (simple first, then complex) at position i.
    """

    def __init__(self, config: VOneConfig, params: torch.Tensor | None = None):
        super().__init__()
        self.config = config
        if params is None:
            sampled = sample_gabor_parameters(config)
            params = torch.tensor(
                np.stack([sampled[k] for k in ("sf", "ori", "phase", "nx", "ny")], 1),
                dtype=torch.float64,
            )
        # The sampled parameters are the filter bank's identity: stored in checkpoints.
        self.register_buffer("params", params)
        self.register_load_state_dict_post_hook(lambda module, _: module.rebuild())
        self.rebuild()

    def rebuild(self) -> None:
        """Recompute kernels (non-persistent float32 buffers) and the plan from ``params``."""
        cfg = self.config
        n_s = cfg.simple_channels
        q0 = gabor_kernels(self.params, cfg)
        q1 = gabor_kernels(self.params[n_s:], cfg, phase_shift=math.pi / 2)
        self.register_buffer("q0", q0, persistent=False)
        self.register_buffer("q1", q1, persistent=False)
        pairs = torch.cat([q0[n_s:], q1], 1)  # [n_c, 2, k, k]
        exact = torch.cat(
            [kernel_radius(q0[:n_s]), kernel_radius(pairs.flatten(0, 1)).view(-1, 2).amax(1)]
        )
        crop = torch.cat([crop_radius(q0[:n_s]), crop_radius(pairs)])
        is_complex = torch.arange(cfg.out_channels) >= n_s
        rows = (1 + is_complex.long()).tolist()
        levels = _radius_levels(crop.tolist(), rows)
        crop = torch.tensor([next(lv for lv in levels if lv >= r) for r in crop.tolist()])
        for level in levels:  # exact kernel sizes, chosen the same way within each group
            members = torch.nonzero(crop == level).flatten()
            sub = _radius_levels(exact[members].tolist(), [rows[i] for i in members.tolist()])
            exact[members] = torch.tensor(
                [next(s for s in sub if s >= int(exact[i])) for i in members]
            )
        # Output order: by cropped kernel size, simple before complex, then exact kernel size —
        # so every convolution of either path writes contiguous runs of output channels.
        key = ((crop * 2 + is_complex.long()) * 100 + exact) * cfg.out_channels
        order = torch.argsort(key + torch.arange(cfg.out_channels))
        self.register_buffer("channel_order", order, persistent=False)
        self.register_buffer("inverse_order", torch.argsort(order), persistent=False)
        groups: list[_Group] = []
        pos = 0
        for level in levels:
            in_group = crop == level
            n_simple = int((in_group & ~is_complex).sum())
            n_complex = int((in_group & is_complex).sum())
            parts, simple_at, complex_at = [], 0, 0
            for radius in sorted(set(exact[in_group].tolist())):
                members = in_group & (exact == radius)
                s_count = int((members & ~is_complex).sum())
                c_count = int((members & is_complex).sum())
                parts.append(_Part(radius, s_count, c_count, simple_at, complex_at))
                simple_at, complex_at = simple_at + s_count, complex_at + c_count
            if parts:
                groups.append(_Group(level, pos, n_simple, n_complex, tuple(parts)))
                pos += n_simple + n_complex
        self._groups = groups
        # The exact supports of a few compact complex cells suffice to prove "NaN everywhere"
        # for blank backgrounds; a missed proof only costs speed (the exact path decides then).
        footprints = (pairs != 0).any(1).flatten(1)
        chosen = footprints.sum(1).argsort()[:8]
        k = cfg.ksize
        self._nan_proof = footprints[chosen].view(-1, 1, k, k).to(torch.float32)
        self._weight_cache: dict[tuple, _Weights] = {}

    # -- kernels per device and dtype -------------------------------------------------------
    def _weights(self, like: torch.Tensor) -> _Weights:
        key = (like.device, like.dtype)
        cached = self._weight_cache.get(key)
        if cached is None:
            cached = self._weight_cache[key] = self._make_weights(like)
        return cached

    def _rows(
        self, g: _Group, p: _Part | None = None, gains: tuple[float, float] = (1.0, 1.0)
    ) -> torch.Tensor:
        """Kernels [rows, 1, k, k] of a group (or one of its parts) in row order, float64,
        times the (simple, complex) gains."""
        n_s = self.config.simple_channels
        s0, c0 = g.start, g.start + g.simple
        if p is not None:
            s0, c0 = s0 + p.simple_at, c0 + p.complex_at
        simple = self.channel_order[s0 : s0 + (p.simple if p else g.simple)]
        complex_ = self.channel_order[c0 : c0 + (p.complex if p else g.complex)]
        q0, q1 = self.q0.double(), self.q1.double()
        return torch.cat(
            [q0[simple] * gains[0], q0[complex_] * gains[1], q1[complex_ - n_s] * gains[1]]
        )

    def _make_weights(self, like: torch.Tensor) -> _Weights:
        cfg = self.config
        c = cfg.ksize // 2

        def crop(w: torch.Tensor, r: int) -> torch.Tensor:
            w = w[:, :, c - r : c + r + 1, c - r : c + r + 1]
            return w.to(device=like.device, dtype=like.dtype).contiguous()

        # ReLU and the quadrature norm commute with a positive gain: fold it into the kernels.
        gains = (cfg.k_exc, cfg.k_exc / math.sqrt(2.0))
        fast, back, exact = [], [], []
        for g in self._groups:
            fast.append(crop(self._rows(g, gains=gains), g.radius))
            w = crop(self._rows(g), g.radius)
            back.append(w.view(g.rows, 2 * g.radius + 1, 1, 2 * g.radius + 1))
            exact.append([crop(self._rows(g, p), p.radius) for p in g.parts])
        proof = self._nan_proof.to(device=like.device, dtype=like.dtype)
        return _Weights(fast, back, exact, proof)

    # -- shapes and path choice --------------------------------------------------------------
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
        """bool [B]: images whose raw input gradient is certainly NaN at every pixel.

        Proof: within the backward footprint (ksize x ksize) of every pixel lies a position
        where some complex cell's exact support sees only zero pixels. There q0 = q1 = 0
        exactly, so the raw cell's gradient is 0 x (inf or NaN) = NaN whatever arrives from
        above (noise or not), and the dense backward spreads it over the whole footprint.
        """
        b = x.shape[0]
        if b == 0:
            return torch.zeros(0, dtype=torch.bool)
        k = self.config.ksize
        proof = self._weights(x).nan_proof
        seen = F.conv2d((x != 0).to(x.dtype), proof, padding=k // 2)
        zero = (seen == 0).any(1, keepdim=True).to(x.dtype)
        covered = _spread(zero, k)
        return (covered.flatten(1) > 0).all(1).cpu()

    # -- the three computations ----------------------------------------------------------------
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
                q = _small_conv(x, w, g.radius)
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
                out.copy_(_apply_noise(out, noise, cfg))
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

    def dense_backward(
        self, x: torch.Tensor, noise: torch.Tensor | None, grad_out: torch.Tensor, gradient: str
    ) -> torch.Tensor:
        """Input gradient by autograd through the dense block (rare cases only)."""
        with torch.enable_grad():
            xx = x.detach().requires_grad_(True)
            y = self.dense_cells(xx, gradient)
            if noise is not None:
                y = _apply_noise(y, noise, self.config)
            (grad,) = torch.autograd.grad(y, xx, grad_out)
        return grad

    def dense_cells(self, x: torch.Tensor, gradient: str = "raw") -> torch.Tensor:
        """Cells by dense convolution (the study's computation), in ``channel_order``."""
        cfg = self.config
        n_s, pad = cfg.simple_channels, cfg.ksize // 2
        q0 = F.conv2d(x, self.q0.to(x), stride=cfg.stride, padding=pad)
        q1 = F.conv2d(x, self.q1.to(x), stride=cfg.stride, padding=pad)
        simple = F.relu(q0[:, :n_s])
        complex_ = complex_cell(q0[:, n_s:], q1, gradient)
        return (cfg.k_exc * torch.cat([simple, complex_], 1)).index_select(1, self.channel_order)

    def respond(
        self,
        x: torch.Tensor,
        noise: torch.Tensor | None = None,
        gradient: str = "raw",
        canonical: bool = False,
    ) -> torch.Tensor:
        """Cells, then noise (``noise`` [B, C, H, W] in channel order, or None) and ReLU;
        channels in ``channel_order``, or the canonical order with ``canonical``."""
        if not self.fast_path_applies(x):
            y = self.dense_cells(x, gradient)
            y = _apply_noise(y, noise, self.config) if noise is not None else F.relu(y)
        elif torch.is_grad_enabled() and x.requires_grad:
            return _VOneGradient.apply(x, noise, self, gradient, canonical)
        else:
            y = self.fast_cells(x, noise, x.new_empty(self.output_shape(x)))
        return y.index_select(1, self.inverse_order) if canonical else y

    def forward(self, x: torch.Tensor, gradient: str = "raw") -> torch.Tensor:
        """Gain-scaled [simple | complex] responses, channels in ``channel_order``."""
        return self.respond(x, None, gradient)


GEMM_MAX_RADIUS = 2  # kernels up to 5x5 run as unfold + batched matrix product


def _small_conv(x: torch.Tensor, w: torch.Tensor, radius: int) -> torch.Tensor:
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


_noise_pool: ThreadPoolExecutor | None = None
_noise_pool_lock = threading.Lock()


def fill_normal(out: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    """Fill ``out`` [B, ...] with N(0, 1): image i from a generator seeded with ``seeds[i]``.

    Why per image: torch's CPU generator (a Mersenne twister) is sequential, and its 401,408
    numbers per image are the largest single cost of a noisy pass (about 1.4 ms per image on
    the reference machine). Independent streams can be drawn in parallel, one thread per torch
    thread, and any chunking of a batch sees the same noise.
    """
    if out.shape[0] != len(seeds):
        raise ValueError(f"{len(seeds)} seeds for {out.shape[0]} images")
    values = [int(s) for s in seeds.tolist()]

    def fill(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            out[i].normal_(generator=torch.Generator(device=out.device).manual_seed(values[i]))

    workers = min(torch.get_num_threads(), len(values)) if out.device.type == "cpu" else 1
    if workers <= 1:
        fill(0, len(values))
        return out
    global _noise_pool
    with _noise_pool_lock:
        if _noise_pool is None:  # one thread per core at most; more torch threads just queue
            _noise_pool = ThreadPoolExecutor(
                max_workers=os.cpu_count() or 2, thread_name_prefix="vonedemo-noise"
            )
        pool = _noise_pool
    bounds = [len(values) * k // workers for k in range(workers + 1)]
    # torch releases the GIL inside normal_, so the streams really run side by side.
    for future in [
        pool.submit(fill, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    ]:
        future.result()
    return out


def _pointwise(y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``F.conv2d(y, weight)`` for a 1x1 ``weight``, as one matrix product per image: oneDNN
    reorders 512 NCHW maps into its blocked layout first, which costs more than the product."""
    b, c, h, w = y.shape
    if weight.shape[2:] != (1, 1) or y.dtype != weight.dtype:
        return F.conv2d(y, weight)
    # bmm with the weight expanded (a view): torch.matmul would fold the batch into one
    # product and copy the maps to a transposed layout first.
    w2 = weight.view(1, weight.shape[0], c).expand(b, -1, -1)
    return torch.bmm(w2, y.reshape(b, c, h * w)).view(b, -1, h, w)


def _apply_noise(x: torch.Tensor, noise: torch.Tensor, cfg: VOneConfig) -> torch.Tensor:
    """The study's neuronal noise with a given draw, then ReLU. ``x`` is never modified."""
    # Poisson-like: the noise's variance grows with the scaled, shifted response.
    if torch.is_grad_enabled() and (x.requires_grad or noise.requires_grad):
        std = torch.sqrt(F.relu(x * cfg.noise_scale + cfg.noise_level) + cfg.noise_eps)
        return F.relu(x + noise * std / cfg.noise_scale)
    # Inference: the same arithmetic in place, to spare memory passes.
    std = (x * cfg.noise_scale).add_(cfg.noise_level).clamp_(min=0).add_(cfg.noise_eps).sqrt_()
    return (noise * std).div_(cfg.noise_scale).add_(x).clamp_(min=0)


class VOneBlock(nn.Module):
    """Gabor filter bank → simple/complex cells → gain → neuronal noise → ReLU.

    Input [B, 1, H, W] in [0, 1]; output [B, simple + complex, H/stride, W/stride].
    """

    def __init__(self, config: VOneConfig | None = None, params: torch.Tensor | None = None):
        super().__init__()
        self.config = config or VOneConfig()
        self.bank = GaborBank(self.config, params)
        self.noise_mode = (
            self.config.noise_mode
        )  # per-block default; see noise_mode() for overrides
        self.noise_seed = self.config.noise_seed

    def set_noise_mode(self, mode: str, seed: int | None = None) -> None:
        if mode not in NOISE_MODES:
            raise ValueError(f"unknown noise mode {mode!r}; known: {', '.join(NOISE_MODES)}")
        self.noise_mode = mode
        if seed is not None:
            self.noise_seed = int(seed)

    def effective_noise(self) -> tuple[str, int]:
        override = _noise_override.get()
        return override if override is not None else (self.noise_mode, self.noise_seed)

    def noise_seeds(self, batch: int) -> torch.Tensor | None:
        """One seed per image for the effective noise mode, None when it is off: drawn from
        torch's global generator (``neuronal``) or from a fresh one seeded with the block's
        seed (``seeded``: the same noise on every call)."""
        mode, seed = self.effective_noise()
        if mode == "off":
            return None
        generator = torch.Generator().manual_seed(seed) if mode == "seeded" else None
        return torch.randint(0, 2**62, (batch,), generator=generator)

    def draw_noise(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor | None:
        """N(0, 1) noise of ``shape`` [B, ...] for the effective noise mode (one seed per
        image, see :func:`fill_normal`); None when it is off."""
        seeds = self.noise_seeds(shape[0])
        if seeds is None:
            return None
        return fill_normal(torch.empty(shape, device=like.device, dtype=like.dtype), seeds)

    def add_noise(self, x: torch.Tensor) -> torch.Tensor:
        """Neuronal noise then ReLU. ``x`` is never modified."""
        noise = self.draw_noise(x.shape, x)
        return F.relu(x) if noise is None else _apply_noise(x, noise, self.config)

    def forward(self, x: torch.Tensor, canonical: bool = True) -> torch.Tensor:
        """[B, 1, H, W] in [0, 1] → [B, simple + complex, H', W'].

        ``canonical=False`` skips restoring the channel order (``self.channel_order`` maps
        positions to canonical channels) — models fold it into their 1x1 bottleneck instead.
        """
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"VOneBlock expects [B, 1, H, W] images, got {tuple(x.shape)}")
        gradient = _gradient_override.get() or "raw"
        noise = self.draw_noise(self.bank.output_shape(x), x)
        return self.bank.respond(x, noise, gradient, canonical)

    def project(
        self, x: torch.Tensor, weight: torch.Tensor, chunk: int | None = None
    ) -> torch.Tensor:
        """``F.conv2d(self(x, canonical=False), weight)`` for a 1x1 ``weight`` [out, C, 1, 1]
        whose input channels are in ``channel_order`` — computed ``chunk`` images at a time,
        so the 512 maps of a big batch never exist at once (memory, and cache reuse).

        The noise is the same as for the whole batch at once: each image draws from its own
        seed (:func:`fill_normal`), and the seeds are drawn for the whole batch first.
        """
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"VOneBlock expects [B, 1, H, W] images, got {tuple(x.shape)}")
        gradient = _gradient_override.get() or "raw"
        chunk = chunk or project_chunk()
        seeds = self.noise_seeds(x.shape[0])
        graph = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
        reuse = not graph and self.bank.fast_path_applies(x)
        if reuse:
            # Without autograd (which would keep the maps for the weight's gradient) they are
            # dead once projected: one buffer for every chunk. (Fresh tensors this large come
            # from the kernel page by page, every time.)
            shape = self.bank.output_shape(x[:chunk])
            maps = x.new_empty(shape)
            noise_buffer = x.new_empty(shape) if seeds is not None else None
        outs = []
        for start in range(0, max(len(x), 1), chunk):  # an empty batch still gives one (empty) part
            part = x[start : start + chunk]
            n = len(part)
            noise = None
            if seeds is not None:
                buffer = noise_buffer[:n] if reuse else part.new_empty(self.bank.output_shape(part))
                noise = fill_normal(buffer, seeds[start : start + n])
            if reuse:
                y = self.bank.fast_cells(part, noise, maps[:n])
            else:
                y = self.bank.respond(part, noise, gradient)
            outs.append(_pointwise(y, weight))
        return torch.cat(outs) if len(outs) > 1 else outs[0]

    def proves_nan_gradient(self, x: torch.Tensor) -> bool:
        """True when the caller promised an input gradient only (:func:`input_gradient_only`),
        the gradient is the study's (raw), and every image of ``x`` has a raw input gradient
        that is NaN at every pixel whatever arrives from above (:meth:`GaborBank.nan_everywhere`).
        Then nothing downstream of the block can change that gradient: it need not be computed.
        """
        return (
            _input_gradient_only.get() is not None
            and torch.is_grad_enabled()
            and x.requires_grad
            and (_gradient_override.get() or "raw") == "raw"
            and x.dim() == 4
            and x.shape[0] > 0
            and self.bank.fast_path_applies(x)
            and bool(self.bank.nan_everywhere(x).all())
        )

    @staticmethod
    def output_values_unused() -> bool:
        """True inside ``input_gradient_only(values_used=False)``."""
        return _input_gradient_only.get() == "gradient"

    @property
    def channel_order(self) -> torch.Tensor:
        return self.bank.channel_order

    def cell_responses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(simple, complex) responses after gain, before noise, canonical order — for display."""
        y = self.bank(x).index_select(1, self.bank.inverse_order)
        n_s = self.config.simple_channels
        return y[:, :n_s], y[:, n_s:]
