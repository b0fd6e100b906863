from dataclasses import replace

import pytest
import torch
from conftest import tiny_model

from vonedemo import audit
from vonedemo.attacks import GradientHealth, create_attack, fgsm, input_gradient
from vonedemo.audit import (
    SURVIVORS,
    AuditConfig,
    CraftedImages,
    attacking,
    audit_model,
    audit_to_dict,
    build_ladder,
    headline_markdown,
    merge_reports,
    run_attack,
    wilson_interval,
    write_audit,
)
from vonedemo.models import BaselineNet, BasicCNN
from vonedemo.training import TrainConfig, train
from vonedemo.vone import noise_mode

SMALL = AuditConfig(
    limit=60,
    eps=(0.35,),
    eot_samples=(1, 2),
    pgd_steps=4,
    pgd_step_size=0.15,
    pgd_restarts=1,
    pgd_eot=2,
    curve_eps=(0.0, 0.25, 0.5),
    curve_limit=60,
    curve_pgd_steps=4,
    curve_repeats=2,
    doubling_limit=60,
    batch_size=60,
)


class RoundedInput(BaselineNet):
    """A planted gradient-masking model: it rounds its input, so every input gradient is 0."""

    def classify(self, x):
        return self.backend(torch.round(x))


def plain_and_masked(test_data):
    """A tiny CNN and the planted masking model, each trained for two epochs."""
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


@pytest.fixture(scope="module")
def trained(test_data):
    return plain_and_masked(test_data)


def test_wilson_interval():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0


def test_gradient_health_on_a_planted_zero_gradient_model(trained, digits):
    _, masked = trained
    health = GradientHealth()
    adv = fgsm(masked, *digits, 0.3, health=health)
    assert torch.equal(adv, digits[0])
    assert (
        health.zero_sign_fraction == 1.0
        and health.nonfinite_fraction == 0.0
        and health.attack_stalled
    )


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


