"""The audit's cross-check with AutoAttack (ART): its images obey the threat model, it never
touches the shared model, and the audit compares our attacks with it."""

from dataclasses import replace

import pytest
import torch
from test_audit import SMALL, plain_and_masked

from vonedemo.audit import audit_model, build_ladder, run_attack
from vonedemo.audit.ladder import AUTOATTACK
from vonedemo.crosscheck import AutoAttackConfig, autoattack

pytest.importorskip("art")


@pytest.fixture(scope="module")
def trained(test_data):
    return plain_and_masked(test_data)


QUICK = AutoAttackConfig(apgd_steps=10, apgd_restarts=1, square_queries=200, square_restarts=1)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.35])
def test_autoattack_stays_in_the_eps_ball_and_in_range(trained, test_data, eps):
    plain, _ = trained
    data = test_data.subset(40)
    x, y = data.images, data.labels
    adv = autoattack(plain, x, y, eps, config=QUICK)
    assert adv.shape == x.shape and adv.dtype == x.dtype
    assert (adv - x).abs().max() <= eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    if eps == 0:
        assert torch.equal(adv, x)
    if eps == 0.35:
        with torch.no_grad():
            assert (plain(adv).argmax(1) == y).float().mean() < 0.2  # a plain CNN falls


def test_autoattack_never_changes_the_shared_model(trained, test_data):
    plain, _ = trained
    data = test_data.subset(20)
    plain.train()  # a mode the library would switch, were it handed this model
    before = {k: v.clone() for k, v in plain.state_dict().items()}
    try:
        autoattack(plain, data.images, data.labels, 0.2, config=QUICK)
        assert plain.training
        assert all(torch.equal(before[k], v) for k, v in plain.state_dict().items())
        assert all(p.grad is None for p in plain.parameters())
        assert all(p.requires_grad for p in plain.parameters())
    finally:
        plain.eval()


def test_autoattack_is_seeded(trained, test_data):
    plain, _ = trained
    data = test_data.subset(10)
    a = autoattack(plain, data.images, data.labels, 0.1, config=QUICK, seed=3)
    b = autoattack(plain, data.images, data.labels, 0.1, config=QUICK, seed=3)
    assert torch.equal(a, b)


def test_bad_budgets_and_eps_are_refused(trained, test_data):
    plain, _ = trained
    with pytest.raises(ValueError, match="apgd_steps"):
        AutoAttackConfig(apgd_steps=0)
    with pytest.raises(ValueError, match="square_restarts"):
        AutoAttackConfig(square_restarts=0)
    with pytest.raises(ValueError, match="eps"):
        autoattack(plain, test_data.images[:2], test_data.labels[:2], 1.5)


def test_the_ladder_cross_checks_deterministic_models_only():
    config = replace(SMALL, autoattack=True)
    assert [r.name for r in build_ladder(config, False, 0.35) if r.cross_check] == [AUTOATTACK]
    assert not any(r.cross_check for r in build_ladder(config, True, 0.35))
    assert not any(r.cross_check for r in build_ladder(SMALL, False, 0.35))
    rung = next(r for r in build_ladder(config, False, 0.35) if r.cross_check)
    assert not rung.white_box and not rung.gradient_free  # ours are compared with it


def test_the_audit_compares_our_attacks_with_autoattack(trained, test_data):
    plain, _ = trained
    config = replace(SMALL, autoattack=True, curve_eps=(0.0, 0.35), curve_repeats=1)
    result = audit_model("plain", {"plain": plain}.__getitem__, test_data, config)
    row = next(r for r in result.attacks if r["attack"] == AUTOATTACK)
    assert row["images_attacked"] == config.limit and row["accuracy"] <= 10
    assert 0 < row["linf"] <= 0.35 + 1e-6 and row["moved_fraction"] > 0.9
    check = next(c for c in result.checks if c["check"] == "our attacks ≈ AutoAttack (eps 0.35)")
    assert check["passed"] and "AutoAttack" in check["sentence"]
    assert result.worst_case["0.35"] <= row["accuracy"]


def test_autoattack_breaks_what_a_masked_gradient_hides(trained, test_data):
    """The planted masking model stops every gradient, ours and the library's; AutoAttack's
    Square, reading only outputs, still breaks digits our PGD cannot."""
    _, masked = trained
    data = test_data.subset(40)
    budget = {"apgd_steps": 5, "apgd_restarts": 1, "square_queries": 300, "square_restarts": 1}
    theirs = run_attack(masked, data, "autoattack", 0.35, budget, name=AUTOATTACK)
    ours = run_attack(masked, data, "pgd", 0.35, {"steps": 5, "step_size": 0.1}, name="pgd")
    assert theirs.accuracy <= ours.accuracy - 0.1


def test_the_reports_budget_sentence_names_the_converged_budgets():
    from dataclasses import asdict

    from vonedemo.audit import AuditConfig
    from vonedemo.audit.report import budget_sentence

    text = budget_sentence(asdict(AuditConfig.converged()))
    assert "Deterministic models: PGD-100 with 5 restart(s)" in text
    assert "Square attack with 1000 queries" in text and "AutoAttack (ART 1.20.1" in text
    assert "100 steps and 5 restarts" in text and "5,000 queries run once" in text
    assert "AutoAttack (ART" not in budget_sentence(asdict(AuditConfig()))
