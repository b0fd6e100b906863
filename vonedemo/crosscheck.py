"""Our attacks checked against the field's standard, from a well-kept library: AutoAttack
(Croce & Hein 2020) as the Adversarial Robustness Toolbox (ART) ships it.

AutoAttack runs a fixed ensemble, each attack on the images the ones before it left standing:

    APGD-CE   step-size-adaptive PGD on the cross-entropy, 100 steps, 5 restarts
    APGD-DLR  the same on the difference-of-logits-ratio loss (scale-invariant)
    DeepFool  the smallest step across the nearest decision boundary (kept only inside eps)
    Square    random square patches of ±eps, score-based (no gradient), 5,000 queries x 5

It is meant for deterministic models: every attack takes the model's output as a fixed function.

ART drives a model the way training does (``.eval()``, ``.backward()``, gradients left in the
parameters), so it only ever sees a private copy: the model given here, perhaps shared by every
session of the app, keeps its mode, weights and gradients.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .attacks.base import GradientHealth, check_batch, check_count, check_eps, unmoved

LIBRARY = "ART 1.20.1"  # pinned in requirements.txt


@dataclass(frozen=True)
class AutoAttackConfig:
    apgd_steps: int = 100  # AutoAttack's standard budget for each APGD loss
    apgd_restarts: int = 5
    deepfool_steps: int = 100
    square_queries: int = 5000  # per restart
    square_restarts: int = 5
    batch_size: int = 250

    def __post_init__(self) -> None:
        for name in (
            "apgd_steps",
            "apgd_restarts",
            "deepfool_steps",
            "square_queries",
            "square_restarts",
            "batch_size",
        ):
            check_count(getattr(self, name), name)

    def describe(self) -> str:
        """The budget in words, for the reports."""
        runs = "once" if self.square_restarts == 1 else f"{self.square_restarts} times"
        return (
            f"APGD-CE and APGD-DLR with {self.apgd_steps} steps and {self.apgd_restarts} "
            f"restarts, DeepFool, Square with {self.square_queries:,} queries run {runs}"
        )


def _private_copy(model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model).eval()
    for p in twin.parameters():
        p.requires_grad_(False)  # ART needs only the input's gradient
    return twin


def autoattack(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    *,
    config: AutoAttackConfig | None = None,
    seed: int = 0,
    health: GradientHealth | None = None,
) -> torch.Tensor:
    """AutoAttack's L-infinity adversarial images for ``images`` in [0, 1] (same shape and
    device), each within ``eps`` of its original; an image no attack broke comes back as it was.
    ``health`` gets only how far the images moved: the library's gradients stay out of sight.
    """
    from art.attacks.evasion import (
        AutoAttack,
        AutoProjectedGradientDescent,
        DeepFool,
        SquareAttack,
    )
    from art.estimators.classification import PyTorchClassifier

    eps = check_eps(eps)
    check_batch(images, labels)
    config = config or AutoAttackConfig()
    if eps == 0 or len(images) == 0:
        return unmoved(images, health)
    device = images.device
    classifier = PyTorchClassifier(
        model=_private_copy(model).to(device),
        loss=nn.CrossEntropyLoss(),
        input_shape=tuple(images.shape[1:]),
        nb_classes=10,
        clip_values=(0.0, 1.0),
        device_type="gpu" if device.type == "cuda" else "cpu",
    )
    batch = config.batch_size
    apgd = {
        "norm": np.inf,
        "eps": eps,
        "eps_step": 2 * eps,  # APGD's first step, 2·eps, then halved as progress stalls
        "max_iter": config.apgd_steps,
        "nb_random_init": config.apgd_restarts,
        "batch_size": batch,
        "verbose": False,
    }
    attacks = [
        AutoProjectedGradientDescent(classifier, loss_type="cross_entropy", **apgd),
        AutoProjectedGradientDescent(classifier, loss_type="difference_logits_ratio", **apgd),
        DeepFool(
            classifier,
            max_iter=config.deepfool_steps,
            epsilon=1e-3,
            batch_size=batch,
            verbose=False,
        ),
        SquareAttack(
            classifier,
            norm=np.inf,
            eps=eps,
            max_iter=config.square_queries,
            p_init=0.8,
            nb_restarts=config.square_restarts,
            batch_size=batch,
            verbose=False,
        ),
    ]
    ensemble = AutoAttack(classifier, norm=np.inf, eps=eps, attacks=attacks, batch_size=batch)
    # ART draws its random starts and squares from numpy's and Python's global generators.
    np_state, py_state = np.random.get_state(), random.getstate()
    np.random.seed(seed)
    random.seed(seed)
    try:
        x = images.detach().cpu().numpy().astype(np.float32)
        adv = ensemble.generate(x=x, y=labels.detach().cpu().numpy())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    adv = torch.from_numpy(adv).to(device=device, dtype=images.dtype)
    # The library keeps only adversarials inside the ball; project once more against rounding.
    adv = torch.maximum(torch.minimum(adv, images + eps), images - eps).clamp(0.0, 1.0)
    if health is not None:
        health.add_result(images, adv)
    return adv
