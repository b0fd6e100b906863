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
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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
_SF_EDGES = np.array([0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.2])  # cycles/deg; De Valois 1982b
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


def gabor_kernels(params: torch.Tensor, config: VOneConfig, phase_shift: float = 0.0) -> torch.Tensor:
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
def kernel_radius(kernels: torch.Tensor) -> torch.Tensor:
    """Per filter, the half-width of the smallest centred square holding every non-zero entry."""
    k = kernels.shape[-1]
    idx = (torch.arange(k) - k // 2).abs()
    dist = torch.maximum(idx[:, None], idx[None, :])  # Chebyshev distance to the centre
    nonzero = kernels.flatten(1) != 0
    return torch.where(nonzero, dist.flatten()[None], torch.zeros_like(dist.flatten())[None]).amax(1)


class _BucketedConv(torch.autograd.Function):
    """Convolve with filter groups, each cropped to the support its filters really have (the
    rest of the ksize x ksize kernel is exactly zero in float32), so outputs equal the dense
    convolution's up to float rounding.

    Backward matches the dense convolution in where it is NaN: in IEEE arithmetic 0 x NaN = NaN,
    so a dense kernel spreads a non-finite output gradient over its whole ksize x ksize
    footprint, zero entries included. The study's NaN gradients depend on that, so non-finite
    output gradients are spread over the full footprint here too.
    """

    @staticmethod
    def forward(ctx, x, buckets, ksize):  # type: ignore[override]
        ctx.buckets, ctx.ksize = buckets, ksize
        return tuple(F.conv2d(x, w, padding=r) for r, w in buckets)

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        if not ctx.needs_input_grad[0]:
            return None, None, None
        grad_x, bad = None, None
        for (r, w), g in zip(ctx.buckets, grads, strict=True):
            if g is None:
                continue
            part = F.conv_transpose2d(g, w, padding=r)
            grad_x = part if grad_x is None else grad_x + part
            nonfinite = (~torch.isfinite(g)).any(1, keepdim=True)
            bad = nonfinite if bad is None else bad | nonfinite
        if bad is not None and bad.any():
            spread = F.max_pool2d(bad.to(grad_x.dtype), ctx.ksize, 1, ctx.ksize // 2) > 0
            grad_x = torch.where(spread, torch.full_like(grad_x, float("nan")), grad_x)
        return grad_x, None, None


class GaborBank(nn.Module):
    """The fixed quadrature filter bank. Only the filters that are used are computed (q0 for
    simple cells; q0 and q1 for complex cells), grouped by the support they need.

    ``forward`` returns the gain-scaled simple and complex responses in *bucket order*;
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
        """Recompute kernels (non-persistent float32 buffers) and buckets from ``params``."""
        cfg = self.config
        n_s = cfg.simple_channels
        q0 = gabor_kernels(self.params, cfg)
        q1 = gabor_kernels(self.params[n_s:], cfg, phase_shift=math.pi / 2)
        self.register_buffer("q0", q0, persistent=False)
        self.register_buffer("q1", q1, persistent=False)
        r_simple = kernel_radius(q0[:n_s])
        r_complex = torch.maximum(kernel_radius(q0[n_s:]), kernel_radius(q1))
        plan: list[tuple[str, int, torch.Tensor]] = []  # (kind, radius, canonical channels)
        for kind, radii, offset in (("simple", r_simple, 0), ("complex", r_complex, n_s)):
            for r in sorted(set(radii.tolist())):
                plan.append((kind, r, torch.nonzero(radii == r).flatten() + offset))
        self._plan = plan
        order = torch.cat([idx for _, _, idx in plan]) if plan else torch.zeros(0, dtype=torch.long)
        self.register_buffer("channel_order", order, persistent=False)
        self.register_buffer("inverse_order", torch.argsort(order), persistent=False)
        self._bucket_cache: dict[tuple, list[tuple[int, torch.Tensor]]] = {}

    def _buckets(self, like: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        key = (like.device, like.dtype)
        cached = self._bucket_cache.get(key)
        if cached is None:
            cached = self._bucket_cache[key] = self._make_buckets(like)
        return cached

    def _make_buckets(self, like: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        cfg = self.config
        n_s, c = cfg.simple_channels, cfg.ksize // 2
        buckets = []
        for kind, r, idx in self._plan:
            if kind == "simple":
                # ReLU commutes with a positive gain: fold k_exc into the simple kernels.
                w = self.q0[idx] * cfg.k_exc
            else:
                w = torch.cat([self.q0[idx], self.q1[idx - n_s]], 0)
            w = w[:, :, c - r : c + r + 1, c - r : c + r + 1]
            buckets.append((r, w.to(device=like.device, dtype=like.dtype).contiguous()))
        return buckets

    def forward(self, x: torch.Tensor, gradient: str = "raw") -> torch.Tensor:
        """Gain-scaled [simple | complex] responses, channels in ``channel_order``."""
        cfg = self.config
        if cfg.stride != 1:  # buckets assume stride 1; other strides take the dense path
            return self._dense(x, gradient).index_select(1, self.channel_order)
        outs = _BucketedConv.apply(x, self._buckets(x), cfg.ksize)
        # Without an input gradient (inference, and training: the bank has no parameters)
        # the cells are computed in place, sparing memory passes over 512 maps per image.
        in_place = not (torch.is_grad_enabled() and x.requires_grad)
        cells = []
        for (kind, _, idx), q in zip(self._plan, outs, strict=True):
            n = len(idx)
            if kind == "simple":
                cells.append(q.relu_() if in_place else F.relu(q))
            elif in_place:
                energy = q[:, :n].square().addcmul_(q[:, n:], q[:, n:])
                cells.append(energy.sqrt_().mul_(cfg.k_exc / math.sqrt(2.0)))
            else:
                cells.append(complex_cell(q[:, :n], q[:, n:], gradient) * cfg.k_exc)
        return torch.cat(cells, 1) if len(cells) > 1 else cells[0]

    def _dense(self, x: torch.Tensor, gradient: str) -> torch.Tensor:
        cfg = self.config
        n_s, pad = cfg.simple_channels, cfg.ksize // 2
        q0 = F.conv2d(x, self.q0.to(x), stride=cfg.stride, padding=pad)
        q1 = F.conv2d(x, self.q1.to(x), stride=cfg.stride, padding=pad)
        simple = F.relu(q0[:, :n_s])
        complex_ = complex_cell(q0[:, n_s:], q1, gradient)
        return cfg.k_exc * torch.cat([simple, complex_], 1)


class VOneBlock(nn.Module):
    """Gabor filter bank → simple/complex cells → gain → neuronal noise → ReLU.

    Input [B, 1, H, W] in [0, 1]; output [B, simple + complex, H/stride, W/stride].
    """

    def __init__(self, config: VOneConfig | None = None, params: torch.Tensor | None = None):
        super().__init__()
        self.config = config or VOneConfig()
        self.bank = GaborBank(self.config, params)
        self.noise_mode = self.config.noise_mode  # per-block default; see noise_mode() for overrides
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

    def add_noise(self, x: torch.Tensor) -> torch.Tensor:
        """Neuronal noise then ReLU. ``x`` is never modified."""
        cfg = self.config
        mode, seed = self.effective_noise()
        if mode == "off":
            return F.relu(x)
        if mode == "seeded":
            generator = torch.Generator(device=x.device).manual_seed(seed)
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        else:
            noise = torch.randn_like(x)
        # Poisson-like: the noise's variance grows with the scaled, shifted response.
        if torch.is_grad_enabled() and x.requires_grad:
            std = torch.sqrt(F.relu(x * cfg.noise_scale + cfg.noise_level) + cfg.noise_eps)
            return F.relu(x + noise * std / cfg.noise_scale)
        # Inference: the same arithmetic in place, to spare memory passes.
        std = (x * cfg.noise_scale).add_(cfg.noise_level).clamp_(min=0).add_(cfg.noise_eps).sqrt_()
        return noise.mul_(std).div_(cfg.noise_scale).add_(x).clamp_(min=0)

    def forward(self, x: torch.Tensor, canonical: bool = True) -> torch.Tensor:
        """[B, 1, H, W] in [0, 1] → [B, simple + complex, H', W'].

        ``canonical=False`` skips restoring the channel order (``self.channel_order`` maps
        positions to canonical channels) — models fold it into their 1x1 bottleneck instead.
        """
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"VOneBlock expects [B, 1, H, W] images, got {tuple(x.shape)}")
        gradient = _gradient_override.get() or "raw"
        y = self.add_noise(self.bank(x, gradient))
        return y.index_select(1, self.bank.inverse_order) if canonical else y

    @property
    def channel_order(self) -> torch.Tensor:
        return self.bank.channel_order

    def cell_responses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(simple, complex) responses after gain, before noise, canonical order — for display."""
        y = self.bank(x).index_select(1, self.bank.inverse_order)
        n_s = self.config.simple_channels
        return y[:, :n_s], y[:, n_s:]
