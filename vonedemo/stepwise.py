"""PGD step by step: every iterate of one digit's attack, recorded once so that a page can
replay it (play, pause, step) without computing anything again.

The iterates follow :func:`vonedemo.attacks.pgd` exactly, from the digit itself (no random
start): step 0 is the original, step ``k`` the image after ``k`` signed-gradient steps, each
projected back into the eps ball and [0, 1]. Each step records the loss the attack climbs (or,
with a target, descends) and the probabilities of the label and of the target, measured with
one fixed noise draw so that a VOneNet's curve shows the attack, not its noise.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .attacks.base import check_count, check_eps, input_gradient
from .vone import GradientMode, NoiseMode, noise_mode


@dataclass(frozen=True)
class Step:
    index: int  # 0: the original digit
    image: np.ndarray  # float32 [28, 28] in [0, 1]
    perturbation: np.ndarray  # float32 [28, 28]: image − original, in [−eps, eps]
    loss: float  # cross-entropy to the label (untargeted) or to the target
    label_probability: float
    target_probability: float | None
    prediction: int


def pgd_steps(
    model: nn.Module,
    image: torch.Tensor,
    label: int,
    eps: float,
    steps: int,
    step_size: float,
    *,
    target: int | None = None,
    gradient: GradientMode = "raw",
    noise: NoiseMode | None = "seeded",
    noise_seed: int = 0,
) -> list[Step]:
    """The ``steps + 1`` iterates of PGD on one digit ``image`` [1, 1, 28, 28] (or [1, 28, 28])."""
    eps = check_eps(eps)
    step_size = check_eps(step_size, "step_size")
    steps = check_count(steps, "steps")
    x = image.detach().float().reshape(1, 1, *image.shape[-2:])
    labels = torch.tensor([int(label)])
    aim = labels if target is None else torch.tensor([int(target)])
    direction = 1.0 if target is None else -1.0
    lower, upper = x - eps, x + eps

    def record(index: int, adv: torch.Tensor) -> Step:
        context = noise_mode(noise, noise_seed) if noise is not None else contextlib.nullcontext()
        with torch.no_grad(), context:
            logits = model(adv)
        probs = torch.softmax(logits.float(), 1)[0]
        return Step(
            index,
            adv[0, 0].numpy().astype(np.float32),
            (adv - x)[0, 0].numpy().astype(np.float32),
            float(F.cross_entropy(logits, aim)),
            float(probs[int(label)]),
            None if target is None else float(probs[int(target)]),
            int(probs.argmax()),
        )

    adv = x.clone()
    trace = [record(0, adv)]
    for k in range(1, steps + 1):
        grad = input_gradient(
            model, adv, aim, gradient=gradient, noise=noise, noise_seed=noise_seed
        )
        adv = adv + direction * step_size * torch.sign(grad)
        adv = torch.clamp(torch.min(torch.max(adv, lower), upper), 0.0, 1.0)
        trace.append(record(k, adv))
    return trace
