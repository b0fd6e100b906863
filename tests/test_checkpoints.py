import json
import os
import pickle
import random
import zipfile

import pytest
import torch
from conftest import tiny_model

from vonedemo.checkpoints import (
    CheckpointError,
    PretrainedNotFoundError,
    list_checkpoints,
    load_checkpoint,
    load_pretrained,
    save_checkpoint,
    sha256_file,
)
from vonedemo.vone import noise_mode


@pytest.mark.parametrize("name", ["basic-cnn", "vone-mlp"])
@pytest.mark.parametrize("half", [False, True])
def test_round_trip(tmp_path, name, half, digits):
    model = tiny_model(name)
    model.eval()
    path = save_checkpoint(tmp_path / "m.pt", model, {"epochs": 3}, half=half)
    loaded, meta = load_checkpoint(path)
    assert meta["epochs"] == 3 and meta["vonedemo_version"]
    assert loaded.registry_name == name and not loaded.training
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in loaded.parameters())
    with noise_mode("off"):
        a, b = model(digits[0]), loaded(digits[0])
    assert torch.allclose(a, b, atol=5e-2 if half else 0, rtol=5e-2 if half else 0)
    if name.startswith("vone"):
        assert torch.equal(loaded.vone.bank.q0, model.vone.bank.q0)


def test_noise_option_on_load(tmp_path):
    path = save_checkpoint(tmp_path / "v.pt", tiny_model("vone-basic-cnn"))
    loaded, _ = load_checkpoint(path, noise_mode="off")
    assert loaded.vone.noise_mode == "off"
    with pytest.raises(ValueError):
        load_checkpoint(path, k_exc=3.0)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings(
    "ignore:Detected pickle protocol:UserWarning"
)  # a pickle made by plain pickle.dump
def test_malicious_file_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "vonedemo-checkpoint", "payload": _Evil(marker)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not marker.exists()


@pytest.mark.filterwarnings(
    "ignore:Detected pickle protocol:UserWarning"
)  # junk that looks like a pickle
def test_truncated_empty_random_and_foreign_files(tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", tiny_model("basic-cnn"))
    data = good.read_bytes()
    cases = {
        "truncated.pt": data[: len(data) // 2],
        "empty.pt": b"",
        "random.pt": os.urandom(4096),
    }
    for fname, content in cases.items():
        (tmp_path / fname).write_bytes(content)
        with pytest.raises(CheckpointError):
            load_checkpoint(tmp_path / fname)
    # Random bytes, some dressed as a pickle or a zip, fail the parser in many ways: each one
    # must still be a clear CheckpointError (a random file once raised IndexError).
    rng = random.Random(0)
    for i in range(300):
        prefix = [b"", b"\x80\x02", b"\x80\x04\x95", b"PK\x03\x04", b"\x8a\nl\xfc\x9cF\xf9 j\xa8"][
            i % 5
        ]
        (tmp_path / "junk.pt").write_bytes(prefix + rng.randbytes(rng.randint(1, 600)))
        with pytest.raises(CheckpointError):
            load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a vonedemo checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    payload = torch.load(good, weights_only=True)
    payload["model"] = "mlp"  # basic-cnn weights claimed as an MLP
    torch.save(payload, tmp_path / "wrong_arch.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "wrong_arch.pt")
    payload["model"] = "no-such-model"
    torch.save(payload, tmp_path / "unknown.pt")
    with pytest.raises(CheckpointError, match="unknown model"):
        load_checkpoint(tmp_path / "unknown.pt")
    with pytest.raises(CheckpointError, match="no such"):
        load_checkpoint(tmp_path / "missing.pt")


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.pt", tiny_model("basic-cnn"), {"version": 1})
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        save_checkpoint(path, tiny_model("basic-cnn", seed=1), {"version": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary left behind
    assert list_checkpoints(tmp_path) == [path]


def test_metadata_must_be_plain(tmp_path):
    with pytest.raises(ValueError, match="metadata"):
        save_checkpoint(tmp_path / "m.pt", tiny_model("mlp"), {"obj": object()})


def test_pretrained_manifest_checks(tmp_path, monkeypatch):
    monkeypatch.setenv("VONEDEMO_CHECKPOINTS", str(tmp_path))
    with pytest.raises(PretrainedNotFoundError, match="train"):
        load_pretrained("basic-cnn")
    path = save_checkpoint(tmp_path / "basic-cnn.pt", tiny_model("basic-cnn"))
    manifest = {"models": {"basic-cnn": {"file": "basic-cnn.pt", "sha256": sha256_file(path)}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    model, _ = load_pretrained("basic-cnn")
    assert model.registry_name == "basic-cnn"
    with open(path, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(CheckpointError, match="sha256"):
        load_pretrained("basic-cnn")
    assert zipfile.is_zipfile(path)


def test_metadata_with_str_subclasses_still_loads_safely(tmp_path):
    path = save_checkpoint(
        tmp_path / "m.pt", tiny_model("mlp"), {"torch": torch.__version__, "t": (1, 2)}
    )
    _, meta = load_checkpoint(path)
    assert meta["torch"] == str(torch.__version__) and meta["t"] == [1, 2]
