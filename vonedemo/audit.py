""" "Is it real?" — an adaptive-attack audit of a model's robustness.

For each model, on the same test images: the study's FGSM; FGSM with the repaired gradient;
FGSM averaged over noise samples (EOT); PGD with EOT and restarts; PGD computed with the noise
switched off or fixed; transfer from the twin model; and the **worst case per image** across all
of them — the headline robust accuracy. Sanity checks flag possible gradient masking. Every
attack result carries its gradient health, so a stalled attack is never mistaken for robustness.

Nothing prints; progress goes to ``on_progress(step, done, total)``.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .attacks import GradientHealth, create_attack
from .attacks.pgd import default_step_size
from .data import MNISTData
from .evaluation import accuracy, predict
from .models import is_stochastic, twin_of

Progress = Callable[[str, int, int], None]
ModelLoader = Callable[[str], nn.Module]

# Transfer sources for models outside the study's twin pairs.
TRANSFER_SOURCE = {"madry-cnn": "basic-cnn", "vone-basic-cnn-2.5deg": "basic-cnn"}
CURVE_EPS = (0.0, 1 / 255, 4 / 255, 8 / 255, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


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
    batch_size: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        if self.limit < 1 or self.curve_limit < 1:
            raise ValueError("limits must be positive")


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


def pgd_step(config: AuditConfig, eps: float, steps: int) -> float:
    """PGD step size: the configured one, or Madry et al.'s 2.5 * eps / steps."""
    if config.pgd_step_size is not None:
        return config.pgd_step_size
    return default_step_size(eps, steps) if eps > 0 else 0.01


# Adversarial images crafted on a model, kept for a transfer attack that asks for the very same
# crafting (same source, eps, options, seed and images): a twin's PGD is then not run twice.
_CRAFTED: OrderedDict[tuple, tuple[list[torch.Tensor], GradientHealth]] = OrderedDict()
_CRAFTED_MAX = 8


def _crafted_key(
    source_name: str | None,
    attack: str,
    eps: float,
    options: dict,
    data: MNISTData,
    batch_size: int,
) -> tuple | None:
    if source_name is None:
        return None
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


def run_attack(
    model: nn.Module,
    data: MNISTData,
    attack: str,
    eps: float,
    options: dict,
    *,
    name: str,
    batch_size: int = 250,
    source: nn.Module | None = None,
    alive: torch.Tensor | None = None,
    crafted_by: str | None = None,
) -> AttackOutcome:
    """Craft on ``source`` (default: the model itself), evaluate on ``model``.

    ``alive`` (bool per image): attack only these; the others count as already broken.
    ``crafted_by``: the crafting model's name, to share its adversarial images with a later
    identical request (the global RNG must be seeded identically before both)."""
    if alive is not None:
        keep = torch.nonzero(alive).flatten()
        sub = MNISTData(data.images[keep], data.labels[keep], f"{data.name} (survivors)")
        out = run_attack(
            model, sub, attack, eps, options, name=name, batch_size=batch_size, source=source
        )
        correct = torch.zeros(len(data), dtype=torch.bool)
        correct[keep] = out.correct
        return AttackOutcome(name, out.eps, correct, out.health, out.seconds, attacked=len(keep))
    fn = create_attack(attack, **options)
    crafted_on = source if source is not None else model
    key = _crafted_key(crafted_by, attack, eps, options, data, batch_size)
    cached = _CRAFTED.get(key) if key is not None else None
    health = GradientHealth()
    if cached is not None:
        health.merge(cached[1])  # the crafting's health, measured when it ran
    outcomes, crafted = [], []
    start = time.perf_counter()
    for i, (images, labels) in enumerate(data.batches(batch_size)):
        adv = (
            cached[0][i]
            if cached is not None
            else fn(crafted_on, images, labels, eps, health=health)
        )
        crafted.append(adv)
        outcomes.append(predict(model, adv).argmax(1) == labels)
    if key is not None and cached is None:
        _CRAFTED[key] = (crafted, health)
        while len(_CRAFTED) > _CRAFTED_MAX:
            _CRAFTED.popitem(last=False)
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


SURVIVORS = " (on survivors)"


