"""Running one attack of the audit: crafting (on the model or a transfer source), scoring, and
sharing a crafting between rungs that ask for the very same one."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ..attacks import GradientHealth, create_attack
from ..crosscheck import AutoAttackConfig, autoattack
from ..data import MNISTData
from ..device import model_device
from ..evaluation import predict


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% binomial (Wilson) interval for an accuracy, in [0, 1]."""
    if total == 0:
        return (0.0, 1.0)
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class AttackOutcome:
    name: str
    eps: float
    correct: torch.Tensor  # bool per image
    health: GradientHealth
    seconds: float
    attacked: int = -1  # images this row attacked (cascades attack fewer; -1: unknown)
    shared: bool = False  # adversarial images crafted once for another row and reused here

    @property
    def accuracy(self) -> float:
        return int(self.correct.sum()) / len(self.correct) if len(self.correct) else 0.0

    def row(self) -> dict:
        lo, hi = wilson_interval(int(self.correct.sum()), len(self.correct))
        return {
            "attack": self.name,
            "eps": self.eps,
            "accuracy": 100 * self.accuracy,
            "ci95": [100 * lo, 100 * hi],
            "seconds": round(self.seconds, 2),
            "images_attacked": self.attacked,
            "crafting_shared": self.shared,
            **self.health.summary(),
        }


class CraftedImages:
    """Adversarial images crafted during one audit run, kept for a later request for the very
    same crafting (same source model, attack, eps, options, seed and images): a twin's PGD is
    then not run again for the transfer attack on its partner.

    Create one per audit run and hand it to every :func:`~vonedemo.audit.audit_model` call of
    that run; it holds the last ``capacity`` craftings."""

    def __init__(self, capacity: int = 8):
        self.capacity = capacity
        self._entries: OrderedDict[tuple, tuple[list[torch.Tensor], GradientHealth]] = OrderedDict()

    @staticmethod
    def key(
        source_name: str,
        attack: str,
        eps: float,
        options: Mapping,
        data: MNISTData,
        batch_size: int,
    ) -> tuple:
        images = data.images
        stamp = (
            (len(images), float(images.sum()), float(images[:, :, ::7, ::7].std()))
            if len(images)
            else (0,)
        )
        return (
            source_name,
            attack,
            round(float(eps), 6),
            tuple(sorted(options.items())),
            stamp,
            batch_size,
            int(torch.initial_seed()),
        )

    def get(self, key: tuple) -> tuple[list[torch.Tensor], GradientHealth] | None:
        return self._entries.get(key)

    def put(self, key: tuple, batches: list[torch.Tensor], health: GradientHealth) -> None:
        self._entries[key] = (batches, health)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _cross_check(seed: int = 0, **budget):
    """AutoAttack in the registry attacks' calling convention (``budget``: fields of
    :class:`~vonedemo.crosscheck.AutoAttackConfig`)."""
    config = AutoAttackConfig(**budget)

    def attack(model, images, labels, eps, health=None):
        return autoattack(model, images, labels, eps, config=config, seed=seed, health=health)

    return attack


def run_attack(
    model: nn.Module,
    data: MNISTData,
    attack: str,
    eps: float,
    options: Mapping,
    *,
    name: str,
    batch_size: int = 250,
    source: nn.Module | None = None,
    alive: torch.Tensor | None = None,
    crafted_by: str | None = None,
    crafted: CraftedImages | None = None,
) -> AttackOutcome:
    """Craft on ``source`` (default: the model itself), evaluate on ``model``.

    ``alive`` (bool per image): attack only these; the others count as already broken.
    ``crafted_by`` and ``crafted``: the crafting model's name and the run's store of
    craftings, to reuse an identical earlier crafting and keep this one for a later request
    (the global RNG must be seeded identically before both)."""
    if alive is not None:
        keep = torch.nonzero(alive).flatten()
        sub = MNISTData(data.images[keep], data.labels[keep], f"{data.name} (survivors)")
        out = run_attack(
            model, sub, attack, eps, options, name=name, batch_size=batch_size, source=source
        )
        correct = torch.zeros(len(data), dtype=torch.bool)
        correct[keep] = out.correct
        return AttackOutcome(name, out.eps, correct, out.health, out.seconds, attacked=len(keep))
    fn = _cross_check(**options) if attack == "autoattack" else create_attack(attack, **options)
    crafted_on = source if source is not None else model
    key = (
        CraftedImages.key(crafted_by, attack, eps, options, data, batch_size)
        if crafted is not None and crafted_by is not None
        else None
    )
    cached = crafted.get(key) if key is not None else None
    health = GradientHealth()
    if cached is not None:
        health.merge(cached[1])  # the crafting's health, measured when it ran
    outcomes, batches = [], []
    start = time.perf_counter()
    device = model_device(crafted_on)
    # AutoAttack runs on every image in one call: the library batches inside it, and its Square
    # loops in Python once per call, so fewer calls cost far less.
    size = max(len(data), 1) if attack == "autoattack" else batch_size
    for i, (images, labels) in enumerate(data.batches(size, device=device)):
        adv = (
            cached[0][i]
            if cached is not None
            else fn(crafted_on, images, labels, eps, health=health)
        )
        batches.append(adv)
        outcomes.append((predict(model, adv).argmax(1) == labels.to(model_device(model))).cpu())
    if key is not None and cached is None:
        crafted.put(key, batches, health)
    correct = torch.cat(outcomes) if outcomes else torch.zeros(0, dtype=torch.bool)
    return AttackOutcome(
        name,
        float(eps),
        correct,
        health,
        time.perf_counter() - start,
        attacked=len(data),
        shared=cached is not None,
    )
