"""Preparing the explorer's default views in the background after start-up.

A class mostly asks the same questions: the explorer's default settings at one eps stop of the
slider or another. One low-priority thread computes them — every eps stop of the default
sample, the grid with its pictures and the larger sample, for each shipped model, the model a
class uses first — and keeps them on disk (:mod:`ui.prepared`). It takes a compute slot only
while no live request wants one, lowers its own scheduling priority, and skips what is already
on disk, so a restarted app prepares nothing twice. ``$VONEDEMO_PRECOMPUTE=off`` turns it off.

The results are exactly what the explorer would compute: the same functions, seeds and sample.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from vonedemo import attack_view as views
from vonedemo.attack_view import AttackSettings

from . import compute, loaders, prepared
from .loaders import ModelChoice
from .settings import precompute_enabled

# The explorer's defaults (pages/1_Attack_explorer.py, DEFAULTS): FGSM, raw gradient, each
# VOne model's neuronal noise, 16 digits drawn with seed 0, a larger sample of 100 digits.
EPS_STOPS = tuple(round(k / 100, 2) for k in range(51))  # the eps slider: 0.00 .. 0.50
DEFAULT_DIGITS, DEFAULT_SEED, DEFAULT_SAMPLE = 16, 0, 100
FIRST_MODELS = ("vone-alexnet", "basic-cnn")  # the class's model, then the picker's default
PAUSE_S = 0.02  # between items: live requests get the GIL and the cores first


def default_settings(choice: ModelChoice, eps: float) -> AttackSettings:
    """The explorer's default attack settings at ``eps`` for ``choice``."""
    return AttackSettings(
        attack="fgsm",
        eps=eps,
        gradient="raw",
        eot_samples=1,
        pgd_steps=10,
        noise="neuronal" if choice.is_vone else None,
        seed=DEFAULT_SEED,
        target=None,
    )


def eps_order() -> list[float]:
    """The eps stops, the page's default first, then outwards from it."""
    return sorted(EPS_STOPS, key=lambda e: (abs(e - 0.35), e))


def shipped_models() -> list[ModelChoice]:
    """The available shipped models, those a class uses first."""
    choices = [c for c in loaders.model_choices(include_app=False) if c.available]
    rank = {name: i for i, name in enumerate(FIRST_MODELS)}
    return sorted(choices, key=lambda c: rank.get(c.name, len(rank)))


def compute_grid(choice: ModelChoice, settings: AttackSettings, clean_probs=None) -> prepared.Grid:
    """The default grid at ``settings``, as the explorer computes it (uncached)."""
    model, _ = loaders.get_model(choice)
    idx, images, labels = compute._sample(DEFAULT_DIGITS, DEFAULT_SEED)
    with compute.compute_slot(background=True):
        if clean_probs is None:
            clean_probs = views.clean_probabilities(
                model, images, noise=settings.noise, seed=settings.seed
            )
        view = views.attack_batch(
            model, images, labels, settings, indices=idx, clean_probs=clean_probs
        )
    return view, compute.grid_pictures(view)


def compute_sample(choice: ModelChoice, settings: AttackSettings) -> tuple[float, dict]:
    """The default larger sample at ``settings``, as the explorer's background worker scores it."""
    model, _ = loaders.get_model(choice)
    data = loaders.test_data()
    with compute.compute_slot(background=True):
        clean = views.clean_sample_accuracy(
            model, data, DEFAULT_SAMPLE, noise=settings.noise, seed=settings.seed
        )
        return clean, views.attacked_sample_accuracy(model, data, settings, DEFAULT_SAMPLE)


@dataclass
class Progress:
    """What the precompute has done so far (for the load script and tests)."""

    done: int = 0  # results computed and written
    found: int = 0  # results already on disk
    failed: int = 0
    finished: bool = False
    seconds: float = 0.0


def _items(choices: list[ModelChoice]) -> Iterator[tuple[str, ModelChoice]]:
    """The class's model first (grids, then its larger samples), then the other grids, then
    their larger samples: the cheap, likely results before the expensive ones."""
    first, rest = choices[:1], choices[1:]
    for choice in first:
        yield "grid", choice
        yield "sample", choice
    for choice in rest:
        yield "grid", choice
    for choice in rest:
        yield "sample", choice


