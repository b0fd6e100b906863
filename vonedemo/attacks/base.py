"""What every attack shares: input checks, the input gradient (with EOT averaging, noise and
gradient choices) and gradient-health bookkeeping."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..models import check_images
from ..vone import (
    GradientMode,
    NoiseMode,
    check_gradient_mode,
    check_noise_mode,
    input_gradient_pass,
)

_RANGE_TOLERANCE = 1e-6


def check_eps(eps: float, name: str = "eps") -> float:
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {eps!r}") from None
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1] (pixel units), got {eps!r}")
    return value


def check_batch(images: torch.Tensor, labels: torch.Tensor) -> None:
    """Raise ValueError unless images are [B,1,28,28] in [0,1] and labels are B class ids."""
    check_images(images)
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or infinite values")
    lo, hi = (
        images.min().item() if images.numel() else 0.0,
        images.max().item() if images.numel() else 0.0,
    )
    if lo < -_RANGE_TOLERANCE or hi > 1.0 + _RANGE_TOLERANCE:
        raise ValueError(f"images must be in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
    if (
        not isinstance(labels, torch.Tensor)
        or labels.dim() != 1
        or labels.shape[0] != images.shape[0]
    ):
        shape = list(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a 1-D tensor of {images.shape[0]} class ids, got {shape}")
    if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ValueError(f"labels must be integer class ids, got dtype {labels.dtype}")
    if labels.numel() and (labels.min() < 0 or labels.max() > 9):
        raise ValueError("labels must be class ids in 0..9")


def private_generator(seed: int | None, device: torch.device) -> torch.Generator:
    """A generator of the attack's own: its random draws repeat for a seed (None: fresh ones)
    and the global RNG is left alone."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def unmoved(x: torch.Tensor, health: GradientHealth | None) -> torch.Tensor:
    """The result of an attack with nothing to do (eps 0): the images themselves, recorded."""
    adv = x.clone()
    if health is not None:
        health.add_result(x, adv)
    return adv


def check_count(value: int, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass
class GradientHealth:
    """Did the attack's gradient work? Filled in by the attack, in the same pass.

    ``nonfinite_fraction``: input-gradient entries that were NaN or infinite.
    ``zero_sign_fraction``: pixels whose step sign was 0 (NaN or exactly-zero gradient).
    ``linf``: the largest |adv - x| actually applied.
    ``moved_fraction``: images whose pixels changed at all.
    Accumulates over batches (and PGD steps for the gradient fractions).
    """

    gradient_entries: int = 0
    nonfinite_entries: int = 0
    zero_sign_entries: int = 0
    images: int = 0
    moved_images: int = 0
    linf: float = 0.0

    def add_gradient(self, grad: torch.Tensor) -> None:
        self.gradient_entries += grad.numel()
        self.nonfinite_entries += int((~torch.isfinite(grad)).sum())
        self.zero_sign_entries += int((torch.sign(grad) == 0).sum())

    def add_result(self, original: torch.Tensor, adversarial: torch.Tensor) -> None:
        delta = (adversarial - original).abs().flatten(1)
        self.images += delta.shape[0]
        self.moved_images += int((delta.amax(1) > 0).sum()) if delta.numel() else 0
        if delta.numel():
            self.linf = max(self.linf, float(delta.max()))

    def merge(self, other: GradientHealth) -> None:
        for f in (
            "gradient_entries",
            "nonfinite_entries",
            "zero_sign_entries",
            "images",
            "moved_images",
        ):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.linf = max(self.linf, other.linf)

    @property
    def nonfinite_fraction(self) -> float:
        return self.nonfinite_entries / self.gradient_entries if self.gradient_entries else 0.0

    @property
    def zero_sign_fraction(self) -> float:
        return self.zero_sign_entries / self.gradient_entries if self.gradient_entries else 0.0

    @property
    def moved_fraction(self) -> float:
        return self.moved_images / self.images if self.images else 0.0

    @property
    def attack_stalled(self) -> bool:
        """True when the attack did not move most images: its result says nothing about robustness."""
        return self.images > 0 and self.moved_fraction < 0.5

    def summary(self) -> dict:
        return {
            "nonfinite_gradient_fraction": self.nonfinite_fraction,
            "zero_sign_fraction": self.zero_sign_fraction,
            "linf": self.linf,
            "moved_fraction": self.moved_fraction,
            "stalled": self.attack_stalled,
        }

    def sentence(self) -> str:
        s = (
            f"{self.nonfinite_fraction:.1%} of gradient entries NaN/inf, "
            f"{self.zero_sign_fraction:.1%} of step signs 0, "
            f"L∞ applied {self.linf:.3f}, {self.moved_fraction:.0%} of images moved"
        )
        if self.attack_stalled:
            s += " — WARNING: the attack did not move the images; its accuracy is clean accuracy"
        return s


def input_gradient(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    eot_samples: int = 1,
    gradient: GradientMode = "raw",
    noise: NoiseMode | None = None,
    noise_seed: int = 0,
    on_logits: Callable[[torch.Tensor], None] | None = None,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """∇x CE(model(x), y), averaged over ``eot_samples`` forward/backward passes.

    ``loss(logits, labels)`` (optional) replaces the cross-entropy: it returns each image's
    loss [B], and the gradient is that of their sum. ``on_logits`` (optional) receives the
    logits of the first pass.

    ``gradient``: the VOne complex cell's backward (``raw`` = the study's, ``repaired``).
    ``noise``: override VOne noise while computing the gradient (None = the model's own;
    ``off``; ``seeded`` = one fixed noise draw). Uses ``torch.autograd.grad`` with respect to the
    input only: parameter ``.grad`` and the model's mode are untouched.
    """
    gradient = check_gradient_mode(gradient)
    if noise is not None:
        noise = check_noise_mode(noise)
    x = images.detach().clone().requires_grad_(True)
    total = torch.zeros_like(x)
    with torch.enable_grad():
        for i in range(eot_samples):
            wanted = i == 0 and on_logits is not None
            # Only the input gradient is asked for, and the logits' values only when wanted.
            with input_gradient_pass(
                values_used=wanted, gradient=gradient, noise=noise, noise_seed=noise_seed
            ):
                logits = model(x)
                if wanted:
                    on_logits(logits.detach())
                if loss is None:
                    value = F.cross_entropy(logits, labels.long(), reduction="sum")
                else:
                    value = loss(logits, labels.long()).sum()
                (grad,) = torch.autograd.grad(value, x)
            total = total + grad
    return total / eot_samples


def runner_up_targets(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Each image's second most likely class: the easiest target of a targeted attack."""
    with torch.no_grad():
        return model(images.detach()).topk(2, dim=1).indices[:, 1]


RUNNER_UP = "runner-up"  # a target choice: each image's second most likely class


def check_target(target: object) -> int | str | None:
    """A target choice: None (untargeted), a class 0-9, or ``"runner-up"``."""
    if target is None or target == RUNNER_UP:
        return target
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target <= 9:
        raise ValueError(f"target must be None, a class 0-9 or {RUNNER_UP!r}, got {target!r}")
    return int(target)


def target_classes(
    model: nn.Module, images: torch.Tensor, target: int | str | None
) -> torch.Tensor | None:
    """The target class of every image for a target choice (None: untargeted)."""
    target = check_target(target)
    if target is None:
        return None
    if target == RUNNER_UP:
        return runner_up_targets(model, images)
    return torch.full((images.shape[0],), int(target), dtype=torch.int64, device=images.device)
