import pytest
import torch
from conftest import tiny_model

from vonedemo.attacks import GradientHealth, fgsm, input_gradient
from vonedemo.audit import (
    AuditConfig,
    audit_model,
    audit_to_dict,
    headline_markdown,
    merge_reports,
    wilson_interval,
    write_audit,
)
from vonedemo.models import BaselineNet, BasicCNN
from vonedemo.training import TrainConfig, train
from vonedemo.vone import noise_mode

SMALL = AuditConfig(
    limit=60, eps=(0.35,), eot_samples=(1, 2), pgd_steps=4, pgd_step_size=0.15, pgd_restarts=1, pgd_eot=2,
    curve_eps=(0.0, 0.25, 0.5), curve_limit=60, curve_pgd_steps=4, curve_repeats=2, doubling_limit=60,
    batch_size=60,
)  # fmt: skip


class RoundedInput(BaselineNet):
    """A planted gradient-masking model: it rounds its input, so every input gradient is 0."""

    def classify(self, x):
        return self.backend(torch.round(x))


@pytest.fixture(scope="module")
def trained(test_data):
    data = test_data.subset(2000)
    torch.manual_seed(0)
    plain = tiny_model("basic-cnn")
    train(plain, data, TrainConfig(epochs=2))
    torch.manual_seed(0)
    masked = RoundedInput(BasicCNN())
    masked.registry_name, masked.builder_args = "basic-cnn", {}
    train(masked, data, TrainConfig(epochs=2))
    plain.eval(), masked.eval()
    return plain, masked


def test_wilson_interval():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0


def test_gradient_health_on_a_planted_zero_gradient_model(trained, digits):
    _, masked = trained
    health = GradientHealth()
    adv = fgsm(masked, *digits, 0.3, health=health)
    assert torch.equal(adv, digits[0])
    assert health.zero_sign_fraction == 1.0 and health.nonfinite_fraction == 0.0 and health.attack_stalled


def test_repaired_gradient_equals_raw_wherever_raw_is_finite(digits):
    model = tiny_model("vone-basic-cnn", simple_channels=16, complex_channels=16)
    with noise_mode("off"):
        for x in (torch.rand(4, 1, 28, 28), digits[0][:4]):
            y = torch.randint(0, 10, (x.shape[0],))
            raw = input_gradient(model, x, y, gradient="raw")
            fixed = input_gradient(model, x, y, gradient="repaired")
            finite = torch.isfinite(raw)
            assert torch.isfinite(fixed).all()
            assert torch.allclose(raw[finite], fixed[finite], atol=1e-6, rtol=1e-5)
    assert finite.sum() < finite.numel()  # real digits do hit the NaN


def test_sanity_checks_flag_a_masking_model_and_pass_a_plain_cnn(trained, test_data):
    plain, masked = trained
    vone = tiny_model("vone-basic-cnn")
    vone.eval()
    models = {"basic-cnn": plain, "vone-basic-cnn": vone}
    good = audit_model("basic-cnn", models.__getitem__, test_data, SMALL)
    failed = [c for c in good.checks if not c["passed"]]
    assert not failed, failed
    assert good.worst_case["0.35"] <= good.study_fgsm["0.35"] <= good.clean

    bad = audit_model("masked", {"masked": masked}.__getitem__, test_data, SMALL)
    names = {c["check"] for c in bad.checks if not c["passed"]}
    assert "near chance at eps 0.5" in names
    assert "study's FGSM moves the images (eps 0.35)" in names
    assert bad.masking_suspected and bad.worst_case["0.35"] > 50


def test_audit_on_a_noisy_model_runs_the_whole_ladder_and_writes_reports(trained, test_data, tmp_path):
    plain, _ = trained
    vone = tiny_model("vone-basic-cnn")
    vone.eval()
    models = {"basic-cnn": plain, "vone-basic-cnn": vone}
    config = AuditConfig(**{**SMALL.__dict__, "limit": 30, "curve_limit": 30, "doubling_limit": 30, "eot_samples": (2,)})
    result = audit_model("vone-basic-cnn", models.__getitem__, test_data, config)
    attacks = [r["attack"] for r in result.attacks]
    assert attacks[0].startswith("FGSM (study") and "FGSM, EOT 2" in attacks
    assert any("noise off" in a for a in attacks) and any("noise fixed" in a for a in attacks)
    assert any(a.startswith("transfer from basic-cnn") for a in attacks)
    assert result.curves["strongest"][0]["repeats"] == 2
    report = audit_to_dict([result], config)
    written = write_audit(report, tmp_path)
    assert (tmp_path / "audit.json").exists() and (tmp_path / "audit.csv").exists()
    assert "VOne-CNN" in headline_markdown(report)
    assert any(p.suffix == ".html" for p in written)


def test_merging_audits_keeps_registry_order_and_refuses_other_settings():
    def fake(name: str, config: AuditConfig) -> dict:
        return {"config": audit_to_dict([], config)["config"], "models": {name: {"clean": 1.0}}}

    merged = merge_reports(fake("vone-basic-cnn", SMALL), fake("alexnet", SMALL))
    assert list(merged["models"]) == ["alexnet", "vone-basic-cnn"]
    again = merge_reports(merged, {**fake("alexnet", SMALL), "models": {"alexnet": {"clean": 2.0}}})
    assert again["models"]["alexnet"] == {"clean": 2.0} and len(again["models"]) == 2
    other = AuditConfig(**{**SMALL.__dict__, "limit": 61})
    with pytest.raises(ValueError, match="different settings"):
        merge_reports(merged, fake("convnet", other))
