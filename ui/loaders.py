"""Which models exist and loading them: every model and data set the pages use comes from here.

* Models are shared by every browser session (``st.cache_resource`` with ``max_entries``):
  they are loaded in eval mode with frozen parameters, and nothing may train, move or re-mode
  them. Noise choices go through :func:`vonedemo.vone.noise_mode` around each computation.
* A model is named by a :class:`ModelChoice` (or its key); its ``stamp`` changes whenever the
  file does and is part of every cache key, so the UI layer — never a page — keys caches on it.

Every model passes through :func:`load_model` (uncached; the one place that reads checkpoint
files). Tests replace it, or set ``VONEDEMO_APP_MODELS=tiny`` to get small untrained stand-ins.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch
from torch import nn

from vonedemo import checkpoints, models
from vonedemo.data import MNISTData, load_mnist
from vonedemo.runtime import tune_allocator
from vonedemo.vone import VOneBlock, VOneConfig

from .i18n import t
from .settings import app_checkpoint_dir, app_checkpoints, data_limit, thread_count, tiny_mode

TINY_VONE = {"simple_channels": 8, "complex_channels": 8, "bottleneck_channels": 4}
STUDY_BLOCK = "block:study"  # the study's VOneBlock on its own, without a trained network

tune_allocator()  # the app's process, the app's choice: see vonedemo.runtime
if thread_count():
    # On a busy machine (or with several browser sessions) one thread per computation can be
    # several times faster than threads competing for the same two cores.
    torch.set_num_threads(thread_count())


# --- which models exist ------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelChoice:
    key: str  # "pretrained:<name>" or "app:<file name>"
    name: str  # registry name ("" if unknown)
    label: str  # shown in pickers
    kind: str  # "pretrained" or "app"
    available: bool
    reason: str = ""  # why it is not available
    stamp: str = ""  # changes whenever the underlying file does: part of every cache key

    @property
    def is_vone(self) -> bool:
        return _is_vone(self.name)


def _is_vone(name: str) -> bool:
    try:
        return models.get_spec(name).vone
    except models.UnknownNameError:
        return False


@functools.lru_cache(maxsize=4)
def _checkpoint_dir(env: str | None) -> Path:
    return checkpoints.default_checkpoint_dir()  # resolves a path: not on every rerun


@functools.lru_cache(maxsize=4)
def _read_manifest(directory: Path, version: tuple | None) -> dict:
    return checkpoints.read_manifest(directory)


def shipped_manifest() -> tuple[Path, dict]:
    """(the shipped checkpoints' folder, its manifest), read again only when the manifest file
    changes: every rerun of every session asks for each model's entry. Read-only."""
    directory = _checkpoint_dir(os.environ.get("VONEDEMO_CHECKPOINTS"))
    try:
        info = (directory / checkpoints.MANIFEST).stat()
        version = (info.st_ino, info.st_mtime_ns, info.st_size)
    except OSError:
        version = None
    return directory, _read_manifest(directory, version)


def pretrained_choice(name: str) -> ModelChoice:
    label = f"{models.model_label(name)} ({name})"
    key = f"pretrained:{name}"
    if tiny_mode():
        return ModelChoice(
            key, name, f"{label} · {t('app.untrained_stand_in')}", "pretrained", True, stamp="tiny"
        )
    try:
        directory, manifest = shipped_manifest()
        entry = manifest["models"].get(name)
        ready = bool(entry) and (directory / entry["file"]).is_file()  # pretrained_available
    except (checkpoints.CheckpointError, OSError, KeyError, TypeError) as e:
        return ModelChoice(key, name, label, "pretrained", False, reason=str(e))
    if not ready:
        return ModelChoice(
            key,
            name,
            label,
            "pretrained",
            False,
            reason=t(
                "app.missing_checkpoint",
                name=name,
                folder=checkpoints.default_checkpoint_dir(),
                regenerate=t("app.regenerate"),
            ),
        )
    return ModelChoice(key, name, label, "pretrained", True, stamp=str(entry.get("sha256", "")))


def _file_stamp(path: Path) -> str:
    try:
        st_ = path.stat()
    except OSError:
        return "missing"
    return f"{st_.st_mtime_ns}-{st_.st_size}"


@st.cache_data(max_entries=128, show_spinner=False)
def _checkpoint_summary(path: str, stamp: str) -> dict:
    """Registry name and metadata of an app checkpoint (read once per file version)."""
    try:
        model, metadata = load_checkpoint_file(Path(path))
    except (checkpoints.CheckpointError, ValueError, OSError) as e:
        return {"name": "", "error": str(e), "metadata": {}}
    return {"name": model.registry_name, "error": "", "metadata": metadata}


# What made an app checkpoint, as its metadata says it (in English, for good): the catalog's words
MADE_BY = {"trained in the app": "app.made_trained", "fine-tuned in the app": "app.made_finetuned"}


def _made_by(made_by: str | None) -> str:
    if made_by is None:
        return t("app.saved_in_app")
    return t(MADE_BY[made_by]) if made_by in MADE_BY else made_by


def app_choice(path: Path) -> ModelChoice:
    stamp = _file_stamp(path)
    info = _checkpoint_summary(str(path), stamp)
    key = f"app:{path.name}"
    if info["error"]:
        return ModelChoice(
            key,
            "",
            f"{path.stem} ({t('app.unreadable')})",
            "app",
            False,
            reason=info["error"],
            stamp=stamp,
        )
    name = info["name"]
    what = _made_by(info["metadata"].get("made_by"))
    return ModelChoice(
        key, name, f"{path.stem} · {models.model_label(name)}, {what}", "app", True, stamp=stamp
    )


def model_choices(*, include_app: bool = True, vone_only: bool = False) -> list[ModelChoice]:
    """The eight study models (marked unavailable while their checkpoints are missing), then the
    checkpoints trained or fine-tuned in this app."""
    choices = [pretrained_choice(n) for n in models.STUDY_MODELS]
    if include_app:
        choices += [app_choice(p) for p in app_checkpoints()]
    if vone_only:
        choices = [c for c in choices if c.is_vone]
    return choices


def find_choice(key: str) -> ModelChoice:
    kind, _, rest = key.partition(":")
    if kind == "pretrained":
        return pretrained_choice(rest)
    if kind == "app":
        return app_choice(app_checkpoint_dir() / Path(rest).name)
    raise ValueError(f"unknown model key {key!r}")


def as_choice(model: ModelChoice | str) -> ModelChoice:
    """A page names a model by its choice or its key; the stamp comes with the choice."""
    return model if isinstance(model, ModelChoice) else find_choice(model)


# --- loading -----------------------------------------------------------------------------------
def _freeze(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def build_fresh_model(name: str) -> nn.Module:
    """A newly initialised model to train (tiny in ``tiny`` mode). Never a cached one."""
    if tiny_mode() and _is_vone(name):
        return models.build_model(name, **TINY_VONE)
    return models.build_model(name)


def load_checkpoint_file(path: Path) -> tuple[nn.Module, dict]:
    return checkpoints.load_checkpoint(path)


def load_model(key: str) -> tuple[nn.Module, dict]:
    """Load a model, uncached: eval mode, parameters frozen. Raises PretrainedNotFoundError
    when a shipped checkpoint is missing and CheckpointError for a bad file."""
    kind, _, rest = key.partition(":")
    if kind == "pretrained":
        if tiny_mode():
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = build_fresh_model(rest)
            return _freeze(model), {
                "model": rest,
                "made_by": "untrained stand-in (VONEDEMO_APP_MODELS=tiny)",
            }
        return checkpoints.load_pretrained(rest)
    if kind == "app":
        return load_checkpoint_file(app_checkpoint_dir() / Path(rest).name)
    raise ValueError(f"unknown model key {key!r}")


@st.cache_resource(max_entries=12, show_spinner="Loading the model…")
def _cached_model(key: str, stamp: str) -> tuple[nn.Module, dict]:
    model, metadata = load_model(key)
    return _freeze(model), metadata


def get_model(model: ModelChoice | str) -> tuple[nn.Module, dict]:
    """The shared, cached, frozen model (reloaded when its file changes)."""
    choice = as_choice(model)
    return _cached_model(choice.key, choice.stamp)


# --- data --------------------------------------------------------------------------------------
@st.cache_resource(max_entries=4, show_spinner=False)
def _cached_data(split: str, limit: int | None) -> MNISTData:
    return load_mnist(split, limit=limit)


def test_data() -> MNISTData:
    """The test split (read-only: shared by every session)."""
    return _cached_data("test", data_limit())


def train_data() -> MNISTData:
    return _cached_data("train", data_limit())


# --- VOneBlocks --------------------------------------------------------------------------------
@st.cache_resource(max_entries=2, show_spinner=False)
def _study_block(tiny: bool) -> VOneBlock:
    config = VOneConfig(simple_channels=8, complex_channels=8) if tiny else VOneConfig()
    return VOneBlock(config).eval()


def study_block() -> VOneBlock:
    """The study's VOneBlock on its own (fixed Gabor bank; no trained back-end needed)."""
    return _study_block(tiny_mode())


def block_stamp(source: str) -> str:
    """The cache stamp of a VOneBlock source: :data:`STUDY_BLOCK` or a VOne model's key."""
    return f"study-{tiny_mode()}" if source == STUDY_BLOCK else find_choice(source).stamp


def vone_block(source: str) -> tuple[VOneBlock, nn.Module | None]:
    """(the VOneBlock of ``source``, its trained network or None for the study's block)."""
    if source == STUDY_BLOCK:
        return study_block(), None
    model, _ = get_model(source)
    return model.vone, model


def clear_model_caches() -> None:
    """Forget cached models and data (tests; after files change on disk)."""
    for fn in (_cached_model, _cached_data, _study_block, _checkpoint_summary):
        fn.clear()