def attack_ladder(
    model: nn.Module, config: AuditConfig, stochastic: bool, eps: float = 0.35
) -> list[tuple[str, str, dict, bool]]:
    """(name, attack, options, cascaded) for every white-box attack of the ladder at ``eps``;
    cascaded rungs come last and attack only the survivors (see ``cascade_from_eot``)."""
    pgd = {
        "steps": config.pgd_steps,
        "step_size": pgd_step(config, eps, config.pgd_steps),
        "restarts": config.pgd_restarts,
        "seed": config.seed,
    }
    cascade = config.cascade_from_eot > 0
    ladder = [
        ("FGSM (study: raw gradient)", "fgsm", {"gradient": "raw"}, False),
        ("FGSM, repaired gradient", "fgsm", {"gradient": "repaired"}, False),
    ]
    if stochastic:
        late = []
        for n in config.eot_samples:
            if n > 1:
                on_survivors = cascade and n >= config.cascade_from_eot
                entry = (
                    f"FGSM, EOT {n}" + (SURVIVORS if on_survivors else ""),
                    "fgsm",
                    {"gradient": "repaired", "eot_samples": n},
                    on_survivors,
                )
                (late if on_survivors else ladder).append(entry)
        ladder.append(
            (
                f"PGD-{config.pgd_steps}, EOT {config.pgd_eot}",
                "pgd",
                {**pgd, "gradient": "repaired", "eot_samples": config.pgd_eot},
                False,
            )
        )
        tail = SURVIVORS if cascade else ""
        late[:0] = [  # the cheaper cascaded rungs first: the costly EOT ones then see fewer images
            (
                f"PGD-{config.pgd_steps}, noise off{tail}",
                "pgd",
                {**pgd, "gradient": "repaired", "noise": "off"},
                cascade,
            ),
            (
                f"PGD-{config.pgd_steps}, noise fixed{tail}",
                "pgd",
                {**pgd, "gradient": "repaired", "noise": "seeded"},
                cascade,
            ),
        ]
        ladder += [e for e in late if not e[3]] + [e for e in late if e[3]]
    else:
        ladder.append((f"PGD-{config.pgd_steps}", "pgd", {**pgd, "gradient": "repaired"}, False))
    return ladder


def strongest_options(
    config: AuditConfig, stochastic: bool, steps: int | None = None, eps: float = 0.35
) -> dict:
    steps = steps or config.pgd_steps
    opts = {
        "steps": steps,
        "step_size": pgd_step(config, eps, steps),
        "restarts": 1,
        "gradient": "repaired",
        "seed": config.seed,
    }
    if stochastic:
        opts["eot_samples"] = config.pgd_eot
    return opts


@dataclass
class ModelAudit:
    name: str
    stochastic: bool
    clean: float  # %
    attacks: list[dict] = field(default_factory=list)  # rows of every attack at every eps
    worst_case: dict[str, float] = field(default_factory=dict)  # eps → robust accuracy %
    study_fgsm: dict[str, float] = field(default_factory=dict)  # eps → % under the study's FGSM
    curves: dict[str, list[dict]] = field(default_factory=dict)  # "study"/"strongest" → points
    checks: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def masking_suspected(self) -> bool:
        return any(not c["passed"] for c in self.checks)


def _check(name: str, passed: bool, sentence: str) -> dict:
    return {"check": name, "passed": bool(passed), "sentence": sentence}


FALLS_WITH_EPS = "accuracy falls as eps grows"


def falls_with_eps_check(curve: list[dict], images: int) -> dict:
    """Accuracy should not rise with eps; a rise (gradient masking's symptom) fails only beyond
    the sampling noise of its two points: 2.5 binomial standard deviations of their difference,
    each point scored on ``images`` × its repeats, and at least 1 point. Every curve point is
    random, noisy model or not: PGD starts from a random point in the eps-ball."""
    worst, worst_margin = None, -math.inf
    for a, b in zip(curve, curve[1:], strict=False):
        rise = b["accuracy"] - a["accuracy"]
        variance = sum(
            (p["accuracy"] / 100) * (1 - p["accuracy"] / 100) / (images * p.get("repeats", 1))
            for p in (a, b)
        )
        allowed = max(1.0, 100 * 2.5 * math.sqrt(variance))
        if rise - allowed > worst_margin:
            worst, worst_margin = (a["eps"], b["eps"], rise, allowed), rise - allowed
    if worst is None:
        return _check(FALLS_WITH_EPS, True, "The curve has fewer than two points.")
    low, high, rise, allowed = worst
    return _check(
        FALLS_WITH_EPS,
        worst_margin <= 0,
        f"The rise closest to failing along the strongest attack's curve: {rise:+.1f} points "
        f"where sampling noise allows {allowed:.1f} (eps {low:.3f} → {high:.3f}).",
    )


