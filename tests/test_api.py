"""The public API: ``import vonedemo`` gives the documented names, and they work."""

import inspect

import pytest
import torch

import vonedemo
from vonedemo.models import UnknownNameError

PUBLIC = (
    "create_model",
    "list_models",
    "create_attack",
    "list_attacks",
    "load_checkpoint",
    "save_checkpoint",
    "train",
    "adversarial_finetune",
    "evaluate_attack",
)


@pytest.mark.parametrize("name", PUBLIC)
def test_each_public_name_is_documented_with_an_example(name):
    fn = getattr(vonedemo, name)
    assert name in vonedemo.__all__
    doc = inspect.getdoc(fn) or ""
    signature = doc.split("\n\n")[0]  # the first paragraph: ``name(arguments) -> result``
    assert signature.startswith(f"``{name}(") and "->" in signature, f"{name}: no signature"
    assert "Example::" in doc and ">>>" in doc, f"{name}: no example in its docstring"


def test_create_model_builds_fresh_and_pretrained_models(digits):
    torch.manual_seed(0)
    fresh = vonedemo.create_model("basic-cnn")
    assert fresh.registry_name == "basic-cnn" and fresh.training
    pretrained = vonedemo.create_model("vone-basic-cnn", pretrained=True)
    assert pretrained.registry_name == "vone-basic-cnn" and not pretrained.training
    with torch.no_grad():
        assert pretrained(digits[0]).shape == (8, 10)
    quiet = vonedemo.create_model("vone-basic-cnn", pretrained=True, noise_mode="off")
    assert quiet.vone.noise_mode == "off"
    # Pretrained means the shipped weights, not a fresh draw.
    assert torch.equal(
        quiet.bottleneck.weight,
        vonedemo.create_model("vone-basic-cnn", pretrained=True).bottleneck.weight,
    )


def test_unknown_names_raise_with_the_known_ones():
    with pytest.raises(UnknownNameError) as error:
        vonedemo.create_model("resnet9000")
    message = str(error.value)
    assert "resnet9000" in message and all(n in message for n in vonedemo.list_models())
    with pytest.raises(ValueError, match="vone-alexnet"):  # also a ValueError
        vonedemo.create_model("nope", pretrained=True)
    with pytest.raises(KeyError) as error:  # and a KeyError, for callers that catch that
        vonedemo.create_attack("cw")
    assert "cw" in str(error.value) and all(n in str(error.value) for n in vonedemo.list_attacks())


def test_the_registries_list_in_their_order():
    assert vonedemo.list_models()[:4] == ["alexnet", "convnet", "basic-cnn", "mlp"]
    assert vonedemo.list_attacks() == ["fgsm", "pgd", "square", "apgd"]


def test_the_api_round_trips_a_model_and_attacks_it(tmp_path, test_data):
    torch.manual_seed(0)
    model = vonedemo.create_model("basic-cnn")
    path = vonedemo.save_checkpoint(tmp_path / "m.pt", model, {"note": "api"})
    loaded, meta = vonedemo.load_checkpoint(path)
    assert meta["note"] == "api" and meta["vonedemo_version"] == vonedemo.__version__
    data = test_data.subset(20)
    images, labels = data.images, data.labels
    adversarial = vonedemo.create_attack("fgsm")(loaded, images, labels, 0.1)
    assert (adversarial - images).abs().max() <= 0.1 + 1e-6
    result = vonedemo.evaluate_attack(loaded, data, "fgsm", 0.1)
    expected = (loaded(adversarial).argmax(1) == labels).float().mean().item()
    assert result.accuracy == pytest.approx(expected)