def test_audit_on_a_noisy_model_runs_the_whole_ladder_and_writes_reports(
    trained, test_data, tmp_path
):
    plain, _ = trained
    vone = tiny_model("vone-basic-cnn")
    vone.eval()
    models = {"basic-cnn": plain, "vone-basic-cnn": vone}
    config = AuditConfig(
        **{
            **SMALL.__dict__,
            "limit": 30,
            "curve_limit": 30,
            "doubling_limit": 30,
            "eot_samples": (2,),
        }
    )
    result = audit_model("vone-basic-cnn", models.__getitem__, test_data, config)
    attacks = [r["attack"] for r in result.attacks]
    assert attacks[0].startswith("FGSM (study") and "FGSM, EOT 2" in attacks
    assert any("noise off" in a for a in attacks) and any("noise fixed" in a for a in attacks)
    assert any(a.startswith("transfer from basic-cnn") for a in attacks)
    assert result.curves["strongest"][0]["repeats"] == 2
    report = audit_to_dict([result], config)
    written = write_audit(report, tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("# x\n")
    from vonedemo.cli import main

    assert main(["audit", "--report-only", "--out", str(tmp_path), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "## Is VOneNet's robustness real?" in text and "<!-- audit:start -->" in text
    assert "Budgets: FGSM with EOT 2" in text and "VOne-CNN" in text
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


def test_attacking_only_survivors_matches_a_standalone_run_on_them(trained, test_data):
    plain, _ = trained
    data = test_data.subset(60)
    alive = torch.arange(60) % 3 != 0
    cascaded = run_attack(plain, data, "fgsm", 0.2, {}, name="x", batch_size=25, alive=alive)
    keep = torch.nonzero(alive).flatten()
    alone = run_attack(
        plain, type(data)(data.images[keep], data.labels[keep], "kept"), "fgsm", 0.2, {}, name="y"
    )
    assert not cascaded.correct[~alive].any()  # already broken stays broken
    assert torch.equal(cascaded.correct[keep], alone.correct)


def test_a_twins_crafted_images_are_reused_for_transfer_not_recomputed(
    trained, test_data, monkeypatch
):
    plain, _ = trained
    data = test_data.subset(40)
    calls = []
    real = attacking.create_attack

    def counting(name, **options):
        fn = real(name, **options)
        return lambda *a, **k: (calls.append(name), fn(*a, **k))[1]

    monkeypatch.setattr(attacking, "create_attack", counting)
    options = {"steps": 3, "step_size": 0.1, "seed": 0}
    crafted = CraftedImages()  # one audit run's store, handed down explicitly
    shared = {"batch_size": 20, "crafted_by": "basic-cnn", "crafted": crafted}
    torch.manual_seed(0)
    first = run_attack(plain, data, "pgd", 0.3, options, name="a", **shared)
    assert len(calls) == 2 and len(crafted) == 1
    torch.manual_seed(0)
    again = run_attack(plain, data, "pgd", 0.3, options, name="b", **shared)
    assert len(calls) == 2 and torch.equal(first.correct, again.correct)
    # The reused row carries the crafting's health, and says it was shared.
    assert again.health.summary() == first.health.summary() and first.health.linf > 0
    assert again.row()["crafting_shared"] and not first.row()["crafting_shared"]
    torch.manual_seed(0)  # other settings: crafted anew
    run_attack(plain, data, "pgd", 0.2, options, name="c", **shared)
    assert len(calls) == 4
    torch.manual_seed(0)  # another run's store (or none) shares nothing: no hidden cache
    run_attack(plain, data, "pgd", 0.3, options, name="d", **{**shared, "crafted": CraftedImages()})
    run_attack(plain, data, "pgd", 0.3, options, name="e", batch_size=20, crafted_by="basic-cnn")
    assert len(calls) == 8


def test_cascaded_rungs_only_lower_the_worst_case_and_stay_out_of_the_checks(trained, test_data):
    plain, _ = trained
    vone = tiny_model("vone-basic-cnn")
    vone.eval()
    models = {"basic-cnn": plain, "vone-basic-cnn": vone}
    config = AuditConfig(
        **{
            **SMALL.__dict__,
            "limit": 30,
            "curve_limit": 30,
            "doubling_limit": 30,
            "eot_samples": (2, 4),
            "cascade_from_eot": 4,
            "pgd_step_size": None,
        }
    )
    result = audit_model("vone-basic-cnn", models.__getitem__, test_data, config)
    names = [r["attack"] for r in result.attacks]
    cascaded = [n for n in names if n.endswith(SURVIVORS)]
    assert cascaded == names[-3:]  # noise off, noise fixed, then EOT 4: last
    assert cascaded[-1] == "FGSM, EOT 4" + SURVIVORS
    assert "FGSM, EOT 2" in names and "FGSM, EOT 4" + SURVIVORS in names
    accs = [r["accuracy"] for r in result.attacks]
    first_cascaded = names.index(cascaded[0])
    # Each cascaded row is what survives it and everything before: never above the standalone
    # worst case, never rising, and its last value is the worst case.
    standalone_worst = min(accs[:first_cascaded])
    assert all(a <= standalone_worst + 1e-9 for a in accs[first_cascaded:])
    assert all(
        a >= b for a, b in zip(accs[first_cascaded:], accs[first_cascaded + 1 :], strict=False)
    )
    assert result.worst_case["0.35"] == pytest.approx(accs[-1])
    assert not any(SURVIVORS in c["sentence"] for c in result.checks)


def test_rows_that_attacked_nothing_show_no_health():
    from vonedemo.audit import nothing_attacked as _nothing_attacked

    zero = {
        "nonfinite_gradient_fraction": 0.0,
        "zero_sign_fraction": 0.0,
        "linf": 0.0,
        "moved_fraction": 0.0,
    }
    assert _nothing_attacked({**zero, "eps": 0.35, "images_attacked": 0})
    assert not _nothing_attacked(
        {**zero, "eps": 0.35, "images_attacked": 10, "linf": 0.35, "moved_fraction": 1.0}
    )
    assert not _nothing_attacked(
        {**zero, "eps": 0.35, "images_attacked": 10, "crafting_shared": True, "linf": 0.35}
    )
    assert _nothing_attacked({**zero, "eps": 0.35})  # older reports: an all-zero health
    assert not _nothing_attacked(
        {**zero, "eps": 0.35, "zero_sign_fraction": 1.0}
    )  # a stalled attack


def test_audit_pages_load_the_results_folders_plotly_instead_of_a_second_copy(tmp_path):
    from vonedemo.plots import eps_curves_figure, write_figure

    fig = eps_curves_figure(
        {"basic-cnn": [{"eps": 0.0, "accuracy": 99.0}, {"eps": 0.35, "accuracy": 8.0}]}, "t"
    )
    results = tmp_path / "results"
    for folder in (results / "audit", tmp_path / "other"):
        folder.mkdir(parents=True)
    (alone,) = write_figure(fig, results / "curves")[:1]  # no shared copy yet: one beside the page
    library = results / "plotly.min.js"
    assert library.stat().st_size > 1_000_000 and 'src="plotly.min.js"' in alone.read_text()
    (page,) = write_figure(fig, results / "audit" / "curves", shared_plotly_js=library)[:1]
    assert 'src="../plotly.min.js"' in page.read_text()
    assert not (results / "audit" / "plotly.min.js").exists()
    (elsewhere,) = write_figure(
        fig, tmp_path / "other" / "curves", shared_plotly_js=tmp_path / "missing.js"
    )[:1]
    assert (tmp_path / "other" / "plotly.min.js").is_file()  # no shared copy there: falls back
    assert 'src="plotly.min.js"' in elsewhere.read_text()


def _curve(*accuracies: float, repeats: int = 1) -> list[dict]:
    return [
        {"eps": round(0.05 * i, 2), "accuracy": a, "repeats": repeats}
        for i, a in enumerate(accuracies)
    ]


def test_accuracy_may_rise_with_eps_only_within_sampling_noise():
    # AlexNet's audited curve: 1% → 3% on 100 images is two images, PGD's random start.
    assert audit.falls_with_eps_check(_curve(64, 24, 1, 3, 1, 0), images=100)["passed"]
    masked = audit.falls_with_eps_check(_curve(64, 20, 40, 45), images=100)
    assert not masked["passed"] and "+20.0 points where sampling noise allows" in masked["sentence"]
    assert not audit.falls_with_eps_check(_curve(0, 0, 5), images=1000)["passed"]  # 50 images: real
    assert audit.falls_with_eps_check(_curve(0, 0, 5), images=1000 // 20)[
        "passed"
    ]  # 2-3 images: noise
    assert audit.falls_with_eps_check(_curve(10, 12.5, repeats=2), images=100)["passed"]
    assert not audit.falls_with_eps_check(_curve(0, 1.5), images=10_000)[
        "passed"
    ]  # the 1-point floor
    assert audit.falls_with_eps_check(_curve(50), images=100)["passed"]


def test_report_only_rederives_the_curve_check_and_keeps_the_others():
    stale = {"check": audit.FALLS_WITH_EPS, "passed": False, "sentence": "old rule"}
    other = {"check": "eps 0 equals clean", "passed": False, "sentence": "kept as run"}
    report = {
        "config": {"curve_limit": 100},
        "models": {
            "alexnet": {"curves": {"strongest": _curve(24, 1, 3, 1)}, "checks": [other, stale]},
            "bare": {"clean": 1.0},
        },
    }
    checks = audit.refresh_derived_checks(report)["models"]["alexnet"]["checks"]
    assert checks[0] == other and checks[1]["check"] == audit.FALLS_WITH_EPS and checks[1]["passed"]


def test_the_gradient_free_rung_breaks_a_plain_cnn_inside_the_eps_ball(trained, test_data):
    """The Square rung needs no gradient: on a plain CNN at eps 0.35 it breaks most digits,
    and its images stay within eps of the originals and in [0, 1]."""
    plain, masked = trained
    config = replace(SMALL, square_queries=300)
    ladder = build_ladder(config, stochastic=False, eps=0.35)
    square = [r for r in ladder if "gradient-free" in r.name]
    assert len(square) == 1 and square[0].gradient_free and not square[0].white_box
    assert square[0].options["queries"] == 300
    data = test_data.subset(60)
    x, y = data.images, data.labels
    adv = create_attack("square", **square[0].options)(plain, x, y, 0.35)
    assert (adv - x).abs().max() <= 0.35 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    outcome = run_attack(plain, data, "square", 0.35, square[0].options, name=square[0].name)
    assert outcome.accuracy < 0.3  # a plain CNN falls without any gradient
    # The masking model hides its gradient from PGD but not its outputs from Square: the
    # audit's "white-box ≤ gradient-free" check says so.
    quick = replace(config, square_queries=100, curve_eps=(0.0, 0.35), curve_repeats=1)
    bad = audit_model("masked", {"masked": masked}.__getitem__, test_data, quick)
    failed = {c["check"] for c in bad.checks if not c["passed"]}
    assert "white-box ≤ gradient-free (eps 0.35)" in failed
    passed = {c["check"] for c in bad.checks if c["passed"]}
    assert "white-box ≤ gradient-free (eps 0.35)" not in passed


def test_budgets_scale_with_the_models_cost():
    config = AuditConfig.converged()
    deterministic = build_ladder(config.for_model(False), stochastic=False, eps=0.35)
    pgd = next(r for r in deterministic if r.attack == "pgd")
    assert pgd.name == "PGD-100" and pgd.options["restarts"] == 5 and not pgd.on_survivors
    assert config.doubling_limit == config.limit == 1000
    assert any(r.gradient_free and r.options["queries"] >= 1000 for r in deterministic)
    noisy = build_ladder(config.for_model(True), stochastic=True, eps=0.35)
    eot = next(r for r in noisy if r.attack == "pgd" and r.options.get("eot_samples") == 8)
    assert eot.options["steps"] >= 20 and eot.on_survivors and eot is noisy[-2]
    assert SURVIVORS in eot.name
    # Square runs last, on what everything else left; curves use a cheaper EOT
    assert noisy[-1].gradient_free and noisy[-1].on_survivors
    assert deterministic[-1].gradient_free and deterministic[-1].on_survivors
    assert config.curve_eot == 1 and config.autoattack_budget.square_restarts == 1
    # noisy models' dearer gradient: their cheaper rungs cascade, their curves use fewer images
    assert config.for_model(True).curve_limit == 200 < config.for_model(False).curve_limit
    assert all(r.on_survivors for r in noisy if r.attack == "pgd" or "EOT 64" in r.name)
    apgd = [r for r in deterministic if r.attack == "apgd"]
    assert [r.options["loss"] for r in apgd] == ["ce", "dlr"] and all(r.white_box for r in apgd)
    assert all(r.options["steps"] == 100 and r.options["restarts"] == 5 for r in apgd)
    assert not any(r.attack == "apgd" for r in noisy)
    # the default ladder is unchanged: the same budget for every model, PGD-EOT standalone
    plain = AuditConfig()
    assert plain.for_model(False) == plain
    assert not next(r for r in build_ladder(plain, True, 0.35) if "EOT 4" in r.name).on_survivors


def test_square_and_transfer_on_survivors_still_flag_a_masking_model(trained, test_data):
    """Run last on what every other rung left standing, the gradient-free and the transfer
    rungs are checked in cascade form: on the planted masking model each breaks images the
    gradient attacks missed, and its check fails; on a plain CNN both pass."""
    plain, masked = trained
    config = replace(
        SMALL,
        square_queries=100,
        square_on_survivors=True,
        transfer_on_survivors=True,
        curve_eps=(0.0, 0.35),
        curve_repeats=1,
    )
    # The masked model's transfer source is the plain CNN (its "twin" here).
    models = {"basic-cnn": masked, "vone-basic-cnn": plain}
    bad = audit_model("basic-cnn", models.__getitem__, test_data, config)
    names = [r["attack"] for r in bad.attacks]
    assert names[-2:] == [
        "transfer from vone-basic-cnn" + SURVIVORS,
        "Square, 100 queries (gradient-free)" + SURVIVORS,
    ]
    failed = {c["check"]: c["sentence"] for c in bad.checks if not c["passed"]}
    assert "white-box ≤ gradient-free (eps 0.35)" in failed
    assert "white-box ≤ transfer (eps 0.35)" in failed
    assert "left standing" in failed["white-box ≤ transfer (eps 0.35)"]
    assert bad.worst_case["0.35"] == pytest.approx(bad.attacks[-1]["accuracy"])

    good = audit_model(
        "basic-cnn", {"basic-cnn": plain, "vone-basic-cnn": masked}.__getitem__, test_data, config
    )
    checks = {c["check"]: c["passed"] for c in good.checks}
    assert checks["white-box ≤ gradient-free (eps 0.35)"]
    assert checks["white-box ≤ transfer (eps 0.35)"]


def test_a_fine_tuned_baseline_is_audited_from_its_saved_round(tmp_path, test_data):
    """``mlp+fgsm-ft`` is the shipped MLP with the weights of the committed fine-tuning run's
    last round, frozen like every loaded model; a missing state is a clear error."""
    from vonedemo.audit.targets import FINETUNED_MODELS, audit_targets, target_loader
    from vonedemo.checkpoints import load_pretrained
    from vonedemo.cli import main
    from vonedemo.models import model_label

    assert "mlp+fgsm-ft" in FINETUNED_MODELS and audit_targets()[-4:] == list(FINETUNED_MODELS)
    assert model_label("mlp+fgsm-ft") == model_label("mlp") + ", FGSM-fine-tuned"
    tuned = target_loader()("mlp+fgsm-ft")
    shipped = load_pretrained("mlp")[0]
    assert not tuned.training and not any(p.requires_grad for p in tuned.parameters())
    differs = [
        not torch.equal(a, b)
        for a, b in zip(tuned.state_dict().values(), shipped.state_dict().values(), strict=True)
    ]
    assert any(differs)
    data = test_data.subset(200)
    from vonedemo.evaluation import accuracy

    assert accuracy(tuned, data) > 0.8

    with pytest.raises(FileNotFoundError, match="no fine-tuning state"):
        target_loader(tmp_path)("mlp+fgsm-ft")
    code = main(
        [
            "audit",
            "--models",
            "mlp+fgsm-ft",
            "--finetune-state",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
            "--limit",
            "10",
        ]
    )
    assert code == 2 and not (tmp_path / "out").exists()


def test_a_study_fgsm_that_moves_nothing_reads_as_the_finding_not_a_failure():
    from vonedemo.audit.report import checks_cell

    stalled = {"check": "study's FGSM moves the images (eps 0.35)", "passed": False}
    passed = {"check": "eps 0 equals clean", "passed": True}
    broken = {"check": "white-box ≤ transfer (eps 0.1)", "passed": False}
    assert checks_cell([passed]) == "all pass"
    assert checks_cell([passed, stalled]) == (
        "all others pass; the finding: the study's FGSM moved no image (eps 0.35), so its "
        "figure is clean accuracy"
    )
    assert checks_cell([broken, stalled]).startswith("FAIL: white-box ≤ transfer (eps 0.1); ")


def test_the_shipped_converged_audit_has_no_failure_but_the_finding():
    """Every check passes on every model of ``results/audit``, or it is the study's FGSM that
    moved nothing — and the report says so in words."""
    import json
    from pathlib import Path

    from vonedemo.audit import headline_markdown, ladder_markdown

    report = json.loads((Path(__file__).parent.parent / "results/audit/audit.json").read_text())
    assert len(report["models"]) == 14
    text = headline_markdown(report) + ladder_markdown(report)
    assert "FAIL" not in text
    for name, entry in report["models"].items():
        failed = {c["check"] for c in entry["checks"] if not c["passed"]}
        if name.startswith("vone-"):
            assert failed == {f"study's FGSM moves the images (eps {e})" for e in (0.35, 0.1)}
        else:
            assert failed == set(), name
    assert text.count("FINDING — study's FGSM moves the images") == 10  # 5 VOneNets × 2 eps
