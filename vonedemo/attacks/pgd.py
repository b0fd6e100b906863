"""PGD — projected gradient descent in L∞ (Madry et al., 2018).

    x⁰ = x + U(-eps, eps) (random start) or x
    xᵗ⁺¹ = clamp(Π_{‖·−x‖∞ ≤ eps}(xᵗ + α · sign(∇x CE(model(xᵗ), y))), 0, 1)      untargeted
    xᵗ⁺¹ = clamp(Π_{‖·−x‖∞ ≤ eps}(xᵗ − α · sign(∇x CE(model(xᵗ), t))), 0, 1)      towards class t

With ``restarts > 1`` the attack runs again from new random starts and keeps, per image, the
first result that succeeds (misclassified; with a ``target``, classified as the target). ``eot_samples``, ``gradient`` and ``noise`` work as in
:func:`vonedemo.attacks.fgsm`. One step of size eps without random start equals FGSM.

Example::

    >>> adv = pgd(model, images, labels, eps=0.3, steps=40, step_size=0.01, seed=0)
"""

from __future__ import annotations

import torch
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


def default_step_size(eps: float, steps: int) -> float:
    """Madry et al.'s rule of thumb, 2.5·eps/steps, capped at eps (and at 1): enough to cross
    the eps-ball from anywhere inside it."""
    return float(min(1.0, eps, 2.5 * eps / max(int(steps), 1)))


def pgd(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float = 0.35,
    steps: int = 40,
    step_size: float = 0.01,
    random_start: bool = True,
    *,
    restarts: int = 1,
    eot_samples: int = 1,
    gradient: GradientMode = "raw",
    noise: NoiseMode | None = None,
    noise_seed: int = 0,
    seed: int | None = 0,
    health: GradientHealth | None = None,
    target: torch.Tensor | None = None,
) -> torch.Tensor:
    eps = check_eps(eps)
    step_size = check_eps(step_size, "step_size")
    check_batch(images, labels)
    if target is not None:
        check_batch(images, target)
    # Untargeted: ascend the loss to the label; targeted: descend it to the target class.
    aim, direction = (labels, 1.0) if target is None else (target, -1.0)
    steps = check_count(steps, "steps")
    restarts = check_count(restarts, "restarts")
    eot_samples = check_count(eot_samples, "eot_samples")
    x = images.detach()
    if eps == 0:
        return unmoved(x, health)
    generator = private_generator(seed, x.device)
    lower, upper = x - eps, x + eps
    best = x.clone()
    undone = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
    for _ in range(restarts):
        if random_start:
            start = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            adv = torch.clamp(x + (2 * start - 1) * eps, 0.0, 1.0)
        else:
            adv = x.clone()
        for _ in range(steps):
            grad = input_gradient(
                model,
                adv,
                aim,
                eot_samples=eot_samples,
                gradient=gradient,
                noise=noise,
                noise_seed=noise_seed,
            )
            if health is not None:
                health.add_gradient(grad)
            adv = adv + direction * step_size * torch.sign(grad)
            adv = torch.clamp(torch.min(torch.max(adv, lower), upper), 0.0, 1.0)
        if restarts == 1:
            best = adv
            break
        with torch.no_grad():
            predicted = model(adv).argmax(1)
        fooled = predicted != labels if target is None else predicted == target
        best[undone] = adv[undone]  # not yet fooled: take this try (the last one stands)
        undone &= ~fooled
        if not undone.any():
            break
    if health is not None:
        health.add_result(x, best)
    return best
