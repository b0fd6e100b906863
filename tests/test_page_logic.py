"""What the app's pages compute: attack views (vonedemo.attack_view), run-file names
(vonedemo.runs), the results folders (vonedemo.results) and the app's folders (ui.settings)."""

from __future__ import annotations

import json
import re
import threading

import numpy as np
import pytest
import torch
from conftest import tiny_model
from hypothesis import given, settings
from hypothesis import strategies as st

from ui import settings as app_settings
from vonedemo import attack_view, results, runs
from vonedemo.attack_view import AttackSettings, attack_batch
from vonedemo.checkpoints import load_checkpoint
from vonedemo.models import STUDY_MODELS


def frozen(name: str, **overrides):
    model = tiny_model(name, **overrides).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@pytest.fixture(scope="module")
def cnn():
    return frozen("basic-cnn")


@pytest.fixture(scope="module")
def vone():
    return frozen("vone-basic-cnn")


# --- settings ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"attack": "nope"},
        {"eps": 1.5},
        {"eps": -0.1},
        {"gradient": "fixed"},
        {"noise": "loud"},
        {"eot_samples": 0},
        {"pgd_steps": 0},
        {"eot_samples": True},
    ],
)
def test_settings_refuse_bad_values(kwargs):
    with pytest.raises(ValueError):
        AttackSettings(**kwargs)


def test_settings_options_and_hashing():
    fgsm = AttackSettings(eps=0.2, eot_samples=3, gradient="repaired")
    assert fgsm.options() == {"gradient": "repaired", "eot_samples": 3}
    pgd = AttackSettings(attack="pgd", eps=0.3, pgd_steps=10, seed=4)
    assert pgd.options() == {
        "gradient": "raw",
        "eot_samples": 1,
        "steps": 10,
        "step_size": 0.075,
        "seed": 4,
    }
    assert hash(pgd) == hash(AttackSettings(attack="pgd", eps=0.3, pgd_steps=10, seed=4))
    assert "PGD eps=0.30, 10 steps" in pgd.describe()


@given(st.floats(0, 1), st.integers(1, 100))
def test_pgd_step_size_stays_within_eps(eps, steps):
    size = attack_view.pgd_step_size(eps, steps)
    assert 0 <= size <= eps and size * steps >= min(eps, 2.5 * eps) - 1e-9


# --- attack_batch ------------------------------------------------------------------------------
def test_eps_zero_returns_the_originals(cnn, digits):
    images, labels = digits
    view = attack_batch(cnn, images, labels, AttackSettings(eps=0.0))
    assert np.array_equal(view.original, view.adversarial)
    assert np.array_equal(view.clean_probs, view.adv_probs)
    assert (view.perturbation == 255).all()  # white: nothing changed
    assert view.flipped == 0 and not view.stalled and view.linf == 0.0
    assert "no attack" in view.health_sentence


def test_attack_view_contents(cnn, digits):
    images, labels = digits
    view = attack_batch(cnn, images, labels, AttackSettings(eps=0.3), indices=np.arange(10, 18))
    assert len(view) == 8 and view.indices.tolist() == list(range(10, 18))
    assert (
        view.original.shape == view.adversarial.shape == (8, 28, 28)
        and view.original.dtype == np.uint8
    )
    assert view.perturbation.shape == (8, 28, 28, 3)
    assert view.clean_probs.shape == (8, 10) and np.allclose(view.clean_probs.sum(1), 1, atol=1e-5)
    assert view.linf == pytest.approx(0.3, abs=1e-6)
    assert (
        np.abs(view.adversarial.astype(int) - view.original.astype(int)).max()
        <= round(0.3 * 255) + 1
    )
    assert view.clean_accuracy == pytest.approx(view.clean_correct.mean())
    assert view.flipped == int((view.clean_pred != view.adv_pred).sum())
    rows = view.rows()
    assert len(rows) == 8 and rows[0]["test index"] == 10
    assert {r["changed"] for r in rows} <= {True, False}


