"""Cached loaders: every model, data set and expensive result the pages show comes from here.

* Models are shared by every browser session (``st.cache_resource``): they are loaded in eval
  mode with frozen parameters, and nothing may train, move or re-mode them. Noise choices go
  through :func:`vonedemo.vone.noise_mode` around each computation instead.
* Results (``st.cache_data``) are keyed on plain values: model key and file stamp, attack
  settings, eps, seed, noise mode, number of digits.

Every model passes through :func:`load_model` (uncached; the one place that reads checkpoint
files). Tests replace it, or set ``VONEDEMO_APP_MODELS=tiny`` to get small untrained stand-ins.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch
from torch import nn

from vonedemo import attack_view as views
from vonedemo import checkpoints, models
from vonedemo.attack_view import AttackSettings, AttackView
from vonedemo.data import MNISTData, load_mnist
from vonedemo.runtime import tune_allocator
from vonedemo.vone import VOneBlock, VOneConfig

from .settings import app_checkpoint_dir, app_checkpoints

MODELS_ENV = "VONEDEMO_APP_MODELS"  # "tiny": small, untrained stand-ins for the shipped models
DATA_LIMIT_ENV = "VONEDEMO_APP_DATA_LIMIT"  # keep only the first N images of each split
THREADS_ENV = "VONEDEMO_APP_THREADS"  # torch CPU threads for the whole app (default: torch's own)
TINY_VONE = {"simple_channels": 8, "complex_channels": 8, "bottleneck_channels": 4}
REGENERATE = "`python -m vonedemo train --all` regenerates them"

tune_allocator()  # the app's process, the app's choice: see vonedemo.runtime
_threads = os.environ.get(THREADS_ENV, "").strip()
if _threads.isdigit() and int(_threads) > 0:
    # On a busy machine (or with several browser sessions) one thread per computation can be
    # several times faster than threads competing for the same two cores.
    torch.set_num_threads(int(_threads))


def tiny_mode() -> bool:
    return os.environ.get(MODELS_ENV, "").strip().lower() == "tiny"


def data_limit() -> int | None:
    text = os.environ.get(DATA_LIMIT_ENV, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


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


def pretrained_choice(name: str) -> ModelChoice:
    label = f"{models.model_label(name)} ({name})"
    key = f"pretrained:{name}"
    if tiny_mode():
        return ModelChoice(
            key, name, f"{label} · untrained stand-in", "pretrained", True, stamp="tiny"
        )
    try:
        entry = checkpoints.read_manifest()["models"].get(name)
        ready = checkpoints.pretrained_available(name)
    except (checkpoints.CheckpointError, OSError, KeyError, TypeError) as e:
        return ModelChoice(key, name, label, "pretrained", False, reason=str(e))
    if not ready:
        return ModelChoice(
            key,
            name,
            label,
            "pretrained",
            False,
            reason=f"the shipped checkpoint of {name} is not in {checkpoints.default_checkpoint_dir()} yet; {REGENERATE}",
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


def app_choice(path: Path) -> ModelChoice:
    stamp = _file_stamp(path)
    info = _checkpoint_summary(str(path), stamp)
    key = f"app:{path.name}"
    if info["error"]:
        return ModelChoice(
            key, "", f"{path.stem} (unreadable)", "app", False, reason=info["error"], stamp=stamp
        )
    name = info["name"]
    what = info["metadata"].get("made_by", "saved in the app")
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


def get_model(key: str) -> tuple[nn.Module, dict]:
    """The shared, cached, frozen model for ``key`` (reloaded when its file changes)."""
    return _cached_model(key, find_choice(key).stamp)


# --- data --------------------------------------------------------------------------------------
@st.cache_resource(max_entries=4, show_spinner=False)
def _cached_data(split: str, limit: int | None) -> MNISTData:
    return load_mnist(split, limit=limit)


def test_data() -> MNISTData:
    """The test split (read-only: shared by every session)."""
    return _cached_data("test", data_limit())


def train_data() -> MNISTData:
    return _cached_data("train", data_limit())


@st.cache_resource(max_entries=2, show_spinner=False)
def _study_block(tiny: bool) -> VOneBlock:
    config = VOneConfig(simple_channels=8, complex_channels=8) if tiny else VOneConfig()
    return VOneBlock(config).eval()


def study_block() -> VOneBlock:
    """The study's VOneBlock on its own (fixed Gabor bank; no trained back-end needed)."""
    return _study_block(tiny_mode())


