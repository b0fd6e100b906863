"""Take screenshots of the running app in headless Chromium (Debian's `chromium` package).

    python scripts/screenshots.py --out docs/screenshots

Starts `streamlit run streamlit_app.py` on 127.0.0.1, opens every page with Playwright (the system
browser, no download), waits for it to render and saves one PNG per page.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = {
    "home": "",
    "attack_explorer": "Attack_explorer",
    "train": "Train",
    "fine_tune": "Fine-tune",
    "compare": "Compare",
    "inside_the_vone_block": "Inside_the_VOneBlock",
    "is_it_real": "Is_it_real",
}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int, env: dict | None = None) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "streamlit_app.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the app did not start within 90 s")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def wait_rendered(page, timeout_ms: int = 120_000) -> None:
    """Wait for the page's title, then until Streamlit's 'running' status widget is gone."""
    page.wait_for_selector('[data-testid="stApp"] h1', timeout=timeout_ms)
    for _ in range(3):  # a script run can start a moment after the title appears
        page.wait_for_timeout(700)
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms
        )
    page.wait_for_timeout(300)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        print("error: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    app = start_app(port)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for name, path in PAGES.items():
                started = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/{path}")
                wait_rendered(page)
                page.screenshot(path=str(args.out / f"{name}.png"), full_page=True)
                print(f"{name}: {time.perf_counter() - started:.1f} s")
            browser.close()
    finally:
        app.terminate()
        app.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
