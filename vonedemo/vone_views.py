"""Pictures of the VOneBlock's insides, as numpy arrays: the Gabor filter bank as a sortable
gallery, simple and complex cell maps for a digit, noise samples, and clean-vs-adversarial
activations. No UI here; the app draws what these return.

Example::

    >>> block = model.vone
    >>> order = gallery_order(block, by="sf")
    >>> image = kernel_mosaic(block.bank.q0[order[:64]], columns=16)
    >>> simple, complex_ = cell_maps(block, digit)        # [256, 28, 28] each
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .attack_view import AttackSettings, AttackView, attack_batch_with_adversarial
from .viz import perturbation_rgb
from .vone import VOneBlock, noise_mode

PARAM_COLUMNS = ("sf", "ori", "phase", "nx", "ny")
PARAM_LABELS = {
    "sf": "sf [cyc/deg]",
    "ori": "ori [deg]",
    "phase": "phase [deg]",
    "nx": "nx",
    "ny": "ny",
}
SORT_KEYS = ("index", *PARAM_COLUMNS)
CELL_KINDS = ("all", "simple", "complex")

# A perceptually ordered dark-to-bright ramp (close to matplotlib's "magma") for activations.
_RAMP = np.array(
    [[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]],
    dtype=np.float64,
)


# --- the filter bank ---------------------------------------------------------------------------
def params_array(block: VOneBlock) -> np.ndarray:
    """The bank's parameter table, float64 [C, 5]: sf, ori, phase, nx, ny."""
    return block.bank.params.detach().cpu().numpy().astype(np.float64)


def cell_kinds(block: VOneBlock) -> np.ndarray:
    """ "simple" or "complex" for each canonical channel (simple channels come first)."""
    n_s = block.config.simple_channels
    n = block.config.simple_channels + block.config.complex_channels
    return np.array(["simple" if i < n_s else "complex" for i in range(n)])


def channel_name(block: VOneBlock, channel: int) -> str:
    """A channel described in a few words: number, cell kind, spatial frequency, orientation."""
    p = params_array(block)[channel]
    return f"ch {channel} ({cell_kinds(block)[channel]}, sf {p[0]:.2f} cyc/deg, ori {p[1]:.0f}°)"


def gallery_order(
    block: VOneBlock, by: str = "sf", *, descending: bool = False, kind: str = "all"
) -> np.ndarray:
    """Canonical channel indices of ``kind`` cells, sorted by a parameter (stable; ties keep
    channel order)."""
    if by not in SORT_KEYS:
        raise ValueError(f"sort key must be one of {SORT_KEYS}, got {by!r}")
    if kind not in CELL_KINDS:
        raise ValueError(f"kind must be one of {CELL_KINDS}, got {kind!r}")
    params = params_array(block)
    channels = np.arange(params.shape[0])
    if kind != "all":
        channels = channels[cell_kinds(block) == kind]
    if by == "index":
        keys = channels.astype(np.float64)
    else:
        keys = params[channels, PARAM_COLUMNS.index(by)]
    order = np.argsort(-keys if descending else keys, kind="stable")
    return channels[order]


def filter_kernels(
    block: VOneBlock, channels: Sequence[int] | np.ndarray, part: str = "q0"
) -> torch.Tensor:
    """Kernels [N, 1, k, k] of canonical ``channels``: ``q0`` (every cell's filter) or ``q1``
    (the quadrature partner, complex cells only)."""
    idx = torch.as_tensor(np.asarray(channels, dtype=np.int64))
    if part == "q0":
        return block.bank.q0.detach()[idx]
    if part == "q1":
        n_s = block.config.simple_channels
        if len(idx) and int(idx.min()) < n_s:
            raise ValueError("q1 kernels exist for complex cells only")
        return block.bank.q1.detach()[idx - n_s]
    raise ValueError(f"part must be 'q0' or 'q1', got {part!r}")


def diverging_tiles(values: torch.Tensor | np.ndarray, *, shared_scale: bool = False) -> np.ndarray:
    """[N, H, W] signed values → uint8 [N, H, W, 3]: red positive, blue negative, white 0;
    each tile scaled to its own largest |value| (or all to one scale)."""
    t = torch.as_tensor(
        np.asarray(values, dtype=np.float32) if isinstance(values, np.ndarray) else values
    )
    t = t.detach().float().cpu()
    if t.dim() == 4:
        t = t[:, 0]
    if shared_scale:
        scale = t.abs().amax().clamp_min(1e-12)
        scaled = t / scale
    else:
        scale = t.flatten(1).abs().amax(1).clamp_min(1e-12) if t.numel() else torch.ones(0)
        scaled = t / scale[:, None, None]
    return perturbation_rgb(scaled.unsqueeze(1), 1.0)


