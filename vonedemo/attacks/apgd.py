"""APGD — Auto-PGD in L∞ (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial
robustness with an ensemble of diverse parameter-free attacks"), written from the paper.

PGD with momentum whose step size adapts per image, so it needs no step size and converges
where fixed-step PGD stalls. With P the projection onto the eps-ball around x and onto [0, 1]
and f an image's loss:

    x⁰ = P(x + U(-eps, eps))                                   (random start)
    η⁰ = 2·eps,  α = 0.75
    x¹ = P(x⁰ + η⁰ · sign(∇f(x⁰)))
    zᵏ⁺¹ = P(xᵏ + ηᵏ · sign(∇f(xᵏ)))
    xᵏ⁺¹ = P(xᵏ + α·(zᵏ⁺¹ − xᵏ) + (1 − α)·(xᵏ − xᵏ⁻¹))          (momentum)
    x_max, f_max: the highest-loss point so far

At the checkpoints wⱼ = ⌈pⱼ · steps⌉, with p₀ = 0, p₁ = 0.22 and
pⱼ₊₁ = pⱼ + max(pⱼ − pⱼ₋₁ − 0.03, 0.06) (22, 41, 57, 70, 80, 87, 93, 99 of 100 steps), an
image's step size halves — and its next step starts again from x_max — when

    1. fewer than rho · (wⱼ − wⱼ₋₁) of the steps since the last checkpoint raised the loss
       (f(xⁱ⁺¹) > f(xⁱ)), or
    2. its step size was not halved at the last checkpoint and f_max has not grown since.

Losses (``loss``), for logits z and label y:

    "ce"   cross-entropy  −log softmax(z)_y
    "dlr"  difference of logits ratio  −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 1e-12)
           (π sorts z in decreasing order; scale-invariant, positive exactly when fooled)

The loss values come from the logits of the gradient's own forward pass (the first of the
``eot_samples``, with the gradient's ``noise`` choice). An image stops being attacked at the
first iterate that pass misclassifies, and that iterate is its result; an image never
misclassified returns its highest-loss point. With ``restarts > 1`` the attack runs again, from
new random starts, on the images not yet fooled, and keeps per image the first restart that
fools it, else the highest-loss one. ``eot_samples``, ``gradient`` and ``noise`` work as in
:func:`vonedemo.attacks.fgsm`. Every result is within eps of its image (L∞) and in [0, 1].

Example::

    >>> adv = apgd(model, images, labels, eps=0.1, steps=100, loss="dlr", seed=0)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..vone import GradientMode, NoiseMode
from .base import (
    GradientHealth,
    check_batch,
    check_count,
    check_eps,
    input_gradient,
    private_generator,
    unmoved,
)

MOMENTUM = 0.75  # α: the weight of the new step against the last one
FIRST_CHECKPOINT = 0.22  # p₁
CHECKPOINT_SHRINK = 0.03  # each gap between checkpoints is this much shorter than the last …
CHECKPOINT_MIN_GAP = 0.06  # … but never shorter than this

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def ce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each image's cross-entropy [B]."""
    return F.cross_entropy(logits, labels, reduction="none")


def dlr_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each image's difference-of-logits ratio [B]: −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 1e-12)."""
    true = logits.gather(1, labels[:, None]).squeeze(1)
    is_label = F.one_hot(labels, logits.shape[1]).bool()
    other = logits.masked_fill(is_label, float("-inf")).amax(1)
    ordered = logits.sort(1, descending=True).values
    return -(true - other) / (ordered[:, 0] - ordered[:, 2] + 1e-12)


LOSSES: dict[str, Loss] = {"ce": ce_loss, "dlr": dlr_loss}


def checkpoints(steps: int) -> list[int]:
    """The steps wⱼ = ⌈pⱼ · steps⌉ (j ≥ 1) at which the step sizes are reviewed, ascending and
    distinct, none past ``steps``."""
    marks: list[int] = []
    before, p = 0.0, FIRST_CHECKPOINT
    while p <= 1.0:
        mark = math.ceil(p * steps - 1e-9)  # 1e-9: 0.41 · 100 is 41, not 41.000000000000004
        if 0 < mark <= steps and (not marks or mark > marks[-1]):
            marks.append(mark)
        before, p = p, p + max(p - before - CHECKPOINT_SHRINK, CHECKPOINT_MIN_GAP)
    return marks


def _check_rho(rho: float) -> float:
    try:
        value = float(rho)
    except (TypeError, ValueError):
        raise ValueError(f"rho must be a number in [0, 1], got {rho!r}") from None
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"rho must be in [0, 1], got {rho!r}")
    return value


