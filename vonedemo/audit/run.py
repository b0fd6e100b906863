"""Auditing one model: the whole ladder at every eps, the accuracy-vs-eps curves and the
sanity checks; and the report dictionary that gathers the audited models."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..data import MNISTData, load_mnist
from ..evaluation import accuracy
from ..files import directory_lock
from ..models import is_stochastic, twin_of
from ..ordering import merge_in_registry_order
from ..progress import Progress, ProgressCallback
from .attacking import AttackOutcome, CraftedImages, run_attack, wilson_interval
from .checks import doubling_check, sanity_checks
from .config import (
    DETERMINISTIC_ONLY,
    NOISY_ONLY,
    TRANSFER_SOURCE,
    AuditConfig,
    strongest_options,
)
from .ladder import Rung, build_ladder
from .resume import AuditResume, NoResume, outcome_from_dict, outcome_to_dict, progress_path
from .targets import finetuned_base, target_loader

ModelLoader = Callable[[str], nn.Module]


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


def audit_model(
    name: str,
    load: ModelLoader,
    data: MNISTData,
    config: AuditConfig | None = None,
    on_progress: ProgressCallback | None = None,
    *,
    crafted: CraftedImages | None = None,
    resume: AuditResume | None = None,
) -> ModelAudit:
    """Run the whole ladder, the curves and the sanity checks on one model.

    ``load(name)`` gives a model by registry name (the audited one and its transfer source).
    ``crafted``: the run's store of adversarial images, shared by every model of one audit run
    so that a twin's crafting serves its partner's transfer attack (default: one for this
    model alone). Progress goes to ``on_progress`` as ``"audit NAME"`` (rungs), then
    ``"curves NAME"`` (curve points). ``resume``: where the finished pieces of this model's
    audit are kept (and read back after a killed run); made with this ``config``."""
    config = config or AuditConfig()
    memo = resume if resume is not None else NoResume()
    crafted = crafted if crafted is not None else CraftedImages()
    progress = on_progress or (lambda _: None)
    model = load(name)
    stochastic = is_stochastic(model)
    requested, config = config, config.for_model(stochastic)  # the budget follows the cost
    test = data.subset(config.limit)
    source_name = twin_of(name) or TRANSFER_SOURCE.get(name) or finetuned_base(name)
    torch.manual_seed(config.seed)
    clean = memo.remember("clean", lambda: accuracy(model, test))
    result = ModelAudit(name, stochastic, 100 * clean)
    source = load(source_name) if source_name else None

    def ladder_at(eps: float) -> tuple[Rung, ...]:
        if source is None:
            return build_ladder(config, stochastic, eps)
        noisy_source = is_stochastic(source)
        return build_ladder(
            config,
            stochastic,
            eps,
            source_name,
            noisy_source,
            transfer_config=requested.for_model(noisy_source),
        )

    steps_total = len(config.eps) * len(ladder_at(config.eps[0]))
    done = 0
    by_eps: dict[float, list[tuple[Rung, AttackOutcome]]] = {}
    for eps in config.eps:
        results: list[tuple[Rung, AttackOutcome]] = []
        for rung in ladder_at(eps):
            alive = (
                torch.stack([o.correct for _, o in results]).all(0)
                if rung.on_survivors and results
                else None
            )
            # A standalone PGD crafting may serve a later identical request (a twin's transfer).
            shares = rung.attack == "pgd" and rung.standalone

            def attack(rung=rung, eps=eps, alive=alive, shares=shares) -> AttackOutcome:
                torch.manual_seed(config.seed)
                return run_attack(
                    model,
                    test,
                    rung.attack,
                    eps,
                    rung.options,
                    name=rung.name,
                    batch_size=config.batch_size,
                    source=source if rung.transfer_from is not None else None,
                    alive=alive,
                    crafted_by=(rung.transfer_from or name) if shares else None,
                    crafted=crafted,
                )

            outcome = memo.remember(
                f"rung {eps!r} {rung.name}", attack, outcome_to_dict, outcome_from_dict
            )
            results.append((rung, outcome))
            done += 1
            progress(Progress(f"audit {name}", done, steps_total))
        by_eps[eps] = results
        result.attacks += [o.row() for _, o in results]
        worst = torch.stack([o.correct for _, o in results]).all(0)
        result.worst_case[str(eps)] = 100 * float(worst.float().mean())
        result.study_fgsm[str(eps)] = 100 * next(o for r, o in results if r.study).accuracy

    result.curves = accuracy_curves(
        model,
        data.subset(config.curve_limit),
        config,
        stochastic,
        lambda p: progress(Progress(f"curves {name}", p.done, p.total)),
        memo,
    )
    checked = data.subset(max(config.limit, config.curve_limit))
    first = by_eps[config.eps[0]]
    standing = torch.stack([o.correct for _, o in first]).all(0)[: config.doubling_limit]
    doubling = memo.remember(
        "doubling check",
        lambda: doubling_check(
            model, checked.subset(config.doubling_limit), config, stochastic, standing
        ),
    )
    result.checks = sanity_checks(
        model, checked, config, stochastic, result.curves, by_eps, doubling=doubling
    )
    result.seconds = memo.seconds  # over every piece of a resumed audit
    return result


def audit_job(
    name: str,
    config: AuditConfig,
    device: str | None = None,
    state_dir: str | Path | None = None,
    resume_dir: str | Path | None = None,
) -> ModelAudit:
    """:func:`audit_model` as a self-contained job (a Ray task): it loads the test set and the
    models itself, on ``device`` (fine-tuned baselines from ``state_dir``), and keeps its
    finished pieces in ``resume_dir`` (if given). Every rung seeds the generators, so the
    numbers equal those of a run that audits all models in one process."""
    resume = (
        AuditResume(progress_path(resume_dir, name), name, config)
        if resume_dir is not None
        else None
    )
    return audit_model(
        name, target_loader(state_dir, device), load_mnist("test"), config, resume=resume
    )


def accuracy_curves(
    model: nn.Module,
    data: MNISTData,
    config: AuditConfig,
    stochastic: bool,
    on_progress: ProgressCallback | None = None,
    resume: AuditResume | None = None,
) -> dict[str, list[dict]]:
    """Accuracy (%) vs eps under the study's FGSM and the strongest attack; for noisy models
    ``curve_repeats`` evaluations give mean ± std; every point has a 95% Wilson interval.
    ``resume`` keeps every finished evaluation."""
    progress = on_progress or (lambda _: None)
    memo = resume if resume is not None else NoResume()
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
                opts = (
                    options
                    if options is not None
                    else {
                        **strongest_options(
                            config, stochastic, config.curve_pgd_steps, eps, config.curve_eot
                        ),
                        "seed": config.seed + r,
                    }
                )

                def evaluate(attack=attack, eps=eps, opts=opts, r=r, key=key) -> list[int]:
                    torch.manual_seed(config.seed + r)
                    out = run_attack(
                        model, data, attack, eps, opts, name=key, batch_size=config.batch_size
                    )
                    return [int(out.correct.sum()), len(out.correct)]

                correct, images = memo.remember(f"curve {key} {eps!r} {r}", evaluate)
                accs.append(100 * correct / images if images else 0.0)
                correct_sum += correct
                done += 1
                progress(Progress("curves", done, total))
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
                    "images": len(data),
                }
            )
    return curves


def audit_to_dict(audits: list[ModelAudit], config: AuditConfig) -> dict:
    return {
        "config": asdict(config),
        "models": {a.name: {**asdict(a), "masking_suspected": a.masking_suspected} for a in audits},
    }


def merge_reports(earlier: dict, report: dict) -> dict:
    """``report``'s models added to (or replacing theirs in) ``earlier``'s, in registry order.

    Only reports made with the same settings merge: one table must compare like with like. A
    setting that applies to one kind of model only (noisy or deterministic, see
    :data:`NOISY_ONLY`) may differ where one side holds no model of that kind; the merged
    settings then take it from the side whose models it describes."""
    mine = json.loads(json.dumps(report["config"]))
    theirs = json.loads(json.dumps(earlier.get("config")))
    models = merge_in_registry_order(earlier.get("models", {}), report["models"])
    if not isinstance(theirs, dict):
        raise ValueError(
            "the saved audit has no settings; rerun it all, or write elsewhere (--out)"
        )
    merged = {}
    for key in [*mine, *(k for k in theirs if k not in mine)]:
        kinds = {True} if key in NOISY_ONLY else {False} if key in DETERMINISTIC_ONLY else None
        both = kinds is None or (_holds(earlier, kinds) and _holds(report, kinds))
        if both and mine.get(key) != theirs.get(key):
            raise ValueError(
                f"the saved audit used different settings ({key}: {theirs.get(key)!r} there, "
                f"{mine.get(key)!r} here); rerun it all, or write elsewhere (--out)"
            )
        only_theirs = kinds is not None and _holds(earlier, kinds) and not _holds(report, kinds)
        merged[key] = theirs[key] if only_theirs and key in theirs else mine.get(key)
    return {"config": merged, "models": models}


def _holds(report: dict, kinds: set[bool]) -> bool:
    """Whether ``report`` holds a model of these kinds (noisy: True)."""
    return any(bool(m.get("stochastic")) in kinds for m in report.get("models", {}).values())


def locked(directory: str | Path):
    """Exclusive lock on ``directory`` (created if needed): parallel audits merge in turn."""
    return directory_lock(directory, ".audit.lock")