def test_stalled_attack_is_flagged(vone, digits):
    images, labels = digits[0][:4], digits[1][:4]
    raw = attack_batch(vone, images, labels, AttackSettings(eps=0.3, noise="off"))
    assert raw.health["nonfinite_gradient_fraction"] > 0.5  # the study's NaN gradient
    assert raw.stalled and "WARNING" in raw.health_sentence
    repaired = attack_batch(
        vone, images, labels, AttackSettings(eps=0.3, gradient="repaired", noise="off")
    )
    assert not repaired.stalled and repaired.linf > 0


def test_noisy_views_repeat_for_a_seed_and_leave_the_model_alone(vone, digits):
    images, labels = digits[0][:4], digits[1][:4]
    before = {k: v.clone() for k, v in vone.state_dict().items()}
    a = attack_batch(vone, images, labels, AttackSettings(eps=0.2, gradient="repaired", seed=3))
    b = attack_batch(vone, images, labels, AttackSettings(eps=0.2, gradient="repaired", seed=3))
    c = attack_batch(vone, images, labels, AttackSettings(eps=0.2, gradient="repaired", seed=4))
    assert np.array_equal(a.clean_probs, b.clean_probs) and np.array_equal(
        a.adversarial, b.adversarial
    )
    assert not np.array_equal(a.clean_probs, c.clean_probs)
    for mode in ("off", "seeded"):
        attack_batch(vone, images, labels, AttackSettings(eps=0.2, noise=mode))
    # The clean phase can be computed once and reused for every eps: same result.
    clean = attack_view.clean_probabilities(vone, images, seed=3)
    d = attack_batch(
        vone,
        images,
        labels,
        AttackSettings(eps=0.2, gradient="repaired", seed=3),
        clean_probs=clean,
    )
    assert np.array_equal(d.clean_probs, a.clean_probs) and np.array_equal(d.adv_probs, a.adv_probs)
    assert vone.vone.noise_mode == "neuronal" and not vone.training
    assert all(torch.equal(before[k], v) for k, v in vone.state_dict().items())
    assert all(p.grad is None and not p.requires_grad for p in vone.parameters())


def test_sample_accuracies(cnn, test_data):
    settings = AttackSettings(eps=0.3)
    clean = attack_view.clean_sample_accuracy(cnn, test_data, 40)
    seen = []
    result = attack_view.attacked_sample_accuracy(
        cnn, test_data, settings, 40, on_batch=lambda d, t: seen.append((d, t))
    )
    assert clean == pytest.approx(5 / 40) and result["accuracy"] == pytest.approx(3 / 40)
    assert result["images"] == 40 and seen[-1] == (40, 40)
    assert not result["stalled"] and "L∞ applied 0.300" in result["sentence"]
    zero = attack_view.attacked_sample_accuracy(cnn, test_data, AttackSettings(eps=0.0), 40)
    assert zero["accuracy"] == pytest.approx(clean) and not zero["stalled"]


# --- sampling ----------------------------------------------------------------------------------
@given(st.integers(0, 500), st.integers(0, 600), st.integers(0, 2**31))
@settings(max_examples=50, deadline=None)
def test_sample_indices(total, n, seed):
    idx = attack_view.sample_indices(total, n, seed)
    assert len(idx) == min(n, total) and len(set(idx.tolist())) == len(idx)
    assert ((0 <= idx) & (idx < max(total, 1))).all()
    assert np.array_equal(idx, attack_view.sample_indices(total, n, seed))
    # more digits extend the same sample: the ones on screen stay where they were
    more = attack_view.sample_indices(total, n + 8, seed)
    assert np.array_equal(more[: len(idx)], idx)


def test_select(test_data):
    images, labels = attack_view.select(test_data, [5, 2])
    assert (
        torch.equal(images, test_data.images[[5, 2]])
        and labels.tolist() == test_data.labels[[5, 2]].tolist()
    )


