import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_model
from test_attacks import PlantedDirection  # zero gradient; fooled past pixel (0, 0) > 0.5

from vonedemo.attacks import GradientHealth, apgd, create_attack, input_gradient, pgd
from vonedemo.attacks.apgd import checkpoints, dlr_loss
from vonedemo.attacks.pgd import default_step_size
from vonedemo.vone import noise_mode

EPS_TOL = 1e-6


def _snapshot(model):
    return (
        model.training,
        {k: v.clone() for k, v in model.state_dict().items()},
        [p.grad for p in model.parameters()],
        [b.noise_mode for b in model.modules() if hasattr(b, "noise_mode")],
    )


def _assert_unchanged(model, snap):
    training, state, grads, modes = snap
    assert model.training == training
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert all(p.grad is None for p in model.parameters()) and grads == [None] * len(grads)
    assert [b.noise_mode for b in model.modules() if hasattr(b, "noise_mode")] == modes


def _accuracy(model, images, labels):
    with torch.no_grad():
        return (model(images).argmax(1) == labels).float().mean().item()


@pytest.mark.parametrize("loss", ["ce", "dlr"])
@pytest.mark.parametrize(
    ("name", "gradient"),
    [("basic-cnn", "raw"), ("mlp", "raw"), ("vone-basic-cnn", "raw"), ("vone-mlp", "repaired")],
)
def test_apgd_stays_in_the_ball_and_in_range_and_leaves_the_model_alone(
    name, gradient, loss, digits
):
    model = tiny_model(name)
    model.train(name.endswith("cnn"))  # either mode must be left as found
    images, labels = digits
    snap = _snapshot(model)
    for eps in (0.0, 0.05, 0.3, 1.0):
        adv = apgd(model, images, labels, eps, steps=6, loss=loss, gradient=gradient, restarts=2)
        assert adv.shape == images.shape and adv.dtype == images.dtype
        assert adv.min() >= 0 and adv.max() <= 1
        assert (adv - images).abs().max() <= eps + EPS_TOL
        if eps == 0:
            assert torch.equal(adv, images)
    _assert_unchanged(model, snap)


