"""vonedemo.device: one parser for device=/--device."""

import pytest
import torch

from vonedemo.device import DeviceError, resolve_device


def test_auto_and_none_pick_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("spelling", ["gpu", "cuda:x", "cuda:-1", "cpu:0", "", "mps; rm -rf /"])
def test_unknown_spellings_name_the_choices(spelling):
    with pytest.raises(DeviceError, match="auto, cpu, cuda, cuda:N"):
        resolve_device(spelling)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("spelling", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_gpu_says_so(spelling):
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve_device(spelling)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_index_beyond_the_machine_is_refused():
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(DeviceError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


COMPUTING_COMMANDS = {
    "train": ["--model", "mlp", "--out", "x.pt"],
    "finetune": ["--model", "mlp"],
    "evaluate": ["--model", "mlp"],
    "attack": ["--model", "mlp", "--out", "x.png"],
    "predict": ["x.png"],
    "reproduce": [],
    "audit": [],
}


@pytest.mark.parametrize("command", sorted(COMPUTING_COMMANDS))
def test_every_computing_command_takes_device(command):
    from vonedemo.cli import build_parser

    args = build_parser().parse_args([command, *COMPUTING_COMMANDS[command], "--device", "cpu"])
    assert args.device == "cpu"
    assert build_parser().parse_args([command, *COMPUTING_COMMANDS[command]]).device == "auto"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("command", sorted(COMPUTING_COMMANDS))
def test_device_cuda_without_a_gpu_ends_with_one_error_line(command, capsys, tmp_path):
    from vonedemo.cli import main

    code = main([command, *COMPUTING_COMMANDS[command], "--device", "cuda"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["error: device 'cuda' asked for, but this machine has no CUDA GPU"]
    assert not (tmp_path / "x.pt").exists()


def test_the_library_places_models_and_batches_where_asked():
    import vonedemo
    from vonedemo.data import MNISTData
    from vonedemo.device import model_device

    model = vonedemo.create_model("vone-mlp", device="cpu")
    assert model_device(model) == torch.device("cpu")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")  # nothing to look at
    data = MNISTData(torch.rand(5, 1, 28, 28), torch.arange(5), "t")
    (images, labels), *_ = data.batches(2, device="cpu")
    assert images.device.type == "cpu" and labels.tolist() == [0, 1]
    with pytest.raises(DeviceError):
        vonedemo.create_model("mlp", device="tpu")


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@CUDA
@pytest.mark.parametrize("name", ["basic-cnn", "vone-basic-cnn"])
def test_models_and_attacks_on_cuda_match_the_cpu(name):
    """The same weights and images on both devices: logits, the NaN shortcut's verdict and the
    repaired FGSM agree up to floating-point tolerance; seeded noise repeats on the GPU."""
    import vonedemo
    from vonedemo.data import load_mnist

    test = load_mnist("test").subset(64)
    cpu = vonedemo.create_model(name, pretrained=True, noise_mode="off")
    gpu = vonedemo.create_model(name, pretrained=True, noise_mode="off", device="cuda")
    x, y = test.images, test.labels
    torch.testing.assert_close(gpu(x.cuda()).cpu(), cpu(x), rtol=1e-4, atol=1e-4)
    for gradient in ("raw", "repaired"):
        fgsm = vonedemo.create_attack("fgsm", gradient=gradient)
        adv_cpu, adv_gpu = fgsm(cpu, x, y, 0.35), fgsm(gpu, x.cuda(), y.cuda(), 0.35).cpu()
        assert (adv_gpu - adv_cpu).abs().gt(1e-3).float().mean() < 0.01  # signs may flip at ~0
    seeded = vonedemo.create_model(name, pretrained=True, device="cuda")
    if hasattr(seeded, "vone"):
        seeded = vonedemo.create_model(
            name, pretrained=True, noise_mode="seeded", noise_seed=3, device="cuda"
        )
        assert torch.equal(seeded(x.cuda()), seeded(x.cuda()))


@CUDA
def test_training_and_the_audit_run_on_cuda():
    import vonedemo
    from vonedemo.audit import AuditConfig, audit_job
    from vonedemo.data import load_mnist
    from vonedemo.training import FinetuneConfig

    train, test = load_mnist("train"), load_mnist("test")
    model = vonedemo.create_model("vone-basic-cnn", pretrained=True, device="cuda")
    result = vonedemo.adversarial_finetune(
        model, train, test, FinetuneConfig(rounds=1, train_limit=128, eval_limit=64)
    )
    assert len(result.rounds) == 2
    audit = audit_job("basic-cnn", AuditConfig(limit=32, eps=(0.35,), curve_limit=32), "cuda")
    assert 0 <= audit.worst_case["0.35"] <= audit.clean
