"""The proof that an image's raw (study) input gradient is NaN at every pixel.

Why (speed): on real MNIST digits the blank background makes the study's gradient NaN
everywhere as a rule. Proving it from the input costs one small convolution; computing it
costs the whole backward pass of the block and of everything downstream. The attacks use
the proof through :mod:`vonedemo.vone.shortcut`; the fast backward uses it to skip the exact
path for such images.

The argument: within the backward footprint (ksize x ksize) of every pixel lies a position
where some complex cell's exact support sees only zero pixels. There q0 = q1 = 0 exactly, so
the raw cell's gradient is 0 x (inf or NaN) = NaN whatever arrives from above (noise or not),
and the dense backward spreads it over the whole footprint (0 x NaN is NaN). A missed proof
only costs speed: the exact path then decides. Proven sound against the dense block in
tests/test_fast_vone.py (``test_all_nan_proof_is_sound_on_real_digits``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PROOF_CELLS = 8  # compact complex cells whose supports make the proof


def spread(mask: torch.Tensor, k: int) -> torch.Tensor:
    """Max over the centred k x k square around each pixel (as two 1-D passes: 2k, not k²)."""
    mask = F.max_pool2d(mask, (k, 1), 1, (k // 2, 0))
    return F.max_pool2d(mask, (1, k), 1, (0, k // 2))


def proof_kernels(q0_complex: torch.Tensor, q1: torch.Tensor) -> torch.Tensor:
    """[PROOF_CELLS, 1, k, k] float indicators of the exact supports of the most compact
    complex cells (kernels q0 and q1 [n_c, 1, k, k]): the fewer pixels a support covers, the
    more often a blank background leaves it all zero."""
    k = q1.shape[-1]
    footprints = (torch.cat([q0_complex, q1], 1) != 0).any(1).flatten(1)
    chosen = footprints.sum(1).argsort()[:PROOF_CELLS]
    return footprints[chosen].view(-1, 1, k, k).to(torch.float32)


def nan_everywhere(x: torch.Tensor, proof: torch.Tensor) -> torch.Tensor:
    """bool [B] (on the CPU): images of ``x`` whose raw input gradient is certainly NaN at
    every pixel, by the argument above; ``proof`` from :func:`proof_kernels`, like ``x``."""
    b = x.shape[0]
    if b == 0:
        return torch.zeros(0, dtype=torch.bool)
    k = proof.shape[-1]
    seen = F.conv2d((x != 0).to(x.dtype), proof, padding=k // 2)
    zero = (seen == 0).any(1, keepdim=True).to(x.dtype)
    covered = spread(zero, k)
    return (covered.flatten(1) > 0).all(1).cpu()
