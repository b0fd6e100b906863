"""Section 4: clean + FGSM 0.35 evaluation of all eight models on the 10k test set."""

from __future__ import annotations

import time

import torch

from benchmarks.common import Report
from vonedemo.evaluation import accuracy, evaluate_attack
from vonedemo.models import STUDY_MODELS, build_model, model_label
from vonedemo.study import STUDY_EPS


def run(report: Report, data, limit: int | None) -> dict:
    subset = data.subset(limit)
    n = len(subset)
    scale = len(data) / n
    report.add(
        "## 4. Evaluating all eight models: clean + FGSM 0.35 on the 10k test set",
        "",
        f"{torch.get_num_threads()} thread(s), library defaults, freshly built models, default noise. "
        "One pass: `evaluate_attack(model, data, 'fgsm', 0.35)` returns both figures — FGSM's "
        "gradient pass is a forward pass on the clean images, and its logits give the clean "
        "accuracy (`AttackEvaluation.clean_accuracy`). For comparison, a separate clean pass "
        "(`accuracy`, batches of 500) is timed too."
        + (
            f" **Quick run: measured on {n} images and multiplied by {scale:g}** (the work is the same "
            "for every batch)."
            if n < len(data)
            else ""
        ),
        "",
    )
    rows, total, total_two = [], 0.0, 0.0
    for name in STUDY_MODELS:
        torch.manual_seed(0)
        model = build_model(name).eval()
        start = time.perf_counter()
        accuracy(model, subset)
        clean = time.perf_counter() - start
        start = time.perf_counter()
        result = evaluate_attack(model, subset, "fgsm", STUDY_EPS)
        attacked = time.perf_counter() - start
        assert result.clean_accuracy is not None
        total += attacked * scale
        total_two += (clean + attacked) * scale
        rows.append([model_label(name), f"**{attacked * scale:.1f}**", f"{clean * scale:.1f}"])
    rows.append(
        [
            "**all eight**",
            f"**{total:.0f} s = {total / 60:.1f} min**",
            f"(two passes: {total_two:.0f} s = {total_two / 60:.1f} min)",
        ]
    )
    report.table(
        ["model", "clean + FGSM 0.35, one pass, s (10k)", "separate clean pass s (10k)"], rows
    )
    return {
        "seconds": total,
        "seconds_two_passes": total_two,
        "extrapolated": n < len(data),
        "threads": torch.get_num_threads(),
    }
