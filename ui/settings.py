"""Where the app keeps its files: the folder for models trained in the app and the results
folder it reads. Environment variables override both (README, "Settings")."""

from __future__ import annotations

import os
from pathlib import Path

from vonedemo.runs import saved_checkpoints

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_CHECKPOINTS_ENV = "VONEDEMO_APP_CHECKPOINTS"
RESULTS_ENV = "VONEDEMO_RESULTS"


def app_checkpoint_dir() -> Path:
    """Where the app saves models it trains: ``$VONEDEMO_APP_CHECKPOINTS`` or ``runs/app/``."""
    env = os.environ.get(APP_CHECKPOINTS_ENV)
    return Path(env).expanduser() if env else REPO_ROOT / "runs" / "app"


def app_checkpoints() -> list[Path]:
    """The models saved in the app's folder (names reserved but not yet written are skipped)."""
    return saved_checkpoints(app_checkpoint_dir())


def results_path() -> Path:
    """``$VONEDEMO_RESULTS`` or ``results/summary.json`` under the repository."""
    env = os.environ.get(RESULTS_ENV)
    return Path(env).expanduser() if env else REPO_ROOT / "results" / "summary.json"
