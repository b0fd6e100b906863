"""An audit in pieces (--resume), settings that apply to one kind of model, and the noisy
models' cheaper doubling check."""

import json
from dataclasses import replace

import pytest
import torch
from conftest import TINY_AUDIT, tiny_model

from vonedemo.attacks.base import GradientHealth
from vonedemo.audit import AuditConfig, Rung, audit_model, audit_to_dict, checks, merge_reports
from vonedemo.audit.attacking import AttackOutcome
from vonedemo.audit.resume import AuditResume, progress_path
from vonedemo.cli import main

NOISY = TINY_AUDIT


@pytest.fixture(scope="module")
def models():
    found = {"basic-cnn": tiny_model("basic-cnn"), "vone-basic-cnn": tiny_model("vone-basic-cnn")}
    for m in found.values():
        m.eval()
    return found


class Killed(Exception):
    pass


def without_times(result) -> dict:
    rows = [{k: v for k, v in r.items() if k != "seconds"} for r in result.attacks]
    return {
        "rows": rows,
        "curves": result.curves,
        "checks": result.checks,
        "worst": result.worst_case,
    }


def test_a_killed_audit_resumes_to_the_numbers_of_an_uninterrupted_one(models, test_data, tmp_path):
    whole = audit_model("vone-basic-cnn", models.__getitem__, test_data, NOISY)
    path = progress_path(tmp_path, "vone-basic-cnn")
    seen = []

    def kill_after_three_rungs(p):
        seen.append(p)
        if len(seen) == 3:
            raise Killed

    with pytest.raises(Killed):
        audit_model(
            "vone-basic-cnn",
            models.__getitem__,
            test_data,
            NOISY,
            kill_after_three_rungs,
            resume=AuditResume(path, "vone-basic-cnn", NOISY),
        )
    saved = json.loads(path.read_text())
    assert len([k for k in saved["entries"] if k.startswith("rung ")]) == 3
    calls = []
    real = checks.run_attack

    def counted(*args, **kwargs):
        calls.append(kwargs["name"])
        return real(*args, **kwargs)

    import vonedemo.audit.run as run_module

    run_module.run_attack, was = counted, run_module.run_attack
    try:
        resumed = audit_model(
            "vone-basic-cnn",
            models.__getitem__,
            test_data,
            NOISY,
            resume=AuditResume(path, "vone-basic-cnn", NOISY),
        )
    finally:
        run_module.run_attack = was
    assert without_times(resumed) == without_times(whole)
    finished_rows = [r["attack"] for r in whole.attacks[:3]]
    assert not set(finished_rows) & set(calls)  # the three saved rungs were not run again
    assert resumed.seconds >= saved["seconds"]


def test_a_piece_file_of_other_settings_or_a_broken_one_is_refused(tmp_path):
    path = progress_path(tmp_path, "mlp")
    AuditResume(path, "mlp", NOISY).remember("clean", lambda: 0.5)
    assert AuditResume(path, "mlp", NOISY).remember("clean", lambda: 0.9) == 0.5
    with pytest.raises(ValueError, match="other settings"):
        AuditResume(path, "mlp", replace(NOISY, limit=25))
    with pytest.raises(ValueError, match="other settings"):
        AuditResume(path, "convnet", NOISY)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="delete it"):
        AuditResume(path, "mlp", NOISY)


