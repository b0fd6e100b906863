"""scripts/init_experiment.py: the variants it compares, on a few hundred images."""

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import init_experiment  # noqa: E402

from vonedemo.models import build_model, classifier_head  # noqa: E402


def _head(name: str, variant: str) -> torch.Tensor:
    torch.manual_seed(0)
    model = build_model(name)
    init_experiment.apply_variant(model, variant)
    return classifier_head(model).weight


def test_variants_rescale_the_same_he_draw():
    he, current = _head("vone-mlp", "he"), _head("vone-mlp", "current")
    torch.testing.assert_close(current * 25.0, he)  # the model's own init: He / k_exc
    torch.testing.assert_close(_head("vone-mlp", "head/5"), he / 5)
    assert not _head("vone-mlp", "head-zero").any()
    torch.testing.assert_close(
        _head("basic-cnn", "he"), _head("basic-cnn", "current")
    )  # baselines: plain He
    with pytest.raises(ValueError, match="head/F"):
        init_experiment.main(["--variants", "xavier"])


def test_a_tiny_run_prints_one_row_per_model_and_variant(capsys):
    argv = [
        "--models",
        "basic-cnn",
        "--variants",
        "he",
        "current",
        "--seeds",
        "2",
        "--train",
        "128",
        "--held-out",
        "64",
    ]
    assert init_experiment.main(argv) == 0
    out = capsys.readouterr().out
    assert "One epoch on 128 train images, scored on 64 held-out images." in out
    rows = [line for line in out.splitlines() if line.startswith("| basic-cnn |")]
    assert len(rows) == 2
    assert (
        rows[0].split("|")[3:] == rows[1].split("|")[3:]
    )  # same init for a baseline: same figures
