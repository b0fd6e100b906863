"""The shipped checkpoints (``checkpoints/`` + manifest) and the one-command reproduction."""

import json
from pathlib import Path

import pytest
import torch

from vonedemo import create_model
from vonedemo.checkpoints import load_checkpoint, read_manifest, sha256_file
from vonedemo.cli import main
from vonedemo.data import load_mnist
from vonedemo.evaluation import accuracy, evaluate_attack
from vonedemo.models import STUDY_MODELS, WEIGHT_INIT
from vonedemo.pretrained import train_pretrained
from vonedemo.study import STUDY_EPS
from vonedemo.training import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = ROOT / "checkpoints"
MANIFEST = read_manifest(CHECKPOINTS)["models"]
REFERENCE_MODELS = ("madry-cnn", "vone-basic-cnn-2.5deg")


def test_the_manifest_covers_the_study_and_reference_models():
    assert set(STUDY_MODELS) | set(REFERENCE_MODELS) <= set(MANIFEST)
    total = sum((CHECKPOINTS / e["file"]).stat().st_size for e in MANIFEST.values())
    assert total <= 40 * 2**20  # the whole folder's budget


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_file_matches_its_manifest_hash(name):
    entry = MANIFEST[name]
    assert sha256_file(CHECKPOINTS / entry["file"]) == entry["sha256"]
    for field in (
        "model",
        "builder_args",
        "data",
        "epochs",
        "seed",
        "train_seconds",
        "weight_init",
    ):
        assert field in entry, field


def test_training_a_pretrained_model_records_how_it_was_made(tmp_path):
    entry = train_pretrained(
        "vone-mlp",
        directory=tmp_path,
        config=TrainConfig(epochs=1, limit=64, eval_limit=None),
        model_options={"simple_channels": 8, "complex_channels": 8},
    )
    assert (
        entry["weight_init"] == WEIGHT_INIT
        and entry["epochs"] == 1
        and entry["data"].endswith("(64 images)")
    )
    assert read_manifest(tmp_path)["models"]["vone-mlp"] == entry
    assert sha256_file(tmp_path / entry["file"]) == entry["sha256"]
    model, metadata = load_checkpoint(tmp_path / entry["file"])
    assert metadata["weight_init"] == WEIGHT_INIT and model.vone.config.simple_channels == 8


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_clean_accuracy_on_1000_images_matches_the_manifest(name):
    entry = MANIFEST[name]
    if entry.get("clean_accuracy") is None:
        pytest.fail(
            f"{name}: the manifest has no clean accuracy (run `python -m vonedemo reproduce`)"
        )
    model = create_model(name, pretrained=True)
    assert not model.training
    torch.manual_seed(0)
    measured = 100 * accuracy(model, load_mnist("test").subset(1000))
    assert abs(measured - entry["clean_accuracy"]) <= 2.0, (measured, entry["clean_accuracy"])


