"""Load-test the Attack explorer: many concurrent sessions moving the eps slider.

    python3 scripts/simulate_class.py                 # 20 sessions, 60 s, one eps change per second
    python3 scripts/simulate_class.py --tiny --sessions 3 --seconds 15 --json load.json

Starts ``streamlit run streamlit_app.py`` on 127.0.0.1 (a free port unless ``--port``), then
drives ``--sessions`` simulated students: clients of Streamlit's own websocket protocol
(``streamlit_client.py``) instead of headless browsers, which would not fit on two cores. Every
student opens ``pages/1_Attack_explorer.py``, picks ``--model`` in the model picker, and then
changes eps every ``--interval`` seconds for ``--seconds`` seconds.

What is measured, per eps change:

* grid latency: from sending the new eps until every grid image of that run (its ``st.image``
  elements) has arrived *and* been downloaded from ``/media/...``, as a browser would (the
  explorer sends its pictures inline as ``data:`` URLs: they arrive with their message);
* run latency: from sending until ``script_finished`` (and the images) arrived, i.e. the whole
  page, including the larger-sample accuracy computed after the grid.

A response slower than the interval is not piled on: the session sends its next change as soon as
the response is complete (counted as "late"). Errors: connection failures, exception elements or
``st.error`` alerts shown by the app, script runs that fail or are interrupted, image downloads
that fail, and responses slower than 30 s (that session then stops). The exit status is 1 if any
error occurred (or nothing was measured), else 0.

The server's resident memory (its process and any children; ``app_process.py``) is sampled
after one page render before the sessions start, every second while they run, and 5 s after
they disconnect; memory "levelled off" when the median of the last third of the run lies less
than 5% of the peak above the median of the middle third (medians, because every attack
allocates and frees memory that does not stay).

Bounds: at most 50 sessions and 600 s; the only host ever contacted is 127.0.0.1. The app's own
settings pass through the environment (e.g. ``VONEDEMO_APP_THREADS=1``); ``--tiny`` sets
``VONEDEMO_APP_MODELS=tiny`` (small untrained stand-ins) for quick checks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from websockets.exceptions import WebSocketException

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Sibling modules: the app as a child process, and the websocket client a student runs.
from app_process import (  # noqa: E402
    LOOPBACK,
    ROOT,
    AppStartError,
    MemorySampler,
    free_port,
    launch_app,
    stop_app,
    wait_healthy,
)
from streamlit_client import (  # noqa: E402
    RESPONSE_TIMEOUT_S,
    Page,
    PageSession,
    ResponseTimeout,
)

MAX_SESSIONS = 50
MAX_SECONDS = 600.0
AFTER_S = 5.0  # memory is measured this long after the sessions disconnect
LEVEL_FRACTION = 0.05  # "levelled off": last-third growth below this fraction of the peak
EPS_KEY = "ae_eps"  # widget keys used by the explorer page
MODEL_KEY = "ae_model"
EXPLORER = Page(
    url_name="Attack_explorer",  # URL path of pages/1_Attack_explorer.py
    proof_key=EPS_KEY,
    proof_label="the Attack explorer's eps slider",
)
EPS_VALUES = [k / 100 for k in range(51)]  # the slider's own grid: 0.00 .. 0.50, step 0.01
DEFAULT_MODEL = "vone-alexnet"


class SetupError(RuntimeError):
    """The app could not be started or the explorer page did not render as expected."""


# --- command line --------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sessions", type=int, default=20, help=f"concurrent sessions (1..{MAX_SESSIONS})"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=60.0,
        help=f"length of the load phase (max {MAX_SECONDS:.0f})",
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between eps changes per session"
    )
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="registry name shown in the model picker, e.g. vone-alexnet (or the picker's full label)",
    )
    parser.add_argument("--port", type=int, default=0, help="server port (0: pick a free one)")
    parser.add_argument(
        "--host", default=LOOPBACK, help="must be 127.0.0.1: this script never leaves the machine"
    )
    parser.add_argument(
        "--tiny", action="store_true", help="run the app with VONEDEMO_APP_MODELS=tiny"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sessions' eps sequences")
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="first fill the explorer's prepared views of --model (scripts/prepare_views.py), "
        "so the sessions start on a finished precompute",
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="OUT", help="also write the figures as JSON"
    )
    args = parser.parse_args(argv)
    if args.host != LOOPBACK:
        parser.error(
            f"--host must be {LOOPBACK} (got {args.host!r}): load tests only run against this machine"
        )
    if not 1 <= args.sessions <= MAX_SESSIONS:
        parser.error(f"--sessions must be between 1 and {MAX_SESSIONS}")
    if not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS:.0f}]")
    if not 0.05 <= args.interval <= 60:
        parser.error("--interval must be between 0.05 and 60 seconds")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    return args


# --- statistics ----------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default); None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(seconds: list[float]) -> dict[str, float | None]:
    ms = [1000 * s for s in seconds]
    return {
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "max_ms": max(ms) if ms else None,
        "mean_ms": sum(ms) / len(ms) if ms else None,
    }


@dataclass
class LoadStats:
    completed: int = 0  # eps changes whose grid arrived, error-free or not
    late: int = 0  # responses slower than the interval (the next change then waited for them)
    warmups: int = 0
    grid_s: list[float] = field(default_factory=list)
    run_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sessions_failed: int = 0

    def error(self, session: int, text: str) -> None:
        self.errors.append(f"session {session}: {text}")


# --- a student ----------------------------------------------------------------------------------
class Student(PageSession):
    """One simulated student: a browser tab on the Attack explorer."""

    def __init__(self, index: int, port: int) -> None:
        super().__init__(index, port, EXPLORER)

    def set_eps(self, eps: float) -> None:
        self.set_slider(EPS_KEY, eps)

    def choose_model(self, model: str) -> None:
        """Put ``model`` (registry name or full label) in the model picker's widget state."""
        options = self.options.get(MODEL_KEY, [])
        wanted = [o for o in options if o == model]
        wanted = wanted or [o for o in options if f"({model})" in o]
        if not wanted:
            raise SetupError(f"model {model!r} is not in the picker: {options}")
        label = wanted[0]
        if label.endswith("not available"):
            raise SetupError(f"{label}: its checkpoint is missing (use --tiny, or train it)")
        self.set_selectbox(MODEL_KEY, label)

    async def warm_up(self, model: str) -> None:
        """Open the page (default settings), then pick the model: what a student does first."""
        await self.connect()
        first = await self.run_page()
        if first.errors:
            raise SetupError(f"first render: {first.errors[0]}")
        if EPS_KEY not in self.widget_ids or MODEL_KEY not in self.widget_ids:
            raise SetupError("the Attack explorer did not render its model picker and eps slider")
        self.choose_model(model)
        chosen = await self.run_page()
        if chosen.errors:
            raise SetupError(f"after choosing {model}: {chosen.errors[0]}")
        if chosen.images == 0:
            raise SetupError(f"no grid images after choosing {model}")


