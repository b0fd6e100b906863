"""The *Your digit* page's computations, one cached call each, inside a compute slot: a picture
made into a digit, every shipped model's answer on it (a VOneNet's spread over noisy passes),
one model's attack on it and what the same picture does to the others, and PGD step by step.

Digits travel as the bytes of their float32 28x28 pixels: a plain, hashable cache key. Nothing
is written to disk; an upload lives in the session and in these bounded caches only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from vonedemo.attack_view import seeded_run
from vonedemo.attacks import create_attack, target_classes
from vonedemo.attacks.base import GradientHealth
from vonedemo.attacks.pgd import default_step_size
from vonedemo.digit import DigitImageError, preprocess
from vonedemo.stepwise import Step, pgd_steps

from .compute import compute_slot
from .loaders import ModelChoice, as_choice, get_model, model_choices

NOISY_PASSES = 8  # a VOneNet's answer is shown as the spread over this many noise draws


def _tensor(digit: bytes) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(digit, dtype=np.float32).copy()).reshape(1, 1, 28, 28)


@st.cache_data(max_entries=64, show_spinner=False)
def read_digit(data: bytes) -> tuple[bytes | None, str | None]:
    """(the digit's pixels as bytes, None) — or (None, what is wrong with the picture)."""
    try:
        return preprocess(data)[0].numpy().astype(np.float32).tobytes(), None
    except DigitImageError as e:
        return None, str(e)


def picture(digit: bytes) -> np.ndarray:
    """The 28x28 digit the models see, as grey levels in [0, 1]."""
    return _tensor(digit)[0, 0].numpy()


def shipped_models() -> list[ModelChoice]:
    return [c for c in model_choices(include_app=False) if c.available]


@st.cache_data(max_entries=128, show_spinner=False)
def _answer(key: str, stamp: str, digit: bytes) -> tuple[np.ndarray, np.ndarray]:
    model, _ = get_model(key)
    passes = NOISY_PASSES if as_choice(key).is_vone else 1
    with compute_slot():
        probs = []
        for seed in range(passes):
            with seeded_run("seeded" if passes > 1 else None, seed), torch.no_grad():
                probs.append(torch.softmax(model(_tensor(digit)).float(), 1)[0].numpy())
    stacked = np.stack(probs)
    return stacked.mean(0), stacked.std(0)


def answers(digit: bytes) -> list[dict]:
    """Every shipped model's answer: {model, label, answer, confidence, spread, probs}."""
    rows = []
    for choice in shipped_models():
        mean, spread = _answer(choice.key, choice.stamp, digit)
        k = int(mean.argmax())
        rows.append(
            {
                "model": choice.key,
                "label": choice.label,
                "answer": k,
                "confidence": float(mean[k]),
                "spread": float(spread[k]),
                "probs": mean,
                "stds": spread,
            }
        )
    return rows


@dataclass(frozen=True)
class DigitAttack:
    adversarial: bytes  # the attacked digit's pixels, as bytes
    perturbation: np.ndarray  # float32 [28, 28]
    health: dict
    stalled: bool  # the gradient was undefined everywhere, or the picture did not move


@st.cache_data(max_entries=32, show_spinner=False)
def _attack(
    key: str,
    stamp: str,
    digit: bytes,
    label: int,
    attack: str,
    eps: float,
    gradient: str,
    target: int | str | None,
    steps: int,
) -> DigitAttack:
    model, _ = get_model(key)
    x, y = _tensor(digit), torch.tensor([label])
    options: dict = {"gradient": gradient}
    if attack == "pgd":
        options |= {"steps": steps, "step_size": default_step_size(eps, steps), "seed": 0}
    health = GradientHealth()
    with compute_slot(), seeded_run(None, 0):
        aims = target_classes(model, x, target)
        extra = {} if aims is None else {"target": aims}
        adv = create_attack(attack, **options)(model, x, y, eps, health=health, **extra)
    delta = (adv - x)[0, 0].numpy().astype(np.float32)
    return DigitAttack(
        adv[0, 0].numpy().astype(np.float32).tobytes(),
        delta,
        health.summary(),
        bool(np.abs(delta).max() == 0 or health.nonfinite_fraction >= 0.99),
    )


def attack(
    model: ModelChoice | str,
    digit: bytes,
    label: int,
    attack_name: str,
    eps: float,
    gradient: str,
    target: int | str | None,
    steps: int,
) -> DigitAttack:
    """``model``'s attack on the digit (untargeted against ``label``, or towards ``target``)."""
    choice = as_choice(model)
    return _attack(
        choice.key,
        choice.stamp,
        digit,
        int(label),
        attack_name,
        float(eps),
        gradient,
        target,
        int(steps),
    )


@st.cache_data(max_entries=16, show_spinner=False)
def _replay(
    key: str,
    stamp: str,
    digit: bytes,
    label: int,
    eps: float,
    steps: int,
    gradient: str,
    target: int | None,
) -> list[Step]:
    model, _ = get_model(key)
    with compute_slot():
        return pgd_steps(
            model,
            _tensor(digit),
            label,
            eps,
            steps,
            default_step_size(eps, steps),
            target=target,
            gradient=gradient,
        )


def replay(
    model: ModelChoice | str,
    digit: bytes,
    label: int,
    eps: float,
    steps: int,
    gradient: str,
    target: int | None,
) -> list[Step]:
    """PGD's iterates on the digit, computed once and replayed from the cache."""
    choice = as_choice(model)
    return _replay(
        choice.key, choice.stamp, digit, int(label), float(eps), int(steps), gradient, target
    )
