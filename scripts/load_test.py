"""Load-test the Attack explorer: many concurrent sessions moving the eps slider.

    python3 scripts/load_test.py                      # 20 sessions, 60 s, one eps change per second
    python3 scripts/load_test.py --tiny --sessions 3 --seconds 15 --json load.json

Starts ``streamlit run streamlit_app.py`` on 127.0.0.1 (a free port unless ``--port``), then
drives ``--sessions`` clients of Streamlit's own websocket protocol (``/_stcore/stream``, binary
``BackMsg``/``ForwardMsg`` protobufs) instead of headless browsers, which would not fit on two
cores. Every client opens ``pages/1_Attack_explorer.py``, picks ``--model`` in the model picker,
and then changes eps every ``--interval`` seconds for ``--seconds`` seconds.

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

The server's resident memory (its process and any children) is sampled after one page render
before the sessions start, every second while they run, and 5 s after they disconnect; memory
"levelled off" when the median of the last third of the run lies less than 5% of the peak above
the median of the middle third (medians, because every attack allocates and frees tens of MB).

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
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshots import free_port  # noqa: E402  (sibling script: the one free-port helper)

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"  # the only host this script ever connects to
MAX_SESSIONS = 50
MAX_SECONDS = 600.0
RESPONSE_TIMEOUT_S = 30.0  # a response slower than this is an error
STARTUP_TIMEOUT_S = 90.0
AFTER_S = 5.0  # memory is measured this long after the sessions disconnect
LEVEL_FRACTION = 0.05  # "levelled off": last-third growth below this fraction of the peak
PAGE_NAME = "Attack_explorer"  # URL path of pages/1_Attack_explorer.py
EPS_KEY = "ae_eps"  # widget keys used by the explorer page
MODEL_KEY = "ae_model"
EPS_VALUES = [k / 100 for k in range(51)]  # the slider's own grid: 0.00 .. 0.50, step 0.01
DEFAULT_MODEL = "vone-alexnet"


class SetupError(RuntimeError):
    """The app could not be started or the explorer page did not render as expected."""


class ResponseTimeout(RuntimeError):
    """No complete response within RESPONSE_TIMEOUT_S."""


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


# --- the server ----------------------------------------------------------------------------------
def start_app(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "streamlit_app.py",
        "--server.port",
        str(port),
        "--server.address",
        LOOPBACK,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    with log_path.open("wb") as log:
        # Own session: a Ctrl-C in the terminal reaches only this script, which then stops the
        # server itself (in the finally of main), so it never outlives the test.
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_healthy(proc: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SetupError(f"the app exited with status {proc.returncode}:\n{log_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SetupError(
        f"the app was not healthy within {STARTUP_TIMEOUT_S:.0f} s:\n{log_tail(log_path)}"
    )


def stop_app(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


# --- memory --------------------------------------------------------------------------------------
def _proc_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _proc_children(pid: int) -> list[int]:
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children += [int(c) for c in f.read().split()]
    return children


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB (psutil if present, else /proc)."""
    try:
        import psutil  # optional: not a dependency of the project
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            p = psutil.Process(pid)
            procs = [p, *p.children(recursive=True)]
            return sum(q.memory_info().rss for q in procs) / 2**20
        except psutil.Error:
            return math.nan
    total_kb, todo = 0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError, ValueError):
            total_kb += _proc_rss_kb(current)
            todo += _proc_children(current)
    return total_kb / 1024 if total_kb else math.nan


class MemorySampler:
    """Samples the server's RSS once per second on the event loop (reading /proc is cheap)."""

    def __init__(self, pid: int, t0: float) -> None:
        self.pid = pid
        self.t0 = t0
        self.samples: list[tuple[float, float]] = []  # (seconds since t0, MB)

    def sample(self) -> float:
        mb = rss_mb(self.pid)
        self.samples.append((time.monotonic() - self.t0, mb))
        return mb

    async def run(self, period: float = 1.0) -> None:
        while True:
            self.sample()
            await asyncio.sleep(period)

    def between(self, start: float, end: float) -> list[float]:
        return [mb for t, mb in self.samples if start <= t <= end and not math.isnan(mb)]


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