# --- the class ----------------------------------------------------------------------------------
async def drive(
    session: Student,
    order: list[float],
    start_at: float,
    stop_at: float,
    interval: float,
    stats: LoadStats,
) -> None:
    """Change eps every ``interval`` s from ``start_at`` until ``stop_at`` (monotonic times)."""
    current = 0.35  # the page's default eps
    step = 0
    next_at = start_at
    try:
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if time.monotonic() >= stop_at:
                break
            eps = order[step % len(order)]
            step += 1
            if eps == current:  # a slider "change" must change the value
                eps = order[step % len(order)]
                step += 1
            current = eps
            session.set_eps(eps)
            result = await session.run_page()
            stats.completed += 1
            for text in result.errors:
                stats.error(session.index, f"eps {eps:.2f}: {text}")
            if result.images == 0:
                stats.error(session.index, f"eps {eps:.2f}: no grid images")
            if result.grid_s is not None:
                stats.grid_s.append(result.grid_s)
            stats.run_s.append(result.run_s)
            next_at = result.sent + interval
            if time.monotonic() > next_at:
                stats.late += 1  # no piling up: the next change goes out now, not queued
    except ResponseTimeout:
        stats.error(
            session.index,
            f"no complete response within {RESPONSE_TIMEOUT_S:.0f} s; session stopped",
        )
        stats.sessions_failed += 1
    except (WebSocketException, OSError, DecodeError) as e:
        stats.error(session.index, f"connection lost: {type(e).__name__}: {e}")
        stats.sessions_failed += 1
    finally:
        await session.close()


