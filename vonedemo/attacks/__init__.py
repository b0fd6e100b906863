"""Adversarial attacks, one file each, behind a registry.

Every attack is ``attack(model, images, labels, eps, ...) -> adversarial images``; it uses
``torch.autograd.grad`` on the input only and never changes a model's mode, weights or grads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from ..models import UnknownNameError
from .apgd import apgd
from .base import (
    RUNNER_UP,
    GradientHealth,
    check_batch,
    check_eps,
    check_target,
    input_gradient,
    runner_up_targets,
    target_classes,
)
from .fgsm import fgsm
from .pgd import pgd
from .square import square

Attack = Callable[..., torch.Tensor]

_ATTACKS: dict[str, tuple[Attack, str]] = {
    "fgsm": (fgsm, "FGSM: one signed-gradient step of size eps (the study's attack)"),
    "pgd": (pgd, "PGD: iterated signed-gradient steps projected to the eps ball"),
    "square": (square, "Square: gradient-free random search on the output scores (black box)"),
    "apgd": (apgd, "APGD: PGD with momentum and per-image adaptive step sizes (Auto-PGD)"),
}


def list_attacks() -> list[str]:
    return list(_ATTACKS)


def attack_description(name: str) -> str:
    return _lookup(name)[1]


def _lookup(name: str) -> tuple[Attack, str]:
    try:
        return _ATTACKS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown attack {name!r}; known attacks: {', '.join(_ATTACKS)}"
        ) from None


def create_attack(name: str, **options) -> Attack:
    """The attack ``name`` with ``options`` bound: ``create_attack("pgd", steps=10)(m, x, y, eps)``."""
    fn = _lookup(name)[0]
    return functools.partial(fn, **options) if options else fn


__all__ = [
    "RUNNER_UP",
    "apgd",
    "check_target",
    "target_classes",
    "GradientHealth",
    "check_batch",
    "check_eps",
    "create_attack",
    "fgsm",
    "input_gradient",
    "list_attacks",
    "pgd",
    "runner_up_targets",
    "square",
    "attack_description",
]
