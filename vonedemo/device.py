"""Where a computation runs: ``"auto"`` (CUDA when present, else the CPU), ``"cpu"``, ``"cuda"``
or ``"cuda:N"``. One parser for the library's ``device=`` arguments and the command line's
``--device``, so every entry point accepts and refuses the same spellings."""

from __future__ import annotations

import re

import torch
from torch import nn

__all__ = ["DEVICE_CHOICES", "DeviceError", "model_device", "resolve_device"]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
_CUDA = re.compile(r"cuda(?::(\d{1,3}))?")


class DeviceError(ValueError):
    """A device that is misspelt or not present on this machine; the message says which."""


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The :class:`torch.device` for ``device``; ``None`` and ``"auto"`` pick CUDA when present.

    Raises :class:`DeviceError` for an unknown spelling or a CUDA device this machine lacks."""
    if isinstance(device, torch.device):
        device = str(device)
    text = "auto" if device is None else str(device).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = _CUDA.fullmatch(text)
    if match is None:
        raise DeviceError(f"unknown device {device!r}; use one of {', '.join(DEVICE_CHOICES)}")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} asked for, but this machine has no CUDA GPU")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise DeviceError(
            f"device {device!r} asked for, but this machine has {torch.cuda.device_count()} "
            "CUDA device(s)"
        )
    return torch.device("cuda", index)


def model_device(model: nn.Module) -> torch.device:
    """Where ``model`` lives: the device of its first parameter or buffer (the CPU for a model
    without either). Computations follow the model: batches are copied to its device."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")
