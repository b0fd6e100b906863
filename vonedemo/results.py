"""Reading the results folders: the measured accuracies that ``reproduce`` wrote (or the
checkpoint manifest's), measuring a model the same way on demand, the rows that put the
study's numbers beside ours, and saved audit reports read as numbers a verdict can use."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from .attack_view import seeded_run
from .attacks.base import check_eps
from .audit.checks import STUDY_STALLED
from .data import MNISTData
from .evaluation import evaluate_attack
from .models import STUDY_MODELS, get_spec, list_models, model_label
from .study import STUDY_EPS, study_accuracy

DEFAULT_EPS_VALUES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.35, 0.5)


def _percent(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and 0.0 <= value <= 100.0 else None


def _curve(points) -> list[dict]:
    out = []
    if isinstance(points, list):
        for p in points:
            if isinstance(p, dict):
                acc = _percent(p.get("accuracy"))
                try:
                    eps = check_eps(p.get("eps"))
                except ValueError:
                    continue
                if acc is not None:
                    out.append({"eps": eps, "accuracy": acc})
    return sorted(out, key=lambda p: p["eps"])


def read_measured(
    summary_file: str | Path, manifest: dict | None = None
) -> tuple[dict[str, dict], list[str]]:
    """Measured accuracies (%) per model, from ``results/summary.json`` first, then the
    checkpoint manifest: ({name: {"clean", "fgsm", "test_images", "eps_curve", "source"}},
    notes about anything that could not be read)."""
    measured: dict[str, dict] = {}
    notes: list[str] = []
    path = Path(summary_file)
    if path.is_file():
        try:
            summary = json.loads(path.read_text())
            table = summary["models"]
            if not isinstance(table, dict):
                raise TypeError("'models' is not a table")
        except (OSError, ValueError, KeyError, TypeError) as e:
            notes.append(f"{path}: could not be read ({type(e).__name__}: {e})")
            table = {}
        for name, row in table.items():
            if not isinstance(row, dict):
                continue
            entry = {
                "clean": _percent(row.get("clean")),
                "fgsm": _percent(row.get("fgsm")),
                "test_images": row.get("test_images")
                if isinstance(row.get("test_images"), int)
                else None,
                "eps_curve": _curve(row.get("eps_curve")),
                "source": path.name,
                "health": _health(row.get("fgsm_gradient_health")),
            }
            if entry["clean"] is not None or entry["fgsm"] is not None or entry["eps_curve"]:
                measured[str(name)] = entry
    for name, row in ((manifest or {}).get("models") or {}).items():
        if name in measured or not isinstance(row, dict):
            continue
        clean, fgsm = _percent(row.get("clean_accuracy")), _percent(row.get("fgsm_accuracy"))
        if clean is None and fgsm is None:
            continue
        measured[str(name)] = {
            "clean": clean,
            "fgsm": fgsm,
            "test_images": row.get("test_images")
            if isinstance(row.get("test_images"), int)
            else None,
            "eps_curve": [],
            "source": "checkpoints/manifest.json",
        }
    return measured, notes


def measure_model(
    model: nn.Module,
    data: MNISTData,
    *,
    limit: int,
    eps_values: Sequence[float] = DEFAULT_EPS_VALUES,
    seed: int = 0,
    on_eps: Callable[[int, int], None] | None = None,
) -> dict:
    """Clean and FGSM accuracy (%) along ``eps_values`` (0 and 0.35 always included) on the first
    ``limit`` digits, in the summary.json row format."""
    values = sorted({0.0, STUDY_EPS, *(check_eps(e) for e in eps_values)})
    curve = []
    health = None
    with seeded_run(None, seed):
        for i, eps in enumerate(values):
            result = evaluate_attack(model, data, "fgsm", eps, limit=limit, batch_size=100)
            curve.append({"eps": eps, "accuracy": 100.0 * result.accuracy})
            if eps == STUDY_EPS:
                health = result.health
            if on_eps:
                on_eps(i + 1, len(values))
    by_eps = {p["eps"]: p["accuracy"] for p in curve}
    return {
        "clean": by_eps[0.0],
        "fgsm": by_eps[STUDY_EPS],
        "test_images": len(data.subset(limit)),
        "eps_curve": curve,
        "source": "measured now",
        "health": health.summary() if health is not None else None,
        "health_sentence": health.sentence() if health is not None else "",
    }


def _health(value) -> dict | None:
    """A gradient-health summary with its two fractions in [0, 1], or None."""
    if not isinstance(value, dict):
        return None
    fractions = [value.get(k) for k in ("nonfinite_gradient_fraction", "moved_fraction")]
    if any(_percent(100 * f if isinstance(f, int | float) else f) is None for f in fractions):
        return None
    return value


def audit_worst_case(report: dict | None, eps: float = STUDY_EPS) -> dict[str, float]:
    """{model name: worst-case accuracy (%) at ``eps``} from an audit report."""
    out = {}
    for name, entry in ((report or {}).get("models") or {}).items():
        worst = (entry.get("worst_case") or {}) if isinstance(entry, dict) else {}
        value = _percent(worst.get(str(eps)))
        if value is not None:
            out[str(name)] = value
    return out


def comparison_rows(
    measured: dict[str, dict],
    names: Sequence[str] = STUDY_MODELS,
    worst_case: dict[str, float] | None = None,
) -> list[dict]:
    """One row per study model: the study's numbers beside ours (all %; None if unknown), the
    gradient health of our FGSM (NaN share of its gradient, share of images it moved; None if
    not measured) and the audit's worst case at the study's eps."""
    rows = []
    for name in names:
        study = study_accuracy(name) or {}
        ours = measured.get(name) or {}
        health = ours.get("health") or {}
        rows.append(
            {
                "model": name,
                "label": model_label(name),
                "study_clean": study.get("clean"),
                "study_fgsm": study.get("adversarial"),
                "clean": ours.get("clean"),
                "fgsm": ours.get("fgsm"),
                "fgsm_nan": health.get("nonfinite_gradient_fraction"),
                "fgsm_moved": health.get("moved_fraction"),
                "worst_case": (worst_case or {}).get(name),
                "test_images": ours.get("test_images"),
                "source": ours.get("source", ""),
            }
        )
    return rows


def comparison_names(measured: dict[str, dict]) -> list[str]:
    """The study's eight, then any other registered model a results file measured (e.g. the
    references); unknown names are left out."""
    extra = [n for n in measured if n not in STUDY_MODELS and n in list_models()]
    return [*STUDY_MODELS, *extra]


def eps_curves(measured: dict[str, dict], names: Sequence[str]) -> dict[str, list[dict]]:
    """{model label: accuracy-against-eps points} of the ``names`` that have a curve."""
    return {
        model_label(name): measured[name]["eps_curve"]
        for name in names
        if name in measured and measured[name].get("eps_curve")
    }


def committed_finetune(summary_file: str | Path, name: str) -> dict | None:
    """The fine-tuning curves ``reproduce`` committed for ``name`` — {"clean", "adversarial"
    (% per round, round 0 first), "train_images", "test_images", "rounds", "gradient",
    "train_moved", "test_nan" (per round, None where not recorded), "source"} — or None."""
    path = Path(summary_file)
    try:
        summary = json.loads(path.read_text())
        row, config = summary["models"][name]["finetune"], summary["config"]
        clean = [float(v) for v in row["clean"]]
        adversarial = [float(v) for v in row["adversarial"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not clean or len(clean) != len(adversarial):
        return None

    def per_round(key: str) -> list[float | None]:
        values = row.get(key) if isinstance(row.get(key), list) else []
        values = [float(v) if isinstance(v, (int, float)) else None for v in values]
        return values if len(values) == len(clean) else [None] * len(clean)

    return {
        "clean": clean,
        "adversarial": adversarial,
        "train_images": config.get("finetune_train_limit"),
        "test_images": config.get("finetune_eval_limit"),
        "rounds": len(clean) - 1,
        "gradient": config.get("finetune_gradient", "raw"),
        "train_moved": per_round("train_moved"),
        "test_nan": per_round("test_nan"),
        "source": path.as_posix(),
    }


# --- audit reports -----------------------------------------------------------------------------
def read_audit_report(path: str | Path) -> tuple[dict | None, list[str]]:
    """(the audit report saved at ``path`` — None when there is none —, notes about a file that
    could not be read). A quick audit run in the app is never merged in: its sample differs."""
    path = Path(path)
    report, notes = None, []
    if path.is_file():
        try:
            report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            notes.append(f"Could not read {path}: {e}")
    return report, notes


# The names the audit's checks carry (``vonedemo.audit.checks``), an eps suffix aside.
STUDY_STALLED_CHECK = STUDY_STALLED
DOUBLING_CHECK = "doubling the attack's effort changes < 1 point"
_EPS_SUFFIX = re.compile(r"^(?P<key>.*?) \(eps (?P<eps>[0-9.]+)\)$")
# The doubling check's sentence: "... moved accuracy by +X points (A% → B%, N images)."
_DOUBLING_FIGURES = re.compile(
    r"by (?P<change>[+-]?[0-9.]+) points \((?P<before>[0-9.]+)% → (?P<after>[0-9.]+)%, "
    r"(?P<images>[0-9,]+) images\)"
)


def check_key(name: str) -> tuple[str, float | None]:
    """(a check's name without its eps suffix, that eps or None): "iterative ≤ single-step
    (eps 0.35)" → ("iterative ≤ single-step", 0.35)."""
    match = _EPS_SUFFIX.match(name)
    return (match["key"], float(match["eps"])) if match else (name, None)


@dataclass(frozen=True)
class DoublingFigures:
    """The doubling check's figures: accuracy (%) with the attack's usual and doubled effort."""

    passed: bool
    change: float | None  # before − after: points the doubled effort took off (None: unreadable)
    before: float | None
    after: float | None
    images: int | None


@dataclass(frozen=True)
class AuditFindings:
    """What one model's audit entry says, as numbers (accuracies in %, shares in [0, 1]):
    the basis of the app's verdicts, so no verdict is written by hand."""

    name: str
    label: str
    vone: bool
    clean: float
    eps: tuple[float, ...]  # the headline budgets, the first one the study's
    worst_case: dict[float, float]
    study_fgsm: dict[float, float]
    study_nan: dict[float, float]  # NaN/inf share of the study's FGSM gradient, per eps
    study_moved: dict[float, float]  # share of images the study's FGSM moved, per eps
    study_stalled: bool  # the study's FGSM moved (nearly) nothing at some eps
    doubling: DoublingFigures | None
    failed_checks: tuple[str, ...]  # failed checks other than the stalled study FGSM / doubling

    @property
    def primary_eps(self) -> float:
        return self.eps[0]


def _doubling(check: dict) -> DoublingFigures:
    match = _DOUBLING_FIGURES.search(check.get("sentence", ""))
    if not match:
        return DoublingFigures(bool(check["passed"]), None, None, None, None)
    return DoublingFigures(
        bool(check["passed"]),
        float(match["change"]),
        float(match["before"]),
        float(match["after"]),
        int(match["images"].replace(",", "")),
    )


def audit_findings(report: dict) -> list[AuditFindings]:
    """One :class:`AuditFindings` per audited model of ``report``, in the report's order."""
    eps_values = tuple(float(e) for e in report["config"]["eps"])
    out = []
    for name, m in report["models"].items():
        # The study's FGSM is the first rung at every eps.
        study = {e: next((r for r in m["attacks"] if r["eps"] == e), None) for e in eps_values}
        study = {e: r for e, r in study.items() if r is not None}
        doubling, failed, stalled = None, [], False
        for c in m["checks"]:
            key, _ = check_key(c["check"])
            if key == DOUBLING_CHECK:
                doubling = _doubling(c)
            elif key == STUDY_STALLED_CHECK:
                stalled = stalled or not c["passed"]
            elif not c["passed"]:
                failed.append(c["check"])
        out.append(
            AuditFindings(
                name=name,
                label=model_label(name),
                vone=name in list_models() and get_spec(name).vone,
                clean=float(m["clean"]),
                eps=eps_values,
                worst_case={float(e): float(v) for e, v in m["worst_case"].items()},
                study_fgsm={float(e): float(v) for e, v in m["study_fgsm"].items()},
                study_nan={e: r["nonfinite_gradient_fraction"] for e, r in study.items()},
                study_moved={e: r["moved_fraction"] for e, r in study.items()},
                study_stalled=stalled,
                doubling=doubling,
                failed_checks=tuple(failed),
            )
        )
    return out


def strongest_curves(report: dict) -> dict[str, dict]:
    """{model name: its accuracy-against-eps curve under the strongest attack} of an audit
    report (models without curves are left out)."""
    return {n: m["curves"]["strongest"] for n, m in report["models"].items() if m.get("curves")}
