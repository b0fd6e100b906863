"""Square attack — a score-based, gradient-free attack in L∞ (Andriushchenko et al., ECCV 2020).

It reads only the model's output scores, never a gradient, so no gradient masking (NaN,
zero or shattered gradients) can hide a weakness from it. Written from the paper:

    margin(x') = z_y(x') − max_{k≠y} z_k(x')          (the image is fooled when margin < 0)
    δ⁰ = eps · s,   s_{·, j} ∈ {−1, +1} per column     (vertical stripes)
    for i = 1 … queries:
        h = max(1, round(√(p_i · H · W)))              (square side; p_i halves on a schedule)
        pick a random h×h window W and a sign σ ∈ {−1, +1} per channel
        δ' = δ with δ'_W = σ · eps;  x' = clamp(x + δ', 0, 1)
        keep δ' if margin(x') < margin(x + δ)           (a random search that only accepts gains)

Every candidate is a vertex of the eps-ball, so the result stays in the ball and in [0, 1].
Images the model already misclassifies are left as they are; an image stops being attacked as
soon as it is fooled. ``noise`` and ``noise_seed`` work as in :func:`vonedemo.attacks.fgsm`.

Example::

    >>> adv = square(model, images, labels, eps=0.35, queries=1000, seed=0)
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..vone import noise_mode
from .base import (
    GradientHealth,
    check_batch,
    check_count,
    check_eps,
    private_generator,
    unmoved,
)

# Iterations (of the paper's 10,000) after which the square's area share p halves.
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def square_share(p_init: float, iteration: int, queries: int) -> float:
    """The share of the image a square covers at ``iteration``: the paper's schedule for
    10,000 queries, stretched to ``queries``."""
    scaled = int(iteration / queries * 10_000)
    return p_init / 2 ** sum(scaled > mark for mark in _HALVINGS)


def _margins(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logits = model(images)
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf")).amax(1)
    return true - others


def square(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float = 0.35,
    queries: int = 1000,
    p_init: float = 0.8,
    *,
    noise: str | None = None,
    noise_seed: int = 0,
    seed: int | None = 0,
    health: GradientHealth | None = None,
) -> torch.Tensor:
    eps = check_eps(eps)
    check_batch(images, labels)
    queries = check_count(queries, "queries")
    if not 0.0 < float(p_init) <= 1.0:
        raise ValueError(f"p_init must be in (0, 1], got {p_init!r}")
    x = images.detach()
    if eps == 0 or x.shape[0] == 0:
        return unmoved(x, health)
    generator = private_generator(seed, x.device)

    def random_signs(*shape: int) -> torch.Tensor:
        bits = torch.randint(0, 2, shape, generator=generator, device=x.device)
        return (2 * bits - 1).to(x.dtype)

    batch, channels, height, width = x.shape
    noise_ctx = noise_mode(noise, noise_seed) if noise is not None else contextlib.nullcontext()
    with torch.no_grad(), noise_ctx:
        stripes = random_signs(batch, channels, 1, width).expand_as(x)
        best = torch.clamp(x + eps * stripes, 0.0, 1.0)
        margin = _margins(model, best, labels)
        clean_fooled = _margins(model, x, labels) < 0
        best[clean_fooled] = x[clean_fooled]  # already wrong: nothing to attack
        margin[clean_fooled] = -1.0
        rows = torch.arange(height, device=x.device)[None, :, None]
        cols = torch.arange(width, device=x.device)[None, None, :]
        for iteration in range(queries):
            active = torch.nonzero(margin >= 0).squeeze(1)
            if active.numel() == 0:
                break
            share = square_share(float(p_init), iteration, queries)
            side = int(min(max(1, round((share * height * width) ** 0.5)), height - 1))
            n = active.numel()
            # On the images' device: a CUDA generator draws CUDA tensors only.
            top = torch.randint(
                0, height - side + 1, (n, 1, 1), generator=generator, device=x.device
            )
            left = torch.randint(
                0, width - side + 1, (n, 1, 1), generator=generator, device=x.device
            )
            window = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
            window = window[:, None].expand(n, channels, height, width)
            signs = random_signs(n, channels, 1, 1)
            origin = x[active]
            current = best[active]
            proposal = torch.clamp(origin + eps * signs, 0.0, 1.0).expand_as(origin)
            # A window that already holds these signs would change nothing: flip its signs.
            unchanged = ((current - proposal).abs() < 1e-7) | ~window
            same = unchanged.flatten(1).all(1)
            if same.any():
                signs[same] = -signs[same]
                proposal = torch.clamp(origin + eps * signs, 0.0, 1.0).expand_as(origin)
            candidate = torch.where(window, proposal, current)
            candidate_margin = _margins(model, candidate, labels[active])
            better = candidate_margin < margin[active]
            chosen = active[better]
            best[chosen] = candidate[better]
            margin[chosen] = candidate_margin[better]
    if health is not None:
        health.add_result(x, best)
    return best
