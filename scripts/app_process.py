"""The Streamlit app as a child process of a script or a test: start it on 127.0.0.1, wait until
it answers, stop it, and measure its resident memory.

Shared by ``screenshots.py``, ``app_timing.py``, ``simulate_class.py`` and the browser tests, so
the app is started one way everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"  # the app listens here only: nothing leaves the machine
STARTUP_TIMEOUT_S = 90.0


class AppStartError(RuntimeError):
    """The app exited, or did not answer its health check in time."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def launch_app(
    port: int, env: dict[str, str] | None = None, log_path: Path | None = None
) -> subprocess.Popen:
    """Start ``streamlit run streamlit_app.py`` without waiting for it.

    ``env`` is laid over this process's environment; the server's output goes to ``log_path``
    (discarded without one)."""
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
    # Own session: a Ctrl-C in the terminal reaches only the caller, which then stops the server
    # itself (stop_app in its finally), so the server never outlives the caller's report.
    common = {"cwd": ROOT, "env": {**os.environ, **(env or {})}, "start_new_session": True}
    if log_path is None:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **common)
    with log_path.open("wb") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **common)


def wait_healthy(proc: subprocess.Popen, port: int, log_path: Path | None = None) -> None:
    """Return once ``/_stcore/health`` answers 200; raise AppStartError if the app exits first
    or takes longer than STARTUP_TIMEOUT_S."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AppStartError(
                f"the app exited with status {proc.returncode}:\n{log_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AppStartError(
        f"the app was not healthy within {STARTUP_TIMEOUT_S:.0f} s:\n{log_tail(log_path)}"
    )


def start_app(
    port: int, env: dict[str, str] | None = None, log_path: Path | None = None
) -> subprocess.Popen:
    """Launch the app and wait until it is healthy; on failure it is stopped, then re-raised."""
    proc = launch_app(port, env, log_path)
    try:
        wait_healthy(proc, port, log_path)
    except BaseException:
        stop_app(proc)
        raise
    return proc


def stop_app(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def log_tail(path: Path | None, lines: int = 30) -> str:
    if path is None:
        return "(no server log)"
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