async def warm_up(session: Student, model: str, stats: LoadStats) -> bool:
    try:
        await session.warm_up(model)
    except SetupError as e:
        stats.error(session.index, f"set-up: {e}")
    except ResponseTimeout:
        stats.error(
            session.index, f"set-up: no complete response within {RESPONSE_TIMEOUT_S:.0f} s"
        )
    except (WebSocketException, OSError, TimeoutError, DecodeError) as e:
        stats.error(session.index, f"could not connect: {type(e).__name__}: {e}")
    else:
        stats.warmups += 1
        return True
    stats.sessions_failed += 1
    await session.close()
    return False


async def simulate_class(args: argparse.Namespace, pid: int, port: int) -> dict[str, Any]:
    t0 = time.monotonic()
    sampler = MemorySampler(pid, t0)

    # One page render before the sessions: the app has then imported torch, loaded the model and
    # cached one grid, so "before" is the memory of a warm, idle app.
    probe = Student(-1, port)
    try:
        await probe.warm_up(args.model)
    except (ResponseTimeout, WebSocketException, OSError, TimeoutError) as e:
        raise SetupError(f"the first page render failed: {type(e).__name__}: {e}") from e
    finally:
        await probe.close()
    await asyncio.sleep(1.0)  # let the server settle after the probe disconnects
    before = sampler.sample()

    stats = LoadStats()
    sampler_task = asyncio.create_task(sampler.run())
    try:
        sessions_start = time.monotonic() - t0
        sessions = [Student(i, port) for i in range(args.sessions)]
        ready = await asyncio.gather(*(warm_up(s, args.model, stats) for s in sessions))
        load_start = time.monotonic()
        stop_at = load_start + args.seconds
        drivers = []
        for s, ok in zip(sessions, ready, strict=True):
            if not ok:
                continue
            # Each session walks its own seeded permutation of the slider's values, so values
            # repeat across sessions (as in a class) and cached results are hit realistically.
            order = random.Random(args.seed * 1000 + s.index).sample(EPS_VALUES, len(EPS_VALUES))
            # Spread the sessions' first changes over one interval: students do not move in step.
            start_at = load_start + args.interval * s.index / args.sessions
            drivers.append(drive(s, order, start_at, stop_at, args.interval, stats))
        await asyncio.gather(*drivers)
        load_end = time.monotonic() - t0
        await asyncio.sleep(AFTER_S)
        after = sampler.sample()
    finally:
        sampler_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler_task

    load_from = load_start - t0
    during = sampler.between(sessions_start, load_end)
    load_phase = sampler.between(load_from, load_end)
    last10 = sampler.between(load_end - 10, load_end)
    # Judged on the load phase, with at least 3 samples per third. Medians, not maxima: every
    # attack allocates and frees tens of MB, and only memory that stays (caches) matters here.
    third = len(load_phase) // 3
    peak = max(during) if during else math.nan
    if third >= 3:
        growth = statistics.median(load_phase[-third:]) - statistics.median(
            load_phase[-2 * third : -third]
        )
        levelled: bool | None = bool(growth < LEVEL_FRACTION * peak)
    else:
        growth, levelled = math.nan, None
    memory = {
        "before_mb": before,
        "peak_during_mb": peak,
        "last_10s_mean_mb": sum(last10) / len(last10) if last10 else math.nan,
        "after_mb": after,
        "last_third_growth_mb": growth,
        "levelled_off": levelled,  # None: the run was too short to judge
        "samples": [(round(t, 2), round(mb, 1)) for t, mb in sampler.samples],
    }
    return {
        "stats": stats,
        "memory": memory,
        "load_seconds": load_end - load_from,
    }


# --- report --------------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    processor = platform.processor()
    if not processor:  # empty on most Linux systems: take the CPU model from /proc
        with contextlib.suppress(OSError):
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    processor = line.split(":", 1)[1].strip()
                    break
    versions = {}
    for package in ("torch", "streamlit"):
        try:
            versions[package] = metadata.version(package)  # no torch import: keeps the client light
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "processor": processor or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        **versions,
    }


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def _mb(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.0f} MB"


