"""What every benchmark section shares: interleaved timing, the Markdown report, and the
machine the figures were measured on.

Wherever two things are compared they are timed in the same run, interleaved (A, B, A, B, ...),
so a machine that is busy with something else slows both alike and the ratio stays meaningful.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from vonedemo.runtime import allocator_state

ROOT = Path(__file__).resolve().parent.parent


def interleaved(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, float]:
    """Median seconds per call of each function, calls interleaved round by round."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def ms(seconds: float, per: int = 1) -> str:
    """Milliseconds per item, as the tables print them."""
    return f"{seconds / per * 1e3:.2f}"


class Report:
    """The Markdown lines of RESULTS.md, echoed to stdout as they are added."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        for line in lines:
            self.lines.append(line)
            print(line, flush=True)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.add("| " + " | ".join(header) + " |", "|" + " --- |" * len(header))
        for row in rows:
            self.add("| " + " | ".join(row) + " |")
        self.add("")


def other_work(seconds: float = 2.0) -> float | None:
    """Fraction of all cores busy with other processes over ``seconds`` (this one sleeps).
    Unlike the load average, which lags by a minute, it does not count a job that just ended."""

    def sample() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as f:
                values = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values), idle

    first = sample()
    time.sleep(seconds)
    second = sample()
    if first is None or second is None or second[0] == first[0]:
        return None
    total, idle = second[0] - first[0], second[1] - first[1]
    return max(0.0, (total - idle) / total)


def machine() -> list[str]:
    """The header lines that say where and with what the figures were measured."""
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [
        f"- machine: {cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, torch {torch.__version__}, threads {torch.get_num_threads()}",
        f"- allocator: {allocator_state()} (`vonedemo.runtime.tune_allocator`, as the CLI and the app set it)",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
    ]