def prepare_all(
    choices: list[ModelChoice] | None = None,
    *,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    pause_s: float = PAUSE_S,
    eps_stops: tuple[float, ...] | None = None,
) -> Progress:
    """Compute and write every default view not yet on disk (valid) for ``choices`` (default:
    the shipped models) at ``eps_stops`` (default: every stop of the slider)."""
    progress = progress or Progress()
    start = time.perf_counter()
    choices = shipped_models() if choices is None else choices
    for kind, choice in _items(choices):
        clean_probs = None
        for eps in eps_order() if eps_stops is None else eps_stops:
            if stop is not None and stop.is_set():
                return progress
            settings = default_settings(choice, eps)
            try:
                if kind == "grid":
                    args = (choice.key, choice.stamp, settings, DEFAULT_DIGITS, DEFAULT_SEED)
                    if prepared.load_grid(*args, keep=False) is not None:
                        progress.found += 1
                        continue
                    view, pictures = compute_grid(choice, settings, clean_probs)
                    clean_probs = view.clean_probs  # the same for every eps
                    ident = prepared.identity("grid", *args)
                    prepared.save_grid(ident, view, pictures)
                else:
                    args = (choice.key, choice.stamp, settings, DEFAULT_SAMPLE)
                    if prepared.load_sample(*args) is not None:
                        progress.found += 1
                        continue
                    ident = prepared.identity("sample", *args, 0)
                    prepared.save_sample(ident, compute_sample(choice, settings))
                progress.done += 1
            except Exception:  # one bad model or a full disk must not stop the app
                progress.failed += 1
                traceback.print_exc()
            time.sleep(pause_s)
    progress.seconds = time.perf_counter() - start
    progress.finished = True
    return progress


# --- the background thread ---------------------------------------------------------------------
_thread: threading.Thread | None = None
_thread_lock = threading.Lock()
_stop = threading.Event()
progress = Progress()
STOP_WAIT_S = 10.0  # at exit, how long to wait for the view being computed


def _stop_at_exit() -> None:
    """At interpreter exit, let the precompute finish its current view and return: a daemon
    thread still inside a torch call when the interpreter tears down aborts the process."""
    _stop.set()
    if _thread is not None and _thread.is_alive():
        _thread.join(STOP_WAIT_S)


atexit.register(_stop_at_exit)


def _lower_priority() -> None:
    """Nice this thread only (Linux schedules threads on their own): live sessions first."""
    with contextlib.suppress(AttributeError, OSError, PermissionError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _run(work: Callable[[], Progress]) -> None:
    _lower_priority()
    try:
        work()
    except Exception:  # the app goes on without prepared views
        if not _stop.is_set():  # at exit, pools shut down under it: nothing to report
            traceback.print_exc()
    freeze_heap()  # the models it loaded stay for good: keep them out of the scans too


# --- start-up housekeeping: garbage collection ----------------------------------------------
# Streamlit can collect every generation after each script run (``runner.postScriptGC``, off in
# .streamlit/config.toml): with torch, pandas and plotly loaded, that one scan holds the GIL
# longer than a cached rerun takes, and a class reruns many times a second. Instead the heap of
# a started app is frozen (never scanned again) and a full collection runs every so often.
FULL_GC_EVERY_S = 30.0


def freeze_heap() -> None:
    """Leave the objects alive now out of every later garbage collection. Called a bounded
    number of times (start-up, after the precompute), so little garbage is ever pinned."""
    gc.collect()  # garbage first: only what is alive gets frozen
    gc.freeze()


def _collect_now_and_then() -> None:
    while True:
        time.sleep(FULL_GC_EVERY_S)
        gc.collect()


FREEZE_AT_RUNS = (1, 10)  # the first run imports the app; by the tenth every page element has
_runs = 0


def after_startup() -> bool:
    """From every script run (cheap): freeze the heap at the runs in :data:`FREEZE_AT_RUNS`,
    and on the first start the periodic collection and the precompute (unless switched off).
    True if the precompute runs now."""
    global _runs
    with _thread_lock:
        _runs += 1
        if _runs in FREEZE_AT_RUNS:
            freeze_heap()
        if _runs == 1:
            threading.Thread(target=_collect_now_and_then, name="full-gc", daemon=True).start()
    return start_background()


def start_background() -> bool:
    """Start the precompute once per process (unless switched off); True if it runs now."""
    global _thread
    if not precompute_enabled():
        return False
    with _thread_lock:
        if _thread is None:
            _thread = threading.Thread(
                target=_run,
                args=(lambda: prepare_all(progress=progress, stop=_stop),),
                name="prepare-views",
                daemon=True,
            )
            _thread.start()
        return _thread.is_alive()
