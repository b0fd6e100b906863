"""Parallel, seeded noise streams: one N(0, 1) generator per image.

Why (speed): torch's CPU generator is a sequential Mersenne twister, and drawing a noisy
pass's 512 maps per image is the largest single cost of that pass. Independent per-image
streams can be drawn side by side, one thread per torch thread, and any chunking of a batch
sees the same noise. Each image's seed comes from torch's global generator (``neuronal``) or
from a generator seeded with the block's seed (``seeded``: the same noise on every call).

Proven equal to the sequential draw and independent of chunking in tests/test_vone.py and
tests/test_fast_vone.py (``test_projection_in_chunks_equals_the_whole_batch``).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

from .modes import NoiseMode

_noise_pool: ThreadPoolExecutor | None = None
_noise_pool_lock = threading.Lock()


def per_image_seeds(mode: NoiseMode, seed: int, batch: int) -> torch.Tensor | None:
    """One seed per image for noise ``mode``, None when it is off."""
    if mode == "off":
        return None
    generator = torch.Generator().manual_seed(seed) if mode == "seeded" else None
    return torch.randint(0, 2**62, (batch,), generator=generator)


def fill_normal(out: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    """Fill ``out`` [B, ...] with N(0, 1): image i from a generator seeded with ``seeds[i]``."""
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


def noise_without_graph(x: torch.Tensor, noise: torch.Tensor, cfg) -> torch.Tensor:
    """The study's neuronal noise then ReLU (:func:`vonedemo.vone.block.neuronal_noise`) for
    tensors that need no gradient: the same arithmetic in place, to spare memory passes.
    ``x`` is never modified; ``cfg`` is the block's :class:`~vonedemo.vone.block.VOneConfig`."""
    std = (x * cfg.noise_scale).add_(cfg.noise_level).clamp_(min=0).add_(cfg.noise_eps).sqrt_()
    return (noise * std).div_(cfg.noise_scale).add_(x).clamp_(min=0)