# --- checkpoint names --------------------------------------------------------------------------
@given(st.text(max_size=200))
@settings(max_examples=200)
def test_sanitize_name_is_always_a_safe_stem(text):
    name = runs.sanitize_name(text)
    assert re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?", name)
    assert len(name) <= 64 and ".." not in name and "/" not in name
    assert runs.sanitize_name(name) == name  # idempotent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my run/../../evil name", "my-run-evil-name"),
        ("../../etc/passwd", "etc-passwd"),
        ("..", "model"),
        ("x.pt", "x"),
        ("  ", "model"),
        ("basic-cnn-1ep", "basic-cnn-1ep"),
    ],
)
def test_sanitize_examples(text, expected):
    assert runs.sanitize_name(text) == expected


def test_reserved_names_never_collide(tmp_path):
    paths: list = []
    lock = threading.Lock()

    def reserve():
        p = runs.reserve_checkpoint_path(tmp_path, "same name")
        with lock:
            paths.append(p.name)

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(paths) == sorted(["same-name.pt"] + [f"same-name-{i}.pt" for i in range(2, 9)])
    assert runs.saved_checkpoints(tmp_path) == []  # reserved, empty: not offered as models


def test_save_app_checkpoint_round_trip(tmp_path, cnn):
    first = runs.save_named_checkpoint(tmp_path, "mine", cnn, {"made_by": "test"})
    second = runs.save_named_checkpoint(tmp_path, "mine", cnn, {"made_by": "test"})
    assert (first.name, second.name) == ("mine.pt", "mine-2.pt")
    model, meta = load_checkpoint(first)
    assert (
        meta["name"] == "mine" and meta["made_by"] == "test" and model.registry_name == "basic-cnn"
    )
    assert set(runs.saved_checkpoints(tmp_path)) == {first, second}


def test_save_app_checkpoint_cleans_up_after_a_failure(tmp_path):
    with pytest.raises(ValueError):
        runs.save_named_checkpoint(tmp_path, "bad", torch.nn.Linear(2, 2), {})  # no registry name
    assert list(tmp_path.iterdir()) == []


def test_app_checkpoint_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(app_settings.APP_CHECKPOINTS_ENV, str(tmp_path))
    assert app_settings.app_checkpoint_dir() == tmp_path
    monkeypatch.delenv(app_settings.APP_CHECKPOINTS_ENV)
    assert app_settings.app_checkpoint_dir() == app_settings.REPO_ROOT / "runs" / "app"


# --- measured results --------------------------------------------------------------------------
def test_read_measured_prefers_the_summary_then_the_manifest(tmp_path):
    summary = tmp_path / "summary.json"
    summary.write_text(
        json.dumps(
            {
                "models": {
                    "basic-cnn": {
                        "clean": 99.0,
                        "fgsm": 10.0,
                        "test_images": 10000,
                        "eps_curve": [
                            {"eps": 0.35, "accuracy": 10.0},
                            {"eps": 0, "accuracy": 99.0},
                            {"eps": 7, "accuracy": 1.0},
                            {"eps": 0.1, "accuracy": "x"},
                        ],
                    },
                    "mlp": {"clean": 250.0},  # impossible: dropped
                    "junk": "not a row",
                }
            }
        )
    )
    manifest = {
        "models": {
            "basic-cnn": {"clean_accuracy": 1.0, "fgsm_accuracy": 1.0},
            "convnet": {"clean_accuracy": 98.0, "fgsm_accuracy": 20.0, "test_images": 500},
        }
    }
    measured, notes = results.read_measured(summary, manifest)
    assert notes == []
    assert (
        measured["basic-cnn"]["clean"] == 99.0 and measured["basic-cnn"]["source"] == "summary.json"
    )
    assert [p["eps"] for p in measured["basic-cnn"]["eps_curve"]] == [0.0, 0.35]
    assert "mlp" not in measured and "junk" not in measured
    assert measured["convnet"] == {
        "clean": 98.0,
        "fgsm": 20.0,
        "test_images": 500,
        "eps_curve": [],
        "source": "checkpoints/manifest.json",
    }


