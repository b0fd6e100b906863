"""A model's audit in pieces: every finished rung, curve point and costly check is saved as it
finishes, so a killed audit continues where it stopped and gives the numbers an uninterrupted
one would (every piece seeds the generators itself)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import torch

from ..attacks import GradientHealth
from ..files import atomic_write
from .attacking import AttackOutcome
from .config import AuditConfig

T = TypeVar("T")


def progress_path(directory: str | Path, name: str) -> Path:
    """Where a model's unfinished audit is kept in ``directory``."""
    return Path(directory) / f"{name}.json"


class AuditResume:
    """The finished pieces of one model's audit, kept in a JSON file (no pickled code).

    A file made for another model or with other settings is refused rather than mixed in;
    delete it to start that model over."""

    def __init__(self, path: str | Path, name: str, config: AuditConfig):
        self.path = Path(path)
        self.name = name
        self.config = json.loads(json.dumps(asdict(config)))
        self.entries: dict[str, Any] = {}
        self.earlier_seconds = 0.0
        self._start = time.perf_counter()
        if self.path.is_file():
            self._read()

    def _read(self) -> None:
        try:
            saved = json.loads(self.path.read_text())
            model, config, entries = saved["model"], saved["config"], saved["entries"]
            seconds = float(saved.get("seconds", 0.0))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{self.path} is not an audit in progress ({e}); delete it") from e
        if model != self.name or config != self.config or not isinstance(entries, dict):
            raise ValueError(
                f"{self.path} holds an audit of {model!r} with other settings; delete it to "
                f"start {self.name!r} over, or audit with the settings it was made with"
            )
        self.entries, self.earlier_seconds = entries, seconds

    @property
    def seconds(self) -> float:
        """Time spent on this model so far, over every piece."""
        return self.earlier_seconds + time.perf_counter() - self._start

    def __len__(self) -> int:
        return len(self.entries)

    def remember(
        self,
        key: str,
        compute: Callable[[], T],
        encode: Callable[[T], Any] = lambda v: v,
        decode: Callable[[Any], T] = lambda v: v,
    ) -> T:
        """The saved value of ``key``, or ``compute()``'s, saved before it is returned."""
        if key in self.entries:
            return decode(self.entries[key])
        value = compute()
        self.entries[key] = encode(value)
        payload = {
            "model": self.name,
            "config": self.config,
            "seconds": self.seconds,
            "entries": self.entries,
        }
        atomic_write(self.path, json.dumps(payload))
        return value

    def finished(self) -> None:
        """The model's audit is in the report: its pieces are no longer needed."""
        self.path.unlink(missing_ok=True)


class NoResume(AuditResume):
    """Nothing kept: every piece is computed."""

    def __init__(self) -> None:
        self.entries, self.earlier_seconds, self._start = {}, 0.0, time.perf_counter()

    def remember(self, key, compute, encode=lambda v: v, decode=lambda v: v):
        return compute()

    def finished(self) -> None:
        pass


def outcome_to_dict(outcome: AttackOutcome) -> dict:
    return {
        "name": outcome.name,
        "eps": outcome.eps,
        "correct": "".join("1" if c else "0" for c in outcome.correct.tolist()),
        "health": asdict(outcome.health),
        "seconds": outcome.seconds,
        "attacked": outcome.attacked,
        "shared": outcome.shared,
    }


def outcome_from_dict(saved: dict) -> AttackOutcome:
    correct = torch.tensor([c == "1" for c in saved["correct"]], dtype=torch.bool)
    return AttackOutcome(
        saved["name"],
        float(saved["eps"]),
        correct,
        GradientHealth(**saved["health"]),
        float(saved["seconds"]),
        attacked=int(saved["attacked"]),
        shared=bool(saved["shared"]),
    )
