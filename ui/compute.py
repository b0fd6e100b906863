"""Cached computations: every expensive result the explorer, the home page and the compare page
show comes from here, computed inside a compute slot.

* Results (``st.cache_data`` with ``max_entries``) are keyed on plain values: model key and
  stamp, attack settings, eps, seed, noise mode, number of digits. Pages pass a
  :class:`~ui.loaders.ModelChoice` (or its key); the stamp is derived here.
* Compute slots bound how many model computations run at once across browser sessions.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import streamlit as st
import torch

from vonedemo import attack_view as views
from vonedemo import checkpoints
from vonedemo import results as measured_results
from vonedemo.attack_view import AttackSettings, AttackView

from . import loaders
from .loaders import ModelChoice, as_choice, get_model, test_data
from .pictures import digit_strip, png_data_url
from .settings import results_path

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


# --- the explorer's grid -----------------------------------------------------------------------
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
def _attack_view(
    key: str, stamp: str, settings: AttackSettings, n: int, sample_seed: int
) -> AttackView:
    """The explorer's grid: ``n`` test digits drawn with ``sample_seed``, attacked."""
    model, _ = get_model(key)
    idx, images, labels = _sample(n, sample_seed)
    before = clean_probs(key, stamp, settings.noise, settings.seed, n, sample_seed)
    with compute_slot():
        return views.attack_batch(model, images, labels, settings, indices=idx, clean_probs=before)


@st.cache_data(max_entries=64, show_spinner=False)
def _grid_pictures(
    key: str, stamp: str, settings: AttackSettings, n: int, sample_seed: int
) -> list[str]:
    """The grid's original | adversarial | perturbation strips as PNG data URLs. Encoding (and,
    for arrays or bytes, Streamlit's own decoding and storing) of sixteen pictures was most of
    a rerun's work once the attack is cached — and with a class, every session reruns."""
    view = _attack_view(key, stamp, settings, n, sample_seed)
    return [
        png_data_url(digit_strip(view.original[i], view.adversarial[i], view.perturbation[i]))
        for i in range(len(view))
    ]


def explorer_grid(
    model: ModelChoice | str, settings: AttackSettings, n: int, sample_seed: int
) -> tuple[AttackView, list[str]]:
    """(the attacked view of ``n`` test digits drawn with ``sample_seed``, their pictures)."""
    choice = as_choice(model)
    view = _attack_view(choice.key, choice.stamp, settings, n, sample_seed)
    return view, _grid_pictures(choice.key, choice.stamp, settings, n, sample_seed)


@st.cache_data(max_entries=64, show_spinner="Scoring more test digits at this eps…")
def _sample_attack_accuracy(key: str, stamp: str, settings: AttackSettings, limit: int) -> dict:
    model, _ = get_model(key)
    with compute_slot():
        return views.attacked_sample_accuracy(model, test_data(), settings, limit)


@st.cache_data(max_entries=32, show_spinner=False)
def _sample_clean_accuracy(key: str, stamp: str, noise: str | None, seed: int, limit: int) -> float:
    model, _ = get_model(key)
    with compute_slot():
        return views.clean_sample_accuracy(model, test_data(), limit, noise=noise, seed=seed)


_sample_scored: set[tuple] = set()  # keys of larger-sample results known to be in the cache


def larger_sample_scores(
    model: ModelChoice | str, settings: AttackSettings, limit: int, *, force: bool = False
) -> tuple[float, dict] | None:
    """(clean accuracy, attacked result) on the first ``limit`` test digits — or None when the
    app is busy and they are not cached yet: under load the grid comes first (``force`` waits)."""
    choice = as_choice(model)
    key, stamp = choice.key, choice.stamp
    marker = (key, stamp, settings, limit)
    if not (force or marker in _sample_scored or not busy()):
        return None
    clean = _sample_clean_accuracy(key, stamp, settings.noise, settings.seed, limit)
    attacked = _sample_attack_accuracy(key, stamp, settings, limit)
    if len(_sample_scored) > 4096:
        _sample_scored.clear()
    _sample_scored.add(marker)
    return clean, attacked


# --- one digit (the home page) -----------------------------------------------------------------
@st.cache_data(max_entries=16, show_spinner=False)
def _digit_view(key: str, stamp: str, settings: AttackSettings, index: int) -> AttackView:
    model, _ = get_model(key)
    data = test_data()
    index = int(index) % len(data)
    images, labels = views.select(data, [index])
    with compute_slot():
        return views.attack_batch(model, images, labels, settings, indices=[index])


def digit_view(model: ModelChoice | str, settings: AttackSettings, index: int) -> AttackView:
    """One test digit (``index`` wraps around the test set), attacked."""
    choice = as_choice(model)
    return _digit_view(choice.key, choice.stamp, settings, index)


# --- the compare page --------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """What the compare page shows: rows of study-vs-measured numbers, the accuracy-against-eps
    curves, and notes about files that could not be read."""

    rows: list[dict]
    table: list[dict]
    curves: dict[str, list[dict]]
    notes: list[str]

    @property
    def anything_measured(self) -> bool:
        return any(r["clean"] is not None or r["fgsm"] is not None for r in self.rows)


def comparison(fresh: dict | None) -> Comparison:
    """The results file and the checkpoint manifest (read on every call: they change on disk),
    with ``fresh`` ("Measure now") numbers over them."""
    notes = []
    try:
        manifest = checkpoints.read_manifest()
    except checkpoints.CheckpointError as e:
        manifest, notes = {"models": {}}, [str(e)]
    measured, more_notes = measured_results.read_measured(results_path(), manifest)
    notes += more_notes
    if fresh:
        measured.update(fresh["models"])
    names = measured_results.comparison_names(measured)
    rows = measured_results.comparison_rows(measured, names)
    table = [
        {
            "model": r["label"],
            "study clean %": r["study_clean"],
            "study FGSM 0.35 %": r["study_fgsm"],
            "our clean %": r["clean"],
            "our FGSM 0.35 %": r["fgsm"],
            "test digits": r["test_images"],
            "our numbers from": r["source"] or "not measured yet",
        }
        for r in rows
    ]
    return Comparison(rows, table, measured_results.eps_curves(measured, names), notes)


def clear_caches() -> None:
    """Forget cached models, data and results (tests; after files change on disk)."""
    loaders.clear_model_caches()
    for fn in (
        clean_probs,
        _attack_view,
        _grid_pictures,
        _digit_view,
        _sample_attack_accuracy,
        _sample_clean_accuracy,
    ):
        fn.clear()
    _sample_scored.clear()
