"""Checkpoints: plain dicts of weights + registry name + builder arguments + metadata.

Files are read with ``torch.load(weights_only=True)``, which only rebuilds tensors and plain
containers: a file crafted to run code when unpickled is refused and nothing runs. Saving is
atomic (:func:`vonedemo.files.atomic_write`), so a crash mid-save leaves the previous file
intact and no half-written ``*.pt`` ever appears.

The shipped models live in ``checkpoints/`` with ``manifest.json``, which records each file's
sha256 and how it was made and scored; :func:`update_manifest_entry` is its only writer.

Example::

    >>> save_checkpoint("runs/basic.pt", model, {"epochs": 1})
    >>> model, meta = load_checkpoint("runs/basic.pt")
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from .device import resolve_device
from .files import atomic_write, directory_lock
from .models import MNISTClassifier, UnknownNameError, build_model
from .version import __version__

if TYPE_CHECKING:
    from .evaluation import AttackEvaluation

FORMAT = "vonedemo-checkpoint"
FORMAT_VERSION = 1
RUNTIME_OPTIONS = ("noise_mode", "noise_seed")  # VOne options that may differ from training


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message says why and what to do."""


def default_checkpoint_dir() -> Path:
    """``$VONEDEMO_CHECKPOINTS`` or the repository's ``checkpoints/``."""
    env = os.environ.get("VONEDEMO_CHECKPOINTS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "checkpoints"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _plain(value, where: str = "metadata"):
    """A JSON round trip: only plain values survive, so the safe loader can read them back
    (a ``str`` subclass such as ``torch.__version__`` would otherwise be pickled as its class)."""
    try:
        return json.loads(json.dumps(value, allow_nan=True))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where} must hold only plain JSON-like values: {e}") from None


def checkpoint_dict(model: nn.Module, metadata: dict | None = None, *, half: bool = False) -> dict:
    name = getattr(model, "registry_name", "")
    if not name:
        raise ValueError("model has no registry name: build it with vonedemo.create_model")
    metadata = dict(metadata or {})
    metadata.setdefault("vonedemo_version", __version__)
    metadata = _plain(metadata)
    builder_args = _plain(model.builder_args, "builder arguments")
    state = {}
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        # Half precision halves the file; float64 Gabor parameters keep full precision.
        if half and tensor.dtype == torch.float32:
            tensor = tensor.half()
        state[key] = tensor.clone()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": name,
        "builder_args": builder_args,
        "state_dict": state,
        "metadata": metadata,
    }


def save_checkpoint(
    path: str | Path, model: nn.Module, metadata: dict | None = None, *, half: bool = False
) -> Path:
    """``save_checkpoint(path, model, metadata=None, *, half=False) -> Path``

    Save ``model`` (weights, registry name, builder arguments) and ``metadata`` to ``path``
    and return the path. The write is atomic: the file at ``path`` is either the old one or the
    complete new one. ``half=True`` stores float32 weights in half precision (half the size).

    Example::

        >>> save_checkpoint("runs/basic.pt", model, {"epochs": 1})
        PosixPath('runs/basic.pt')
    """
    payload = checkpoint_dict(model, metadata, half=half)
    return atomic_write(path, lambda f: torch.save(payload, f))


def _read(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{path}: refused — the file holds Python objects other than weights, which could run "
            f"code when loaded ({first[:160]}). Only load checkpoints saved by vonedemo."
        ) from None
    except Exception as e:  # garbage can fail the parser in any way (IndexError, struct.error, …)
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated or not a torch file: {type(e).__name__})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a vonedemo checkpoint (no '{FORMAT}' header)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {payload.get('format_version')!r} is not supported "
            f"(this vonedemo reads version {FORMAT_VERSION})"
        )
    for key, kind in (
        ("model", str),
        ("builder_args", dict),
        ("state_dict", dict),
        ("metadata", dict),
    ):
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(
                f"{path}: malformed checkpoint ('{key}' missing or of the wrong type)"
            )
    return payload