def test_apgd_is_deterministic_for_a_seed_and_leaves_the_global_rng_alone(digits):
    model = tiny_model("basic-cnn")
    images, labels = digits
    state = torch.random.get_rng_state()
    a = apgd(model, images, labels, 0.3, steps=5, restarts=2, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = apgd(model, images, labels, 0.3, steps=5, restarts=2, seed=1)
    c = apgd(model, images, labels, 0.3, steps=5, restarts=2, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(create_attack("apgd", steps=5, restarts=2, seed=1)(model, *digits, 0.3), a)


def test_apgd_reports_its_gradients_and_result_to_health(digits):
    model = tiny_model("basic-cnn")
    images, labels = digits
    health = GradientHealth()
    adv = apgd(model, images, labels, 0.2, steps=4, health=health)
    assert health.images == len(images) and health.moved_fraction == 1.0
    assert health.linf == pytest.approx(float((adv - images).abs().max()))
    # One gradient per iterate (the start and every step), of the images not yet fooled.
    assert images.numel() <= health.gradient_entries <= 5 * images.numel()
    assert health.nonfinite_fraction == 0 and not health.attack_stalled
    zero = GradientHealth()
    assert torch.equal(apgd(model, images, labels, 0.0, health=zero), images)
    assert zero.images == len(images) and zero.gradient_entries == 0


def test_apgd_returns_no_worse_than_its_random_start(digits):
    """Per image: the first misclassified iterate, else the highest-loss point — which is at
    least the loss of the random start (the first point the attack scores)."""
    model = tiny_model("basic-cnn")
    images, labels = digits
    eps, seed = 0.05, 4
    generator = torch.Generator().manual_seed(seed)
    start = torch.clamp(
        images + (2 * torch.rand(images.shape, generator=generator) - 1) * eps, 0, 1
    )
    adv = apgd(model, images, labels, eps, steps=8, seed=seed)
    with torch.no_grad():
        adv_logits, start_logits = model(adv), model(start)
    adv_loss = F.cross_entropy(adv_logits, labels, reduction="none")
    start_loss = F.cross_entropy(start_logits, labels, reduction="none")
    fooled = adv_logits.argmax(1) != labels
    assert (adv_loss[~fooled] >= start_loss[~fooled] - 1e-5).all()
    assert (adv_loss > start_loss + 1e-4).any()  # and it does climb


class Recording(torch.nn.Module):
    """A model that remembers every batch it scores and its logits."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, x):
        logits = self.inner(x)
        self.seen.append((x.detach().clone(), logits.detach().clone()))
        return logits


def test_apgd_returns_the_highest_loss_point_it_scored(digits):
    """No image is fooled (a trained model, a small eps), so every pass scores the whole
    batch and each image comes back as its highest-loss iterate."""
    from vonedemo import create_model

    model = Recording(create_model("basic-cnn", pretrained=True))
    images, labels = digits
    adv = apgd(model, images, labels, 0.02, steps=100, loss="dlr")  # DLR: no ties near 0
    assert all(x.shape[0] == len(images) for x, _ in model.seen)  # never fooled
    losses = torch.stack([dlr_loss(z, labels) for _, z in model.seen])
    assert len(model.seen) == 101  # the random start and 100 steps (no checkpoint at the last)
    with torch.no_grad():
        final = dlr_loss(model.inner(adv), labels)
    assert torch.allclose(final, losses.max(0).values, atol=1e-6)
    assert (losses.max(0).values > losses[-1]).any()  # not simply the last iterate


class Bowl(torch.nn.Module):
    """Never fooled; the loss rises as pixel (0, 0) nears 0.55 and depends on nothing else."""

    def forward(self, x):
        s = x[:, 0, 0, 0]
        rest = torch.full((x.shape[0], 8), -10.0) + 0 * x.flatten(1).sum(1, keepdim=True)
        runner_up = -100 * (s - 0.55) ** 2
        return torch.cat([torch.zeros_like(s)[:, None], runner_up[:, None], rest], 1)


def test_apgd_halves_its_step_to_settle_inside_the_ball():
    """A step of 2·eps overshoots an optimum inside the ball; only halving lands on it."""
    x = torch.full((16, 1, 28, 28), 0.5)
    y = torch.zeros(16, dtype=torch.long)
    adv = apgd(Bowl(), x, y, 0.3, steps=50, seed=0)
    assert (adv[:, 0, 0, 0] - 0.55).abs().max() < 0.005


def test_apgd_restarts_keep_the_first_success_and_attack_only_the_rest():
    eps, seed = 0.3, 3
    x = torch.full((16, 1, 28, 28), 0.5)
    y = torch.zeros(16, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    first = torch.clamp(x + (2 * torch.rand(x.shape, generator=generator) - 1) * eps, 0, 1)
    fooled = first[:, 0, 0, 0] > 0.5
    rest = x[~fooled]
    second = torch.clamp(rest + (2 * torch.rand(rest.shape, generator=generator) - 1) * eps, 0, 1)
    assert fooled.any() and (second[:, 0, 0, 0] > 0.5).any() and (second[:, 0, 0, 0] <= 0.5).any()
    adv = apgd(PlantedDirection(), x, y, eps, steps=3, restarts=2, seed=seed)
    assert torch.equal(adv[fooled], first[fooled])  # restart 2 overwrites none of them
    later = second[:, 0, 0, 0] > 0.5
    assert torch.equal(adv[~fooled][later], second[later])  # fooled by the second try
    assert torch.equal(adv[~fooled][~later], first[~fooled][~later])  # no higher loss: the first


def test_checkpoints_follow_the_paper():
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    for steps in (1, 2, 5, 13, 1000):
        marks = checkpoints(steps)
        assert marks == sorted(set(marks)) and 0 < marks[0] and marks[-1] <= steps


def test_dlr_loss_is_the_difference_of_logits_ratio():
    logits = torch.tensor([[5.0, 3.0, 1.0, 0.0], [1.0, 4.0, 2.0, 0.0]])
    labels = torch.tensor([0, 0])
    expected = torch.tensor([-(5 - 3) / (5 - 1), -(1 - 4) / (4 - 1)])
    assert torch.allclose(dlr_loss(logits, labels), expected)
    assert torch.allclose(dlr_loss(10 * logits + 3, labels), expected)  # scale-invariant


def test_input_gradient_takes_a_loss_and_keeps_cross_entropy_by_default(digits):
    model = tiny_model("basic-cnn")
    images, labels = digits
    x = images.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(F.cross_entropy(model(x), labels, reduction="sum"), x)
    assert torch.equal(input_gradient(model, images, labels), expected)
    (dlr,) = torch.autograd.grad(dlr_loss(model(x), labels).sum(), x)
    assert torch.allclose(input_gradient(model, images, labels, loss=dlr_loss), dlr)


def test_apgd_eot_and_noise_choices_work_as_in_pgd(digits):
    images, labels = digits
    model = tiny_model("basic-cnn")
    a = apgd(model, images, labels, 0.2, steps=4, eot_samples=3)
    b = apgd(model, images, labels, 0.2, steps=4)
    assert torch.allclose(a, b, atol=1e-6)
    vone = tiny_model("vone-basic-cnn")
    with noise_mode("off"):
        off = apgd(vone, images, labels, 0.2, steps=4, gradient="repaired")
    overridden = apgd(vone, images, labels, 0.2, steps=4, gradient="repaired", noise="off")
    assert torch.equal(off, overridden)
    seeded = apgd(vone, images, labels, 0.2, steps=4, gradient="repaired", noise="seeded")
    assert torch.equal(
        seeded, apgd(vone, images, labels, 0.2, steps=4, gradient="repaired", noise="seeded")
    )


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"steps": 0}, "steps"),
        ({"restarts": 0}, "restarts"),
        ({"eot_samples": 0}, "eot_samples"),
        ({"loss": "hinge"}, "loss"),
        ({"rho": 1.5}, "rho"),
        ({"gradient": "fixed"}, "known: raw, repaired"),
        ({"noise": "loud"}, "known: neuronal, off, seeded"),
    ],
)
def test_apgd_refuses_bad_options(options, match, digits):
    with pytest.raises(ValueError, match=match):
        apgd(tiny_model("basic-cnn"), *digits, 0.1, **options)


@pytest.mark.parametrize("eps", [-0.1, 1.5, float("nan")])
def test_apgd_refuses_bad_eps_and_inputs(eps, digits):
    model = tiny_model("basic-cnn")
    images, labels = digits
    with pytest.raises(ValueError, match="eps"):
        apgd(model, images, labels, eps)
    with pytest.raises(ValueError, match="labels"):
        apgd(model, images, labels[:3], 0.1)


def test_apgd_breaks_at_least_as_many_digits_as_pgd_on_the_shipped_convnet(test_data):
    from vonedemo import create_model

    model = create_model("convnet", pretrained=True)
    images, labels = test_data.images[:100], test_data.labels[:100]
    eps, steps = 0.1, 30
    snap = _snapshot(model)
    fixed = pgd(model, images, labels, eps, steps, default_step_size(eps, steps))
    adaptive = apgd(model, images, labels, eps, steps)
    dlr = apgd(model, images, labels, eps, steps, loss="dlr")
    _assert_unchanged(model, snap)
    clean = _accuracy(model, images, labels)
    acc_pgd, acc_ce, acc_dlr = (_accuracy(model, a, labels) for a in (fixed, adaptive, dlr))
    assert acc_ce <= acc_pgd < clean
    assert acc_dlr <= clean - 0.5  # the DLR loss breaks most digits too
    with torch.no_grad():
        both = (model(adaptive).argmax(1) == labels) & (model(dlr).argmax(1) == labels)
    assert both.float().mean().item() <= min(acc_ce, acc_dlr)
