"""The audit's settings, and the PGD budgets derived from them."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..attacks.pgd import default_step_size
from ..crosscheck import AutoAttackConfig

# Transfer sources for models outside the study's twin pairs.
TRANSFER_SOURCE = {"madry-cnn": "basic-cnn", "vone-basic-cnn-2.5deg": "basic-cnn"}
CURVE_EPS = (0.0, 1 / 255, 4 / 255, 8 / 255, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


# Settings that change only what noisy models meet, or only what deterministic ones meet: a
# report whose models are all of one kind says nothing about the other kind's settings.
NOISY_ONLY = frozenset(
    {"eot_samples", "pgd_eot", "cascade_from_eot", "curve_repeats", "curve_eot"}
    | {"stochastic_pgd_on_survivors", "doubling_on_survivors", "noisy_curve_limit"}
)
DETERMINISTIC_ONLY = frozenset(
    {"deterministic_pgd_steps", "deterministic_pgd_restarts", "apgd_steps", "apgd_restarts"}
    | {"autoattack", "autoattack_budget"}
)


@dataclass(frozen=True)
class AuditConfig:
    limit: int = 1000  # test images, the same for every attack
    eps: tuple[float, ...] = (0.35, 0.1)  # headline budgets (the study's, and a common one)
    eot_samples: tuple[int, ...] = (1, 4, 16, 64)  # FGSM gradient averaged over n noise draws
    pgd_steps: int = 40
    pgd_step_size: float | None = 0.01  # None: 2.5 * eps / steps (Madry et al.'s rule)
    pgd_restarts: int = 2
    pgd_eot: int = 4  # noise draws per PGD step (noisy models only)
    # The costliest rungs (FGSM with EOT >= cascade_from_eot, PGD with the noise off or fixed)
    # attack only the images every earlier rung failed to break, as AutoAttack does: the worst
    # case is the same, the cost follows the survivors. Their rows then give the accuracy left
    # after them, not their accuracy alone. 0 switches the cascade off.
    cascade_from_eot: int = 0
    curve_eps: tuple[float, ...] = CURVE_EPS
    curve_limit: int = 500  # test images per point of the accuracy-vs-eps curves
    curve_pgd_steps: int = 20  # the strongest attack on the curves, cheaper per point
    curve_repeats: int = 3  # evaluations of noisy models per point (mean ± std)
    doubling_limit: int = 500  # images for the "doubling changes < 1 point" check
    # Noisy models: the doubled attack runs only on the images the whole ladder left standing
    # at the first eps, and the check asks how many of those it still breaks. That is stricter
    # (nothing it breaks can be hidden by a lucky noise draw of a second run) and far cheaper
    # when the ladder breaks most images.
    doubling_on_survivors: bool = False
    # Noisy models' curve images (None: curve_limit). On a CPU their repaired gradient costs
    # about ten forward passes; the curves serve the shape checks only.
    noisy_curve_limit: int | None = None
    # The gradient-free rung: the Square attack (Andriushchenko et al. 2020) with this many
    # queries per image; 0 leaves it out.
    square_queries: int = 0
    # The cross-check with the field's standard: AutoAttack from a library (ART), on the
    # deterministic models only (its attacks take the model's output as a fixed function).
    autoattack: bool = False
    # Budgets that scale with a model's cost. Deterministic models (no noise) are cheap to
    # attack: None gives them pgd_steps / pgd_restarts like the others.
    deterministic_pgd_steps: int | None = None
    deterministic_pgd_restarts: int | None = None
    # APGD (Croce & Hein 2020, our own) on deterministic models, once with the cross-entropy
    # and once with the DLR loss, this many steps and restarts each; 0 steps leaves it out.
    # Its adaptive step finds what fixed-step PGD misses on models with some robustness.
    apgd_steps: int = 0
    apgd_restarts: int = 1
    # Noisy models: PGD with EOT attacks only the images every cheaper rung left standing.
    stochastic_pgd_on_survivors: bool = False
    # The Square rung and the transfer rung attack only what every other rung left standing
    # (they run last); their checks then ask whether they break any image the rest missed.
    square_on_survivors: bool = False
    transfer_on_survivors: bool = False
    # EOT samples per PGD step on a noisy model's curves (None: pgd_eot). The curves serve the
    # shape checks only; the headline numbers come from the ladder.
    curve_eot: int | None = None
    # AutoAttack's budget, recorded with the report so that it describes what ran.
    autoattack_budget: AutoAttackConfig = AutoAttackConfig()
    batch_size: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        if self.limit < 1 or self.curve_limit < 1:
            raise ValueError("limits must be positive")
        if self.square_queries < 0:
            raise ValueError(f"square_queries must be >= 0, got {self.square_queries}")
        if self.apgd_steps < 0 or self.apgd_restarts < 1:
            raise ValueError("apgd_steps must be >= 0 and apgd_restarts >= 1")
        if self.noisy_curve_limit is not None and self.noisy_curve_limit < 1:
            raise ValueError(f"noisy_curve_limit must be >= 1, got {self.noisy_curve_limit}")
        if self.curve_eot is not None and self.curve_eot < 1:
            raise ValueError(f"curve_eot must be >= 1, got {self.curve_eot}")
        if isinstance(self.autoattack_budget, dict):  # read back from a report's JSON
            object.__setattr__(
                self, "autoattack_budget", AutoAttackConfig(**self.autoattack_budget)
            )

    @classmethod
    def converged(cls, **overrides) -> AuditConfig:
        """Budgets that converge: PGD-100 with 5 restarts, APGD-100 (CE and DLR) with 5
        restarts each and the doubling check on all 1,000 images for deterministic models; PGD-20
        with EOT-8 on the survivors of every cheaper rung for noisy ones (FGSM with EOT 16 and 64
        and PGD with the noise off or fixed on survivors too), their doubled attack on what the
        whole ladder left, and curves on 200 images with one noisy pass per step; the Square attack with 1,000 queries and the transfer
        attack, each on what every other rung left standing; AutoAttack as the cross-check on
        deterministic models, its Square run once (as AutoAttack's standard version does)."""
        base = {
            "pgd_steps": 20,
            "pgd_restarts": 1,
            "pgd_eot": 8,
            "pgd_step_size": None,
            "deterministic_pgd_steps": 100,
            "deterministic_pgd_restarts": 5,
            "apgd_steps": 100,
            "apgd_restarts": 5,
            "stochastic_pgd_on_survivors": True,
            "square_on_survivors": True,
            "transfer_on_survivors": True,
            "cascade_from_eot": 16,
            "curve_eot": 1,
            "curve_repeats": 1,
            "noisy_curve_limit": 200,
            "doubling_limit": 1000,
            "doubling_on_survivors": True,
            "square_queries": 1000,
            "autoattack": True,
            "autoattack_budget": AutoAttackConfig(square_restarts=1),
        }
        return cls(**{**base, **overrides})

    def for_model(self, stochastic: bool) -> AuditConfig:
        """These settings with the PGD budget of a noisy (``stochastic``) or deterministic
        model."""
        if stochastic:
            return replace(self, curve_limit=self.noisy_curve_limit or self.curve_limit)
        return replace(
            self,
            pgd_steps=self.deterministic_pgd_steps or self.pgd_steps,
            pgd_restarts=self.deterministic_pgd_restarts or self.pgd_restarts,
        )


def pgd_step(config: AuditConfig, eps: float, steps: int) -> float:
    """PGD step size: the configured one, or Madry et al.'s 2.5 * eps / steps."""
    if config.pgd_step_size is not None:
        return config.pgd_step_size
    return default_step_size(eps, steps) if eps > 0 else 0.01


def strongest_options(
    config: AuditConfig,
    stochastic: bool,
    steps: int | None = None,
    eps: float = 0.35,
    eot: int | None = None,
) -> dict:
    """The options of the strongest single attack: PGD with the repaired gradient, one
    restart, and EOT on noisy models (``eot`` draws per step, default ``pgd_eot``) — the
    curves, the transfer crafting, the doubling check."""
    steps = steps or config.pgd_steps
    opts = {
        "steps": steps,
        "step_size": pgd_step(config, eps, steps),
        "restarts": 1,
        "gradient": "repaired",
        "seed": config.seed,
    }
    if stochastic:
        opts["eot_samples"] = eot or config.pgd_eot
    return opts