def refresh_derived_checks(report: dict) -> dict:
    """Re-derive, from the stored curves, the checks that need nothing else, so a report saved
    before a check was refined reads as this code would score it. Other checks stay as run."""
    images = report["config"]["curve_limit"]
    for model in report["models"].values():
        if not model.get("curves") or "checks" not in model:
            continue
        fresh = falls_with_eps_check(model["curves"]["strongest"], images)
        model["checks"] = [fresh if c["check"] == FALLS_WITH_EPS else c for c in model["checks"]]
    return report


def audit_model(
    name: str,
    load: ModelLoader,
    data: MNISTData,
    config: AuditConfig | None = None,
    on_progress: Progress | None = None,
) -> ModelAudit:
    """Run the whole ladder, the curves and the sanity checks on one model."""
    config = config or AuditConfig()
    progress = on_progress or (lambda *_: None)
    start = time.perf_counter()
    model = load(name)
    stochastic = is_stochastic(model)
    test = data.subset(config.limit)
    source_name = twin_of(name) or TRANSFER_SOURCE.get(name)
    torch.manual_seed(config.seed)
    clean = accuracy(model, test)
    result = ModelAudit(name, stochastic, 100 * clean)
    source = load(source_name) if source_name else None
    steps_total = len(config.eps) * (
        len(attack_ladder(model, config, stochastic)) + (source is not None)
    )
    done = 0
    by_eps: dict[float, list[AttackOutcome]] = {}

    def attack_with(
        outcomes: list, eps: float, label: str, attack: str, options: dict, cascaded: bool, **extra
    ) -> None:
        nonlocal done
        alive = torch.stack([o.correct for o in outcomes]).all(0) if cascaded and outcomes else None
        torch.manual_seed(config.seed)
        outcomes.append(
            run_attack(
                model,
                test,
                attack,
                eps,
                options,
                name=label,
                batch_size=config.batch_size,
                alive=alive,
                **extra,
            )
        )
        done += 1
        progress(f"audit {name}", done, steps_total)

    for eps in config.eps:
        outcomes: list[AttackOutcome] = []
        ladder = attack_ladder(model, config, stochastic, eps)
        for label, attack, options, cascaded in ladder:
            if not cascaded:
                attack_with(
                    outcomes,
                    eps,
                    label,
                    attack,
                    options,
                    False,
                    crafted_by=name if attack == "pgd" else None,
                )
        if source is not None:
            src_opts = strongest_options(config, is_stochastic(source), eps=eps)
            attack_with(
                outcomes,
                eps,
                f"transfer from {source_name}",
                "pgd",
                src_opts,
                False,
                source=source,
                crafted_by=source_name,
            )
        for label, attack, options, cascaded in ladder:
            if cascaded:
                attack_with(outcomes, eps, label, attack, options, True)
        by_eps[eps] = outcomes
        result.attacks += [o.row() for o in outcomes]
        worst = torch.stack([o.correct for o in outcomes]).all(0)
        result.worst_case[str(eps)] = 100 * float(worst.float().mean())
        result.study_fgsm[str(eps)] = 100 * outcomes[0].accuracy

    result.curves = accuracy_curves(
        model,
        data.subset(config.curve_limit),
        config,
        stochastic,
        lambda d, t: progress(f"curves {name}", d, t),
    )
    result.checks = sanity_checks(
        model,
        data.subset(max(config.limit, config.curve_limit)),
        config,
        stochastic,
        result,
        by_eps,
    )
    result.seconds = time.perf_counter() - start
    return result


def accuracy_curves(
    model: nn.Module, data: MNISTData, config: AuditConfig, stochastic: bool, progress: Progress
) -> dict[str, list[dict]]:
    """Accuracy (%) vs eps under the study's FGSM and the strongest attack; for noisy models
    ``curve_repeats`` evaluations give mean ± std; every point has a 95% Wilson interval."""
    repeats = config.curve_repeats if stochastic else 1
    curves: dict[str, list[dict]] = {"study": [], "strongest": []}
    total = 2 * len(config.curve_eps) * repeats
    done = 0
    for key, attack, options in (
        ("study", "fgsm", {"gradient": "raw"}),
        ("strongest", "pgd", None),
    ):
        for eps in config.curve_eps:
            accs, correct_sum = [], 0
            for r in range(repeats):
                torch.manual_seed(config.seed + r)
                opts = (
                    options
                    if options is not None
                    else {
                        **strongest_options(config, stochastic, config.curve_pgd_steps, eps=eps),
                        "seed": config.seed + r,
                    }
                )
                out = run_attack(
                    model, data, attack, eps, opts, name=key, batch_size=config.batch_size
                )
                accs.append(100 * out.accuracy)
                correct_sum += int(out.correct.sum())
                done += 1
                progress(done, total)
            mean = sum(accs) / len(accs)
            std = (
                (sum((a - mean) ** 2 for a in accs) / (len(accs) - 1)) ** 0.5
                if len(accs) > 1
                else 0.0
            )
            lo, hi = wilson_interval(correct_sum, len(data) * repeats)
            curves[key].append(
                {
                    "eps": eps,
                    "accuracy": mean,
                    "std": std,
                    "low": 100 * lo,
                    "high": 100 * hi,
                    "repeats": repeats,
                }
            )
    return curves


