"""The 2021 VOneNet-FGSM study's reported settings and figures (``assets/study_report.json``,
a copy of the report's published numbers), looked up by our registry names."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from .models import model_label

STUDY_EPS = 0.35  # the study's FGSM budget (pixels in [0, 1])

REPORT_PATH = Path(__file__).parent / "assets" / "study_report.json"


@functools.lru_cache(maxsize=1)
def _report() -> dict:
    return json.loads(REPORT_PATH.read_text())


def study_report() -> dict:
    """A fresh copy of the whole report."""
    return json.loads(json.dumps(_report()))


def study_accuracy(name: str) -> dict[str, float] | None:
    """{"clean": %, "adversarial": %} the study reported for a registry name, or None."""
    label = model_label(name)
    for row in _report()["table_baseline"] + _report()["table_vonenet"]:
        if row["model"] == label:
            return {"clean": row["clean"], "adversarial": row["adversarial"]}
    return None


def study_curves(name: str) -> dict[str, list[float]] | None:
    """The study's fine-tuning curves (%, entry 0 = before fine-tuning), or None."""
    curves = _report()["fine_tuning_curves"].get(model_label(name))
    return {k: list(v) for k, v in curves.items()} if curves else None
