"""Prepare the Attack explorer's default views before a class, without starting the app.

    python3 scripts/prepare_views.py            # every shipped model, into runs/app/prepared/
    VONEDEMO_PREPARED=/tmp/p python3 scripts/prepare_views.py --model vone-alexnet

The app does the same in a background thread after start-up (``ui.precompute``); this script
lets a teacher fill the store ahead of time and says how long it took and how much it holds.
The app's settings pass through the environment (``VONEDEMO_APP_THREADS``, ``VONEDEMO_PREPARED``,
``VONEDEMO_APP_MODELS=tiny``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", action="append", default=None, help="registry name (repeatable; default: all)"
    )
    args = parser.parse_args(argv)
    from ui import precompute
    from ui.settings import prepared_dir

    for name in list(logging.root.manager.loggerDict):  # bare mode: no script context, no runtime
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)

    choices = precompute.shipped_models()
    if args.model:
        known = {c.name: c for c in choices}
        unknown = [m for m in args.model if m not in known]
        if unknown:
            parser.error(f"unknown or unavailable model(s) {unknown}; known: {', '.join(known)}")
        choices = [known[m] for m in args.model]
    start = time.perf_counter()
    progress = precompute.prepare_all(choices, pause_s=0.0)
    seconds = time.perf_counter() - start
    files = [p for p in prepared_dir().rglob("*") if p.is_file() and not p.name.startswith(".")]
    size = sum(p.stat().st_size for p in files)
    print(
        f"{len(choices)} models: {progress.done} results computed, {progress.found} already "
        f"there, {progress.failed} failed, in {seconds:.1f} s; {prepared_dir()} holds "
        f"{len(files)} files, {size / 1e6:.1f} MB"
    )
    return 1 if progress.failed else 0


if __name__ == "__main__":
    sys.exit(main())
