"""Section 6's allocator table: the block's forward pass (neuronal noise) with glibc's default
allocator and with the thresholds ``vonedemo.runtime.tune_allocator`` sets.

Large tensors come from fresh mmap'd pages on every call under glibc's default; the thresholds
must be in place before the process allocates anything, so each setting gets its own process:
``run`` starts this module as a program, ``python3 -m benchmarks.sections.allocator --threads N
--batch B --repeats R``, with the thresholds in its environment or not; it prints its timings as
one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import torch

from benchmarks.common import ROOT, Report, interleaved, ms
from benchmarks.reference_vone import ReferenceVOneBlock
from benchmarks.vone_internals import VOneBlock, VOneConfig, noise_mode
from vonedemo.data import load_mnist
from vonedemo.runtime import MMAP_THRESHOLD, TRIM_THRESHOLD

ENVIRONMENTS = {
    "default": {},
    "tuned": {
        "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
        "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD),
    },
}


def measure(threads: int, batch: int, repeats: int) -> dict[str, float]:
    """Median seconds of one noisy forward pass, fast block and reference, in this process."""
    torch.set_num_threads(threads)
    block = VOneBlock(VOneConfig())
    ref = ReferenceVOneBlock(block)
    x = load_mnist("test").images[:batch]

    def forward(module):
        def run():
            with torch.no_grad(), noise_mode("neuronal"):
                module(x)

        return run

    return interleaved({"fast": forward(block), "ref": forward(ref)}, repeats)


def run(report: Report, threads: int, batch: int, repeats: int) -> None:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.sections.allocator",
        "--threads",
        str(threads),
        "--batch",
        str(batch),
        "--repeats",
        str(repeats),
    ]
    results = {}
    for label, env in ENVIRONMENTS.items():
        out = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, check=True, env={**os.environ, **env}
        )
        results[label] = json.loads(out.stdout.strip().splitlines()[-1])
    d, t = results["default"], results["tuned"]
    report.add(
        "### Allocator (separate processes, forward with neuronal noise)",
        "",
        "glibc returns every block over its mmap threshold to the kernel when freed, so each "
        "forward pass page-faults its large tensors in again. With the thresholds "
        f"`vonedemo.runtime.tune_allocator` sets (`MALLOC_MMAP_THRESHOLD_={MMAP_THRESHOLD} "
        f"MALLOC_TRIM_THRESHOLD_={TRIM_THRESHOLD}` in the child's environment):",
        "",
    )
    report.table(
        ["", "default allocator ms/img", "tuned allocator ms/img", "gain"],
        [[k, ms(d[k], batch), ms(t[k], batch), f"{d[k] / t[k]:.2f}x"] for k in ("fast", "ref")],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One process's timing of the block's forward")
    parser.add_argument("--threads", type=int, required=True, help="torch threads")
    parser.add_argument("--batch", type=int, required=True, help="images per forward pass")
    parser.add_argument("--repeats", type=int, required=True, help="timed repeats")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.threads, args.batch, args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
