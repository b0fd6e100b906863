"""The Square attack: gradient-free, inside the eps ball and [0, 1], and it breaks a plain CNN."""

import pytest
import torch
from conftest import tiny_model

from vonedemo import create_model
from vonedemo.attacks import GradientHealth, create_attack, square
from vonedemo.attacks.square import square_share


@pytest.fixture(scope="module")
def basic_cnn():
    return create_model("basic-cnn", pretrained=True).eval()


def accuracy(model, images, labels):
    with torch.no_grad():
        return (model(images).argmax(1) == labels).float().mean().item()


def test_it_breaks_a_plain_cnn_at_the_study_eps(basic_cnn, test_data):
    images, labels = test_data.images[:64], test_data.labels[:64]
    health = GradientHealth()
    adv = square(basic_cnn, images, labels, eps=0.35, queries=100, seed=0, health=health)
    assert accuracy(basic_cnn, images, labels) >= 0.95
    assert accuracy(basic_cnn, adv, labels) <= 0.10
    assert (adv - images).abs().max() <= 0.35 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert health.moved_fraction > 0.9


@pytest.mark.parametrize("name", ["basic-cnn", "vone-basic-cnn", "mlp"])
@pytest.mark.parametrize("eps", [0.0, 0.05, 0.35])
def test_invariants_and_the_model_is_untouched(name, eps, digits):
    images, labels = digits
    model = tiny_model(name).train()  # train mode must survive the attack
    before = {k: v.clone() for k, v in model.state_dict().items()}
    adv = create_attack("square", queries=20, seed=0)(model, images, labels, eps)
    assert adv.shape == images.shape
    assert (adv - images).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    if eps == 0:
        assert torch.equal(adv, images)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_it_never_asks_for_a_gradient(digits):
    images, labels = digits
    model = tiny_model("basic-cnn").eval()

    def no_grad_allowed(module, inputs):
        assert not torch.is_grad_enabled(), "the Square attack must not build a graph"

    model.register_forward_pre_hook(no_grad_allowed)
    square(model, images, labels, eps=0.3, queries=10, seed=0)


def test_same_seed_same_images_and_images_already_wrong_stay(basic_cnn, test_data):
    images, labels = test_data.images[:16], test_data.labels[:16]
    first = square(basic_cnn, images, labels, eps=0.2, queries=30, seed=3)
    assert torch.equal(first, square(basic_cnn, images, labels, eps=0.2, queries=30, seed=3))
    wrong = (labels + 1) % 10  # every image is already "misclassified" for these labels
    assert torch.equal(square(basic_cnn, images, wrong, eps=0.2, queries=30, seed=3), images)


def test_square_share_follows_the_papers_schedule():
    assert square_share(0.8, 0, 10_000) == 0.8
    assert square_share(0.8, 11, 10_000) == 0.4
    assert square_share(0.8, 9_000, 10_000) == 0.8 / 2**9
    assert square_share(0.8, 100, 1_000) == square_share(0.8, 1_000, 10_000)


@pytest.mark.parametrize("bad", [{"queries": 0}, {"p_init": 0.0}, {"p_init": 1.5}])
def test_bad_options_are_refused(bad, digits):
    images, labels = digits
    with pytest.raises(ValueError):
        square(tiny_model("basic-cnn"), images, labels, eps=0.1, **bad)