# --- compute slots -----------------------------------------------------------------------------
# Every browser session runs its script in a thread of its own. Twenty students moving sliders
# at once would start twenty model computations on two cores — each slower, memory times twenty.
# A computation takes a slot; there are as many slots as computations the CPU runs side by side.
COMPUTE_SLOTS = max(1, (os.cpu_count() or 1) // max(1, torch.get_num_threads()))
_slots = threading.BoundedSemaphore(COMPUTE_SLOTS)
_busy_lock = threading.Lock()
_in_flight = 0


@contextlib.contextmanager
def compute_slot() -> Iterator[None]:
    """Hold one of the app's compute slots (waiting for one if all are taken)."""
    global _in_flight
    with _busy_lock:
        _in_flight += 1
    try:
        with _slots:
            yield
    finally:
        with _busy_lock:
            _in_flight -= 1


def busy() -> bool:
    """True while any computation runs or waits: optional work (the larger sample) then steps
    aside, so that with a class at work the slots go to the grids people are looking at."""
    return _in_flight > 0


# --- cached results ----------------------------------------------------------------------------
def _sample(n: int, sample_seed: int):
    data = test_data()
    idx = views.sample_indices(len(data), n, sample_seed)
    images, labels = views.select(data, idx)
    return idx, images, labels


@st.cache_data(max_entries=32, show_spinner=False)
def clean_probs(key: str, stamp: str, noise: str | None, seed: int, n: int, sample_seed: int):
    """Probabilities of the explorer's digits before the attack (the same for every eps)."""
    model, _ = get_model(key)
    _, images, _ = _sample(n, sample_seed)
    with compute_slot():
        return views.clean_probabilities(model, images, noise=noise, seed=seed)


@st.cache_data(max_entries=64, show_spinner=False)
def attack_view(
    key: str, stamp: str, settings: AttackSettings, n: int, sample_seed: int
) -> AttackView:
    """The explorer's grid: ``n`` test digits drawn with ``sample_seed``, attacked."""
    model, _ = get_model(key)
    idx, images, labels = _sample(n, sample_seed)
    before = clean_probs(key, stamp, settings.noise, settings.seed, n, sample_seed)
    with compute_slot():
        return views.attack_batch(model, images, labels, settings, indices=idx, clean_probs=before)


@st.cache_data(max_entries=64, show_spinner=False)
def grid_pictures(
    key: str, stamp: str, settings: AttackSettings, n: int, sample_seed: int
) -> list[str]:
    """The grid's original | adversarial | perturbation strips as PNG data URLs. Encoding (and,
    for arrays or bytes, Streamlit's own decoding and storing) of sixteen pictures was most of
    a rerun's work once the attack is cached — and with a class, every session reruns."""
    import base64
    import io

    from PIL import Image

    from ui.widgets import digit_strip  # widgets imports this module

    view = attack_view(key, stamp, settings, n, sample_seed)
    pictures = []
    for i in range(len(view)):
        buffer = io.BytesIO()
        strip = digit_strip(view.original[i], view.adversarial[i], view.perturbation[i])
        Image.fromarray(strip).save(buffer, format="PNG", compress_level=6)
        pictures.append(
            "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
        )
    return pictures


@st.cache_data(max_entries=16, show_spinner=False)
def digit_view(key: str, stamp: str, settings: AttackSettings, index: int) -> AttackView:
    """One test digit, attacked (the home page)."""
    model, _ = get_model(key)
    data = test_data()
    index = int(index) % len(data)
    images, labels = views.select(data, [index])
    with compute_slot():
        return views.attack_batch(model, images, labels, settings, indices=[index])


@st.cache_data(max_entries=64, show_spinner="Scoring more test digits at this eps…")
def sample_attack_accuracy(key: str, stamp: str, settings: AttackSettings, limit: int) -> dict:
    model, _ = get_model(key)
    with compute_slot():
        return views.attacked_sample_accuracy(model, test_data(), settings, limit)


@st.cache_data(max_entries=32, show_spinner=False)
def sample_clean_accuracy(key: str, stamp: str, noise: str | None, seed: int, limit: int) -> float:
    model, _ = get_model(key)
    with compute_slot():
        return views.clean_sample_accuracy(model, test_data(), limit, noise=noise, seed=seed)


_sample_scored: set[tuple] = set()  # keys of larger-sample results known to be in the cache


def larger_sample_scores(
    key: str, stamp: str, settings: AttackSettings, limit: int, *, force: bool = False
) -> tuple[float, dict] | None:
    """(clean accuracy, attacked result) on the first ``limit`` test digits — or None when the
    app is busy and they are not cached yet: under load the grid comes first (``force`` waits)."""
    marker = (key, stamp, settings, limit)
    if not (force or marker in _sample_scored or not busy()):
        return None
    clean = sample_clean_accuracy(key, stamp, settings.noise, settings.seed, limit)
    attacked = sample_attack_accuracy(key, stamp, settings, limit)
    if len(_sample_scored) > 4096:
        _sample_scored.clear()
    _sample_scored.add(marker)
    return clean, attacked


def clear_model_caches() -> None:
    """Forget cached models and results (tests; after files change on disk)."""
    for fn in (_cached_model, _cached_data, _study_block):
        fn.clear()
    for fn in (
        _checkpoint_summary,
        clean_probs,
        attack_view,
        grid_pictures,
        digit_view,
        sample_attack_accuracy,
        sample_clean_accuracy,
    ):
        fn.clear()
    _sample_scored.clear()
