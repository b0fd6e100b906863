"""The VOneBlock as the 2021 VOneNet-FGSM study defined it (Dapello, Marques et al., 2020).

Read top to bottom: the configuration, the V1 parameter histograms and their sampling, the
Gabor kernels, simple and complex cells, gain, neuronal noise, and the block. The complex cell
is the study's raw ``sqrt(q0² + q1²)``: nothing is added inside the root, so its derivative at
zero energy is 0/0 = NaN. The dense computations here (:meth:`GaborBank.dense_cells`) are the
definition; the fast ones the bank inherits and uses wherever they apply
(:meth:`~vonedemo.vone.fast.FastGaborBank.respond`) are proven equal.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .fast import FastGaborBank, project_in_chunks
from .modes import NoiseMode, active_gradient, check_noise_mode, noise_override
from .noise import fill_normal, noise_without_graph, per_image_seeds


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
    noise_mode: NoiseMode = "neuronal"  # default noise: "neuronal", "off" or "seeded"
    noise_scale: float = 0.35
    noise_level: float = 0.07
    noise_eps: float = 1e-4  # keeps the noise's square root differentiable
    noise_seed: int = 0  # seed used by the "seeded" noise mode
    bottleneck_channels: int = 32  # 1x1 conv after the block (built in models.py)
    seed: int = 0  # seed for sampling the Gabor parameters

    def __post_init__(self) -> None:
        check_noise_mode(self.noise_mode)
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


# --- V1 parameter distributions (histograms reported in the papers cited) -------------------
_ORI_EDGES = np.array([-22.5, 22.5, 67.5, 112.5, 157.5])  # degrees; De Valois 1982a
_ORI_COUNTS = np.array([66, 49, 77, 54], dtype=float)
# cycles/deg; De Valois 1982b
_SF_EDGES = np.array([0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.2])
_SF_COUNTS = np.array([4, 4, 8, 25, 32, 26, 28, 12, 8], dtype=float)
_N_EDGES = np.logspace(-1, 0.2, 6)  # nx and ny bin edges; Ringach 2002
_N_JOINT = np.array(  # rows: nx bins, columns: ny bins
    [[2, 0, 1, 0, 0], [8, 9, 4, 1, 0], [1, 2, 19, 17, 3], [0, 0, 1, 7, 4], [0, 0, 0, 0, 0]],
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


def neuronal_noise(x: torch.Tensor, noise: torch.Tensor, cfg: VOneConfig) -> torch.Tensor:
    """The study's noise with a given N(0, 1) draw, then ReLU. ``x`` is never modified."""
    if torch.is_grad_enabled() and (x.requires_grad or noise.requires_grad):
        # Poisson-like: the noise's variance grows with the scaled, shifted response.
        std = torch.sqrt(F.relu(x * cfg.noise_scale + cfg.noise_level) + cfg.noise_eps)
        return F.relu(x + noise * std / cfg.noise_scale)
    return noise_without_graph(x, noise, cfg)