def load_checkpoint(
    path: str | Path, *, device: str | torch.device | None = None, **runtime_options
) -> tuple[MNISTClassifier, dict]:
    """``load_checkpoint(path, *, device=None, **runtime_options) -> (model, metadata)``

    Rebuild the model a checkpoint describes, load its weights and return it (float32, eval
    mode, parameters without gradients) with the file's metadata dict. ``device``: where the
    model goes (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``; ``None``: the CPU).

    ``runtime_options`` may set VOne ``noise_mode``/``noise_seed``; nothing that would change
    what the weights mean. A file that is not a whole, safe vonedemo checkpoint raises
    :class:`CheckpointError` saying why.

    Example::

        >>> model, metadata = load_checkpoint("runs/basic.pt")
        >>> model, _ = load_checkpoint("runs/vone.pt", noise_mode="off")
    """
    path = Path(path)
    bad = set(runtime_options) - set(RUNTIME_OPTIONS)
    if bad:
        raise ValueError(
            f"options {sorted(bad)} cannot change a trained model; allowed: {RUNTIME_OPTIONS}"
        )
    payload = _read(path)
    args = dict(payload["builder_args"])
    if runtime_options:
        if "vone_config" not in args:
            raise ValueError(f"{payload['model']} has no VOneBlock: noise options do not apply")
        args["vone_config"] = {**args["vone_config"], **runtime_options}
    try:
        model = build_model(payload["model"], **args)
    except UnknownNameError as e:
        raise CheckpointError(f"{path}: {e}") from None
    except (TypeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: invalid builder arguments for {payload['model']!r}: {e}"
        ) from None
    reference = model.state_dict()
    state = {}
    for key, tensor in payload["state_dict"].items():
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{path}: entry {key!r} is not a tensor")
        target = reference.get(key)
        if target is not None and tensor.is_floating_point():
            tensor = tensor.to(target.dtype)  # half-precision storage back to float32
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: entry {key!r} holds NaN or infinite values")
        state[key] = tensor
    missing = sorted(set(reference) - set(state))
    unexpected = sorted(set(state) - set(reference))
    wrong = sorted(
        k for k in set(state) & set(reference) if tuple(state[k].shape) != tuple(reference[k].shape)
    )
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{label}: {', '.join(keys[:4])}{' …' if len(keys) > 4 else ''}"
            for label, keys in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("wrong shape", wrong),
            )
            if keys
        )
        raise CheckpointError(f"{path}: weights do not fit a {payload['model']!r} model ({detail})")
    model.load_state_dict(state)
    model.eval()
    if device is not None:
        model.to(resolve_device(device))
    for p in model.parameters():
        p.requires_grad_(False)  # loaded models are for inference; training works on copies
    return model, payload["metadata"]


# --- the shipped, pretrained models ------------------------------------------------------------
MANIFEST = "manifest.json"


class PretrainedNotFoundError(FileNotFoundError):
    pass


def read_manifest(directory: str | Path | None = None) -> dict:
    directory = Path(directory) if directory else default_checkpoint_dir()
    path = directory / MANIFEST
    if not path.is_file():
        return {"models": {}}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable manifest ({e})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), dict):
        raise CheckpointError(f"{path}: malformed manifest (no 'models' table)")
    return manifest


def pretrained_available(name: str, directory: str | Path | None = None) -> bool:
    directory = Path(directory) if directory else default_checkpoint_dir()
    entry = read_manifest(directory)["models"].get(name)
    return bool(entry) and (directory / entry["file"]).is_file()


def load_pretrained(
    name: str,
    directory: str | Path | None = None,
    *,
    device: str | torch.device | None = None,
    **runtime_options,
) -> tuple[MNISTClassifier, dict]:
    """Load the shipped checkpoint of ``name``, checking its sha256 against the manifest, on
    ``device`` (see :func:`load_checkpoint`)."""
    directory = Path(directory) if directory else default_checkpoint_dir()
    how = (
        f"regenerate it with `python -m vonedemo train --model {name} --save-pretrained` "
        "(or all with `python -m vonedemo train --all`)"
    )
    entry = read_manifest(directory)["models"].get(name)
    if not entry:
        raise PretrainedNotFoundError(
            f"no pretrained checkpoint for {name!r} in {directory}; {how}"
        )
    path = directory / entry["file"]
    if not path.is_file():
        raise PretrainedNotFoundError(f"pretrained checkpoint {path} is missing; {how}")
    digest = sha256_file(path)
    if digest != entry.get("sha256"):
        raise CheckpointError(
            f"{path}: sha256 {digest[:12]}… does not match the manifest's "
            f"{str(entry.get('sha256'))[:12]}…; the file is corrupt or was changed — {how}"
        )
    model, metadata = load_checkpoint(path, device=device, **runtime_options)
    if model.registry_name != name:
        raise CheckpointError(f"{path}: holds a {model.registry_name!r} model, not {name!r}")
    return model, metadata


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoint files in ``directory`` (never temporary, half-written ones)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.pt") if not p.name.startswith("."))


def update_manifest_entry(directory: str | Path, name: str, **fields) -> dict:
    """Set ``fields`` in the manifest's entry for ``name`` and return the entry: the only
    writer of ``manifest.json``. Read-modify-write under a lock (two trainings may finish at
    once), written atomically, models in alphabetical order."""
    directory = Path(directory)
    with directory_lock(directory, ".manifest.lock"):
        manifest = read_manifest(directory)
        entry = manifest["models"].setdefault(name, {})
        entry.update(fields)
        manifest["models"] = dict(sorted(manifest["models"].items()))
        atomic_write(directory / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return entry


def record_test_scores(
    directory: str | Path, name: str, test_images: int, clean: float, attacked: AttackEvaluation
) -> dict:
    """Record a shipped file's clean and attacked accuracy (fractions) on ``test_images`` test
    images in its manifest entry, as percentages beside its hash."""
    return update_manifest_entry(
        directory,
        name,
        test_images=test_images,
        clean_accuracy=round(100 * clean, 2),
        fgsm_accuracy=round(100 * attacked.accuracy, 2),
        fgsm_eps=attacked.eps,
        fgsm_gradient_health=attacked.health.summary(),
    )


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "RUNTIME_OPTIONS",
    "CheckpointError",
    "PretrainedNotFoundError",
    "checkpoint_dict",
    "default_checkpoint_dir",
    "directory_lock",
    "list_checkpoints",
    "load_checkpoint",
    "load_pretrained",
    "pretrained_available",
    "read_manifest",
    "record_test_scores",
    "save_checkpoint",
    "sha256_file",
    "update_manifest_entry",
]