def sanity_checks(
    model: nn.Module,
    data: MNISTData,
    config: AuditConfig,
    stochastic: bool,
    result: ModelAudit,
    by_eps: dict[float, list[AttackOutcome]],
) -> list[dict]:
    """Pass/fail, a sentence each; a failure flags possible gradient masking."""
    checks = []
    n = len(data)
    # Sampling noise of an accuracy on n images (noisy models differ between evaluations).
    slack = 100 * 2.5 * math.sqrt(0.25 / n) if stochastic else 0.0
    strongest = result.curves["strongest"]
    at0 = next((p for p in strongest if p["eps"] == 0.0), None)
    if at0 is not None:
        torch.manual_seed(config.seed)
        clean = 100 * accuracy(model, data.subset(config.curve_limit))  # the curve's images
        ok = abs(at0["accuracy"] - clean) <= slack + 1e-6
        checks.append(
            _check(
                "eps 0 equals clean",
                ok,
                f"At eps 0 the attack gives {at0['accuracy']:.1f}% vs clean {clean:.1f}%.",
            )
        )
    checks.append(falls_with_eps_check(strongest, config.curve_limit))
    for eps, all_outcomes in by_eps.items():
        # Cascaded rows hold what is left after every earlier rung: not an attack on its own.
        outcomes = [o for o in all_outcomes if not o.name.endswith(SURVIVORS)]
        fgsm_best = min(o.accuracy for o in outcomes if o.name.startswith("FGSM"))
        pgd_best = min(o.accuracy for o in outcomes if o.name.startswith("PGD"))
        ok = 100 * (pgd_best - fgsm_best) <= max(1.0, slack)
        checks.append(
            _check(
                f"iterative ≤ single-step (eps {eps})",
                ok,
                f"Best PGD {100 * pgd_best:.1f}% vs best FGSM {100 * fgsm_best:.1f}%.",
            )
        )
        transfer = [o for o in outcomes if o.name.startswith("transfer")]
        if transfer:
            white = min(o.accuracy for o in outcomes if not o.name.startswith("transfer"))
            ok = 100 * (white - transfer[0].accuracy) <= max(1.0, slack)
            checks.append(
                _check(
                    f"white-box ≤ transfer (eps {eps})",
                    ok,
                    f"Best white-box {100 * white:.1f}% vs transfer {100 * transfer[0].accuracy:.1f}%.",
                )
            )
        study = outcomes[0]
        if study.health.attack_stalled:
            checks.append(
                _check(
                    f"study's FGSM moves the images (eps {eps})",
                    False,
                    f"The study's FGSM moved {study.health.moved_fraction:.0%} of images "
                    f"({study.health.nonfinite_fraction:.0%} of gradient entries NaN/inf): its "
                    "accuracy is clean accuracy, not robustness.",
                )
            )
    at_half = next((p for p in strongest if p["eps"] == 0.5), None)
    if at_half is not None:
        ok = at_half["accuracy"] <= 20.0
        checks.append(
            _check(
                "near chance at eps 0.5",
                ok,
                f"The strongest attack at eps 0.5 leaves {at_half['accuracy']:.1f}% (chance: 10%).",
            )
        )
    checks.append(doubling_check(model, data.subset(config.doubling_limit), config, stochastic))
    return checks


