"""Cached computations: every expensive result the explorer, the home page and the compare page
show comes from here, computed inside a compute slot.

* Results (``st.cache_data`` with ``max_entries``) are keyed on plain values: model key and
  stamp, attack settings, eps, seed, noise mode, number of digits. Pages pass a
  :class:`~ui.loaders.ModelChoice` (or its key); the stamp is derived here.
* Compute slots bound how many model computations run at once across browser sessions; live
  requests go first, background work (:mod:`ui.precompute`) waits for a moment with none.
* The explorer's grid and larger sample are looked up among the prepared views
  (:mod:`ui.prepared`) before the caches.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import streamlit as st
import torch
from streamlit.runtime.scriptrunner import get_script_run_ctx

from vonedemo import attack_view as views
from vonedemo import checkpoints
from vonedemo import results as measured_results
from vonedemo.attack_view import AttackSettings, AttackView

from . import loaders, prepared
from .loaders import ModelChoice, as_choice, get_model, test_data
from .pictures import digit_strip, png_data_url
from .settings import audit_path, results_path

# --- compute slots -----------------------------------------------------------------------------
# Every browser session runs its script in a thread of its own. Twenty students moving sliders
# at once would start twenty model computations on two cores — each slower, memory times twenty.
# A computation takes a slot; there are as many slots as computations the CPU runs side by side.
COMPUTE_SLOTS = max(1, (os.cpu_count() or 1) // max(1, torch.get_num_threads()))
_slots = threading.BoundedSemaphore(COMPUTE_SLOTS)
# Live requests (a session waiting for its result) holding or waiting for a slot: background
# work (the precompute) only takes a slot while there are none, so it never delays a class.
_live = 0
_live_changed = threading.Condition()


@contextlib.contextmanager
def compute_slot(*, background: bool = False) -> Iterator[None]:
    """Hold one of the app's compute slots (waiting for one if all are taken). ``background``:
    also wait until no live request holds or waits for a slot."""
    global _live
    if background:
        with _live_changed:
            _live_changed.wait_for(lambda: _live == 0)
        with _slots:
            yield
        return
    with _live_changed:
        _live += 1
    try:
        with _slots:
            yield
    finally:
        with _live_changed:
            _live -= 1
            _live_changed.notify_all()


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
    return grid_pictures(_attack_view(key, stamp, settings, n, sample_seed))


def grid_pictures(view: AttackView) -> list[str]:
    """A view's original | adversarial | perturbation strips as PNG data URLs."""
    return [
        png_data_url(digit_strip(view.original[i], view.adversarial[i], view.perturbation[i]))
        for i in range(len(view))
    ]


def explorer_grid(
    model: ModelChoice | str, settings: AttackSettings, n: int, sample_seed: int
) -> tuple[AttackView, list[str]]:
    """(the attacked view of ``n`` test digits drawn with ``sample_seed``, their pictures):
    prepared ahead of time if it was (:mod:`ui.prepared`), else computed and cached."""
    choice = as_choice(model)
    ready = prepared.load_grid(choice.key, choice.stamp, settings, n, sample_seed)
    if ready is not None:
        return ready
    view = _attack_view(choice.key, choice.stamp, settings, n, sample_seed)
    return view, _grid_pictures(choice.key, choice.stamp, settings, n, sample_seed)


# --- the explorer's larger sample, in the background ---------------------------------------
# Scoring the first N test digits at a new eps takes longer than the grid (PGD on a VOne model:
# seconds). It runs in a background thread, so the grid never waits for it and a slider move is
# answered at once; the page polls until the result is there. One worker: the larger samples of
# a whole class queue up behind the grids, and a session's superseded request is dropped.
SAMPLE_WAIT_S = 0.5  # how long a page waits for a quick result before polling for it
SAMPLE_RESULTS = 256  # finished larger-sample results kept (small dicts)
_sample_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="larger-sample")
_sample_jobs: OrderedDict[tuple, Future] = OrderedDict()
_session_job: dict[str, tuple] = {}
_jobs_lock = threading.Lock()


def _score_sample(model, data, settings: AttackSettings, limit: int) -> tuple[float, dict]:
    with compute_slot():
        clean = views.clean_sample_accuracy(
            model, data, limit, noise=settings.noise, seed=settings.seed
        )
        return clean, views.attacked_sample_accuracy(model, data, settings, limit)


