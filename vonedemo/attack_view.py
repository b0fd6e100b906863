"""The attack view a page shows: attack a handful of digits and return what a person should
see (originals, adversarials, perturbations, predictions, gradient health), and sample digits
repeatably.

Results are plain numpy arrays, floats and dicts, so a UI can cache and pickle them cheaply.
Nothing here changes a model: noise choices use the per-thread :func:`vonedemo.vone.noise_mode`
context, never a model's own settings, so shared (cached) models stay untouched.

Example::

    >>> settings = AttackSettings(attack="fgsm", eps=0.35, noise="off", seed=0)
    >>> idx = sample_indices(len(test), 16, seed=0)
    >>> view = attack_batch(model, test.images[idx], test.labels[idx], settings, indices=idx)
    >>> view.clean_accuracy, view.adversarial_accuracy, view.health_sentence
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .attacks import GradientHealth, check_target, create_attack, list_attacks, target_classes
from .attacks.base import check_eps
from .attacks.pgd import default_step_size
from .data import MNISTData
from .evaluation import accuracy, evaluate_attack, predict
from .study import STUDY_EPS
from .viz import perturbation_rgb, to_gray_uint8
from .vone import check_gradient_mode, check_noise_mode, noise_mode

# --- attack settings --------------------------------------------------------------------------
pgd_step_size = default_step_size  # Madry et al.'s 2.5·eps/steps, capped at eps


@dataclass(frozen=True)
class AttackSettings:
    """Everything that decides an attack's result in the explorer; hashable, so a cache key.

    ``noise``: None keeps each model's own noise (neuronal for VOne models, as the study);
    ``"off"``/``"seeded"``/``"neuronal"`` override it for the whole computation (predictions
    and gradients). ``seed`` seeds the random number generator (noise draws, PGD starts) and,
    in ``"seeded"`` mode, the fixed noise pattern. ``target``: None (any wrong answer), a class
    0-9, or ``"runner-up"`` (each digit's second most likely class) for a targeted attack.
    """

    attack: str = "fgsm"
    eps: float = STUDY_EPS
    gradient: str = "raw"
    eot_samples: int = 1
    pgd_steps: int = 10
    noise: str | None = None
    seed: int = 0
    target: int | str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", check_target(self.target))
        if self.attack not in list_attacks():
            raise ValueError(f"unknown attack {self.attack!r}; known: {', '.join(list_attacks())}")
        object.__setattr__(self, "eps", check_eps(self.eps))
        check_gradient_mode(self.gradient)
        if self.noise is not None:  # None: each model's own noise
            check_noise_mode(self.noise)
        for name in ("eot_samples", "pgd_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        object.__setattr__(self, "seed", int(self.seed))

    def options(self) -> dict:
        """Keyword options for :func:`vonedemo.attacks.create_attack` / ``evaluate_attack``."""
        opts: dict = {"gradient": self.gradient, "eot_samples": int(self.eot_samples)}
        if self.attack == "pgd":
            opts.update(
                steps=int(self.pgd_steps),
                step_size=pgd_step_size(self.eps, self.pgd_steps),
                seed=self.seed,
            )
        return opts

    def describe(self) -> str:
        text = f"{self.attack.upper()} eps={self.eps:.2f}"
        if self.attack == "pgd":
            text += f", {self.pgd_steps} steps of {pgd_step_size(self.eps, self.pgd_steps):.3f}"
        if self.eot_samples > 1:
            text += f", EOT {self.eot_samples} samples"
        text += f", {self.gradient} gradient"
        if self.noise:
            text += f", noise {self.noise}"
        if self.target is not None:
            text += f", target {self.target}"
        return text


@contextlib.contextmanager
def seeded_run(noise: str | None, seed: int) -> Iterator[None]:
    """Run a computation repeatably: the global RNG is forked and seeded (noise draws, random
    starts) and, if ``noise`` is given, VOne noise is overridden in this thread only."""
    ctx = noise_mode(noise, seed) if noise is not None else contextlib.nullcontext()
    with torch.random.fork_rng(devices=[]), ctx:
        torch.manual_seed(int(seed))
        yield


def health_text(health: GradientHealth, eps: float) -> tuple[str, bool]:
    """(sentence, stalled). At eps 0 nothing is meant to move, so nothing has stalled."""
    if eps == 0:
        return "eps = 0: no attack — the adversarial digits are the originals.", False
    return health.sentence(), bool(health.attack_stalled)


# --- one batch of digits ----------------------------------------------------------------------
@dataclass
class AttackView:
    """What the explorer shows for a few digits, ready to draw (all numpy)."""

    indices: np.ndarray  # test-set index of each digit [B]
    labels: np.ndarray  # int64 [B]
    original: np.ndarray  # uint8 [B, 28, 28]
    adversarial: np.ndarray  # uint8 [B, 28, 28]
    perturbation: np.ndarray  # uint8 [B, 28, 28, 3]: red brighter, blue darker, full colour at eps
    clean_probs: np.ndarray  # float32 [B, 10]
    adv_probs: np.ndarray  # float32 [B, 10]
    eps: float
    settings: AttackSettings
    health: dict  # GradientHealth.summary()
    health_sentence: str
    stalled: bool  # the attack did not move most digits although eps > 0
    linf: float  # the largest |adv - x| applied
    seconds: float
    targets: np.ndarray | None = None  # int64 [B]: each digit's target class (targeted attacks)

    # The per-digit answers below are computed once per view: a page asks for them per digit,
    # and a view's arrays never change after it is made.

    @property
    def reached_target(self) -> int | None:
        """Digits the attack made read as their target (None for an untargeted attack)."""
        return None if self.targets is None else int((self.adv_pred == self.targets).sum())

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @functools.cached_property
    def clean_pred(self) -> np.ndarray:
        return self.clean_probs.argmax(1)

    @functools.cached_property
    def adv_pred(self) -> np.ndarray:
        return self.adv_probs.argmax(1)

    @functools.cached_property
    def clean_confidence(self) -> np.ndarray:
        return self.clean_probs.max(1)

    @functools.cached_property
    def adv_confidence(self) -> np.ndarray:
        return self.adv_probs.max(1)

    @functools.cached_property
    def clean_correct(self) -> np.ndarray:
        return self.clean_pred == self.labels

    @functools.cached_property
    def adv_correct(self) -> np.ndarray:
        return self.adv_pred == self.labels

    @property
    def clean_accuracy(self) -> float:
        return float(self.clean_correct.mean()) if len(self) else 0.0

    @property
    def adversarial_accuracy(self) -> float:
        return float(self.adv_correct.mean()) if len(self) else 0.0

    @property
    def flipped(self) -> int:
        """Digits whose prediction the attack changed."""
        return int((self.clean_pred != self.adv_pred).sum())

    def rows(self) -> list[dict]:
        """One plain row per digit, for a table."""
        return [
            {
                "test index": int(self.indices[i]),
                "label": int(self.labels[i]),
                "clean prediction": int(self.clean_pred[i]),
                "clean confidence %": round(100 * float(self.clean_confidence[i]), 1),
                "adversarial prediction": int(self.adv_pred[i]),
                "adversarial confidence %": round(100 * float(self.adv_confidence[i]), 1),
                "changed": bool(self.clean_pred[i] != self.adv_pred[i]),
            }
            for i in range(len(self))
        ]


def probabilities(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    """Softmax probabilities [B, 10] as float32 numpy (no graph)."""
    return torch.softmax(predict(model, images).float().cpu(), 1).numpy().astype(np.float32)


def clean_probabilities(
    model: nn.Module, images: torch.Tensor, *, noise: str | None = None, seed: int = 0
) -> np.ndarray:
    """Probabilities [B, 10] of the unattacked images, repeatable for a seed (the clean phase of
    :func:`attack_batch`; independent of eps, so a UI can cache it separately)."""
    with seeded_run(noise, seed):
        return probabilities(model, images)


def attack_batch(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: AttackSettings,
    *,
    indices: Sequence[int] | np.ndarray | None = None,
    clean_probs: np.ndarray | None = None,
) -> AttackView:
    """Attack ``images`` once and report originals, adversarials, perturbations, both
    predictions with their probabilities, and the gradient's health — repeatably for a seed.

    ``clean_probs`` (from :func:`clean_probabilities` with the same noise and seed) skips the
    clean forward pass: the clean and the attack phases draw their noise from separate seeded
    streams, so the result is the same either way."""
    view, _ = attack_batch_with_adversarial(
        model, images, labels, settings, indices=indices, clean_probs=clean_probs
    )
    return view


def attack_batch_with_adversarial(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: AttackSettings,
    *,
    indices: Sequence[int] | np.ndarray | None = None,
    clean_probs: np.ndarray | None = None,
) -> tuple[AttackView, torch.Tensor]:
    """:func:`attack_batch`, and the adversarial images as the attack made them (float
    [B, 1, H, W]): what looks inside the network must see those, not the view's uint8 pixels."""
    start = time.perf_counter()
    health = GradientHealth()
    attack = create_attack(settings.attack, **settings.options())
    if clean_probs is None:
        clean_probs = clean_probabilities(model, images, noise=settings.noise, seed=settings.seed)
    with seeded_run(settings.noise, settings.seed + 1):
        aims = target_classes(model, images, settings.target)
        extra = {} if aims is None else {"target": aims}
        adv = attack(model, images, labels, settings.eps, health=health, **extra)
        adv_probs = probabilities(model, adv)
    sentence, stalled = health_text(health, settings.eps)
    idx = np.arange(len(labels)) if indices is None else np.asarray(indices, dtype=np.int64)
    view = AttackView(
        indices=idx,
        labels=labels.detach().cpu().numpy().astype(np.int64),
        original=to_gray_uint8(images),
        adversarial=to_gray_uint8(adv),
        perturbation=perturbation_rgb(adv - images, settings.eps if settings.eps > 0 else 1.0),
        clean_probs=clean_probs,
        adv_probs=adv_probs,
        eps=settings.eps,
        settings=settings,
        health=health.summary(),
        health_sentence=sentence,
        stalled=stalled,
        linf=float(health.linf),
        seconds=time.perf_counter() - start,
        targets=None if aims is None else aims.cpu().numpy().astype(np.int64),
    )
    return view, adv.detach()


def sample_indices(total: int, n: int, seed: int) -> np.ndarray:
    """``n`` distinct indices below ``total``, the same for the same seed. A larger ``n`` with
    the same seed extends the smaller sample (the digits on screen stay, more join them)."""
    if total < 0 or n < 0:
        raise ValueError(f"total and n must be non-negative, got {total}, {n}")
    rng = np.random.default_rng(int(seed))
    return rng.permutation(int(total))[: min(int(n), int(total))].astype(np.int64)


def select(
    data: MNISTData, indices: Sequence[int] | np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) of ``data`` at ``indices``."""
    idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
    return data.images[idx], data.labels[idx]


def clean_sample_accuracy(
    model: nn.Module, data: MNISTData, limit: int, *, noise: str | None = None, seed: int = 0
) -> float:
    """Clean accuracy on the first ``limit`` digits of ``data`` (repeatable for a seed)."""
    with seeded_run(noise, seed):
        return accuracy(model, data, limit=limit)


def attacked_sample_accuracy(
    model: nn.Module,
    data: MNISTData,
    settings: AttackSettings,
    limit: int,
    *,
    on_batch: Callable[[int, int], None] | None = None,
) -> dict:
    """Accuracy under ``settings``' attack on the first ``limit`` digits of ``data``:
    {"images", "accuracy" (0..1), "target_reached" (0..1, or None untargeted), "health",
    "sentence", "stalled"}."""
    with seeded_run(settings.noise, settings.seed):
        result = evaluate_attack(
            model,
            data,
            settings.attack,
            settings.eps,
            limit=limit,
            batch_size=100,
            attack_options=settings.options(),
            on_batch=on_batch,
            target=settings.target,
        )
    sentence, stalled = health_text(result.health, settings.eps)
    return {
        "images": int(len(result.correct)),
        "accuracy": float(result.accuracy),
        "target_reached": result.target_reached,
        "health": result.health.summary(),
        "sentence": sentence,
        "stalled": stalled,
    }