def doubling_check(
    model: nn.Module, data: MNISTData, config: AuditConfig, stochastic: bool
) -> dict:
    """Doubling PGD steps (and EOT samples, for noisy models) should change accuracy < 1 point."""
    eps = config.eps[0]
    base = strongest_options(config, stochastic, eps=eps)
    doubled = strongest_options(config, stochastic, 2 * base["steps"], eps=eps)
    if stochastic:
        doubled["eot_samples"] = 2 * base["eot_samples"]
    torch.manual_seed(config.seed)
    a = run_attack(model, data, "pgd", eps, base, name="base", batch_size=config.batch_size)
    torch.manual_seed(config.seed)
    b = run_attack(model, data, "pgd", eps, doubled, name="doubled", batch_size=config.batch_size)
    change = 100 * (a.accuracy - b.accuracy)
    what = "PGD steps and EOT samples" if stochastic else "PGD steps"
    return _check(
        "doubling the attack's effort changes < 1 point",
        abs(change) < 1.0,
        f"Doubling {what} at eps {eps} moved accuracy by {change:+.1f} points "
        f"({100 * a.accuracy:.1f}% → {100 * b.accuracy:.1f}%, {len(data)} images).",
    )


def audit_to_dict(audits: list[ModelAudit], config: AuditConfig) -> dict:
    return {
        "config": asdict(config),
        "models": {a.name: {**asdict(a), "masking_suspected": a.masking_suspected} for a in audits},
    }


def merge_reports(earlier: dict, report: dict) -> dict:
    """``report``'s models added to (or replacing theirs in) ``earlier``'s, in registry order.

    Only reports made with the same settings merge: one table must compare like with like."""
    from .models import list_models

    if json.loads(json.dumps(earlier.get("config"))) != json.loads(json.dumps(report["config"])):
        raise ValueError(
            "the saved audit used different settings; rerun it all, or write elsewhere (--out)"
        )
    models = {**earlier.get("models", {}), **report["models"]}
    order = {name: i for i, name in enumerate(list_models())}
    ordered = dict(sorted(models.items(), key=lambda kv: order.get(kv[0], len(order))))
    return {"config": report["config"], "models": ordered}


def locked(directory):
    """Exclusive lock on ``directory`` (created if needed): parallel audits merge in turn."""
    from .checkpoints import directory_lock

    return directory_lock(directory, ".audit.lock")


# --- reports -----------------------------------------------------------------------------------
def headline_markdown(report: dict) -> str:
    """The headline table: clean, the study's FGSM and worst-case robust accuracy per eps."""
    models = report["models"]
    eps_values = report["config"]["eps"]
    n = report["config"]["limit"]
    head = (
        ["model", "clean"]
        + [f"study FGSM {e}" for e in eps_values]
        + [f"worst case {e}" for e in eps_values]
    )
    head += [f"study FGSM {eps_values[0]}: NaN/inf gradient, images moved"]
    lines = [
        f"Accuracy (%) on the same {n:,} test images; worst case = an image counts as correct only if "
        "it survives every attack of the ladder.",
        "",
        budget_sentence(report["config"]),
        "",
        "| " + " | ".join(head + ["sanity checks"]) + " |",
        "| --- | " + " | ".join(["---:"] * (len(head) - 1)) + " | --- |",
    ]
    from .models import model_label

    for name, m in models.items():
        failed = [c["check"] for c in m["checks"] if not c["passed"]]
        verdict = "all pass" if not failed else "FAIL: " + "; ".join(failed)
        cells = [model_label(name), f"{m['clean']:.1f}"]
        cells += [f"{m['study_fgsm'][str(e)]:.1f}" for e in eps_values]
        cells += [f"**{m['worst_case'][str(e)]:.1f}**" for e in eps_values]
        study = next((r for r in m["attacks"] if r["eps"] == eps_values[0]), None)
        cells.append(
            f"{100 * study['nonfinite_gradient_fraction']:.0f}%, {100 * study['moved_fraction']:.0f}%"
            if study
            else "–"
        )
        lines.append("| " + " | ".join(cells + [verdict]) + " |")
    return "\n".join(lines) + "\n"


def budget_sentence(config: dict) -> str:
    """The attack budgets, in words, from a report's config."""
    step = config.get("pgd_step_size")
    step_text = f"step {step}" if step is not None else "step 2.5·eps/steps"
    eot = "/".join(str(n) for n in config["eot_samples"])
    cascade = config.get("cascade_from_eot", 0)
    text = (
        f"Budgets: FGSM with EOT {eot}; PGD-{config['pgd_steps']} ({step_text}, random start, "
        f"{config['pgd_restarts']} restart(s), EOT {config['pgd_eot']} per step on noisy models); "
        f"curves on {config['curve_limit']} images × {config['curve_repeats']} repeats with "
        f"PGD-{config['curve_pgd_steps']}; doubling check on {config['doubling_limit']} images."
    )
    if cascade:
        text += (
            f" Rungs marked 'on survivors' (FGSM EOT ≥ {cascade}, PGD with the noise off or fixed) "
            "attack only the images every earlier rung failed to break, as AutoAttack does: "
            "the worst case is exact, and their rows show what is left after them."
        )
    return text


