"""The app's environment: where it keeps its files (the folder for models trained in the app,
the results folder it reads) and the switches tests and small machines use. Environment
variables override the defaults (README, "Settings")."""

from __future__ import annotations

import os
from pathlib import Path

from vonedemo.runs import saved_checkpoints

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_CHECKPOINTS_ENV = "VONEDEMO_APP_CHECKPOINTS"
RESULTS_ENV = "VONEDEMO_RESULTS"
MODELS_ENV = "VONEDEMO_APP_MODELS"  # "tiny": small, untrained stand-ins for the shipped models
DATA_LIMIT_ENV = "VONEDEMO_APP_DATA_LIMIT"  # keep only the first N images of each split
THREADS_ENV = "VONEDEMO_APP_THREADS"  # torch CPU threads for the whole app (default: torch's own)
VOTES_ENV = "VONEDEMO_VOTES"  # the quiz's SQLite file (default: in the app's folder)
PREPARED_ENV = "VONEDEMO_PREPARED"  # the explorer's prepared views (default: in the app's folder)
PRECOMPUTE_ENV = "VONEDEMO_PRECOMPUTE"  # "off": no background precompute of prepared views


def app_checkpoint_dir() -> Path:
    """Where the app saves models it trains: ``$VONEDEMO_APP_CHECKPOINTS`` or ``runs/app/``."""
    env = os.environ.get(APP_CHECKPOINTS_ENV)
    return Path(env).expanduser() if env else REPO_ROOT / "runs" / "app"


def app_checkpoints() -> list[Path]:
    """The models saved in the app's folder (names reserved but not yet written are skipped)."""
    return saved_checkpoints(app_checkpoint_dir())


def votes_path() -> Path:
    """The class's quiz votes: ``$VONEDEMO_VOTES`` or ``classroom/votes.sqlite`` in the app's
    folder, so they outlive a reload and a restart of the app."""
    env = os.environ.get(VOTES_ENV)
    return Path(env).expanduser() if env else app_checkpoint_dir() / "classroom" / "votes.sqlite"


def prepared_dir() -> Path:
    """The explorer's prepared views: ``$VONEDEMO_PREPARED`` or ``prepared/`` in the app's
    folder, so a restarted app finds them again."""
    env = os.environ.get(PREPARED_ENV)
    return Path(env).expanduser() if env else app_checkpoint_dir() / "prepared"


def precompute_enabled() -> bool:
    """False when ``$VONEDEMO_PRECOMPUTE`` is ``off`` (or ``0``, ``no``, ``false``)."""
    return os.environ.get(PRECOMPUTE_ENV, "").strip().lower() not in ("off", "0", "no", "false")


def results_path() -> Path:
    """``$VONEDEMO_RESULTS`` or ``results/summary.json`` under the repository."""
    env = os.environ.get(RESULTS_ENV)
    return Path(env).expanduser() if env else REPO_ROOT / "results" / "summary.json"


def repaired_results_path() -> Path:
    """The study's fine-tuning run again with the repaired gradient (the VOneNets):
    ``repaired/summary.json`` beside the results file."""
    return results_path().parent / "repaired" / "summary.json"


def audit_path() -> Path:
    """The precomputed audit the *Is it real?* page shows: ``audit/audit.json`` beside the
    results file."""
    return results_path().parent / "audit" / "audit.json"


def converged_audit_path() -> Path:
    """The converged audit while it runs model by model: ``audit-converged/audit.json`` beside
    the results file."""
    return results_path().parent / "audit-converged" / "audit.json"


def tiny_mode() -> bool:
    """``$VONEDEMO_APP_MODELS=tiny``: small untrained stand-ins instead of the shipped models."""
    return os.environ.get(MODELS_ENV, "").strip().lower() == "tiny"


def data_limit() -> int | None:
    """``$VONEDEMO_APP_DATA_LIMIT``: keep only the first N images of each split (None: all)."""
    text = os.environ.get(DATA_LIMIT_ENV, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def thread_count() -> int | None:
    """``$VONEDEMO_APP_THREADS``: torch CPU threads for the whole app (None: torch's own)."""
    text = os.environ.get(THREADS_ENV, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None