def apgd(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float = 0.35,
    steps: int = 100,
    *,
    restarts: int = 1,
    loss: str = "ce",
    rho: float = 0.75,
    eot_samples: int = 1,
    gradient: GradientMode = "raw",
    noise: NoiseMode | None = None,
    noise_seed: int = 0,
    seed: int | None = 0,
    health: GradientHealth | None = None,
) -> torch.Tensor:
    """APGD images for ``images`` (see the module's docstring): ``steps`` adaptive steps on
    ``loss`` ("ce" or "dlr") from each of ``restarts`` random starts drawn with ``seed``."""
    eps = check_eps(eps)
    check_batch(images, labels)
    steps = check_count(steps, "steps")
    restarts = check_count(restarts, "restarts")
    eot_samples = check_count(eot_samples, "eot_samples")
    rho = _check_rho(rho)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    x = images.detach()
    if eps == 0 or x.shape[0] == 0:
        return unmoved(x, health)
    labels = labels.long()
    loss_fn = LOSSES[loss]
    generator = private_generator(seed, x.device)

    def evaluate(
        points: torch.Tensor, aims: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(input gradient, each image's loss, misclassified?) at ``points``: one pass."""
        seen: list[torch.Tensor] = []
        grad = input_gradient(
            model,
            points,
            aims,
            eot_samples=eot_samples,
            gradient=gradient,
            noise=noise,
            noise_seed=noise_seed,
            on_logits=seen.append,
            loss=loss_fn,
        )
        if health is not None:
            health.add_gradient(grad)
        logits = seen[0]
        return grad, loss_fn(logits, aims).detach(), logits.argmax(1) != aims

    best = x.clone()
    best_loss = torch.full((x.shape[0],), float("-inf"), dtype=x.dtype, device=x.device)
    fooled = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for attempt in range(restarts):
        todo = torch.nonzero(~fooled).squeeze(1)
        if todo.numel() == 0:
            break
        adv, adv_loss, adv_fooled = _one_run(
            evaluate, x[todo], labels[todo], eps, steps, rho, generator
        )
        # Keep the first restart that fools an image, else the highest loss.
        if attempt == 0:
            take = torch.ones_like(adv_fooled)
        else:
            take = adv_fooled | (adv_loss > best_loss[todo])
        chosen = todo[take]
        best[chosen] = adv[take]
        best_loss[chosen] = adv_loss[take]
        fooled[todo] = adv_fooled
    if health is not None:
        health.add_result(x, best)
    return best


def _one_run(
    evaluate: Callable[
        [torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    ],
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    steps: int,
    rho: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One APGD run from a random start: (result, its highest loss, fooled?) per image."""
    lower, upper = torch.clamp(x - eps, 0.0, 1.0), torch.clamp(x + eps, 0.0, 1.0)

    def project(points: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return torch.min(torch.max(points, lower[rows]), upper[rows])

    everyone = torch.arange(x.shape[0], device=x.device)
    start = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    current = project(x + (2 * start - 1) * eps, everyone)
    grad, current_loss, fooled = evaluate(current, labels)
    previous = current.clone()
    result = current.clone()  # an image's first misclassified iterate once it has one
    top, top_loss, top_grad = current.clone(), current_loss.clone(), grad.clone()
    eta = torch.full_like(current_loss, 2 * eps)  # per-image step size
    rises = torch.zeros_like(current_loss)  # steps that raised the loss since the last checkpoint
    eta_at_mark, top_loss_at_mark = eta.clone(), top_loss.clone()
    marks, last_mark = set(checkpoints(steps)), 0
    for k in range(1, steps + 1):
        active = torch.nonzero(~fooled).squeeze(1)
        if active.numel() == 0:
            break
        here = current[active]
        step = eta[active].view(-1, *([1] * (x.dim() - 1)))
        z = project(here + step * torch.sign(grad[active]), active)
        if k == 1:
            moved = z
        else:
            momentum = MOMENTUM * (z - here) + (1 - MOMENTUM) * (here - previous[active])
            moved = project(here + momentum, active)
        g, f, wrong = evaluate(moved, labels[active])
        rises[active] += (f > current_loss[active]).to(rises.dtype)
        previous[active], current[active] = here, moved
        grad[active], current_loss[active] = g, f
        higher = f > top_loss[active]
        rows = active[higher]
        top[rows], top_loss[rows], top_grad[rows] = moved[higher], f[higher], g[higher]
        rows = active[wrong]
        result[rows] = moved[wrong]
        fooled[rows] = True
        if k in marks:
            stalled = (eta == eta_at_mark) & (top_loss <= top_loss_at_mark)
            halve = (rises < rho * (k - last_mark)) | stalled
            eta_at_mark, top_loss_at_mark = eta.clone(), top_loss.clone()
            eta = torch.where(halve, eta / 2, eta)
            current[halve], grad[halve] = top[halve], top_grad[halve]
            current_loss[halve] = top_loss[halve]
            rises.zero_()
            last_mark = k
    result = torch.where(fooled.view(-1, *([1] * (x.dim() - 1))), result, top)
    return result, top_loss, fooled