@pytest.mark.slow
def test_reproduce_smoke_run_writes_tables_curves_summary_and_readme(tmp_path, monkeypatch):
    manifest_before = (CHECKPOINTS / "manifest.json").read_bytes()
    readme = tmp_path / "README.md"
    readme.write_text("# demo\n")
    out = tmp_path / "results"
    code = main(
        [
            "reproduce",
            "--models",
            "basic-cnn",
            "vone-basic-cnn",
            "--limit",
            "100",
            "--rounds",
            "1",
            "--sweep-limit",
            "40",
            "--finetune-train-limit",
            "64",
            "--finetune-eval-limit",
            "40",
            "--out",
            str(out),
            "--readme",
            str(readme),
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    test = load_mnist("test").subset(100)
    for name in ("basic-cnn", "vone-basic-cnn"):
        row = summary["models"][name]
        # The table's figures are the shipped model's, measured as the study did (seed 0).
        model = create_model(name, pretrained=True)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            clean = accuracy(model, test)
            fgsm = evaluate_attack(model, test, "fgsm", STUDY_EPS)
        assert row["test_images"] == 100
        assert row["clean"] == 100 * clean and row["fgsm"] == 100 * fgsm.accuracy
        assert row["fgsm_gradient_health"] == fgsm.health.summary()
        assert row["study_clean"] is not None and len(row["finetune"]["clean"]) == 2
        assert len(row["eps_curve"]) == 11
    tables = (out / "tables.md").read_text()
    assert "Basic-CNN" in tables and "VOne-CNN" in tables and (out / "tables.csv").is_file()
    assert (out / "finetune.html").is_file()
    text = readme.read_text()
    assert "<!-- results:start -->" in text and "VOne-CNN" in text
    # A --limit run never rewrites the shipped figures.
    assert (CHECKPOINTS / "manifest.json").read_bytes() == manifest_before


@pytest.mark.slow
def test_reproduce_resume_keeps_each_models_finetuning_state(tmp_path):
    out = tmp_path / "results"
    argv = ["reproduce", "--models", "basic-cnn", "--limit", "40", "--rounds", "2"]
    argv += ["--sweep-limit", "20", "--finetune-train-limit", "64", "--finetune-eval-limit", "40"]
    argv += ["--out", str(out), "--resume"]
    assert main(argv) == 0
    state = out / "finetune-state" / "basic-cnn-finetune.pt"
    assert state.is_file()
    first = json.loads((out / "summary.json").read_text())["models"]["basic-cnn"]["finetune"]
    assert len(first["clean"]) == 3 and first["train_moved"][1:] == [1.0, 1.0]
    assert first["train_moved"][0] is None  # round 0: no training attack yet
    stamp = state.stat().st_mtime_ns
    tables = out / "finetune-state" / "basic-cnn-tables.json"
    table_stamp = tables.stat().st_mtime_ns
    row = json.loads((out / "summary.json").read_text())["models"]["basic-cnn"]
    assert main(argv) == 0  # a finished run: continued from its state, nothing trained again
    summary = json.loads((out / "summary.json").read_text())["models"]["basic-cnn"]
    again = summary["finetune"]
    assert again["clean"] == first["clean"] and again["adversarial"] == first["adversarial"]
    assert state.stat().st_mtime_ns == stamp
    # The table row and the eps curve were kept too, not computed again
    assert tables.stat().st_mtime_ns == table_stamp
    assert summary["clean"] == row["clean"] and summary["eps_curve"] == row["eps_curve"]
    # A kept part for other settings (or a damaged file) is computed again
    tables.write_text("{not json")
    assert main(argv) == 0
    assert json.loads(tables.read_text())["entry"]["clean"] == row["clean"]


@pytest.mark.slow
@pytest.mark.parametrize(("gradient", "moved"), [("raw", 0.0), ("repaired", 1.0)])
def test_reproduce_finetunes_a_vonenet_with_the_gradient_asked_for(tmp_path, gradient, moved):
    out = tmp_path / "results"
    argv = ["reproduce", "--models", "vone-basic-cnn", "--limit", "20", "--rounds", "1"]
    argv += ["--sweep-limit", "10", "--finetune-train-limit", "32", "--finetune-eval-limit", "20"]
    assert main([*argv, "--out", str(out), "--finetune-gradient", gradient]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["finetune_gradient"] == gradient
    # The study's FGSM moves no VOneNet digit; the repaired one moves them all.
    assert summary["models"]["vone-basic-cnn"]["finetune"]["train_moved"][1] == moved


def test_report_only_rewrites_the_readme_from_a_full_runs_summary(tmp_path):
    """A 30-round run's README table shows rounds 1, 5, 10 and 30 beside the study's, the
    rounds where FGSM accuracy is above clean, and the models not yet run."""
    from vonedemo.study import study_curves

    curve = [90.0 + (r % 3) for r in range(31)]
    summary = {
        "config": {
            "rounds": 30,
            "finetune_train_limit": 10_000,
            "finetune_eval_limit": 10_000,
            "finetune_gradient": "raw",
            "models": ["basic-cnn"],
        },
        "models": {
            "basic-cnn": {
                "label": "Basic-CNN",
                "kind": "baseline",
                "test_images": 10_000,
                "clean": 97.9,
                "fgsm": 7.2,
                "study_clean": 99.05,
                "study_fgsm": 8.47,
                "fgsm_gradient_health": {"zero_sign_fraction": 0.0},
                "finetune": {
                    "clean": curve,
                    "adversarial": [c + 0.5 for c in curve],
                    "train_moved": [None] + [1.0] * 30,
                    "test_nan": [0.0] * 31,
                },
                "study_finetune": study_curves("basic-cnn"),
            }
        },
        "timings": {},
        "environment": {"torch": "x", "threads": 2, "date": "2026-12-01"},
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n")
    assert (
        main(["reproduce", "--report-only", "--out", str(tmp_path), "--readme", str(readme)]) == 0
    )
    text = readme.read_text()
    assert (
        "| model | r1 clean / FGSM | r5 clean / FGSM | r10 clean / FGSM | r30 clean / FGSM |"
        in text
    )
    assert "30 of 30 rounds" in text and "100%" in text
    assert "Not yet run in full: AlexNet, ConvNet, Linear-Regression, VOneAlexNet" in text
    assert "--report-only" in text and (tmp_path / "tables.md").is_file()
    # The rewritten summary has today's fields (an older file lacked them: their defaults)
    config = json.loads((tmp_path / "summary.json").read_text())["config"]
    assert config["seed"] == 0 and config["limit"] is None and config["models"] == ["basic-cnn"]
    with pytest.raises(SystemExit):
        main(["reproduce", "--report-only", "--out", str(tmp_path / "none"), "--bogus"])
    assert main(["reproduce", "--report-only", "--out", str(tmp_path / "none")]) == 2

    # A repaired-gradient run (VOneNets only) writes its own block and leaves the study's alone
    model = {**summary["models"]["basic-cnn"], "label": "VOne-CNN", "kind": "vonenet"}
    summary["config"] = {**summary["config"], "finetune_gradient": "repaired"}
    summary["config"]["models"] = ["vone-basic-cnn"]
    summary["models"] = {"vone-basic-cnn": model}
    repaired = tmp_path / "repaired"
    repaired.mkdir()
    (repaired / "summary.json").write_text(json.dumps(summary))
    argv = ["reproduce", "--report-only", "--out", str(repaired), "--readme", str(readme)]
    assert main(argv) == 0
    after = readme.read_text()
    assert after.startswith(text.rstrip())  # the study's block is unchanged
    block = after.split("<!-- results-repaired:start -->")[1].split("<!-- results-repaired:end")[0]
    assert "repaired gradient" in block and "| VOne-CNN |" in block
    assert "Not yet run in full: VOneAlexNet, VOneConvNet, VOne-Linear-Regression." in block
    assert "study FGSM" not in block and "tables.html" not in block


TINY = ["--limit", "20", "--rounds", "1", "--sweep-limit", "10"]
TINY += ["--finetune-train-limit", "32", "--finetune-eval-limit", "20"]


class Computing(Exception):
    """Raised by a stand-in for ``reproduce``: the command got past its checks."""


@pytest.fixture
def no_computing(monkeypatch):
    """``reproduce`` replaced by a stand-in that records its call and computes nothing."""
    calls = []

    def fake(config, on_progress=None, state_dir=None, **options):
        calls.append({"config": config, "state_dir": state_dir})
        raise Computing

    monkeypatch.setattr("vonedemo.reproduce.reproduce", fake)
    return calls


def test_merge_refuses_a_saved_run_with_other_settings_before_computing(
    tmp_path, no_computing, capsys
):
    from dataclasses import asdict

    from vonedemo.reproduce import ReproduceConfig

    saved = asdict(ReproduceConfig(models=("mlp",), limit=20, rounds=1, sweep_limit=10))
    saved |= {"finetune_train_limit": 32, "finetune_eval_limit": 20}
    del saved["finetune_gradient"]  # an older file: the field came later, its runs used "raw"
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"config": saved, "models": {}}))
    before = summary.read_bytes()
    argv = ["reproduce", "--models", "basic-cnn", *TINY, "--out", str(tmp_path), "--merge"]
    for other, field in (
        (["--rounds", "2"], "rounds"),
        (["--finetune-gradient", "repaired"], "finetune_gradient"),
        (["--seed", "1"], "seed"),
    ):
        assert main([*argv, *other]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: --merge:") and "\n" not in err
        assert f"{field} (saved" in err and err.count("(saved") == 1  # only that one named
    assert not no_computing and summary.read_bytes() == before
    # The same settings (the missing field read as its default): on to computing
    with pytest.raises(Computing):
        main(argv)
    # A setting that changes no figure does not stop a merge
    summary.write_text(json.dumps({"config": {**saved, "record_in_manifest": False}}))
    with pytest.raises(Computing):
        main(argv)
    assert len(no_computing) == 2
    # --state-dir names where --resume keeps its states; alone it is a mistake
    assert main([*argv, "--state-dir", str(tmp_path / "state")]) == 2
    assert "--state-dir needs --resume" in capsys.readouterr().err


def test_reproduce_default_out_is_the_committed_results_only_with_full(
    tmp_path, monkeypatch, no_computing
):
    monkeypatch.chdir(tmp_path)
    for argv, out in ((["--full"], "results"), ([], "runs/reproduce")):
        with pytest.raises(Computing):
            main(["reproduce", *argv, "--resume"])
        assert no_computing.pop()["state_dir"] == Path(out) / "finetune-state"
    with pytest.raises(Computing):  # an explicit --out wins
        main(["reproduce", "--full", "--resume", "--out", "elsewhere"])
    assert no_computing.pop()["state_dir"] == Path("elsewhere") / "finetune-state"
    assert not (tmp_path / "results").exists()


def test_only_a_run_of_every_model_records_in_the_manifest(no_computing):
    for argv, records in ((["--full"], True), (["--full", "--models", "mlp"], False)):
        with pytest.raises(Computing):
            main(["reproduce", *argv])
        assert no_computing.pop()["config"].record_in_manifest is records


@pytest.mark.slow
def test_a_quick_merge_names_every_model_and_keeps_states_in_state_dir(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # a quick run's default --out: runs/reproduce
    out = tmp_path / "runs" / "reproduce"
    assert main(["reproduce", "--models", "mlp", *TINY]) == 0
    assert json.loads((out / "summary.json").read_text())["config"]["models"] == ["mlp"]
    assert not (tmp_path / "results").exists()
    state = tmp_path / "state"
    argv = ["reproduce", "--models", "basic-cnn", *TINY, "--merge"]
    assert main([*argv, "--resume", "--state-dir", str(state)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["models"]) == ["basic-cnn", "mlp"]  # registry order
    assert summary["config"]["models"] == ["basic-cnn", "mlp"]
    assert (state / "basic-cnn-finetune.pt").is_file()
    assert (state / "basic-cnn-tables.json").is_file()
    assert not (out / "finetune-state").exists()
    # Other settings: refused at once, the saved run untouched
    before = (out / "summary.json").read_bytes()
    capsys.readouterr()
    assert main([*argv, "--rounds", "2"]) == 2
    assert capsys.readouterr().err.startswith("error: --merge:")
    assert (out / "summary.json").read_bytes() == before
