"""Section 5: peak memory of a process that, like the app, holds all eight models.

The measurement needs a fresh process (this one has done other work), so ``run`` starts this
module as a program, ``python3 -m benchmarks.sections.memory --threads N [--tuned]``, which
prints its figures as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import torch

from benchmarks.common import ROOT, Report


def peak_kb() -> int:
    """This process's peak resident set size (VmHWM). ru_maxrss would report the parent's peak
    too: on Linux it survives the exec of a forked child."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(threads: int, tuned: bool) -> dict:
    """Load all eight models (pretrained where the manifest lists them), then run one explorer
    step (32 digits: predictions + FGSM) on each; the peak after each stage."""
    torch.set_num_threads(threads)
    if tuned:
        from vonedemo.runtime import tune_allocator

        tune_allocator()  # as the app does (ui/loaders.py)
    # Imported only now, as the app would: after the process-wide settings.
    from vonedemo.attacks import fgsm
    from vonedemo.checkpoints import default_checkpoint_dir, load_pretrained, read_manifest
    from vonedemo.data import load_mnist
    from vonedemo.evaluation import predict
    from vonedemo.models import STUDY_MODELS, build_model
    from vonedemo.study import STUDY_EPS

    listed = read_manifest(default_checkpoint_dir())["models"]
    models, sources = {}, {}
    for name in STUDY_MODELS:
        if name in listed:
            try:
                models[name], _ = load_pretrained(name)
                sources[name] = "pretrained"
                continue
            except Exception as e:
                sources[name] = "built (" + type(e).__name__ + ")"
        else:
            sources[name] = "built"
        models[name] = build_model(name).eval()
    loaded = peak_kb()
    data = load_mnist("test")
    x, y = data.images[:32], data.labels[:32]
    for m in models.values():
        predict(m, x)
        fgsm(m, x, y, STUDY_EPS)
    used = peak_kb()
    return {"loaded_kb": loaded, "used_kb": used, "sources": sources}


def run(report: Report, threads: int, tuned: bool) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.sections.memory", "--threads", str(threads)]
    if tuned:
        cmd.append("--tuned")
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    kinds = sorted(set(info["sources"].values()))
    report.add(
        "## 5. Memory of an app process with all eight models",
        "",
        "A fresh Python process imports vonedemo, loads all eight models "
        + ", ".join(f"{sum(v == k for v in info['sources'].values())} {k}" for k in kinds)
        + " (pretrained where `checkpoints/manifest.json` lists them), then runs one explorer "
        "step (32 digits: predictions + FGSM) on each. Peak resident set size (VmHWM):",
        "",
    )
    report.table(
        ["after loading", "after one explorer step per model"],
        [[f"{info['loaded_kb'] / 2**20:.2f} GB", f"{info['used_kb'] / 2**20:.2f} GB"]],
    )
    return {
        "loaded_gb": info["loaded_kb"] / 2**20,
        "used_gb": info["used_kb"] / 2**20,
        "sources": info["sources"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Peak memory of a process holding all eight models"
    )
    parser.add_argument("--threads", type=int, required=True, help="torch threads")
    parser.add_argument(
        "--tuned", action="store_true", help="tune the allocator first, as the app does"
    )
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.threads, args.tuned)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