def _session_id() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def larger_sample_job(
    model: ModelChoice | str, settings: AttackSettings, limit: int
) -> Future[tuple[float, dict]]:
    """The (started or finished) job scoring the first ``limit`` test digits under ``settings``:
    its result is (clean accuracy, attacked result). One job per request, shared by sessions."""
    choice = as_choice(model)
    marker = (choice.key, choice.stamp, settings, limit)
    session = _session_id()
    with _jobs_lock:
        job = _sample_jobs.get(marker)
        if job is None or job.cancelled():
            ready = prepared.load_sample(choice.key, choice.stamp, settings, limit)
            if ready is not None:  # prepared ahead of time: a finished job
                job = Future()
                job.set_result(ready)
            else:
                net, _ = get_model(choice)  # resolved here: the worker has no script context
                job = _sample_worker.submit(_score_sample, net, test_data(), settings, limit)
            _sample_jobs[marker] = job
        _sample_jobs.move_to_end(marker)
        previous = _session_job.get(session)
        if previous is not None and previous != marker:
            stale = _sample_jobs.get(previous)
            if stale is not None and stale.cancel():  # not started yet: nobody waits for it
                del _sample_jobs[previous]
        _session_job[session] = marker
        while len(_sample_jobs) > SAMPLE_RESULTS:
            _sample_jobs.popitem(last=False)
    return job


def larger_sample_scores(
    model: ModelChoice | str, settings: AttackSettings, limit: int
) -> tuple[float, dict] | None:
    """(clean accuracy, attacked result) on the first ``limit`` test digits, or None while they
    are still being scored in the background (after a short wait for a quick result)."""
    job = larger_sample_job(model, settings, limit)
    try:
        return job.result(timeout=SAMPLE_WAIT_S)
    except FutureTimeout:
        return None


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
    """What the compare page shows: rows of study-vs-measured numbers from the results files,
    their table, the accuracy-against-eps curves, notes about files that could not be read, and
    — apart, never merged into them — the table of a "Measure now" run on a small sample."""

    rows: list[dict]
    table: list[dict]
    curves: dict[str, list[dict]]
    notes: list[str]
    fresh_table: list[dict]
    fresh_limit: int | None

    @property
    def anything_measured(self) -> bool:
        return any(r["clean"] is not None or r["fgsm"] is not None for r in self.rows)


def _shown(percent: float | None) -> str:
    """A table cell: one decimal, or a dash where there is no figure (never "None")."""
    return "—" if percent is None else f"{percent:.1f}"


def _comparison_table(rows: list[dict]) -> list[dict]:
    def share(fraction: float | None) -> str:
        return _shown(None if fraction is None else 100 * fraction)

    return [
        {
            "model": r["label"],
            "study clean %": _shown(r["study_clean"]),
            "study FGSM 0.35 %": _shown(r["study_fgsm"]),
            "our clean %": _shown(r["clean"]),
            "our FGSM 0.35 % (the study's attack)": _shown(r["fgsm"]),
            "FGSM gradient NaN %": share(r["fgsm_nan"]),
            "images FGSM moved %": share(r["fgsm_moved"]),
            "worst case 0.35 % (audit)": _shown(r["worst_case"]),
            "test digits": "—" if r["test_images"] is None else f"{r['test_images']:,}",
            "our numbers from": r["source"] or "not measured yet",
        }
        for r in rows
    ]


def comparison(fresh: dict | None) -> Comparison:
    """The results file, the checkpoint manifest and the audit report (read on every call:
    they change on disk); ``fresh`` ("Measure now") numbers go to a table of their own."""
    notes = []
    try:
        manifest = checkpoints.read_manifest()
    except checkpoints.CheckpointError as e:
        manifest, notes = {"models": {}}, [str(e)]
    measured, more_notes = measured_results.read_measured(results_path(), manifest)
    report, audit_notes = measured_results.read_audit_report(audit_path())
    notes += more_notes + audit_notes
    worst = measured_results.audit_worst_case(report)
    names = measured_results.comparison_names(measured)
    rows = measured_results.comparison_rows(measured, names, worst)
    fresh_rows = []
    if fresh:
        fresh_names = [n for n in names if n in fresh["models"]]
        fresh_rows = measured_results.comparison_rows(fresh["models"], fresh_names, worst)
    return Comparison(
        rows,
        _comparison_table(rows),
        measured_results.eps_curves(measured, names),
        notes,
        _comparison_table(fresh_rows),
        fresh["limit"] if fresh else None,
    )


def clear_caches() -> None:
    """Forget cached models, data and results (tests; after files change on disk)."""
    loaders.clear_model_caches()
    for fn in (
        clean_probs,
        _attack_view,
        _grid_pictures,
        _digit_view,
    ):
        fn.clear()
    with _jobs_lock:
        _sample_jobs.clear()
        _session_job.clear()
    prepared.forget_memory()