def ladder_markdown(report: dict) -> str:
    from .models import model_label

    lines = []
    for name, m in report["models"].items():
        lines += [
            f"#### {model_label(name)}",
            "",
            "| attack | eps | accuracy % | 95% CI | NaN/inf grad | zero sign | L∞ | moved |",
            "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
        ]
        for r in m["attacks"]:
            name = r["attack"] + (" ‡" if r.get("crafting_shared") else "")
            if _nothing_attacked(r):
                health = "— | — | — | —"
            else:
                health = (
                    f"{100 * r['nonfinite_gradient_fraction']:.1f}% | {100 * r['zero_sign_fraction']:.1f}% | "
                    f"{r['linf']:.3f} | {100 * r['moved_fraction']:.0f}%"
                )
            lines.append(
                f"| {name} | {r['eps']} | {r['accuracy']:.1f} | {r['ci95'][0]:.1f}–{r['ci95'][1]:.1f} | "
                f"{health} |"
            )
        lines += ["", "Sanity checks:", ""]
        lines += [
            f"- {'PASS' if c['passed'] else 'FAIL'} — {c['check']}: {c['sentence']}"
            for c in m["checks"]
        ]
        lines.append("")
    return "\n".join(lines)


HEALTH_FOOTNOTES = (
    "— : no gradient health for this row: it attacked no image itself (no survivor was left for "
    "a cascaded rung, or its adversarial images were crafted for another row). ‡ : adversarial "
    "images crafted once for another row (same model, eps, settings and seed) and reused here."
)


def _nothing_attacked(row: dict) -> bool:
    """The row attacked no image itself (no survivors left). Reports written before rows carried
    their counts say so by an all-zero health: any attacked image moves or has zero signs."""
    attacked = row.get("images_attacked", -1)
    if attacked >= 0:
        return attacked == 0  # a shared crafting counts its images and carries its health
    keys = ("nonfinite_gradient_fraction", "zero_sign_fraction", "linf", "moved_fraction")
    return row["eps"] > 0 and all(row[k] == 0 for k in keys)


def write_audit(report: dict, out) -> list:
    import csv
    from pathlib import Path

    from .plots import eps_curves_figure, write_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit.json").write_text(json.dumps(report, indent=1))
    (out / "audit.md").write_text(
        "## Headline\n\n"
        + headline_markdown(report)
        + "\n## Every attack\n\n"
        + HEALTH_FOOTNOTES
        + "\n\n"
        + ladder_markdown(report)
    )
    with open(out / "audit.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "model",
                "attack",
                "eps",
                "accuracy",
                "ci95_low",
                "ci95_high",
                "nonfinite_gradient_fraction",
                "zero_sign_fraction",
                "linf",
                "moved_fraction",
                "seconds",
            ]
        )
        for name, m in report["models"].items():
            for r in m["attacks"]:
                w.writerow(
                    [
                        name,
                        r["attack"],
                        r["eps"],
                        round(r["accuracy"], 3),
                        round(r["ci95"][0], 3),
                        round(r["ci95"][1], 3),
                        r["nonfinite_gradient_fraction"],
                        r["zero_sign_fraction"],
                        r["linf"],
                        r["moved_fraction"],
                        r["seconds"],
                    ]
                )
            for key in ("worst_case", "study_fgsm"):
                for eps, acc in m[key].items():
                    w.writerow([name, key, eps, round(acc, 3), "", "", "", "", "", "", ""])
    written = [out / "audit.json", out / "audit.md", out / "audit.csv"]
    curves = {}
    for name, m in report["models"].items():
        curves[f"{name}"] = m["curves"]["strongest"]
    # In the default layout (results/audit/) the results folder already holds plotly.min.js.
    shared_js = out.parent / "plotly.min.js"
    written += write_figure(
        eps_curves_figure(curves, "Accuracy vs eps — strongest attack (95% intervals)"),
        out / "strongest_curves",
        shared_plotly_js=shared_js,
    )
    study = {name: m["curves"]["study"] for name, m in report["models"].items()}
    written += write_figure(
        eps_curves_figure(study, "Accuracy vs eps — the study's FGSM"),
        out / "study_curves",
        shared_plotly_js=shared_js,
    )
    return written
