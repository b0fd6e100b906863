"""The explorer's prepared views on disk: attacked grids (with their pictures) and larger-sample
scores computed ahead of time (:mod:`ui.precompute`), so a class moving the eps slider mostly
reads results instead of attacking again.

* Each result is one file named by the digest of everything that decides it: model key and
  stamp, attack settings, digits shown, sample seed, the data limit, tiny mode, the torch
  version and this format's version. A retrained model has a new stamp, hence other files: a
  stale view is never served.
* Files are written atomically and read without unpickling: a grid is an ``.npz`` of plain
  arrays (``allow_pickle=False``) with its metadata as a JSON string; a larger sample is JSON.
  A file that does not load, or whose recorded identity differs from the one asked for, is
  ignored (the precompute then writes it again).
* The most recently used grids stay in memory (:data:`MEMORY_ENTRIES`), shared read-only by
  every session: a cache hit costs a dictionary look-up, not an unpickle.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import threading
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from vonedemo.attack_view import AttackSettings, AttackView
from vonedemo.files import atomic_write

from .settings import data_limit, prepared_dir, tiny_mode

FORMAT = 1  # bump when what a file holds changes: older files are then never read
MEMORY_ENTRIES = 64  # grids kept in memory (16 digits' arrays and pictures each): bounded
_ARRAYS = ("indices", "labels", "original", "adversarial", "perturbation")
_ARRAYS += ("clean_probs", "adv_probs")
# (dtype, shape after the batch axis) of each array a grid file must hold
_LAYOUT = {
    "indices": ("int64", ()),
    "labels": ("int64", ()),
    "original": ("uint8", (28, 28)),
    "adversarial": ("uint8", (28, 28)),
    "perturbation": ("uint8", (28, 28, 3)),
    "clean_probs": ("float32", (10,)),
    "adv_probs": ("float32", (10,)),
    "targets": ("int64", ()),
}

# What reading a damaged or foreign file may raise (np.load refuses pickled objects: ValueError)
_UNREADABLE = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error)

Grid = tuple[AttackView, list[str]]
_memory: OrderedDict[tuple, Grid] = OrderedDict()
_memory_lock = threading.Lock()


def identity(
    kind: str, key: str, stamp: str, settings: AttackSettings, n: int, sample_seed: int
) -> dict:
    """Everything that decides a prepared result, as plain JSON values."""
    return {
        "format": FORMAT,
        "kind": kind,  # "grid" or "sample"
        "key": key,
        "stamp": stamp,
        "settings": dataclasses.asdict(settings),
        "n": int(n),  # digits shown (grid) or first N test digits (sample)
        "sample_seed": int(sample_seed),
        "data_limit": data_limit(),
        "tiny": tiny_mode(),
        "torch": torch.__version__,
    }


def _path(ident: dict) -> Path:
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:32]
    suffix = ".npz" if ident["kind"] == "grid" else ".json"
    return prepared_dir() / ident["kind"] / f"{digest}{suffix}"


# --- grids -------------------------------------------------------------------------------------
def save_grid(ident: dict, view: AttackView, pictures: list[str]) -> Path:
    arrays = {name: np.asarray(getattr(view, name)) for name in _ARRAYS}
    if view.targets is not None:
        arrays["targets"] = np.asarray(view.targets)
    meta = {
        "identity": ident,
        "eps": view.eps,
        "health": view.health,
        "health_sentence": view.health_sentence,
        "stalled": bool(view.stalled),
        "linf": view.linf,
        "seconds": view.seconds,
        "pictures": list(pictures),
    }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=np.array(json.dumps(meta)), **arrays)
    return atomic_write(_path(ident), buffer.getvalue())


def _read_grid(path: Path, ident: dict, settings: AttackSettings) -> Grid | None:
    """The grid in ``path`` if it is a well-formed file for ``ident``, else None."""
    try:
        with np.load(path, allow_pickle=False) as files:
            meta = json.loads(str(files["meta"][()]))
            arrays = {name: files[name] for name in files.files if name in _LAYOUT}
    except _UNREADABLE:
        return None  # missing, truncated, not an npz, or holding objects: not ours
    if not isinstance(meta, dict) or meta.get("identity") != ident:
        return None
    for name, (dtype, shape) in _LAYOUT.items():
        array = arrays.get(name)
        if array is None:
            if name == "targets":  # only targeted attacks have targets
                continue
            return None
        if str(array.dtype) != dtype or array.ndim != 1 + len(shape) or array.shape[1:] != shape:
            return None
        array.setflags(write=False)  # shared by every session: nobody may change it
    batch = arrays["labels"].shape[0]
    pictures = meta.get("pictures")
    if (
        batch > int(ident["n"])
        or any(a.shape[0] != batch for a in arrays.values())
        or not isinstance(pictures, list)
        or len(pictures) != batch
        or not all(isinstance(p, str) and p.startswith("data:image/png;base64,") for p in pictures)
    ):
        return None
    try:
        view = AttackView(
            **{name: arrays[name] for name in _ARRAYS},
            eps=float(meta["eps"]),
            settings=settings,
            health=dict(meta["health"]),
            health_sentence=str(meta["health_sentence"]),
            stalled=bool(meta["stalled"]),
            linf=float(meta["linf"]),
            seconds=float(meta["seconds"]),
            targets=arrays.get("targets"),
        )
    except (KeyError, TypeError, ValueError):
        return None
    return view, pictures


def load_grid(
    key: str, stamp: str, settings: AttackSettings, n: int, sample_seed: int, *, keep=True
) -> Grid | None:
    """The prepared grid for these arguments (from memory, else from disk), or None.
    ``keep``: remember a grid read from disk among the :data:`MEMORY_ENTRIES` in memory."""
    marker = (key, stamp, settings, int(n), int(sample_seed))
    with _memory_lock:
        hit = _memory.get(marker)
        if hit is not None:
            _memory.move_to_end(marker)
            return hit
    ident = identity("grid", key, stamp, settings, n, sample_seed)
    path = _path(ident)
    if not path.is_file():
        return None
    grid = _read_grid(path, ident, settings)
    if grid is not None and keep:
        with _memory_lock:
            _memory[marker] = grid
            while len(_memory) > MEMORY_ENTRIES:
                _memory.popitem(last=False)
    return grid


# --- larger samples ----------------------------------------------------------------------------
_SAMPLE_KEYS = {"images", "accuracy", "target_reached", "health", "sentence", "stalled"}


def save_sample(ident: dict, scores: tuple[float, dict]) -> Path:
    clean, result = scores
    return atomic_write(
        _path(ident), json.dumps({"identity": ident, "clean": clean, "result": result})
    )


def load_sample(
    key: str, stamp: str, settings: AttackSettings, limit: int
) -> tuple[float, dict] | None:
    """The prepared (clean accuracy, attacked result) of the first ``limit`` test digits under
    ``settings``, or None."""
    ident = identity("sample", key, stamp, settings, limit, 0)
    path = _path(ident)
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
        clean, result = float(saved["clean"]), saved["result"]
        ok = saved["identity"] == ident and set(result) == _SAMPLE_KEYS
        ok = ok and isinstance(result["health"], dict)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (clean, result) if ok else None


def forget_memory() -> None:
    """Drop the grids kept in memory (tests; the files stay)."""
    with _memory_lock:
        _memory.clear()
