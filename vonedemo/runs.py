"""Naming and saving run files: checkpoints a user trains get safe, unique names in a folder
of the caller's choosing, and two people choosing the same name never overwrite each other."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from pathlib import Path

from torch import nn

from .checkpoints import list_checkpoints, save_checkpoint


def sanitize_name(text: str, fallback: str = "model") -> str:
    """A safe file stem: letters, digits, ``-``, ``_`` and ``.``; no path parts; ≤ 64 chars."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text or "").strip())
    stem = re.sub(r"[-.]*-[-.]*", "-", stem)  # runs like "-.-" (from "/../") become one "-"
    stem = re.sub(r"\.{2,}", ".", stem).strip("-._")[:64].strip("-._")
    while stem.lower().endswith(".pt"):
        stem = stem[:-3].strip("-._")
    return stem or fallback


def reserve_checkpoint_path(directory: str | Path, name: str) -> Path:
    """Claim ``<name>.pt`` in ``directory`` (or ``<name>-2.pt``, ``-3`` … if taken) by creating
    it exclusively, so two sessions choosing the same name never overwrite each other. The
    claimed file is empty until a checkpoint is saved over it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = sanitize_name(name)
    for i in itertools.count(1):
        candidate = directory / (f"{stem}.pt" if i == 1 else f"{stem}-{i}.pt")
        try:
            fd = os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if i >= 10_000:
                raise RuntimeError(f"no free checkpoint name for {stem!r} in {directory}") from None
            continue
        os.close(fd)
        return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def save_named_checkpoint(
    directory: str | Path, name: str, model: nn.Module, metadata: dict
) -> Path:
    """Save ``model`` under a fresh, sanitised name in ``directory``; returns the path."""
    path = reserve_checkpoint_path(directory, name)
    try:
        save_checkpoint(path, model, {**metadata, "name": path.stem})
    except BaseException:
        with contextlib.suppress(OSError):
            if path.stat().st_size == 0:
                path.unlink()
        raise
    return path


def saved_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoints saved in ``directory``, skipping names reserved but not yet written."""
    paths = list_checkpoints(directory)
    out = []
    for p in paths:
        with contextlib.suppress(OSError):
            if p.stat().st_size > 0:
                out.append(p)
    return out
