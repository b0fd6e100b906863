"""Section 9: the long jobs — this commit against an older one, and the full runs extrapolated.

* **Old commit**: ``benchmarks/step_timer.py`` times a VOne model's training step, its
  repaired-gradient FGSM, the noisy block and the noise draw alone, in a fresh process per
  checkout, the two checkouts alternating (new, old, new, old, ...): a busy machine slows both.
* **reproduce --full**: each model's cost per training image (FGSM from the current weights,
  forward, backward, Adam) and per scored test image (clean + FGSM), measured on a short
  fine-tuning, then multiplied out with the formula printed beside the table.
* **The converged audit**: each model's cost of one PGD gradient evaluation per image
  (EOT-8 for the VOneNets), multiplied by the budgets the science issue asks for.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import ROOT, Report

STEP_KEYS = ("training_step_ms", "repaired_fgsm_ms", "noisy_block_ms", "randn_ms")
STEP_LABELS = {
    "training_step_ms": "VOne-CNN training step (forward, backward, Adam), batch 64",
    "repaired_fgsm_ms": "VOne-CNN FGSM, repaired gradient, batch 64",
    "noisy_block_ms": "noisy VOneBlock forward, batch 64",
    "randn_ms": "torch.randn of 512x28x28 per image (the noise floor)",
}
FULL_ROUNDS, FULL_TRAIN, TABLE_IMAGES, SWEEP_IMAGES, SWEEP_POINTS = 30, 10_000, 10_000, 500, 11
# The converged audit's budgets (the science issue): deterministic models get PGD-100 with 5
# restarts at both eps plus the doubling check (PGD-200, 5 restarts) on all 1,000 images; the
# VOneNets PGD-20 with EOT-8 at both eps (upper bound: every image still standing); everyone
# the Square attack with 1,000 queries (one forward pass each) at both eps.
AUDIT_IMAGES, AUDIT_EPS = 1000, 2
DETERMINISTIC_AUDITED = 9  # 4 baselines, the PGD-trained reference, 4 fine-tuned baselines
VONE_AUDITED = 4


def _step_times(root: Path, threads: int, repeats: int) -> dict:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "step_timer.py"), str(root)]
        + ["--threads", str(threads), "--repeats", str(repeats)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def old_vs_new(report: Report, old: Path, threads: int, rounds: int, repeats: int) -> dict:
    runs: dict[str, list[dict]] = {"new": [], "old": []}
    for _ in range(rounds):
        runs["new"].append(_step_times(ROOT, threads, repeats))
        runs["old"].append(_step_times(old, threads, repeats))
    median = {
        side: {k: statistics.median(r[k] for r in results) for k in STEP_KEYS}
        for side, results in runs.items()
    }
    commit = subprocess.run(
        ["git", "-C", str(old), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    report.add(
        f"## 9{'' if threads != 1 else 'a'}. This commit against `{commit}` (the start of the "
        f"speed issue){'' if threads != 1 else ' — 1 thread'}",
        "",
        f"{threads} thread(s), ms per image, median of {rounds} processes per checkout "
        f"({repeats} timed repeats each), the checkouts alternating; `benchmarks/step_timer.py`.",
        "",
    )
    rows = []
    for key in STEP_KEYS:
        new, was = median["new"][key], median["old"][key]
        rows.append([STEP_LABELS[key], f"{was:.2f}", f"{new:.2f}", f"**{was / new:.2f}x**"])
    report.table(["what", f"`{commit}` ms/img", "now ms/img", "speed-up"], rows)
    floor = median["new"]["noisy_block_ms"] / median["new"]["randn_ms"]
    report.add(
        f"Noisy block forward / noise draw alone: **{floor:.2f}x** "
        f"(`{commit}`: {median['old']['noisy_block_ms'] / median['old']['randn_ms']:.2f}x).",
        "",
    )
    return {"median": median, "commit": commit, "floor_ratio": floor}


DEVICE = None  # where the extrapolations' models compute (benchmarks/run.py --device)


def _per_image_costs(name: str, train_images: int, test_images: int) -> tuple[float, float]:
    """Seconds per fine-tuning image and per scored test image (clean + FGSM) for ``name``."""
    from vonedemo.checkpoints import load_pretrained
    from vonedemo.data import load_mnist
    from vonedemo.training import FinetuneConfig, adversarial_finetune

    model, _ = load_pretrained(name, device=DEVICE)
    config = FinetuneConfig(rounds=1, train_limit=train_images, eval_limit=test_images)
    result = adversarial_finetune(model, load_mnist("train"), load_mnist("test"), config)
    score = result.rounds[0].seconds / test_images
    train = max(result.rounds[1].seconds - result.rounds[0].seconds, 0.0) / train_images
    return train, score


def _model_seconds(train: float, score: float, test_per_round: int) -> float:
    return (
        TABLE_IMAGES * score
        + SWEEP_POINTS * SWEEP_IMAGES * score
        + (FULL_ROUNDS + 1) * test_per_round * score
        + FULL_ROUNDS * FULL_TRAIN * train
    )


def _two_workers(seconds: list[float]) -> float:
    """Makespan of jobs on two workers, longest first to the less loaded one (Ray's order
    differs, this is the plan's bound)."""
    loads = [0.0, 0.0]
    for s in sorted(seconds, reverse=True):
        loads[loads.index(min(loads))] += s
    return max(loads)


def full_run(report: Report, quick: bool) -> dict:
    from vonedemo.models import STUDY_MODELS, model_label

    train_images, test_images = (64, 100) if quick else (256, 400)
    threads = torch.get_num_threads()
    costs: dict[int, dict[str, tuple[float, float]]] = {}
    for n in sorted({threads, 1}, reverse=True):
        torch.set_num_threads(n)
        costs[n] = {m: _per_image_costs(m, train_images, test_images) for m in STUDY_MODELS}
    torch.set_num_threads(threads)
    report.add(
        "## 9b. `reproduce --full`, extrapolated",
        "",
        f"Per-image costs from one fine-tuning round of {train_images} training images scored "
        f"on {test_images} test images (round 0 is scoring alone), per model:",
        "",
        f"`T(model) = {TABLE_IMAGES:,}·s + {SWEEP_POINTS}·{SWEEP_IMAGES}·s + "
        f"{FULL_ROUNDS + 1}·M·s + {FULL_ROUNDS}·{FULL_TRAIN:,}·t` — s: seconds per scored test "
        "image (clean + FGSM), t: seconds per fine-tuning image, M: test images per round; "
        "the table, the eps curves, rounds 0-30. Serially (`--device cpu`, "
        f"{threads} threads) the run takes ΣT; with `--ray` on {threads} cores each model is a "
        "1-thread task and the run takes the two-worker makespan of the 1-thread T's.",
        "",
    )
    rows, totals = [], {}
    for m in STUDY_MODELS:
        t, s = costs[threads][m]
        rows.append(
            [
                model_label(m),
                f"{t * 1e3:.2f}",
                f"{s * 1e3:.2f}",
                f"{_model_seconds(t, s, 2000) / 60:.1f}",
                f"{_model_seconds(t, s, 10_000) / 60:.1f}",
            ]
        )
    report.table(
        [
            "model",
            f"t ms/img ({threads} thr)",
            f"s ms/img ({threads} thr)",
            "T min, M=2,000",
            "T min, M=10,000",
        ],
        rows,
    )
    for m_images in (2000, 10_000):
        serial = sum(_model_seconds(*costs[threads][m], m_images) for m in STUDY_MODELS)
        ray = _two_workers([_model_seconds(*costs[1][m], m_images) for m in STUDY_MODELS])
        totals[m_images] = {"serial_h": serial / 3600, "ray_h": ray / 3600}
    report.table(
        ["test images per round", f"serial, {threads} threads", "--ray, 2 one-thread tasks"],
        [
            [f"{k:,}", f"**{v['serial_h']:.2f} h**", f"**{v['ray_h']:.2f} h**"]
            for k, v in totals.items()
        ],
    )
    return {"totals": totals, "costs": costs}


def _grad_eval_seconds(name: str, eot: int, images: int) -> float:
    """Seconds per image for one PGD gradient evaluation (``eot`` noise samples averaged)."""
    from vonedemo.attacks import create_attack
    from vonedemo.checkpoints import load_pretrained
    from vonedemo.data import load_mnist

    model, _ = load_pretrained(name, device=DEVICE)
    test = load_mnist("test").subset(images)
    steps = 4
    # A tiny eps: no image is broken early, so every step is paid for every image.
    pgd = create_attack("pgd", steps=steps, step_size=1e-4, gradient="repaired", eot_samples=eot)
    x, y = test.images.to(DEVICE or "cpu"), test.labels.to(DEVICE or "cpu")
    pgd(model, x[:8], y[:8], 1e-3)  # warm-up
    start = time.perf_counter()
    pgd(model, x, y, 1e-3)
    return (time.perf_counter() - start) / (images * steps)


def converged_audit(report: Report, quick: bool) -> dict:
    images = 32 if quick else 100
    baseline = max(_grad_eval_seconds(m, 1, images) for m in ("alexnet", "madry-cnn"))
    vone = max(_grad_eval_seconds(m, 8, images) for m in ("vone-alexnet", "vone-basic-cnn"))
    # Square: one forward pass per query; a forward pass costs about a third of a gradient one.
    square_query = {"deterministic": baseline / 3, "vone": vone / 8 / 3}
    det_evals = AUDIT_EPS * 100 * 5 + 200 * 5  # PGD-100 x 5 at two eps, doubling PGD-200 x 5
    vone_evals = AUDIT_EPS * 20  # PGD-20, each evaluation already EOT-8
    square = AUDIT_EPS * 1000
    hours = {
        "deterministic PGD": DETERMINISTIC_AUDITED * AUDIT_IMAGES * det_evals * baseline / 3600,
        "VOneNet PGD-20 EOT-8": VONE_AUDITED * AUDIT_IMAGES * vone_evals * vone / 3600,
        "Square 1,000 queries": (
            DETERMINISTIC_AUDITED * square * square_query["deterministic"]
            + VONE_AUDITED * square * square_query["vone"]
        )
        * AUDIT_IMAGES
        / 3600,
    }
    report.add(
        "## 9c. The converged audit, extrapolated",
        "",
        f"Per image, one PGD gradient evaluation (repaired gradient): slowest deterministic "
        f"model {baseline * 1e3:.2f} ms, slowest VOneNet with EOT-8 {vone * 1e3:.2f} ms "
        f"({torch.get_num_threads()} threads, {images} images at eps 0.1 with steps of 1e-4, "
        "so that few break and nearly every step is paid). Budgets: "
        f"{DETERMINISTIC_AUDITED} deterministic models x {AUDIT_IMAGES:,} images x "
        f"({AUDIT_EPS} eps x PGD-100 x 5 restarts + doubling PGD-200 x 5) = {det_evals:,} "
        f"evaluations per image; {VONE_AUDITED} VOneNets x {AUDIT_IMAGES:,} images (upper bound: "
        f"all left standing) x {AUDIT_EPS} eps x PGD-20 EOT-8; Square with 1,000 queries at "
        f"{AUDIT_EPS} eps on all 13 (a query is one forward pass, taken as a third of a "
        "gradient evaluation). Every image runs every step: PGD stops early on broken images, "
        "so these are upper bounds.",
        "",
    )
    total = sum(hours.values())
    report.table(
        ["part", "hours (serial)"],
        [[k, f"{v:.2f}"] for k, v in hours.items()] + [["**total**", f"**{total:.2f}**"]],
    )
    report.add(
        "The serial figure already uses both cores (2 threads); `--ray` gains by adding "
        "machines: the audit's jobs (one per model) spread over N such machines take about "
        "total / N, bounded below by the slowest model's own time.",
        "",
    )
    return {"hours": hours, "total_h": total}


def run(report: Report, old: Path | None, threads: int, quick: bool, device=None) -> dict:
    global DEVICE
    DEVICE = device
    results: dict = {}
    if old is not None and old.is_dir():
        rounds, repeats = (2, 3) if quick else (3, 5)
        results["old"] = old_vs_new(report, old, threads, rounds, repeats)
        if threads != 1:  # the noise floor is defined at one thread (no parallel streams)
            results["old_1"] = old_vs_new(report, old, 1, rounds, repeats)
    results["full"] = full_run(report, quick)
    results["audit"] = converged_audit(report, quick)
    return results
