"""Section 3: the Attack explorer's work for one eps change, as the app does it, uncached and
cached."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable

import torch

from benchmarks.common import Report, interleaved
from vonedemo.models import STUDY_MODELS, build_model, model_label
from vonedemo.study import STUDY_EPS


def explorer_work() -> tuple[Callable, Callable, Callable]:
    """The explorer's computations: the first view of a sample, one eps change (clean
    predictions come from the app's per-sample cache: they do not depend on eps), and the
    clean predictions that cache holds."""
    from vonedemo.attack_view import AttackSettings, attack_batch, clean_probabilities

    def first_view(model, images, labels, eps):
        return attack_batch(model, images, labels, AttackSettings(eps=eps))

    def eps_change(model, images, labels, eps, clean):
        return attack_batch(model, images, labels, AttackSettings(eps=eps), clean_probs=clean)

    def clean(model, images):
        return clean_probabilities(model, images, seed=AttackSettings().seed)

    return first_view, eps_change, clean


def run(report: Report, data, repeats: int) -> dict:
    n = 32
    images, labels = data.images[:n].clone(), data.labels[:n].clone()
    first_view, eps_change, clean = explorer_work()
    report.add(
        "## 3. Attack explorer: one eps change, 32 digits",
        "",
        f"{torch.get_num_threads()} thread(s). Uncached eps change: `vonedemo.attack_view.attack_batch` as the app calls it "
        "when the slider moves — FGSM, adversarial predictions and pictures; the clean "
        "predictions come from the app's per-sample cache (`ui.loaders.clean_probs`: they do not "
        "depend on eps). First view: the same plus the clean forward pass (a new sample or "
        "model). A new eps each repeat, so nothing is reused. Cached: the result is already "
        "stored — a dict lookup keyed by (model, attack settings), and, as an upper bound for a "
        "cache that copies (like `st.cache_data`), a pickle round trip.",
        "",
    )
    rows, worst_uncached, worst_cached = [], 0.0, 0.0
    for name in STUDY_MODELS:
        torch.manual_seed(0)
        model = build_model(name).eval()
        before = clean(model, images)
        eps_values = iter([0.05 + 0.3 * i / (2 * repeats + 4) for i in range(2 * repeats + 4)])
        t = interleaved(
            {
                "change": lambda m=model, e=eps_values, c=before: eps_change(
                    m, images, labels, next(e), c
                ),
                "first": lambda m=model, e=eps_values: first_view(m, images, labels, next(e)),
            },
            repeats,
        )
        result = eps_change(model, images, labels, STUDY_EPS, before)
        cache = {(name, "fgsm", STUDY_EPS): result}
        key = (name, "fgsm", STUDY_EPS)
        lookups = 10_000
        start = time.perf_counter()
        for _ in range(lookups):
            cache[key]
        lookup = (time.perf_counter() - start) / lookups
        blob = pickle.dumps(result)
        start = time.perf_counter()
        for _ in range(20):
            pickle.loads(blob)
        unpickle = (time.perf_counter() - start) / 20
        worst_uncached = max(worst_uncached, t["change"])
        worst_cached = max(worst_cached, unpickle)
        rows.append(
            [
                model_label(name),
                f"**{t['change'] * 1e3:.0f}**",
                f"{t['first'] * 1e3:.0f}",
                f"{lookup * 1e9:.0f} ns",
                f"{unpickle * 1e3:.2f}",
            ]
        )
    report.table(
        [
            "model",
            "uncached eps change ms",
            "first view ms",
            "cached: dict lookup",
            "cached: unpickle ms",
        ],
        rows,
    )
    return {
        "uncached_ms": worst_uncached * 1e3,
        "cached_ms": worst_cached * 1e3,
        "threads": torch.get_num_threads(),
    }
