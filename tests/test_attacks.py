import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_model

from vonedemo.attacks import (
    GradientHealth,
    create_attack,
    fgsm,
    input_gradient,
    list_attacks,
    pgd,
)
from vonedemo.models import UnknownNameError, list_models
from vonedemo.vone import gradient_mode, noise_mode

EPS_TOL = 1e-6  # float32 rounding of (x + eps) - x


def _snapshot(model):
    return (
        model.training,
        {k: v.clone() for k, v in model.state_dict().items()},
        [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        [b.noise_mode for b in model.modules() if hasattr(b, "noise_mode")],
    )


def _assert_unchanged(model, snap):
    training, state, grads, modes = snap
    assert model.training == training
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert [None if p.grad is None else p.grad for p in model.parameters()] == [None] * len(grads)
    assert [b.noise_mode for b in model.modules() if hasattr(b, "noise_mode")] == modes


ATTACK_CASES = {
    "fgsm": {},
    "pgd": {"steps": 3, "step_size": 0.05},
    "square": {"queries": 10},
    "apgd": {"steps": 3},
}


@pytest.mark.parametrize("attack", list_attacks())
@pytest.mark.parametrize("name", list_models())
def test_attack_invariants_on_every_model(name, attack, digits):
    model = tiny_model(name)
    model.train(name.endswith("cnn"))  # either mode must be left as found
    images, labels = digits
    images, labels = images[:4], labels[:4]
    snap = _snapshot(model)
    run = create_attack(attack, **ATTACK_CASES[attack])
    for eps in (0.0, 0.1, 0.35):
        adv = run(model, images, labels, eps)
        assert adv.shape == images.shape
        assert adv.min() >= 0 and adv.max() <= 1
        assert (adv - images).abs().max() <= eps + EPS_TOL
        if eps == 0:
            assert torch.equal(adv, images)
    _assert_unchanged(model, snap)


def test_fgsm_equals_the_formula_on_a_noise_off_model(digits):
    model = tiny_model("basic-cnn")
    images, labels = digits
    x = images.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    expected = torch.clamp(images + 0.3 * x.grad.sign(), 0, 1)
    assert torch.equal(fgsm(model, images, labels, 0.3), expected)


@pytest.mark.parametrize("gradient", ["repaired", "raw"])
def test_fgsm_on_vone_model_with_noise_off_matches_formula(digits, gradient):
    """On inputs whose gradient is defined — real digits under the repaired gradient, digits
    lifted off the blank background (no exact zeros) under the study's raw one — so the image
    really moves and FGSM's sign and clamp both show."""
    model = tiny_model("vone-basic-cnn", noise_mode="off")
    images, labels = digits
    if gradient == "raw":
        lift = torch.rand(images.shape, generator=torch.Generator().manual_seed(0))
        images = (images + 0.2 * lift).clamp(0, 1)
    x = images.clone().requires_grad_(True)
    with gradient_mode(gradient):
        loss = F.cross_entropy(model(x), labels, reduction="sum")
        (g,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(g).all() and (g.sign() != 0).all()
    step = images + 0.2 * g.sign()
    assert (step < 0).any() and (step > 1).any()  # the clamp to [0, 1] matters here
    expected = torch.clamp(step, 0, 1)
    assert torch.equal(fgsm(model, images, labels, 0.2, gradient=gradient), expected)


@pytest.mark.parametrize("name", ["basic-cnn", "mlp"])
def test_pgd_one_step_of_eps_without_random_start_is_fgsm(name, digits):
    model = tiny_model(name)
    images, labels = digits
    a = pgd(model, images, labels, 0.25, steps=1, step_size=0.25, random_start=False)
    assert torch.equal(a, fgsm(model, images, labels, 0.25))


def test_eot_on_a_deterministic_model_equals_the_plain_attack(digits):
    model = tiny_model("basic-cnn")
    images, labels = digits
    assert torch.equal(
        fgsm(model, images, labels, 0.2, eot_samples=4), fgsm(model, images, labels, 0.2)
    )
    with noise_mode("off"):
        vone = tiny_model("vone-basic-cnn")
        a = pgd(
            vone, images, labels, 0.2, steps=2, step_size=0.1, eot_samples=3, gradient="repaired"
        )
        b = pgd(vone, images, labels, 0.2, steps=2, step_size=0.1, gradient="repaired")
    assert torch.allclose(a, b, atol=1e-6)


def test_eot_averages_noisy_gradients(digits):
    model = tiny_model("vone-basic-cnn")
    images, labels = digits
    torch.manual_seed(0)
    g1 = input_gradient(model, images, labels, gradient="repaired")
    torch.manual_seed(0)
    g8 = input_gradient(model, images, labels, eot_samples=8, gradient="repaired")
    torch.manual_seed(0)
    parts = [input_gradient(model, images, labels, gradient="repaired") for _ in range(8)]
    assert torch.allclose(g8, torch.stack(parts).mean(0), atol=1e-6)
    assert not torch.allclose(g1, g8)


def test_pgd_is_at_least_as_strong_as_fgsm_on_a_trained_model(test_data):
    from vonedemo.training import TrainConfig, train

    torch.manual_seed(0)
    model = tiny_model("mlp")
    train(model, test_data.subset(2000), TrainConfig(epochs=2))
    x, y = test_data.images[5000:5200], test_data.labels[5000:5200]
    with torch.no_grad():
        acc_f = (model(fgsm(model, x, y, 0.1)).argmax(1) == y).float().mean()
        acc_p = (
            (model(pgd(model, x, y, 0.1, steps=10, step_size=0.02)).argmax(1) == y).float().mean()
        )
        clean = (model(x).argmax(1) == y).float().mean()
    assert acc_p <= acc_f < clean


def test_pgd_restarts_and_random_start_are_seeded(digits):
    model = tiny_model("basic-cnn")
    images, labels = digits
    a = pgd(model, images, labels, 0.3, steps=2, step_size=0.1, restarts=2, seed=1)
    b = pgd(model, images, labels, 0.3, steps=2, step_size=0.1, restarts=2, seed=1)
    c = pgd(model, images, labels, 0.3, steps=2, step_size=0.1, restarts=2, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a - images).abs().max() <= 0.3 + EPS_TOL


class PlantedDirection(torch.nn.Module):
    """Fooled (class 1 instead of 0) exactly when pixel (0, 0) lies above 0.5, with a zero
    input gradient: PGD never moves, so each restart's result is its random start."""

    def forward(self, x):
        fooled = (x[:, 0, 0, 0] > 0.5).float()
        logits = torch.zeros(x.shape[0], 10)
        logits[:, 1] = 2 * fooled - 1
        return logits + 0 * x.flatten(1).sum(1, keepdim=True)


def test_pgd_restarts_keep_the_first_success():
    eps, seed = 0.3, 3
    x = torch.full((16, 1, 28, 28), 0.5)
    y = torch.zeros(16, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    starts = [torch.clamp(x + (2 * torch.rand(x.shape, generator=generator) - 1) * eps, 0, 1)]
    starts.append(torch.clamp(x + (2 * torch.rand(x.shape, generator=generator) - 1) * eps, 0, 1))
    fooled = [s[:, 0, 0, 0] > 0.5 for s in starts]
    first_only, second_only = fooled[0] & ~fooled[1], ~fooled[0] & fooled[1]
    assert first_only.any() and second_only.any() and (~fooled[0] & ~fooled[1]).any()
    adv = pgd(PlantedDirection(), x, y, eps, steps=2, step_size=0.1, restarts=2, seed=seed)
    assert torch.equal(adv[fooled[0]], starts[0][fooled[0]])  # restart 2 overwrites none of them
    assert torch.equal(adv[~fooled[0]], starts[1][~fooled[0]])  # the others: the last try
    assert torch.equal(adv[:, 0, 0, 0] > 0.5, fooled[0] | fooled[1])


@pytest.mark.parametrize("eps", [-0.1, 1.5, float("nan"), "big"])
def test_bad_eps_is_refused(eps, digits):
    model = tiny_model("basic-cnn")
    with pytest.raises(ValueError, match="eps"):
        fgsm(model, *digits, eps)
    with pytest.raises(ValueError, match="eps"):
        pgd(model, *digits, eps)


def test_bad_inputs_are_refused(digits):
    model = tiny_model("basic-cnn")
    images, labels = digits
    with pytest.raises(ValueError, match="28"):
        fgsm(model, torch.rand(2, 1, 32, 32), labels[:2], 0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fgsm(model, images * 255, labels, 0.1)
    with pytest.raises(ValueError, match="labels"):
        fgsm(model, images, labels[:3], 0.1)
    with pytest.raises(ValueError, match="labels"):
        fgsm(model, images, labels + 20, 0.1)
    with pytest.raises(ValueError, match="steps"):
        pgd(model, images, labels, 0.1, steps=0)
    with pytest.raises(ValueError, match="known: neuronal, off, seeded"):
        fgsm(model, images, labels, 0.1, noise="loud")
    with pytest.raises(ValueError, match="known: raw, repaired"):
        pgd(model, images, labels, 0.1, gradient="fixed")


def test_unknown_attack_lists_known_ones():
    with pytest.raises(UnknownNameError, match="fgsm"):
        create_attack("deepfool")


def test_gradient_health_on_a_planted_nan_model_and_a_plain_one(digits):
    class NaNGrad(torch.nn.Module):
        def forward(self, x):
            return torch.sqrt(x * 0).flatten(1)[:, :10] + torch.zeros(x.shape[0], 10)

    images, labels = digits
    health = GradientHealth()
    adv = fgsm(NaNGrad(), images, labels, 0.3, health=health)
    assert torch.equal(adv, images)
    assert health.nonfinite_fraction == 1.0 and health.zero_sign_fraction == 1.0
    assert health.linf == 0 and health.moved_fraction == 0 and health.attack_stalled
    good = GradientHealth()
    fgsm(tiny_model("basic-cnn"), images, labels, 0.3, health=good)
    assert (
        good.nonfinite_fraction == 0 and good.linf == pytest.approx(0.3) and not good.attack_stalled
    )


def test_study_fgsm_on_a_vone_model_stalls_with_raw_gradient_and_moves_when_repaired(digits):
    model = tiny_model("vone-basic-cnn", simple_channels=32, complex_channels=32)
    images, labels = digits
    snap = _snapshot(model)
    raw, fixed = GradientHealth(), GradientHealth()
    adv_raw = fgsm(model, images, labels, 0.35, health=raw)
    adv_fix = fgsm(model, images, labels, 0.35, gradient="repaired", health=fixed)
    assert raw.nonfinite_fraction == 1.0 and torch.equal(adv_raw, images)  # NaN at every pixel
    assert fixed.nonfinite_fraction == 0 and fixed.linf == pytest.approx(0.35, abs=1e-6)
    assert not torch.equal(adv_fix, images)
    _assert_unchanged(model, snap)  # neither gradient choice touches the model


# --- targeted attacks ----------------------------------------------------------------------------
@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
@pytest.mark.parametrize("name", list_models())
def test_targeted_attack_invariants_on_every_model(name, attack, digits):
    model = tiny_model(name)
    images, labels = digits[0][:4], digits[1][:4]
    target = (labels + 3) % 10
    snap = _snapshot(model)
    run = create_attack(attack, **ATTACK_CASES[attack])
    for eps in (0.0, 0.2):
        adv = run(model, images, labels, eps, target=target)
        assert adv.min() >= 0 and adv.max() <= 1
        assert (adv - images).abs().max() <= eps + EPS_TOL
        if eps == 0:
            assert torch.equal(adv, images)
    _assert_unchanged(model, snap)


def test_targeted_pgd_makes_a_trained_baseline_read_the_target(test_data):
    from vonedemo import create_model

    model = create_model("basic-cnn", pretrained=True)
    images, labels = test_data.images[:32], test_data.labels[:32]
    target = (labels + 1) % 10
    adv = pgd(model, images, labels, 0.35, steps=20, step_size=0.05, target=target)
    with torch.no_grad():
        reached = (model(adv).argmax(1) == target).float().mean().item()
    assert reached >= 0.8  # most digits now read as the class asked for
    untargeted = pgd(model, images, labels, 0.35, steps=20, step_size=0.05)
    with torch.no_grad():
        assert (model(untargeted).argmax(1) == target).float().mean().item() < reached


def test_targeted_fgsm_steps_down_the_targets_loss(digits):
    model = tiny_model("basic-cnn")
    images, labels = digits
    target = (labels + 5) % 10
    x = images.clone().requires_grad_(True)
    F.cross_entropy(model(x), target).backward()
    expected = torch.clamp(images - 0.3 * x.grad.sign(), 0, 1)
    assert torch.equal(fgsm(model, images, labels, 0.3, target=target), expected)


def test_runner_up_targets_are_the_second_most_likely_class(digits):
    from vonedemo.attacks import runner_up_targets

    model = tiny_model("basic-cnn")
    images, _ = digits
    with torch.no_grad():
        order = model(images).argsort(1, descending=True)
    assert torch.equal(runner_up_targets(model, images), order[:, 1])
