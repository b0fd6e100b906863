"""Batched, side-effect-free evaluation: clean accuracy, accuracy under attack, eps sweeps.

Accuracies are fractions in [0, 1]. Models are used in whatever mode they are in; nothing
here changes a model. Noisy (VOne) models are evaluated with their noise on, as in the study.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .attacks import GradientHealth, check_target, create_attack, target_classes
from .data import MNISTData
from .device import model_device


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Logits for ``images``, computed in batches without building a graph, on the model's
    device (the logits stay there)."""
    device = model_device(model)
    outs = [
        model(images[i : i + batch_size].to(device)) for i in range(0, images.shape[0], batch_size)
    ]
    return torch.cat(outs) if outs else torch.empty(0, 10, device=device)


def accuracy(
    model: nn.Module,
    data: MNISTData,
    *,
    batch_size: int = 500,
    limit: int | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> float:
    data = data.subset(limit)
    correct, done = 0, 0
    for images, labels in data.batches(batch_size, device=model_device(model)):
        correct += int((predict(model, images, batch_size).argmax(1) == labels).sum())
        done += len(labels)
        if on_batch:
            on_batch(done, len(data))
    return correct / max(len(data), 1)


@dataclass
class AttackEvaluation:
    accuracy: float
    correct: torch.Tensor  # bool per image: still classified right under attack
    health: GradientHealth
    eps: float
    attack: str
    # Clean accuracy from the attack's own forward passes (FGSM with the model's own noise:
    # its gradient pass *is* a clean forward pass), else None. For a noisy model it is one
    # noise draw, like any clean pass.
    clean_accuracy: float | None = None
    # A targeted attack's success: the share of images now classified as their target.
    target_reached: float | None = None


def evaluate_attack(
    model: nn.Module,
    data: MNISTData,
    attack: str = "fgsm",
    eps: float = 0.35,
    *,
    batch_size: int = 250,
    limit: int | None = None,
    attack_options: dict | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    target: int | str | None = None,
) -> AttackEvaluation:
    """``evaluate_attack(model, data, attack="fgsm", eps=0.35, *, batch_size=250, limit=None,
    attack_options=None, on_batch=None, target=None) -> AttackEvaluation``

    Attack every image of ``data`` (the first ``limit``) with ``attack`` at ``eps`` and
    return an :class:`AttackEvaluation`: the accuracy on the adversarial images, the per-image
    outcomes, the attack's gradient health and, for FGSM with the model's own noise, the clean
    accuracy of the same pass. ``attack_options`` go to :func:`~vonedemo.attacks.create_attack`;
    ``on_batch(done, total)`` counts the images attacked so far. ``target`` (a class 0-9, or
    ``"runner-up"``: each image's second most likely class) makes the attack targeted; the
    result then says how many images reached their target. The model is not changed.

    Example::

        >>> result = evaluate_attack(model, load_mnist("test"), "fgsm", 0.35, limit=1000)
        >>> result.accuracy, result.health.sentence()
    """
    target = check_target(target)
    options = dict(attack_options or {})
    clean_from_attack = attack == "fgsm" and options.get("noise") is None
    attack_fn = create_attack(attack, **options)
    data = data.subset(limit)
    health = GradientHealth()
    outcome, clean_correct, reached = [], 0, 0
    for images, labels in data.batches(batch_size, device=model_device(model)):
        clean_logits: list[torch.Tensor] = []
        extra = {"on_clean_logits": clean_logits.append} if clean_from_attack else {}
        aims = target_classes(model, images, target)
        if aims is not None:
            extra["target"] = aims
        adv = attack_fn(model, images, labels, eps, health=health, **extra)
        if clean_logits:
            clean_correct += int((clean_logits[0].argmax(1) == labels).sum())
        predicted = predict(model, adv, batch_size).argmax(1)
        outcome.append((predicted == labels).cpu())
        if aims is not None:
            reached += int((predicted == aims).sum())
        if on_batch:
            on_batch(sum(len(o) for o in outcome), len(data))
    correct = torch.cat(outcome) if outcome else torch.zeros(0, dtype=torch.bool)
    acc = int(correct.sum()) / len(correct) if len(correct) else 0.0
    clean = clean_correct / len(correct) if clean_from_attack and len(correct) else None
    success = reached / len(correct) if target is not None and len(correct) else None
    return AttackEvaluation(acc, correct, health, float(eps), attack, clean, success)


def adversarial_accuracy(
    model: nn.Module,
    data: MNISTData,
    attack: str = "fgsm",
    eps: float = 0.35,
    **options,
) -> float:
    """Accuracy on adversarial images made from ``data`` (see :func:`evaluate_attack`)."""
    return evaluate_attack(model, data, attack, eps, **options).accuracy


def eps_sweep(
    model: nn.Module,
    data: MNISTData,
    eps_values: Sequence[float],
    attack: str = "fgsm",
    *,
    limit: int | None = None,
    batch_size: int = 250,
    attack_options: dict | None = None,
    on_eps: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """[{eps, accuracy, health}] for each eps, in order."""
    rows = []
    for i, eps in enumerate(eps_values):
        result = evaluate_attack(
            model,
            data,
            attack,
            eps,
            batch_size=batch_size,
            limit=limit,
            attack_options=attack_options,
        )
        rows.append(
            {"eps": float(eps), "accuracy": result.accuracy, "health": result.health.summary()}
        )
        if on_eps:
            on_eps(i + 1, len(eps_values))
    return rows
