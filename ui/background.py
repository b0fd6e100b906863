"""Long runs in the background: training and fine-tuning run in worker threads, not in the
page's script. A reload, a changed control or a visit to another page never throws a run
away: the page finds its run again by the id it keeps in the URL (``?run=…``), draws the run's
progress from its record, and polls until the run ends.

Worker threads never call Streamlit: a run only fills its :class:`Run` record (under its lock)
and pages draw from copies of it. As many runs go at once as the app has compute slots; more
wait in a queue. Records live in memory, the most recent :data:`KEPT_RUNS` of them: an app
restart forgets runs (a finished run's model is saved to disk before its record says done).
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from .compute import COMPUTE_SLOTS

KEPT_RUNS = 64
RUN_ID = re.compile(r"[0-9a-f]{16}")  # what a run id looks like: anything else in a URL is junk
Status = Literal["queued", "running", "done", "failed"]


@dataclass
class Run:
    """A long run's record: what the page draws while it goes and keeps when it ends."""

    id: str
    kind: str  # "train" or "finetune": which page's run it is
    title: str
    total_steps: int
    status: Status = "queued"
    started: float = field(default_factory=time.time)
    step: int = 0
    step_text: str = ""
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)  # one per epoch or round
    context: dict = field(default_factory=dict)  # what the page draws beside the run
    result: dict | None = None  # the finished run's record (the page keeps it)
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    def snapshot(self) -> Run:
        """A copy to draw from, consistent with itself."""
        with self.lock:
            copied = copy.copy(self)
            copied.steps, copied.losses = list(self.steps), list(self.losses)
            copied.rows = list(self.rows)
        copied.lock = threading.Lock()
        return copied

    def seconds_left(self) -> float | None:
        """The time left, extrapolated from the steps done so far."""
        if self.status != "running" or self.step == 0:
            return None
        elapsed = time.time() - self.started
        return elapsed / self.step * max(self.total_steps - self.step, 0)


_runs: OrderedDict[str, Run] = OrderedDict()
_runs_lock = threading.Lock()
_workers = ThreadPoolExecutor(max_workers=COMPUTE_SLOTS, thread_name_prefix="long-run")


def start(
    kind: str,
    title: str,
    total_steps: int,
    work: Callable[[Run], dict],
    context: dict | None = None,
) -> Run:
    """Queue ``work(run)`` (which fills ``run`` as it goes and returns the finished record);
    the run's record, at once. ``context``: what the page draws beside the run."""
    run = Run(secrets.token_hex(8), kind, title, int(total_steps), context=dict(context or {}))
    with _runs_lock:
        _runs[run.id] = run
        while len(_runs) > KEPT_RUNS:
            oldest = next((k for k, r in _runs.items() if r.finished), None)
            if oldest is None:
                break
            del _runs[oldest]

    def go() -> None:
        with run.lock:
            run.status, run.started = "running", time.time()
        try:
            result = work(run)
        except Exception as e:  # the page says what went wrong; the app goes on
            with run.lock:
                run.status, run.error = "failed", f"{type(e).__name__}: {e}"
            traceback.print_exc()
            return
        with run.lock:
            run.status, run.result = "done", result

    _workers.submit(go)
    return run


def find(run_id: object, kind: str | None = None) -> Run | None:
    """The run with this id (from a URL: anything may come in), of this kind if one is given,
    or None."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        return None
    with _runs_lock:
        run = _runs.get(run_id)
    return run if run is not None and kind in (None, run.kind) else None


def forget_all() -> None:
    """Drop every record (tests)."""
    with _runs_lock:
        _runs.clear()