def heat_tiles(values: torch.Tensor | np.ndarray, vmax: float | None = None) -> np.ndarray:
    """[N, H, W] non-negative activations → uint8 [N, H, W, 3] on a dark-to-bright ramp, all on
    one scale (0 … ``vmax``, default the largest value)."""
    a = np.asarray(
        values.detach().float().cpu() if isinstance(values, torch.Tensor) else values,
        dtype=np.float64,
    )
    if a.ndim == 4:
        a = a[:, 0]
    top = float(vmax) if vmax is not None else (float(a.max()) if a.size else 1.0)
    x = np.clip(a / max(top, 1e-12), 0.0, 1.0) * (len(_RAMP) - 1)
    lo = np.floor(x).astype(np.int64).clip(0, len(_RAMP) - 2)
    frac = (x - lo)[..., None]
    rgb = _RAMP[lo] * (1 - frac) + _RAMP[lo + 1] * frac
    return rgb.round().astype(np.uint8)


def mosaic(
    tiles: np.ndarray, columns: int, *, zoom: int = 1, pad: int = 1, background: int = 255
) -> np.ndarray:
    """Lay tiles [N, H, W] or [N, H, W, 3] out in a grid, each enlarged ``zoom`` times."""
    tiles = np.asarray(tiles)
    if tiles.ndim not in (3, 4):
        raise ValueError(f"tiles must be [N, H, W] or [N, H, W, 3], got shape {tiles.shape}")
    if columns < 1 or zoom < 1 or pad < 0:
        raise ValueError("columns and zoom must be ≥ 1, pad ≥ 0")
    n = tiles.shape[0]
    if zoom > 1:
        tiles = tiles.repeat(zoom, axis=1).repeat(zoom, axis=2)
    h, w = tiles.shape[1:3]
    cols = max(1, min(columns, n))
    rows = max(1, -(-n // cols))
    shape = (rows * (h + pad) + pad, cols * (w + pad) + pad, *tiles.shape[3:])
    canvas = np.full(shape, background, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        canvas[y : y + h, x : x + w] = tiles[i]
    return canvas


def kernel_gallery(
    block: VOneBlock,
    *,
    by: str = "sf",
    descending: bool = False,
    kind: str = "all",
    part: str = "q0",
    count: int = 64,
    columns: int = 16,
    zoom: int = 2,
    crop: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(RGB mosaic of the first ``count`` kernels in the chosen order, their channels); with
    ``crop`` each kernel is cropped to its support and enlarged (:func:`support_tiles`)."""
    if part == "q1" and kind == "all":
        kind = "complex"
    channels = gallery_order(block, by, descending=descending, kind=kind)[: max(int(count), 0)]
    if len(channels) == 0:
        return np.full((8, 8, 3), 255, dtype=np.uint8), channels
    kernels = filter_kernels(block, channels, part)
    # Cropped to their support and enlarged: most filters are a few pixels wide.
    tiles = diverging_tiles(support_tiles(kernels) if crop else kernels)
    return mosaic(tiles, columns, zoom=zoom), channels


def nyquist(block: VOneBlock) -> float:
    """The finest grating the block's pixel grid can show, in cycles per degree: half a cycle
    per pixel."""
    return block.config.pixels_per_degree / 2


def resolvable(block: VOneBlock) -> np.ndarray:
    """For every canonical channel: is its filter's frequency below the Nyquist limit?"""
    return params_array(block)[:, 0] < nyquist(block)


def support_tiles(kernels: torch.Tensor, size: int = 24, mass: float = 0.99) -> np.ndarray:
    """Each kernel [N, 1, k, k] cropped to the centred square that holds ``mass`` of its L1
    weight, then enlarged (nearest neighbour) to ``size`` x ``size``: signed values
    [N, size, size]. A filter finer than a pixel becomes a visible block, not a 1-pixel dot."""
    k = kernels.detach().float().cpu()[:, 0]
    n, width = k.shape[0], k.shape[-1]
    centre = width // 2
    distance = torch.maximum(
        (torch.arange(width) - centre).abs()[:, None], (torch.arange(width) - centre).abs()[None]
    )
    weight = k.abs()
    total = weight.flatten(1).sum(1).clamp_min(1e-12)
    tiles = np.zeros((n, size, size), dtype=np.float32)
    for i in range(n):
        inside = torch.stack([weight[i][distance <= r].sum() for r in range(centre + 1)])
        radius = int(torch.nonzero(inside >= mass * total[i])[0]) if n else 0
        crop = k[i, centre - radius : centre + radius + 1, centre - radius : centre + radius + 1]
        index = (np.arange(size) * crop.shape[0] // size).clip(0, crop.shape[0] - 1)
        tiles[i] = crop.numpy()[np.ix_(index, index)]
    return tiles


def params_table(
    block: VOneBlock, channels: Sequence[int] | np.ndarray | None = None
) -> list[dict]:
    """Rows {channel, cell, sf [cyc/deg], sf / Nyquist, ori [deg], phase [deg], nx, ny}."""
    params = params_array(block)
    kinds = cell_kinds(block)
    limit = nyquist(block)
    idx = np.arange(params.shape[0]) if channels is None else np.asarray(channels, dtype=np.int64)
    rows = []
    for c in idx:
        row = {"channel": int(c), "cell": str(kinds[c])}
        for j, col in enumerate(PARAM_COLUMNS):
            row[PARAM_LABELS[col]] = round(float(params[c, j]), 3)
            if col == "sf":
                row["sf / Nyquist"] = round(float(params[c, 0]) / limit, 2)
        rows.append(row)
    return rows


# --- responses ---------------------------------------------------------------------------------
@torch.no_grad()
def cell_maps(block: VOneBlock, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(simple [S, H, W], complex [C, H, W]) responses to one image [1, 1, H, W] or [1, H, W],
    after gain and before noise."""
    x = _one_image(image)
    simple, complex_ = block.cell_responses(x)
    return simple[0], complex_[0]


def tuned_channels(
    block: VOneBlock, maps: torch.Tensor, offset: int, orientations: int = 8
) -> list[int]:
    """One channel per orientation band, to show orientation tuning: in each of
    ``orientations`` equal bands of 0-180 degrees, the resolvable channel (below the Nyquist
    limit; any if none is) that responds most strongly to the digit. ``maps`` [C, H, W] are
    the responses of canonical channels ``offset`` … ``offset + C - 1``; returns canonical
    channel numbers, ordered by orientation."""
    params = params_array(block)[offset : offset + maps.shape[0]]
    fine = params[:, 0] < nyquist(block)
    band = (np.mod(params[:, 1], 180.0) // (180.0 / orientations)).astype(np.int64)
    strength = maps.detach().float().flatten(1).amax(1).cpu().numpy()
    chosen = []
    for b in range(orientations):
        members = np.flatnonzero(band == b)
        if members.size == 0:
            continue
        pool = members[fine[members]] if fine[members].any() else members
        chosen.append(int(pool[np.argmax(strength[pool])]) + offset)
    return chosen


def strongest_channels(maps: torch.Tensor, k: int) -> np.ndarray:
    """Indices (into ``maps`` [C, H, W]) of the ``k`` channels with the largest mean response."""
    means = maps.detach().float().flatten(1).mean(1)
    k = max(0, min(int(k), means.numel()))
    return torch.argsort(means, descending=True, stable=True)[:k].cpu().numpy()


@torch.no_grad()
def noise_samples(
    block: VOneBlock, image: torch.Tensor, n: int, *, first_seed: int = 0
) -> torch.Tensor:
    """The block's output [n, channels, H, W] for one image under ``n`` seeded noise draws
    (seeds ``first_seed`` … ``first_seed + n - 1``); the block itself is not changed."""
    x = _one_image(image)
    outs = []
    for k in range(int(n)):
        with noise_mode("seeded", seed=first_seed + k):
            outs.append(block(x)[0])
    if not outs:
        channels = block.config.simple_channels + block.config.complex_channels
        return torch.zeros(0, channels, x.shape[-2], x.shape[-1])
    return torch.stack(outs)


@torch.no_grad()
def activation_change(block: VOneBlock, clean: torch.Tensor, adversarial: torch.Tensor) -> dict:
    """Clean vs adversarial responses (before noise) of one digit:
    {"clean", "adversarial", "difference"}: [channels, H, W] tensors (simple then complex),
    "channel_change": mean |difference| per channel, "relative_change": Σ|Δ| / Σ|clean|."""
    a = torch.cat(cell_maps(block, clean), 0)
    b = torch.cat(cell_maps(block, adversarial), 0)
    diff = b - a
    total = float(a.abs().sum())
    return {
        "clean": a,
        "adversarial": b,
        "difference": diff,
        "channel_change": diff.abs().flatten(1).mean(1),
        "relative_change": float(diff.abs().sum()) / total if total > 0 else 0.0,
    }


def attacked_responses(
    model: nn.Module,
    image: torch.Tensor,
    label: torch.Tensor,
    settings: AttackSettings,
    *,
    index: int = 0,
) -> tuple[AttackView, dict]:
    """Attack one digit [1, 1, H, W] through ``model`` (a VOne model) and compare its block's
    responses to the clean and the adversarial digit: (the attack's view, as
    :func:`activation_change`). The block sees the attack's float adversarial, not the view's
    uint8 pixels, so the change measured is the attack's own."""
    view, adversarial = attack_batch_with_adversarial(
        model, image, label, settings, indices=[index]
    )
    return view, activation_change(model.vone, image, adversarial)


def _one_image(image: torch.Tensor) -> torch.Tensor:
    x = image.detach().float()
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 1:
        raise ValueError(f"expected one image [1, 1, H, W] or [1, H, W], got {tuple(image.shape)}")
    return x