class GaborBank(FastGaborBank):
    """The fixed quadrature filter bank: q0 for every cell, q1 for complex cells only.
    Outputs are in the group order of the fast paths (``channel_order``)."""

    def __init__(self, config: VOneConfig, params: torch.Tensor | None = None):
        super().__init__()
        self.config = config
        if params is None:
            sampled = sample_gabor_parameters(config)
            columns = [sampled[k] for k in ("sf", "ori", "phase", "nx", "ny")]
            params = torch.tensor(np.stack(columns, 1), dtype=torch.float64)
        # The sampled parameters are the filter bank's identity: stored in checkpoints.
        self.register_buffer("params", params)
        self.register_load_state_dict_post_hook(lambda module, _: module.rebuild())
        self.rebuild()

    def rebuild(self) -> None:
        """Recompute the kernels (and the fast paths' plan) from ``params``."""
        n_s = self.config.simple_channels
        q0 = gabor_kernels(self.params, self.config)
        q1 = gabor_kernels(self.params[n_s:], self.config, phase_shift=math.pi / 2)
        self.set_kernels(q0, q1)

    def dense_cells(self, x: torch.Tensor, gradient: str = "raw") -> torch.Tensor:
        """Simple and complex cells times the gain, by dense convolution (the study's)."""
        cfg = self.config
        n_s, pad = cfg.simple_channels, cfg.ksize // 2
        q0 = F.conv2d(x, self.q0.to(x), stride=cfg.stride, padding=pad)
        q1 = F.conv2d(x, self.q1.to(x), stride=cfg.stride, padding=pad)
        simple = F.relu(q0[:, :n_s])
        complex_ = complex_cell(q0[:, n_s:], q1, gradient)
        return (cfg.k_exc * torch.cat([simple, complex_], 1)).index_select(1, self.channel_order)

    def dense(
        self, x: torch.Tensor, noise: torch.Tensor | None, gradient: str = "raw"
    ) -> torch.Tensor:
        """The study's block: cells and gain, then noise (``noise`` [B, C, H, W] in channel
        order) and ReLU, or ReLU alone without noise."""
        y = self.dense_cells(x, gradient)
        return neuronal_noise(y, noise, self.config) if noise is not None else F.relu(y)


class VOneBlock(nn.Module):
    """Gabor filter bank → simple/complex cells → gain → neuronal noise → ReLU.

    Input [B, 1, H, W] in [0, 1]; output [B, simple + complex, H/stride, W/stride]. The noise
    is on in training *and* evaluation, as in the study.
    """

    def __init__(self, config: VOneConfig | None = None, params: torch.Tensor | None = None):
        super().__init__()
        self.config = config or VOneConfig()
        self.bank = GaborBank(self.config, params)
        # Per-block default; shared models are switched per thread with modes.noise_mode.
        self.noise_mode: NoiseMode = self.config.noise_mode
        self.noise_seed = self.config.noise_seed

    def set_noise_mode(self, mode: NoiseMode, seed: int | None = None) -> None:
        self.noise_mode = check_noise_mode(mode)
        if seed is not None:
            self.noise_seed = int(seed)

    def effective_noise(self) -> tuple[NoiseMode, int]:
        return noise_override() or (self.noise_mode, self.noise_seed)

    def draw_noise(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor | None:
        """N(0, 1) noise of ``shape`` [B, ...] for the effective noise mode; None when off."""
        seeds = per_image_seeds(*self.effective_noise(), shape[0])
        return None if seeds is None else fill_normal(like.new_empty(shape), seeds)

    def add_noise(self, x: torch.Tensor) -> torch.Tensor:
        """Neuronal noise then ReLU. ``x`` is never modified."""
        noise = self.draw_noise(x.shape, x)
        return F.relu(x) if noise is None else neuronal_noise(x, noise, self.config)

    def forward(self, x: torch.Tensor, canonical: bool = True) -> torch.Tensor:
        """[B, 1, H, W] in [0, 1] → [B, simple + complex, H', W'].

        ``canonical=False`` skips restoring the channel order (``self.channel_order`` maps
        positions to canonical channels) — models fold it into their 1x1 bottleneck instead.
        """
        _check_input(x)
        noise = self.draw_noise(self.bank.output_shape(x), x)
        return self.bank.respond(x, noise, active_gradient(), canonical)

    def project(
        self, x: torch.Tensor, weight: torch.Tensor, chunk: int | None = None
    ) -> torch.Tensor:
        """``F.conv2d(self(x, canonical=False), weight)`` for a 1x1 ``weight``, a chunk of
        images at a time (:func:`vonedemo.vone.fast.project_in_chunks`)."""
        _check_input(x)
        return project_in_chunks(self, x, weight, chunk)

    @property
    def channel_order(self) -> torch.Tensor:
        return self.bank.channel_order

    def cell_responses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(simple, complex) responses after gain, before noise, canonical order — for display."""
        y = self.bank(x).index_select(1, self.bank.inverse_order)
        n_s = self.config.simple_channels
        return y[:, :n_s], y[:, n_s:]


def _check_input(x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"VOneBlock expects [B, 1, H, W] images, got {tuple(x.shape)}")