# --- Streamlit's websocket protocol --------------------------------------------------------------
async def fetch_media(port: int, path: str) -> float:
    """GET one ``/media/...`` file over HTTP/1.1 like a browser; returns when it is complete.
    A tiny asyncio client: no new dependency, no thread per download. A ``data:`` URL (the
    picture travels inside the message) has nothing left to fetch."""
    if path.startswith("data:image/"):
        return time.monotonic()
    if not path.startswith("/"):
        raise ValueError(f"unexpected media URL {path!r}")  # absolute URLs could leave 127.0.0.1
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        body = await reader.read()  # Connection: close, so the body ends at EOF
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)
    }
    if status != 200:
        raise OSError(f"GET {path}: HTTP {status}")
    if "content-length" in headers and int(headers["content-length"]) != len(body):
        raise OSError(f"GET {path}: {len(body)} of {headers['content-length']} bytes")
    return time.monotonic()


@dataclass
class RunResult:
    sent: float
    grid_s: float | None  # until the last grid image was downloaded
    run_s: float  # until script_finished and every image
    images: int
    errors: list[str]


class Session:
    """One simulated browser tab on the Attack explorer."""

    def __init__(self, index: int, port: int) -> None:
        self.index = index
        self.port = port
        self.ws: ClientConnection | None = None
        self.page_script_hash = ""  # learnt from the navigation message; the first run asks by name
        self.widgets: dict[str, WidgetState] = {}  # what this "browser" holds, resent every rerun
        self.ids: dict[str, str] = {}  # widget key -> Streamlit widget id
        self.model_options: list[str] = []

    async def connect(self) -> None:
        url = f"ws://{LOOPBACK}:{self.port}/_stcore/stream"
        # The browser offers the subprotocol "streamlit" (then an XSRF token and a session id to
        # resume, both absent here) and sends its Origin; max_size: plot messages can be large.
        self.ws = await asyncio.wait_for(
            connect(
                url,
                subprotocols=["streamlit"],
                origin=f"http://{LOOPBACK}:{self.port}",
                max_size=64 * 2**20,
                open_timeout=RESPONSE_TIMEOUT_S,
            ),
            RESPONSE_TIMEOUT_S,
        )

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
            self.ws = None

    def _rerun_msg(self) -> bytes:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = ""
        state.page_script_hash = self.page_script_hash
        state.page_name = "" if self.page_script_hash else PAGE_NAME
        # No cached_message_hashes: the server then sends every element in full instead of
        # references to a ForwardMsg cache this client does not keep.
        state.widget_states.widgets.extend(self.widgets.values())
        return msg.SerializeToString()

    def _note_widget(self, element: Element) -> str | None:
        """Remember the ids of the widgets this client drives; returns the widget's key."""
        kind = element.WhichOneof("type")
        if kind not in ("slider", "selectbox"):
            return None
        proto = getattr(element, kind)
        key = proto.id.rsplit("-", 1)[-1]  # widget ids end with "-<user key>"
        if key == EPS_KEY:
            self.ids[EPS_KEY] = proto.id
        elif key == MODEL_KEY:
            self.ids[MODEL_KEY] = proto.id
            self.model_options = list(proto.options)
        return key

    async def run_page(self) -> RunResult:
        """Send one rerun with the current widget states and wait for its complete response."""
        assert self.ws is not None
        sent = time.monotonic()
        deadline = sent + RESPONSE_TIMEOUT_S
        await self.ws.send(self._rerun_msg())
        started = False
        rendered_eps = False  # proof that this run showed the Attack explorer
        run_id = ""
        fetches: list[asyncio.Task[float]] = []
        errors: list[str] = []
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ResponseTimeout
                try:
                    raw = await asyncio.wait_for(self.ws.recv(), remaining)
                except TimeoutError as e:
                    raise ResponseTimeout from e
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                kind = msg.WhichOneof("type")
                if kind == "new_session":
                    started = True  # anything before this belonged to an earlier run
                    run_id = msg.metadata.run.script_run_id
                elif not started:
                    continue
                elif kind == "navigation":
                    # new_session names the main script; the page actually shown is here. The
                    # browser sends this hash back on every rerun to stay on the page.
                    pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
                    self.page_script_hash = pages.get(PAGE_NAME, "")
                    if msg.navigation.page_script_hash != self.page_script_hash:
                        errors.append(f"the app did not open the {PAGE_NAME} page")
                elif kind == "ref_hash":
                    errors.append(
                        "the server sent a cached-message reference this client never cached"
                    )
                elif kind == "page_not_found":
                    errors.append(f"page not found: {msg.page_not_found.page_name!r}")
                elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                    element = msg.delta.new_element
                    etype = element.WhichOneof("type")
                    if etype == "imgs":
                        fetches += [
                            asyncio.create_task(fetch_media(self.port, img.url))
                            for img in element.imgs.imgs
                        ]
                    elif etype == "exception":
                        errors.append(
                            f"exception shown: {element.exception.type}: {element.exception.message[:200]}"
                        )
                    elif etype == "alert" and element.alert.format == Alert.ERROR:
                        errors.append(f"error shown: {element.alert.body[:200]}")
                    else:
                        rendered_eps |= self._note_widget(element) == EPS_KEY
                elif kind == "script_finished":
                    finished_id = msg.metadata.run.script_run_id
                    if run_id and finished_id and finished_id != run_id:
                        continue  # the end of some other run
                    status = msg.script_finished
                    if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                        errors.append("the page failed to compile")
                    elif status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                        errors.append("the run was interrupted by another rerun")
                    elif not rendered_eps:
                        errors.append("the run did not render the Attack explorer's eps slider")
                    break
            done: list[float] = []
            if fetches:
                remaining = max(deadline - time.monotonic(), 0.001)
                try:
                    results = await asyncio.wait_for(
                        asyncio.gather(*fetches, return_exceptions=True), remaining
                    )
                except TimeoutError as e:
                    raise ResponseTimeout from e
                for r in results:
                    if isinstance(r, BaseException):
                        errors.append(f"image download failed: {r}")
                    else:
                        done.append(r)
        finally:
            for task in fetches:
                task.cancel()
        grid = max(done) - sent if done else None
        return RunResult(sent, grid, time.monotonic() - sent, len(done), errors)

    def set_eps(self, eps: float) -> None:
        self.widgets[EPS_KEY] = WidgetState(id=self.ids[EPS_KEY])
        self.widgets[EPS_KEY].double_array_value.data.append(eps)

    def choose_model(self, model: str) -> None:
        """Put ``model`` (registry name or full label) in the model picker's widget state."""
        wanted = [o for o in self.model_options if o == model]
        wanted = wanted or [o for o in self.model_options if f"({model})" in o]
        if not wanted:
            raise SetupError(f"model {model!r} is not in the picker: {self.model_options}")
        label = wanted[0]
        if label.endswith("not available"):
            raise SetupError(f"{label}: its checkpoint is missing (use --tiny, or train it)")
        # A selectbox's widget value is the label it shows (format_func applied), not the key.
        self.widgets[MODEL_KEY] = WidgetState(id=self.ids[MODEL_KEY], string_value=label)

    async def warm_up(self, model: str) -> None:
        """Open the page (default settings), then pick the model: what a student does first."""
        await self.connect()
        first = await self.run_page()
        if first.errors:
            raise SetupError(f"first render: {first.errors[0]}")
        if EPS_KEY not in self.ids or MODEL_KEY not in self.ids:
            raise SetupError("the Attack explorer did not render its model picker and eps slider")
        self.choose_model(model)
        chosen = await self.run_page()
        if chosen.errors:
            raise SetupError(f"after choosing {model}: {chosen.errors[0]}")
        if chosen.images == 0:
            raise SetupError(f"no grid images after choosing {model}")


async def drive(
    session: Session,
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


async def warm_up(session: Session, model: str, stats: LoadStats) -> bool:
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


async def load_test(args: argparse.Namespace, pid: int, port: int) -> dict[str, Any]:
    t0 = time.monotonic()
    sampler = MemorySampler(pid, t0)

    # One page render before the sessions: the app has then imported torch, loaded the model and
    # cached one grid, so "before" is the memory of a warm, idle app.
    probe = Session(-1, port)
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
        sessions = [Session(i, port) for i in range(args.sessions)]
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
    env = dict(os.environ)
    if args.tiny:
        env["VONEDEMO_APP_MODELS"] = "tiny"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryDirectory(prefix="vonedemo-load-") as tmp:
        log_path = Path(tmp) / "server.log"
        proc = start_app(port, env, log_path)
        try:
            wait_healthy(proc, port, log_path)
            result = asyncio.run(load_test(args, proc.pid, port))
        except SetupError as e:
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
