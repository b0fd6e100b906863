import pytest
import torch

from vonedemo import create_model
from vonedemo.models import (
    STUDY_MODELS,
    UnknownNameError,
    build_model,
    count_parameters,
    list_models,
    model_label,
    twin_of,
    vone_blocks,
)
from vonedemo.vone import noise_mode

ALL = list_models()


def test_registry_has_the_eight_study_models():
    assert set(STUDY_MODELS) <= set(ALL)
    assert [model_label(n) for n in ("mlp", "vone-basic-cnn")] == ["Linear-Regression", "VOne-CNN"]
    assert twin_of("alexnet") == "vone-alexnet" and twin_of("vone-mlp") == "mlp"


def test_unknown_name_lists_known_ones():
    with pytest.raises(UnknownNameError) as e:
        create_model("resnet9000")
    assert (
        "resnet9000" in str(e.value)
        and "vone-alexnet" in str(e.value)
        and "basic-cnn" in str(e.value)
    )
    with pytest.raises(ValueError):  # also a ValueError for callers that catch that
        build_model("nope")


@pytest.mark.parametrize("name", ALL)
def test_output_shape_finite_and_parameter_budget(name, digits):
    torch.manual_seed(0)
    model = create_model(name)
    images, _ = digits
    out = model(images[:2])
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()
    assert count_parameters(model) <= 5_000_000


@pytest.mark.parametrize("name", ALL)
def test_a_fresh_model_starts_near_a_uniform_guess(name, test_data):
    """Initial loss near ln 10: the VOne models' heads are scaled down by the block's gain
    (with plain He they started far above it: 11–41 in scripts/init_experiment.py)."""
    images, labels = test_data.images[:256], test_data.labels[:256]
    losses = []
    for seed in range(2):
        torch.manual_seed(seed)
        model = create_model(name).eval()
        with torch.no_grad(), noise_mode("off"):
            logits = model(images)
        assert logits.std() > 0.1  # not a dead (all-zero) start either
        losses.append(torch.nn.functional.cross_entropy(logits, labels).item())
    assert max(losses) < 4.0, losses


@pytest.mark.parametrize("name", ALL)
def test_rejects_wrong_image_shapes(name):
    model = build_model(
        name, **({"simple_channels": 4, "complex_channels": 4} if "vone" in name else {})
    )
    for bad in (torch.rand(2, 3, 28, 28), torch.rand(2, 1, 32, 32), torch.rand(1, 28, 28)):
        with pytest.raises(ValueError, match="28"):
            model(bad)


@pytest.mark.parametrize("name", [n for n in ALL if n.startswith("vone-")])
def test_gabor_buffers_are_frozen_and_noise_modes_work(name, digits):
    torch.manual_seed(0)
    model = create_model(name)
    (block,) = vone_blocks(model)
    names = {n for n, _ in model.named_parameters()}
    assert not any(n.startswith("vone.") for n in names), "Gabor filters must be buffers"
    assert "vone.bank.params" in model.state_dict()
    images = digits[0][:2]
    with noise_mode("off"):
        a, b = model(images), model(images)
    assert torch.equal(a, b)
    with noise_mode("seeded", seed=3):
        c, d = model(images), model(images)
    assert torch.equal(c, d) and not torch.equal(a, c)
    with noise_mode("neuronal"):
        e, f = model(images), model(images)
    assert not torch.equal(e, f)
    block.set_noise_mode("off")
    assert torch.equal(model(images), a)
