"""Reliability: a crash mid-save loses nothing; attack invariants hold on random inputs."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import tiny_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vonedemo.attacks import fgsm, pgd
from vonedemo.checkpoints import list_checkpoints, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent

WRITER = """
import sys, torch
sys.path.insert(0, {root!r})
from vonedemo.checkpoints import save_checkpoint
from vonedemo.models import build_model
model = build_model("vone-mlp")  # about 20 MB: a save takes long enough to be interrupted
print("ready", flush=True)
i = 0
while True:
    i += 1
    save_checkpoint({path!r}, model, {{"version": i}})
"""


def test_sigkill_during_save_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(path, tiny_model("basic-cnn"), {"version": 0})
    for delay in (0.3, 0.9, 1.7):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER.format(root=str(ROOT), path=str(path))],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        model, meta = load_checkpoint(path)  # whichever version is there, it is whole
        assert model.registry_name in ("basic-cnn", "vone-mlp")
        assert list_checkpoints(tmp_path) == [path]  # no half-written file is ever listed
    leftovers = [p for p in tmp_path.iterdir() if p.name != "model.pt"]
    assert all(p.name.startswith(".") and p.suffix == ".tmp" for p in leftovers)


MODEL = tiny_model("basic-cnn")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(1, 5),
    eps=st.floats(0.0, 1.0, allow_nan=False),
    seed=st.integers(0, 2**16),
    attack=st.sampled_from(["fgsm", "pgd"]),
)
def test_attack_invariants_on_random_inputs(batch, eps, seed, attack):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 1, 28, 28, generator=g)
    images[images < 0.3] = 0.0  # MNIST-like: many exact zeros
    labels = torch.randint(0, 10, (batch,), generator=g)
    if attack == "fgsm":
        adv = fgsm(MODEL, images, labels, eps)
    else:
        adv = pgd(MODEL, images, labels, eps, steps=2, step_size=max(eps / 2, 1e-3), seed=seed)
    assert adv.shape == images.shape and adv.dtype == images.dtype
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    assert (adv - images).abs().max() <= eps + 1e-6
    if eps == 0.0:
        assert torch.equal(adv, images)


class _Crash(BaseException):
    """Stands for anything that ends a write half-way: an error, Ctrl-C, a full disk."""


def test_a_crash_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    from vonedemo.files import atomic_write

    path = atomic_write(tmp_path / "report.json", '{"old": true}\n')
    assert path.read_text() == '{"old": true}\n' and oct(path.stat().st_mode & 0o777) == "0o644"

    def half_then_crash(f):
        f.write(b'{"new": ')
        f.flush()
        assert len(list(tmp_path.iterdir())) == 2  # the new data goes to a temporary beside it
        raise _Crash

    def disk_full(f):
        raise OSError("disk full")

    for crash, error in ((half_then_crash, _Crash), (disk_full, OSError)):
        with pytest.raises(error):  # the failure reaches the caller
            atomic_write(path, crash)
        assert path.read_text() == '{"old": true}\n'
        assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_the_manifest_has_one_writer_and_it_writes_atomically(tmp_path, monkeypatch):
    import json

    from vonedemo import checkpoints, files

    checkpoints.update_manifest_entry(tmp_path, "mlp", file="mlp.pt")
    checkpoints.update_manifest_entry(tmp_path, "basic-cnn", file="basic-cnn.pt", seed=0)
    checkpoints.update_manifest_entry(tmp_path, "basic-cnn", seed=1)
    text = (tmp_path / "manifest.json").read_text()
    assert json.loads(text) == {
        "models": {"basic-cnn": {"file": "basic-cnn.pt", "seed": 1}, "mlp": {"file": "mlp.pt"}}
    }
    assert text.endswith("}\n") and list(json.loads(text)["models"]) == ["basic-cnn", "mlp"]

    def crash(f):
        raise OSError("disk full")

    real = files.atomic_write
    monkeypatch.setattr(
        checkpoints, "atomic_write", lambda path, data: real(path, crash)
    )  # the manifest write fails half-way
    with pytest.raises(OSError, match="disk full"):
        checkpoints.update_manifest_entry(tmp_path, "mlp", seed=5)
    assert (tmp_path / "manifest.json").read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == [".manifest.lock", "manifest.json"]
