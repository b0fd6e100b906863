"""Process-wide settings that the *applications* (CLI, app, benchmarks) choose for themselves.

The library never calls these on import: a process's allocator and thread count belong to
whoever runs the process.

Why the allocator matters here: a VOneBlock pass over 32 digits makes tensors of 51 MB (512
maps of 28x28 per image). glibc hands blocks that large out by ``mmap`` and returns them to the
kernel on ``free``, so every pass page-faults all of its large tensors in again, which costs
about as much as a Gabor convolution. Raising glibc's mmap and trim thresholds keeps freed
blocks in the heap for the next pass (the figures: ``benchmarks/RESULTS.md``, "Allocator").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# glibc's mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

MMAP_THRESHOLD = 256 * 2**20  # blocks below this come from the heap and are reused
TRIM_THRESHOLD = 512 * 2**20  # free heap top kept for reuse before it is returned to the kernel
ALLOCATOR_ENV = "VONEDEMO_ALLOCATOR"  # "default" leaves the allocator alone

_tuned: bool | None = None


def tune_allocator() -> bool:
    """Keep large freed blocks for reuse (glibc only; elsewhere a no-op). True if applied.

    Idempotent. Skipped when ``VONEDEMO_ALLOCATOR=default`` is set, or when the user has set
    glibc's own ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` (theirs win).

    Blocks kept for reuse are kept per malloc arena, and glibc opens up to 8 arenas per core
    for a many-threaded process (the app: one script thread per browser session). Arenas are
    capped at one per core (unless ``MALLOC_ARENA_MAX`` is set), which keeps the app's peak
    memory under many sessions near the default allocator's (README, "Running it for a class").
    """
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if os.environ.get(ALLOCATOR_ENV, "").strip().lower() == "default":
        return False
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # Order matters: setting either threshold switches off glibc's own dynamic adjustment.
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    if _tuned and "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(_M_ARENA_MAX, max(2, os.cpu_count() or 2))
    return _tuned


def allocator_tuned() -> bool:
    return bool(_tuned)


def allocator_state() -> str:
    """One phrase for reports: what :func:`tune_allocator` did in this process."""
    if _tuned:
        return f"glibc mmap threshold {MMAP_THRESHOLD >> 20} MiB, trim threshold {TRIM_THRESHOLD >> 20} MiB"
    return "default"
