"""The sanity checks that flag possible gradient masking, a sentence each."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..data import MNISTData
from ..evaluation import accuracy
from .attacking import AttackOutcome, run_attack
from .config import AuditConfig, strongest_options
from .ladder import Rung, build_ladder

FALLS_WITH_EPS = "accuracy falls as eps grows"
# Fails on a model whose study gradient is NaN: that failure is the finding, not a fault.
STUDY_STALLED = "study's FGSM moves the images"

RungResults = Sequence[tuple[Rung, AttackOutcome]]  # one eps's rungs with their outcomes


def check(name: str, passed: bool, sentence: str) -> dict:
    return {"check": name, "passed": bool(passed), "sentence": sentence}


def falls_with_eps_check(curve: list[dict], images: int) -> dict:
    """Accuracy should not rise with eps; a rise (gradient masking's symptom) fails only beyond
    the sampling noise of its two points: 2.5 binomial standard deviations of their difference,
    each point scored on ``images`` × its repeats, and at least 1 point. Every curve point is
    random, noisy model or not: PGD starts from a random point in the eps-ball."""
    worst, worst_margin = None, -math.inf
    for a, b in zip(curve, curve[1:], strict=False):
        rise = b["accuracy"] - a["accuracy"]
        variance = sum(
            (p["accuracy"] / 100)
            * (1 - p["accuracy"] / 100)
            / (p.get("images", images) * p.get("repeats", 1))
            for p in (a, b)
        )
        allowed = max(1.0, 100 * 2.5 * math.sqrt(variance))
        if rise - allowed > worst_margin:
            worst, worst_margin = (a["eps"], b["eps"], rise, allowed), rise - allowed
    if worst is None:
        return check(FALLS_WITH_EPS, True, "The curve has fewer than two points.")
    low, high, rise, allowed = worst
    return check(
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
        fresh = falls_with_eps_check(model["curves"]["strongest"], images)  # per point if saved
        model["checks"] = [fresh if c["check"] == FALLS_WITH_EPS else c for c in model["checks"]]
    return report


def cascade_check(rung: Rung, outcome: AttackOutcome, eps: float, slack: float) -> dict:
    """A gradient-free or transfer rung that ran last, on the images every other rung left
    standing: if it breaks more of them than sampling noise allows (at least 1 point of all the
    images), it found what the gradient missed, and the gradient is suspect."""
    kind = "gradient-free" if rung.gradient_free else "transfer"
    standing = max(outcome.attacked, 0)
    broken = standing - int(outcome.correct.sum())
    share = 100 * broken / max(len(outcome.correct), 1)
    return check(
        f"white-box ≤ {kind} (eps {eps})",
        share <= max(1.0, slack),
        f"Of the {standing} images every earlier attack left standing, the {kind} attack broke "
        f"{broken} ({share:.1f} points of all images): "
        + (
            "it found what the gradient missed, so the gradient is masked."
            if share > max(1.0, slack)
            else "nothing the gradient attacks had missed."
        ),
    )


def sanity_checks(
    model: nn.Module,
    data: MNISTData,
    config: AuditConfig,
    stochastic: bool,
    curves: dict[str, list[dict]],
    by_eps: dict[float, RungResults],
    *,
    doubling: dict | None = None,
) -> list[dict]:
    """Pass/fail, a sentence each; a failure flags possible gradient masking. ``doubling``: the
    doubling check's result when it ran already (else it runs here)."""
    checks = []
    n = len(data)
    # Sampling noise of an accuracy on n images (noisy models differ between evaluations).
    slack = 100 * 2.5 * math.sqrt(0.25 / n) if stochastic else 0.0
    strongest = curves["strongest"]
    at0 = next((p for p in strongest if p["eps"] == 0.0), None)
    if at0 is not None:
        torch.manual_seed(config.seed)
        clean = 100 * accuracy(model, data.subset(config.curve_limit))  # the curve's images
        ok = abs(at0["accuracy"] - clean) <= slack + 1e-6
        checks.append(
            check(
                "eps 0 equals clean",
                ok,
                f"At eps 0 the attack gives {at0['accuracy']:.1f}% vs clean {clean:.1f}%.",
            )
        )
    checks.append(falls_with_eps_check(strongest, config.curve_limit))
    for eps, results in by_eps.items():
        # Cascaded rows hold what is left after every earlier rung: not an attack on its own.
        standalone = [(rung, o) for rung, o in results if rung.standalone]
        white_box = [(rung, o) for rung, o in standalone if rung.white_box]
        fgsm_best = min(o.accuracy for rung, o in white_box if rung.attack == "fgsm")
        pgd_all = [o.accuracy for rung, o in white_box if rung.attack == "pgd"]
        if pgd_all:  # every PGD rung may run on survivors only
            pgd_best = min(pgd_all)
            ok = 100 * (pgd_best - fgsm_best) <= max(1.0, slack)
            checks.append(
                check(
                    f"iterative ≤ single-step (eps {eps})",
                    ok,
                    f"Best PGD {100 * pgd_best:.1f}% vs best FGSM {100 * fgsm_best:.1f}%.",
                )
            )
        gradient_free = [o for rung, o in standalone if rung.gradient_free]
        if gradient_free:
            white = min(o.accuracy for _, o in white_box)
            ok = 100 * (white - gradient_free[0].accuracy) <= max(1.0, slack)
            checks.append(
                check(
                    f"white-box ≤ gradient-free (eps {eps})",
                    ok,
                    f"Best white-box {100 * white:.1f}% vs gradient-free "
                    f"{100 * gradient_free[0].accuracy:.1f}%: a black-box attack that does better "
                    "than the gradient means the gradient is masked.",
                )
            )
        transfer = [o for rung, o in standalone if rung.transfer_from is not None]
        if transfer:
            white = min(o.accuracy for _, o in white_box)
            ok = 100 * (white - transfer[0].accuracy) <= max(1.0, slack)
            checks.append(
                check(
                    f"white-box ≤ transfer (eps {eps})",
                    ok,
                    f"Best white-box {100 * white:.1f}% vs transfer {100 * transfer[0].accuracy:.1f}%.",
                )
            )
        for rung, o in results:
            if rung.on_survivors and (rung.gradient_free or rung.transfer_from is not None):
                checks.append(cascade_check(rung, o, eps, slack))
        reference = [o for rung, o in standalone if rung.cross_check]
        if reference:
            # AutoAttack is an ensemble, counted per image: so are ours, to compare like
            # with like.
            best = min(o.accuracy for _, o in white_box)
            ours = float(torch.stack([o.correct for _, o in white_box]).all(0).float().mean())
            gap = 100 * (ours - reference[0].accuracy)
            checks.append(
                check(
                    f"our attacks ≈ AutoAttack (eps {eps})",
                    gap <= max(1.0, slack),
                    f"Our white-box attacks together leave {100 * ours:.1f}% (the best alone "
                    f"{100 * best:.1f}%), AutoAttack {100 * reference[0].accuracy:.1f}%: "
                    + (
                        f"AutoAttack breaks {gap:.1f} points more, so ours have not converged."
                        if gap > max(1.0, slack)
                        else "ours find as much as the field's standard."
                    ),
                )
            )
        study = next(o for rung, o in results if rung.study)
        if study.health.attack_stalled:
            checks.append(
                check(
                    f"{STUDY_STALLED} (eps {eps})",
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
            check(
                "near chance at eps 0.5",
                ok,
                f"The strongest attack at eps 0.5 leaves {at_half['accuracy']:.1f}% (chance: 10%).",
            )
        )
    if doubling is None:
        doubling = doubling_check(model, data.subset(config.doubling_limit), config, stochastic)
    checks.append(doubling)
    return checks


def doubling_check(
    model: nn.Module,
    data: MNISTData,
    config: AuditConfig,
    stochastic: bool,
    standing: torch.Tensor | None = None,
) -> dict:
    """Doubling PGD steps (and EOT samples, for noisy models) should change accuracy < 1 point;
    a deterministic model with APGD on its ladder doubles APGD-CE's steps instead.

    With ``doubling_on_survivors`` a noisy model's doubled attack runs only on the images left
    standing — ``standing`` (bool per image of ``data``: what the whole ladder left at the
    first eps), else what the base attack left — and the change is what it still breaks."""
    eps = config.eps[0]
    if not stochastic and config.apgd_steps:
        return _apgd_doubling_check(model, data, config, eps, standing)
    base = strongest_options(config, stochastic, eps=eps)
    doubled = strongest_options(config, stochastic, 2 * base["steps"], eps=eps)
    if stochastic:
        doubled["eot_samples"] = 2 * base["eot_samples"]
    cascade = stochastic and config.doubling_on_survivors
    ladder = cascade and standing is not None and len(standing) == len(data)
    torch.manual_seed(config.seed)
    if ladder:
        before = 100 * float(standing.float().mean())
    else:
        a = run_attack(model, data, "pgd", eps, base, name="base", batch_size=config.batch_size)
        standing, before = a.correct, 100 * a.accuracy
    torch.manual_seed(config.seed)
    b = run_attack(
        model,
        data,
        "pgd",
        eps,
        doubled,
        name="doubled",
        batch_size=config.batch_size,
        alive=standing if cascade else None,
    )
    change = before - 100 * b.accuracy
    what = "PGD steps and EOT samples" if stochastic else "PGD steps"
    left = "whole ladder" if ladder else "base attack"
    how = (
        f", the doubled attack on the {int(standing.sum())} images the {left} left"
        if cascade
        else ""
    )
    return check(
        "doubling the attack's effort changes < 1 point",
        abs(change) < 1.0,
        f"Doubling {what} at eps {eps} moved accuracy by {change:+.1f} points "
        f"({before:.1f}% → {100 * b.accuracy:.1f}%, {len(data)} images{how}).",
    )


def _apgd_doubling_check(
    model: nn.Module,
    data: MNISTData,
    config: AuditConfig,
    eps: float,
    standing: torch.Tensor | None,
) -> dict:
    """A deterministic model whose ladder has APGD: double the steps of its APGD-CE, restarts
    kept (fixed-step PGD converges too slowly on a robust model to say anything about the
    attacks that set the worst case), and ask how much lower the headline goes with it added:
    ``standing`` is what the whole ladder left (else what APGD-CE alone left)."""
    steps, restarts = config.apgd_steps, config.apgd_restarts
    # The ladder's own APGD-CE rung, so the doubled attack differs from it in steps only.
    rungs = build_ladder(config, False, eps)
    options = next(r.options for r in rungs if r.attack == "apgd" and r.options["loss"] == "ce")

    def apgd(budget: int) -> AttackOutcome:
        torch.manual_seed(config.seed)
        return run_attack(
            model,
            data,
            "apgd",
            eps,
            {**options, "steps": budget},
            name=f"APGD-{budget} (CE)",
            batch_size=config.batch_size,
        )

    ladder = standing is not None and len(standing) == len(data)
    if not ladder:
        standing = apgd(steps).correct
    doubled = apgd(2 * steps)  # on every image: its accuracy alone is reported too
    before = 100 * float(standing.float().mean())
    after = 100 * float((standing & doubled.correct).float().mean())
    left = "the whole ladder" if ladder else f"APGD-CE-{steps}"
    return check(
        "doubling the attack's effort changes < 1 point",
        before - after < 1.0,
        f"Doubling APGD-CE's steps ({steps} → {2 * steps}, {restarts} restart(s) each) at eps "
        f"{eps} moved accuracy by {before - after:+.1f} points ({before:.1f}% → {after:.1f}%, "
        f"{len(data)} images): what {left} left, then what it and APGD-CE-{2 * steps} left. "
        f"APGD-CE-{2 * steps} alone leaves {100 * doubled.accuracy:.1f}%.",
    )
