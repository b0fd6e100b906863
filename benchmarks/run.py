"""Speed and memory of vonedemo, measured side by side in one run; writes ``RESULTS.md``.

    python3 benchmarks/run.py                 # everything
    python3 benchmarks/run.py --quick         # fewer repeats; the 10k evaluation extrapolated
                                              # from 1,000 images (the output says so)
    python3 benchmarks/run.py --only block --quick --out /tmp/block.md   # one section alone

Every figure is a median over repeats after warm-up, with a fixed thread count; compared things
are timed interleaved (``benchmarks/common.py``). Each section lives in its own module under
``benchmarks/sections/``; the hand-written part of the results (what helped, what did not) is
``benchmarks/notes.md``, appended after a full run. Not part of the test suite (``pytest``
collects ``tests/`` only).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks` and `vonedemo` importable
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.common import Report, machine, other_work  # noqa: E402
from benchmarks.sections import (  # noqa: E402
    allocator,
    block,
    evaluation,
    explorer,
    levers,
    memory,
    models,
    scale,
    training,
)
from vonedemo.data import load_mnist  # noqa: E402
from vonedemo.device import DeviceError, resolve_device  # noqa: E402
from vonedemo.runtime import tune_allocator  # noqa: E402

SECTIONS = (
    "block",
    "models",
    "explorer",
    "evaluation",
    "training",
    "memory",
    "levers",
    "allocator",
    "scale",
)
NOTES = ROOT / "benchmarks" / "notes.md"  # the hand-written part of RESULTS.md
TARGETS = {
    "block": 8.0,  # x faster than the reference, forward and forward + gradient
    "explorer_uncached_ms": 250.0,
    "explorer_cached_ms": 30.0,
    "eval_minutes": 4.0,
    "rss_gb": 1.5,
    "train_epoch_s": 60.0,
    "speed_up_vs_old": 2.0,  # VOne training step and repaired FGSM against the start
    "noise_floor": 1.5,  # noisy block forward / torch.randn of its noise
    "full_run_h": 2.0,  # reproduce --full, >= 2,000 test images per round
    "audit_h": 3.0,  # the converged audit
}
BLOCK_CASES = (
    "forward, noise off",
    "forward, neuronal noise",
    "forward + grad (raw), noise off",
    "forward + grad (raw), neuronal noise",
)
INPUTS = ("real digits", "uniform noise")


def target_rows(results: dict, threads: int, other: int) -> list[list[str]]:
    """The Targets table: one row per target whose section ran."""
    rows = []
    if "block" in results:
        block_results = results["block"]
        rows += [
            [
                f"VOneBlock {case}: ≥ {TARGETS['block']:g}x vs reference ({label}, {n} thread(s))",
                f"{summary[(label, case)]:.1f}x",
                "yes" if summary[(label, case)] >= TARGETS["block"] else "no",
            ]
            for n, summary in ((threads, block_results), (other, results["block_other"]))
            if summary
            for label in INPUTS
            for case in BLOCK_CASES
        ]
        worst_diff = max(block_results[(label, "output diff")] for label in INPUTS)
        rows.append(
            [
                "output difference ≤ 1e-4 of scale (noise off)",
                f"{worst_diff:.1e}",
                "yes" if worst_diff <= 1e-4 else "no",
            ]
        )
    if "explorer" in results:
        e = results["explorer"]
        rows += [
            [
                f"explorer eps change, uncached, worst model ≤ 250 ms ({e['threads']} thread(s))",
                f"{e['uncached_ms']:.0f} ms",
                "yes" if e["uncached_ms"] <= TARGETS["explorer_uncached_ms"] else "no",
            ],
            [
                "explorer eps change, cached ≤ 30 ms (unpickle, worst model)",
                f"{e['cached_ms']:.2f} ms",
                "yes" if e["cached_ms"] <= TARGETS["explorer_cached_ms"] else "no",
            ],
        ]
    if "evaluation" in results:
        e = results["evaluation"]
        rows.append(
            [
                f"all eight, clean + FGSM 0.35, 10k ≤ 4 min ({e['threads']} thread(s))",
                f"{e['seconds'] / 60:.1f} min one pass, {e['seconds_two_passes'] / 60:.1f} min two"
                + (" (extrapolated)" if e["extrapolated"] else ""),
                "yes" if e["seconds"] <= TARGETS["eval_minutes"] * 60 else "no",
            ]
        )
    if "training" in results:
        t = results["training"]
        rows.append(
            [
                f"vone-alexnet, one training epoch on 10k ≤ 60 s ({t['threads']} thread(s))",
                f"{t['seconds']:.0f} s" + (" (extrapolated)" if t["extrapolated"] else ""),
                "yes" if t["seconds"] <= TARGETS["train_epoch_s"] else "no",
            ]
        )
    if "scale" in results:
        sc = results["scale"]
        if "old" in sc:
            median = sc["old"]["median"]
            for key, label in (
                ("training_step_ms", "VOne training step"),
                ("repaired_fgsm_ms", "VOne FGSM, repaired gradient"),
            ):
                ratio = median["old"][key] / median["new"][key]
                rows.append(
                    [
                        f"{label}: ≥ 2x faster than `{sc['old']['commit']}` (per image)",
                        f"{ratio:.2f}x",
                        "yes" if ratio >= TARGETS["speed_up_vs_old"] else "no",
                    ]
                )
            for key, n in (("old", threads), ("old_1", 1)):
                if key in sc:
                    ratio = sc[key]["floor_ratio"]
                    rows.append(
                        [
                            f"noisy VOneBlock forward ≤ 1.5x the noise draw alone ({n} thread(s))",
                            f"{ratio:.2f}x",
                            "yes" if ratio <= TARGETS["noise_floor"] else "no",
                        ]
                    )
        best = min(sc["full"]["totals"][2000].values())
        rows.append(
            [
                "reproduce --full (2,000 test images per round) ≤ 2 h",
                f"{best:.2f} h",
                "yes" if best <= TARGETS["full_run_h"] else "no",
            ]
        )
        rows.append(
            [
                "converged audit ≤ 3 h",
                f"{sc['audit']['total_h']:.2f} h",
                "yes" if sc["audit"]["total_h"] <= TARGETS["audit_h"] else "no",
            ]
        )
    if "memory" in results:
        m = results["memory"]
        rows.append(
            [
                "app process, eight models loaded ≤ 1.5 GB",
                f"{m['loaded_gb']:.2f} GB (after use: {m['used_gb']:.2f})",
                "yes" if m["used_gb"] <= TARGETS["rss_gb"] else "no",
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer repeats; extrapolate the 10k evaluation from 1,000 images",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument(
        "--batch", type=int, default=32, help="batch for the block and model timings"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed repeats (default 7, quick 3)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "RESULTS.md",
        help="where to write the report (default benchmarks/RESULTS.md)",
    )
    parser.add_argument(
        "--allocator",
        choices=("tuned", "default"),
        default="tuned",
        help="tuned (default): glibc thresholds as the CLI and the app set them",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"run only these sections (of: {', '.join(SECTIONS)}); the notes are then left out",
    )
    parser.add_argument(
        "--old",
        type=Path,
        help="a checkout of an older commit (a git worktree) to time against, section 9",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="where section 9's extrapolations compute: cpu (default), auto, cuda, cuda:N; "
        "the other sections measure the CPU (threads, allocator)",
    )
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except DeviceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    tuned = args.allocator == "tuned" and tune_allocator()
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (3 if args.quick else 7)
    data = load_mnist("test")
    start = time.perf_counter()
    busy = other_work()
    report = Report()
    report.add("# Benchmark results", "", *machine())
    report.add(
        (
            f"- other processes at start: {busy:.0%} of the {os.cpu_count()} cores busy over 2 s"
            + (
                " — other work was running; absolute times are inflated, ratios are interleaved"
                if busy > 0.25
                else ""
            )
        )
        if busy is not None
        else "- other processes at start: unknown (no /proc/stat)",
        f"- command: `python3 benchmarks/run.py {' '.join(sys.argv[1:] if argv is None else argv)}`".rstrip()
        + f", {repeats} repeats",
        "",
    )
    wanted = set(args.only or SECTIONS)
    # Another process on the same cores stalls every parallel region of a many-op
    # computation (a thread waits for one that is descheduled): compare both thread counts.
    other = 1 if args.threads != 1 else 2
    results: dict[str, object] = {}
    if "block" in wanted:
        results["block"] = block.run(report, data.images, args.batch, repeats)
        torch.set_num_threads(other)
        results["block_other"] = block.run(report, data.images, args.batch, repeats, title="b")
        torch.set_num_threads(args.threads)
    if "models" in wanted:
        results["models"] = models.run(report, data, args.batch, repeats)
    if "explorer" in wanted:
        results["explorer"] = explorer.run(report, data, repeats)
    if "evaluation" in wanted:
        results["evaluation"] = evaluation.run(report, data, 1000 if args.quick else None)
    if "training" in wanted:
        results["training"] = training.run(report, 2000 if args.quick else None)
    if "memory" in wanted:
        results["memory"] = memory.run(report, args.threads, tuned)
    if "levers" in wanted:
        levers.run(report, data.images, args.batch, repeats, other)
    if "allocator" in wanted:
        allocator.run(report, args.threads, args.batch, repeats)
    if "scale" in wanted:
        results["scale"] = scale.run(report, args.old, args.threads, args.quick, device)
    rows = target_rows(results, args.threads, other)
    if rows:
        report.add("## Targets", "")
        report.table(["target", "measured", "met"], rows)
    if args.only is None:
        report.add(NOTES.read_text().strip(), "")
    load_after = os.getloadavg()
    report.add(
        f"_Run took {time.perf_counter() - start:.0f} s; load average at the end {load_after[0]:.2f}._"
    )
    args.out.write_text("\n".join(report.lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
