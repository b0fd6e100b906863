"""The audit's reports, from its report dictionary: the Markdown tables, the CSV, the plots."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..crosscheck import LIBRARY, AutoAttackConfig
from ..files import atomic_write
from ..models import model_label
from ..plots import eps_curves_figure, write_figure
from .checks import STUDY_STALLED

FINDING_NOTE = (
    " This failure is the finding, not a fault of the audit: the study's gradient is NaN, so its "
    "FGSM leaves clean accuracy behind, and the rest of the ladder measures the model instead."
)


def _outcome(check: dict) -> str:
    """PASS, FAIL, or FINDING: the study's FGSM that moves nothing is what the audit set out to
    show, not a sign that the audit went wrong."""
    if check["passed"]:
        return "PASS"
    return "FINDING" if check["check"].startswith(STUDY_STALLED) else "FAIL"


def checks_cell(checks: list[dict]) -> str:
    """A model's sanity checks in a table cell: failures by name, the finding in words."""
    failed = [c["check"] for c in checks if _outcome(c) == "FAIL"]
    found = [
        c["check"].removeprefix(STUDY_STALLED).strip(" ()")
        for c in checks
        if _outcome(c) == "FINDING"
    ]
    cell = "FAIL: " + "; ".join(failed) if failed else "all pass"
    if found:
        cell = (
            ("all others pass" if not failed else cell)
            + f"; the finding: the study's FGSM moved no image ({', '.join(found)}), so its "
            "figure is clean accuracy"
        )
    return cell


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
    for name, m in models.items():
        verdict = checks_cell(m["checks"])
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
        f"PGD-{config['curve_pgd_steps']}"
        + (
            f" (EOT {config['curve_eot']} per step on noisy models: the curves serve the shape "
            "checks)"
            if config.get("curve_eot")
            else ""
        )
        + f"; doubling check on {config['doubling_limit']} images."
    )
    det_steps, det_restarts = (
        config.get("deterministic_pgd_steps"),
        config.get("deterministic_pgd_restarts"),
    )
    if det_steps or det_restarts:
        text += (
            f" Deterministic models: PGD-{det_steps or config['pgd_steps']} with "
            f"{det_restarts or config['pgd_restarts']} restart(s)."
        )
    if config.get("apgd_steps"):
        text += (
            f" Deterministic models also meet our APGD-{config['apgd_steps']} (adaptive step, "
            f"momentum) with the CE and the DLR loss, {config['apgd_restarts']} restart(s) each;"
            f" their doubling check adds APGD-{2 * config['apgd_steps']} (CE) to the whole "
            "ladder at the first eps."
        )
    if config.get("stochastic_pgd_on_survivors"):
        text += " Noisy models: PGD with EOT on the images every cheaper rung left standing."
    if config.get("noisy_curve_limit"):
        text += (
            f" Noisy models' curves: {config['noisy_curve_limit']} images (their repaired "
            "gradient costs about ten forward passes on a CPU)."
        )
    if config.get("doubling_on_survivors"):
        text += (
            " Noisy models' doubling check: the doubled attack on the images the whole ladder "
            "left standing at the first eps."
        )
    if config.get("square_queries"):
        text += (
            f" Gradient-free: the Square attack with {config['square_queries']} queries per image"
            + (
                ", last, on what every other rung left standing."
                if config.get("square_on_survivors")
                else "."
            )
        )
    if config.get("transfer_on_survivors"):
        text += " The transfer attack runs on what every earlier rung left standing."
    if config.get("autoattack"):
        # Reports from before the budget was recorded ran the defaults of that time.
        budget = AutoAttackConfig(**config.get("autoattack_budget", {}))
        text += (
            f" Cross-check: AutoAttack ({LIBRARY}: {budget.describe()}) on deterministic models."
        )
    if cascade:
        text += (
            f" Rungs marked 'on survivors' (FGSM EOT ≥ {cascade}, PGD with the noise off or fixed) "
            "attack only the images every earlier rung failed to break, as AutoAttack does: "
            "the worst case is exact, and their rows show what is left after them."
        )
    return text


def ladder_markdown(report: dict) -> str:
    """Every attack's row and every check's sentence, model by model."""
    lines = []
    for name, m in report["models"].items():
        lines += [
            f"#### {model_label(name)}",
            "",
            "| attack | eps | accuracy % | 95% CI | NaN/inf grad | zero sign | L∞ | moved |",
            "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
        ]
        for r in m["attacks"]:
            label = r["attack"] + (" ‡" if r.get("crafting_shared") else "")
            if nothing_attacked(r):
                health = "— | — | — | —"
            else:
                health = (
                    f"{100 * r['nonfinite_gradient_fraction']:.1f}% | {100 * r['zero_sign_fraction']:.1f}% | "
                    f"{r['linf']:.3f} | {100 * r['moved_fraction']:.0f}%"
                )
            lines.append(
                f"| {label} | {r['eps']} | {r['accuracy']:.1f} | {r['ci95'][0]:.1f}–{r['ci95'][1]:.1f} | "
                f"{health} |"
            )
        lines += ["", "Sanity checks:", ""]
        lines += [
            f"- {_outcome(c)} — {c['check']}: {c['sentence']}"
            + (FINDING_NOTE if _outcome(c) == "FINDING" else "")
            for c in m["checks"]
        ]
        lines.append("")
    return "\n".join(lines)


HEALTH_FOOTNOTES = (
    "— : no gradient health for this row: it attacked no image itself (no survivor was left for "
    "a cascaded rung, or its adversarial images were crafted for another row). ‡ : adversarial "
    "images crafted once for another row (same model, eps, settings and seed) and reused here."
)


def nothing_attacked(row: dict) -> bool:
    """The row attacked no image itself (no survivors left). Reports written before rows carried
    their counts say so by an all-zero health: any attacked image moves or has zero signs."""
    attacked = row.get("images_attacked", -1)
    if attacked >= 0:
        return attacked == 0  # a shared crafting counts its images and carries its health
    keys = ("nonfinite_gradient_fraction", "zero_sign_fraction", "linf", "moved_fraction")
    return row["eps"] > 0 and all(row[k] == 0 for k in keys)


CSV_COLUMNS = (
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
)


def audit_csv(report: dict) -> str:
    """One row per attack and eps, then the worst case and the study's FGSM per eps."""
    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(CSV_COLUMNS)
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
    return text.getvalue()


def write_audit(report: dict, out: str | Path) -> list[Path]:
    """``audit.json``, ``audit.md``, ``audit.csv`` and the two curve plots in ``out``."""
    out = Path(out)
    written = [
        atomic_write(out / "audit.json", json.dumps(report, indent=1)),
        atomic_write(
            out / "audit.md",
            "## Headline\n\n"
            + headline_markdown(report)
            + "\n## Every attack\n\n"
            + HEALTH_FOOTNOTES
            + "\n\n"
            + ladder_markdown(report),
        ),
        atomic_write(out / "audit.csv", audit_csv(report)),
    ]
    strongest = {name: m["curves"]["strongest"] for name, m in report["models"].items()}
    # In the default layout (results/audit/) the results folder already holds plotly.min.js.
    shared_js = out.parent / "plotly.min.js"
    written += write_figure(
        eps_curves_figure(strongest, "Accuracy vs eps — strongest attack (95% intervals)"),
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
