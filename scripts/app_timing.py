"""Time from `streamlit run` to the first rendered page, in headless Chromium.

    python scripts/app_timing.py [--runs 3] [--page Attack_explorer]

Each run starts a fresh server (a cold process: models load from `checkpoints/` on first use),
opens the page in Debian's `chromium` through Playwright and stops the clock when the page's
title and first digit image are on screen and Streamlit's "running" indicator is gone.
Prints one line per run and the median. The eps-slider update time per model comes from
`scripts/simulate_class.py --sessions 1 --model NAME` (see the README).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screenshots  # noqa: E402  (sibling script: the browser's settings)
from app_process import free_port, start_app, stop_app  # noqa: E402


def one_run(page_path: str) -> float:
    from playwright.sync_api import sync_playwright

    port = free_port()
    started = time.perf_counter()
    app = start_app(port)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=screenshots.chromium_path(), args=screenshots.CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/{page_path}")
            page.wait_for_selector('[data-testid="stApp"] h1', timeout=120_000)
            page.wait_for_selector('[data-testid="stImage"] img', timeout=120_000)
            page.wait_for_function(
                "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000
            )
            elapsed = time.perf_counter() - started
            browser.close()
    finally:
        stop_app(app)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--page", default="", help="URL path of the page ('' = home)")
    args = parser.parse_args()
    if screenshots.chromium_path() is None:
        print("error: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    times = []
    for i in range(max(1, min(args.runs, 10))):
        times.append(one_run(args.page))
        print(
            f"run {i + 1}: {times[-1]:.2f} s from `streamlit run` to the rendered page /{args.page}"
        )
    print(f"median: {statistics.median(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