def test_read_measured_reports_a_broken_summary(tmp_path):
    summary = tmp_path / "summary.json"
    summary.write_text("{broken")
    measured, notes = results.read_measured(summary, None)
    assert measured == {} and len(notes) == 1 and "could not be read" in notes[0]
    assert results.read_measured(tmp_path / "missing.json", None) == ({}, [])


def test_measure_model(cnn, test_data):
    calls = []
    row = results.measure_model(
        cnn, test_data, limit=30, eps_values=(0.1,), on_eps=lambda d, n: calls.append((d, n))
    )
    assert [p["eps"] for p in row["eps_curve"]] == [0.0, 0.1, 0.35]
    assert calls[-1] == (3, 3)
    assert (
        row["clean"] == row["eps_curve"][0]["accuracy"]
        and row["fgsm"] == row["eps_curve"][2]["accuracy"]
    )
    assert row["test_images"] == 30 and row["health"]["linf"] == pytest.approx(0.35, abs=1e-6)


def test_comparison_rows():
    rows = results.comparison_rows({"basic-cnn": {"clean": 98.0, "fgsm": 5.0, "source": "x"}})
    assert [r["model"] for r in rows] == list(STUDY_MODELS)
    assert all(r["study_clean"] is not None and r["study_fgsm"] is not None for r in rows)
    by = {r["model"]: r for r in rows}
    assert by["basic-cnn"]["clean"] == 98.0 and by["mlp"]["clean"] is None


def test_comparison_names_and_curves():
    measured = {
        "madry-cnn": {"eps_curve": [{"eps": 0.0, "accuracy": 98.0}]},
        "not-a-model": {"eps_curve": [{"eps": 0.0, "accuracy": 1.0}]},
        "mlp": {"eps_curve": []},
    }
    names = results.comparison_names(measured)
    assert names == [*STUDY_MODELS, "madry-cnn"]  # unknown names left out
    assert results.eps_curves(measured, names) == {
        "Madry-CNN (PGD-trained)": [{"eps": 0.0, "accuracy": 98.0}]
    }


# --- audit reports -----------------------------------------------------------------------------
def test_read_audit_report_reads_the_saved_one_alone(tmp_path):
    """A quick audit is never merged in: the page shows it apart (its sample differs)."""
    path = tmp_path / "audit.json"
    assert results.read_audit_report(path) == (None, [])
    saved = {
        "config": {"limit": 1000},
        "models": {"mlp": {"worst_case": "saved"}, "basic-cnn": {"worst_case": "saved"}},
    }
    path.write_text(json.dumps(saved))
    assert results.read_audit_report(path) == (saved, [])
    assert not hasattr(results, "merge_audit_reports")


def _audit_entry(name, *, worst, study, nan=0.0, moved=1.0, checks=()):
    row = {"ci95": [0.0, 1.0], "seconds": 1.0, "zero_sign_fraction": 0.0, "linf": 0.35}
    attacks = [
        {**row, "attack": "FGSM (study: raw gradient)", "eps": e, "accuracy": study[i]}
        | {"nonfinite_gradient_fraction": nan, "moved_fraction": moved}
        for i, e in enumerate((0.35, 0.1))
    ]
    return {
        "clean": 97.0,
        "attacks": attacks,
        "worst_case": {"0.35": worst[0], "0.1": worst[1]},
        "study_fgsm": {"0.35": study[0], "0.1": study[1]},
        "checks": list(checks),
    }


STALLED = {
    "check": "study's FGSM moves the images (eps 0.35)",
    "passed": False,
    "sentence": "The study's FGSM moved 0% of images (100% of gradient entries NaN/inf): …",
}
NOT_CONVERGED = {
    "check": "doubling the attack's effort changes < 1 point",
    "passed": False,
    "sentence": "Doubling PGD steps at eps 0.35 moved accuracy by +6.0 points "
    "(58.0% → 52.0%, 100 images).",
}


