"""FGSM — the fast gradient sign method (Goodfellow et al., 2015), as the study ran it.

    adv = clamp(x + eps · sign(∇x CE(model(x), y)), 0, 1)          untargeted: away from y
    adv = clamp(x − eps · sign(∇x CE(model(x), t)), 0, 1)          targeted: towards class t

With ``eot_samples = n`` the gradient is averaged over n passes through a noisy model
(expectation over transformation). ``gradient="repaired"`` differentiates the VOne complex cell
as zero at zero energy; ``noise="off"``/``"seeded"`` computes the gradient with the noise off or
fixed. Note ``torch.sign(NaN) == 0``: a NaN gradient leaves the pixel where it was.

Example::

    >>> adv = fgsm(model, images, labels, eps=0.35)
    >>> (adv - images).abs().max() <= 0.35
    tensor(True)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

from ..vone import GradientMode, NoiseMode, noise_mode
from .base import GradientHealth, check_batch, check_count, check_eps, input_gradient


def fgsm(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float = 0.35,
    *,
    eot_samples: int = 1,
    gradient: GradientMode = "raw",
    noise: NoiseMode | None = None,
    noise_seed: int = 0,
    health: GradientHealth | None = None,
    on_clean_logits: Callable[[torch.Tensor], None] | None = None,
    target: torch.Tensor | None = None,
) -> torch.Tensor:
    """FGSM images for ``images``. ``target`` (optional, one class per image): descend the
    cross-entropy to those classes instead of ascending it to ``labels``. ``on_clean_logits``
    (optional) receives the logits of the forward pass the gradient is taken from — the model's
    predictions on the clean images, with the gradient's noise choice — so an evaluation needs
    no separate clean pass."""
    eps = check_eps(eps)
    check_batch(images, labels)
    if target is not None:
        check_batch(images, target)
    eot_samples = check_count(eot_samples, "eot_samples")
    x = images.detach()
    if eps == 0:
        adv = x.clone()
        if on_clean_logits is not None:
            with (
                torch.no_grad(),
                noise_mode(noise, noise_seed) if noise is not None else contextlib.nullcontext(),
            ):
                on_clean_logits(model(x))
        if health is not None:
            health.add_result(x, adv)
        return adv
    grad = input_gradient(
        model,
        x,
        labels if target is None else target,
        eot_samples=eot_samples,
        gradient=gradient,
        noise=noise,
        noise_seed=noise_seed,
        on_logits=on_clean_logits,
    )
    direction = 1.0 if target is None else -1.0
    adv = torch.clamp(x + direction * eps * torch.sign(grad), 0.0, 1.0)
    if health is not None:
        health.add_gradient(grad)
        health.add_result(x, adv)
    return adv