def build_report(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, Any]:
    stats: LoadStats = result["stats"]
    return {
        "machine": machine_info(),
        "sessions": args.sessions,
        "seconds": args.seconds,
        "interval_s": args.interval,
        "model": args.model,
        "tiny_models": args.tiny,
        "prepare": result.get("prepare"),
        "load_seconds": round(result["load_seconds"], 2),
        "sessions_ready": stats.warmups,
        "sessions_failed": stats.sessions_failed,
        "requests_completed": stats.completed,
        "late_responses": stats.late,
        "errors": len(stats.errors),
        "error_messages": stats.errors[:50],
        "latency_grid": latency_summary(stats.grid_s),
        "latency_run": latency_summary(stats.run_s),
        "memory": result["memory"],
    }


def format_report(report: dict[str, Any]) -> str:
    m, mem, grid, run = (
        report["machine"],
        report["memory"],
        report["latency_grid"],
        report["latency_run"],
    )
    models = "tiny untrained stand-ins" if report["tiny_models"] else "shipped checkpoints"
    lines = [
        "Load test: Attack explorer (pages/1_Attack_explorer.py), Streamlit websocket clients",
        f"  machine     : {m['processor']}, {m['cpu_count']} CPUs, Python {m['python']}, "
        f"torch {m['torch']}, streamlit {m['streamlit']}",
        f"  load        : {report['sessions']} sessions x {report['seconds']:g} s, eps change every "
        f"{report['interval_s']:g} s per session, model {report['model']} ({models})",
        f"  sessions    : {report['sessions_ready']} ready, {report['sessions_failed']} failed",
        f"  updates     : {report['requests_completed']} completed in {report['load_seconds']:.1f} s; "
        f"{report['late_responses']} slower than the interval (the next change then waited: no pile-up)",
        f"  errors      : {report['errors']}",
        f"  grid latency: p50 {_ms(grid['p50_ms'])}, p95 {_ms(grid['p95_ms'])}, max {_ms(grid['max_ms'])}"
        "  (eps sent -> every grid image downloaded)",
        f"  run latency : p50 {_ms(run['p50_ms'])}, p95 {_ms(run['p95_ms'])}, max {_ms(run['max_ms'])}"
        "  (eps sent -> script_finished, whole page)",
        f"  server RSS  : before {_mb(mem['before_mb'])}, peak during {_mb(mem['peak_during_mb'])}, "
        f"last 10 s {_mb(mem['last_10s_mean_mb'])} (mean), after {_mb(mem['after_mb'])}",
    ]
    if mem["levelled_off"] is None:
        lines.append(
            "  memory      : run too short to judge whether memory levels off (needs >= 9 s)"
        )
    else:
        verdict = "levelled off" if mem["levelled_off"] else "NOT levelled off"
        lines.append(
            f"  memory      : {verdict} (median RSS, last vs middle third of the run: "
            f"{mem['last_third_growth_mb']:+.0f} MB; limit {100 * LEVEL_FRACTION:.0f}% of the peak)"
        )
    for text in report["error_messages"][:10]:
        lines.append(f"  ! {text}")
    if report["errors"] > 10:
        lines.append(f"  ! ... and {report['errors'] - 10} more")
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    """NaN is not JSON: write null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


# --- main ----------------------------------------------------------------------------------------
def _terminate(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # like Ctrl-C: unwinds through main's finally, which stops the server


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    port = args.port or free_port()
    env = {
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    }
    if args.tiny:
        env["VONEDEMO_APP_MODELS"] = "tiny"
    prepare = None
    if args.prepare:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "prepare_views.py"), "--model", args.model],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        prepare = {
            "seconds": round(time.monotonic() - started, 1),
            "report": done.stdout.strip().splitlines()[-1:],
        }
        if done.returncode != 0:
            print(f"error: preparing the views failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            return 2
        print(f"prepared views: {prepare['report'][0] if prepare['report'] else ''}")
    with tempfile.TemporaryDirectory(prefix="vonedemo-load-") as tmp:
        log_path = Path(tmp) / "server.log"
        proc = launch_app(port, env, log_path)
        try:
            wait_healthy(proc, port, log_path)
            result = asyncio.run(simulate_class(args, proc.pid, port))
            result["prepare"] = prepare
        except (SetupError, AppStartError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted: stopping the app", file=sys.stderr)
            return 130
        finally:
            stop_app(proc)
        if proc.returncode not in (0, -signal.SIGTERM, None):
            print(f"note: the app exited with status {proc.returncode}", file=sys.stderr)
    report = build_report(args, result)
    print(format_report(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_json_safe(report), indent=2) + "\n")
    failed = report["errors"] > 0 or report["requests_completed"] == 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