def test_audit_findings_and_verdicts_follow_the_numbers():
    from ui import audit_text

    report = {
        "config": {"eps": [0.35, 0.1], "limit": 1000},
        "models": {
            "vone-basic-cnn": _audit_entry(
                "vone-basic-cnn",
                worst=(0.0, 4.9),
                study=(96.4, 96.4),
                nan=1.0,
                moved=0.0,
                checks=[STALLED],
            ),
            "basic-cnn": _audit_entry("basic-cnn", worst=(0.0, 33.0), study=(6.8, 67.8)),
            "madry-cnn": _audit_entry(
                "madry-cnn", worst=(55.2, 94.4), study=(86.0, 94.7), checks=[NOT_CONVERGED]
            ),
        },
    }
    vone, cnn, madry = results.audit_findings(report)
    assert vone.vone and vone.study_stalled and vone.study_nan == {0.35: 1.0, 0.1: 1.0}
    assert madry.doubling == results.DoublingFigures(False, 6.0, 58.0, 52.0, 100)
    assert vone.failed_checks == () and madry.failed_checks == ()
    assert audit_text.model_verdict(vone) == (
        "Not robust: the study's FGSM never moved its digits (its gradient was NaN at every "
        "pixel), and a working attack leaves 0.0% at eps 0.35 (0.1: 4.9%)."
    )
    assert audit_text.model_verdict(cnn) == (
        "Not robust: the study's FGSM already leaves 6.8% at eps 0.35, and the strongest "
        "attacks leave 0.0% (0.1: 33.0%)."
    )
    assert audit_text.model_verdict(madry) == (
        "Partly robust: 55.2% survive every attack at eps 0.35 (0.1: 94.4%) — an upper bound: "
        "doubling the attack's effort still lowered accuracy by 6.0 points on 100 digits (it "
        "has not converged)."
    )
    assert audit_text.overall_verdict([vone, cnn, madry]).startswith(
        "**Verdict: 2 of 3 models are not robust at eps 0.35**: attacks that work leave them "
        "0.0%. On the VOneNet the study's FGSM moved no digit, so their 96.4% under it"
    )
    kind, line = audit_text.check_line(STALLED, vone)
    assert kind == "finding" and "not a fault of the audit" in line and "FAIL" not in line
    kind, line = audit_text.check_line(NOT_CONVERGED, madry)
    assert kind == "caveat" and line.startswith(
        "**Not converged: doubling the attack's effort lowered accuracy by 6.0 points, so read "
        "55.2% as an upper bound.**"
    )
    assert audit_text.worst_case_title(madry) == (
        "Madry-CNN (PGD-trained) — partly robust: worst case 55.2% at eps 0.35 · 94.4% at 0.1"
    )
    # A failed masking check is named as such, and the verdict points to it.
    masking = {"check": "iterative ≤ single-step (eps 0.1)", "passed": False, "sentence": "…"}
    report["models"]["basic-cnn"]["checks"] = [masking]
    cnn = results.audit_findings(report)[1]
    assert cnn.failed_checks == ("iterative ≤ single-step (eps 0.1)",)
    assert audit_text.model_verdict(cnn).endswith("Caution: 1 sanity check failed (see below).")
    assert audit_text.check_line(masking, cnn) == (
        "fail",
        "**At eps 0.1 one FGSM step beats many PGD steps — a sign that the gradient misleads "
        "the attack.** …",
    )


def test_check_key():
    assert results.check_key("iterative ≤ single-step (eps 0.35)") == (
        "iterative ≤ single-step",
        0.35,
    )
    assert results.check_key("near chance at eps 0.5") == ("near chance at eps 0.5", None)


def test_read_audit_report_notes_a_broken_file(tmp_path):
    path = tmp_path / "audit.json"
    path.write_text("{broken")
    report, notes = results.read_audit_report(path)
    assert report is None and len(notes) == 1 and notes[0].startswith(f"Could not read {path}: ")


def test_strongest_curves():
    curve = [{"eps": 0.0, "accuracy": 99.0}]
    report = {"models": {"mlp": {"curves": {"strongest": curve}}, "basic-cnn": {"curves": None}}}
    assert results.strongest_curves(report) == {"mlp": curve}
