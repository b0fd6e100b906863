"""Run the doubling check again on deterministic models already in an audit report.

    python3 scripts/recheck_doubling.py --out results/audit --models alexnet mlp

The check's definition changed after some models had finished their converged audit: a
deterministic model with APGD on its ladder now doubles APGD-CE's steps (restarts kept) instead
of fixed-step PGD's. Their ladders need not run again for it: this script reruns only the
check, on the same images with the same seed, replaces it in ``audit.json`` (under the audit's
lock, so a running ``audit --merge`` waits) and rewrites the report's files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vonedemo.audit import AuditConfig, locked, write_audit  # noqa: E402
from vonedemo.audit.checks import doubling_check  # noqa: E402
from vonedemo.audit.targets import audit_targets, target_loader  # noqa: E402
from vonedemo.data import load_mnist  # noqa: E402

DOUBLING = "doubling the attack's effort changes < 1 point"


def config_of(report: dict) -> AuditConfig:
    """The report's settings as an :class:`AuditConfig` (the converged ones, checked)."""
    config = AuditConfig.converged()
    saved = report["config"]
    ours = json.loads(json.dumps(asdict(config)))
    differing = sorted(k for k in ours if k in saved and saved[k] != ours[k])
    if differing:
        raise SystemExit(f"the report was not made with --converged: {', '.join(differing)}")
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/audit"))
    parser.add_argument("--models", nargs="+", choices=audit_targets(), required=True)
    parser.add_argument("--finetune-state", type=Path, default=None)
    args = parser.parse_args()
    path = args.out / "audit.json"
    report = json.loads(path.read_text())
    config = config_of(report)
    load = target_loader(args.finetune_state)
    test = load_mnist("test")
    found = {}
    for name in args.models:
        entry = report["models"].get(name)
        if entry is None or entry["stochastic"]:
            raise SystemExit(f"{name}: not a deterministic model of {path}")
        per_model = config.for_model(False)
        checked = test.subset(max(per_model.limit, per_model.curve_limit))
        start = time.perf_counter()
        found[name] = doubling_check(
            load(name), checked.subset(per_model.doubling_limit), per_model, False
        )
        print(f"{name}: {found[name]['sentence']} ({time.perf_counter() - start:.0f} s)")
    with locked(args.out):  # re-read: a parallel audit may have merged a model meanwhile
        report = json.loads(path.read_text())
        for name, check in found.items():
            checks = report["models"][name]["checks"]
            at = next(i for i, c in enumerate(checks) if c["check"] == DOUBLING)
            checks[at] = check
            report["models"][name]["masking_suspected"] = not all(c["passed"] for c in checks)
        write_audit(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