def test_the_audit_command_refuses_a_foreign_piece_file_before_any_work(tmp_path, capsys):
    pieces = tmp_path / "in-progress"
    AuditResume(progress_path(pieces, "mlp"), "mlp", NOISY).remember("clean", lambda: 0.5)
    assert main(["audit", "--models", "mlp", "--out", str(tmp_path), "--resume"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert not (tmp_path / "audit.json").exists()


def fake(config: AuditConfig, **stochastic: bool) -> dict:
    models = {name.replace("_", "-"): {"stochastic": s} for name, s in stochastic.items()}
    return {"config": audit_to_dict([], config)["config"], "models": models}


def test_settings_of_one_kind_of_model_may_differ_where_the_other_side_has_none():
    deterministic = fake(AuditConfig(), convnet=False)
    noisy = replace(AuditConfig(), doubling_on_survivors=True, pgd_eot=8)
    merged = merge_reports(deterministic, fake(noisy, vone_convnet=True))
    assert list(merged["models"]) == ["convnet", "vone-convnet"]
    assert merged["config"]["pgd_eot"] == 8 and merged["config"]["doubling_on_survivors"]
    # a deterministic model merged later keeps the noisy models' settings in the report
    later = merge_reports(merged, fake(AuditConfig(), mlp=False))
    assert later["config"]["pgd_eot"] == 8 and list(later["config"]) == list(merged["config"])
    with pytest.raises(ValueError, match="pgd_eot"):  # noisy models on both sides: same settings
        merge_reports(merged, fake(AuditConfig(), vone_mlp=True))
    with pytest.raises(ValueError, match="apgd_steps"):
        merge_reports(merged, fake(replace(noisy, apgd_steps=5), mlp=False))
    with pytest.raises(ValueError, match="limit"):  # a shared setting never differs
        merge_reports(deterministic, fake(replace(noisy, limit=7), vone_convnet=True))


def test_a_noisy_models_doubled_attack_runs_on_what_the_base_left(models, test_data, monkeypatch):
    config = replace(NOISY, doubling_on_survivors=True)
    calls = []
    real = checks.run_attack

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append((kwargs.get("alive"), out))
        return out

    monkeypatch.setattr(checks, "run_attack", spy)
    data = test_data.subset(20)
    result = checks.doubling_check(models["vone-basic-cnn"], data, config, stochastic=True)
    (base_alive, base), (alive, both) = calls
    assert base_alive is None and alive is not None and bool((alive == base.correct).all())
    assert both.accuracy <= base.accuracy and both.attacked == int(base.correct.sum())
    assert "images the base attack left" in result["sentence"]
    calls.clear()  # what the whole ladder left, when given: the base attack is not run again
    standing = torch.zeros(20, dtype=torch.bool)
    standing[:5] = True
    result = checks.doubling_check(models["vone-basic-cnn"], data, config, True, standing)
    ((alive, both),) = calls
    assert bool((alive == standing).all()) and both.attacked == 5
    assert "5 images the whole ladder left" in result["sentence"]
    calls.clear()
    checks.doubling_check(models["basic-cnn"], data, config, stochastic=False)
    assert [alive for alive, _ in calls] == [None, None]  # deterministic: both on every image


def test_the_transfer_is_crafted_with_its_sources_budget(models, test_data, monkeypatch):
    """A deterministic model's noisy twin is attacked with the noisy models' budget, not the
    deterministic models' many steps: its gradient costs ten forward passes."""
    import vonedemo.audit.run as run_module

    config = replace(NOISY, deterministic_pgd_steps=5, limit=12, curve_limit=12)
    config = replace(config, doubling_limit=12, curve_eps=(0.0,))
    used = {}
    real = run_module.run_attack

    def spy(*args, **kwargs):
        used[kwargs["name"]] = args[4]
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "run_attack", spy)
    audit_model("basic-cnn", models.__getitem__, test_data, config)
    transfer = next(o for n, o in used.items() if n.startswith("transfer from vone-basic-cnn"))
    assert used["PGD-5"]["steps"] == 5  # the audited model's own budget
    assert transfer["steps"] == 3 and transfer["eot_samples"] == 2  # the noisy source's


def test_a_deterministic_models_doubling_check_doubles_its_apgd(models, test_data, monkeypatch):
    """With APGD on the ladder the check doubles APGD-CE's steps, restarts kept (fixed-step
    PGD converges too slowly on a robust model), and counts what the doubled attack breaks
    among the images the whole ladder left: how much lower the headline would go."""
    config = replace(NOISY, apgd_steps=3, apgd_restarts=2)
    # 20 digits: APGD-CE-3 leaves the first 10, APGD-CE-6 the last 14 (4 of them in common).
    left = {3: torch.arange(20) < 10, 6: torch.arange(20) >= 6}
    calls = []

    def fake(model, data, attack, eps, options, **kwargs):
        calls.append((attack, dict(options), kwargs.get("alive")))
        return AttackOutcome("x", eps, left[options["steps"]].clone(), GradientHealth(), 0.0)

    monkeypatch.setattr(checks, "run_attack", fake)
    data = test_data.subset(20)
    result = checks.doubling_check(models["basic-cnn"], data, config, False)
    assert [(a, o["steps"], o["restarts"], o["loss"], alive) for a, o, alive in calls] == [
        ("apgd", 3, 2, "ce", None),
        ("apgd", 6, 2, "ce", None),
    ]
    assert result["sentence"] == (
        "Doubling APGD-CE's steps (3 → 6, 2 restart(s) each) at eps 0.35 moved accuracy by "
        "+30.0 points (50.0% → 20.0%, 20 images): what APGD-CE-3 left, then what it and "
        "APGD-CE-6 left. APGD-CE-6 alone leaves 70.0%."
    )
    assert not result["passed"]
    calls.clear()  # what the whole ladder left, when given: only the doubled attack runs
    standing = torch.arange(20) >= 15  # 5 digits, all of which APGD-CE-6 leaves too
    result = checks.doubling_check(models["basic-cnn"], data, config, False, standing)
    assert [o["steps"] for _, o, _ in calls] == [6]
    assert "(25.0% → 25.0%, 20 images): what the whole ladder left" in result["sentence"]
    assert result["passed"]


def test_our_attacks_meet_autoattack_as_an_ensemble_per_image(models, test_data):
    """Two of our attacks that each leave half the digits, but not the same half, leave none
    together: that is what AutoAttack's figure (an ensemble too) is compared with."""
    first = torch.tensor([True, True, False, False])

    def outcome(correct):
        return AttackOutcome("x", 0.35, torch.tensor(correct), GradientHealth(), 0.0)

    by_eps = {
        0.35: [
            (Rung("FGSM (study: raw gradient)", "fgsm", study=True), outcome([True] * 4)),
            (Rung("PGD-3", "pgd"), outcome(first.tolist())),
            (Rung("APGD-3 (CE)", "apgd"), outcome((~first).tolist())),
            (Rung("AutoAttack", "autoattack"), outcome([False] * 4)),
        ]
    }
    found = checks.sanity_checks(
        models["basic-cnn"],
        test_data.subset(4),
        replace(NOISY, curve_limit=4),
        False,
        {"strongest": []},
        by_eps,
        doubling={"check": "doubling", "passed": True, "sentence": ""},
    )
    check = next(c for c in found if c["check"] == "our attacks ≈ AutoAttack (eps 0.35)")
    assert check["passed"], check
    assert check["sentence"].startswith(
        "Our white-box attacks together leave 0.0% (the best alone 50.0%), AutoAttack 0.0%"
    )
