"""Take screenshots of the running app in headless Chromium (Debian's `chromium` package).

    python scripts/screenshots.py --out docs/screenshots [--only quiz presenter korean_explorer]

Starts `streamlit run streamlit_app.py` on 127.0.0.1, opens every page with Playwright (the system
browser, no download), waits for it to render and saves one PNG per page (the fine-tuning page
after a run with its default settings, the quiz after a round with a few students' votes).
The quiz's votes go to a temporary database, never to the app's own.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# free_port and start_app are re-exported: the browser tests take them from here.
from app_process import ROOT, free_port, start_app, stop_app  # noqa: E402, F401

PAGES = {
    "home": "",
    "attack_explorer": "Attack_explorer",
    "train": "Train",
    "fine_tune": "Fine-tune",
    "compare": "Compare",
    "inside_the_vone_block": "Inside_the_VOneBlock",
    "is_it_real": "Is_it_real",
    "your_digit": "Your_digit",
    "quiz": "Quiz?role=teacher",
    "presenter": "Presenter?step=4",
    "korean_explorer": "Attack_explorer?lang=ko",  # a page in Korean (a lesson link's ?lang=)
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


SEVEN = (((60, 60), (220, 60)), ((220, 60), (120, 250)))  # a 7 in two strokes, canvas pixels


def draw(page, strokes=SEVEN) -> None:
    """Draw ``strokes`` with the mouse on the page's drawing canvas."""
    canvas = page.locator("canvas").last
    canvas.wait_for(timeout=60_000)
    box = canvas.bounding_box()
    for start, end in strokes:
        page.mouse.move(box["x"] + start[0], box["y"] + start[1])
        page.mouse.down()
        for t in range(1, 21):
            x = start[0] + (end[0] - start[0]) * t / 20
            y = start[1] + (end[1] - start[1]) * t / 20
            page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.up()


def fine_tune_run(page, timeout_ms: int = 600_000) -> None:
    """Start a fine-tuning run with the page's defaults and wait for it to end."""
    page.get_by_role("button", name="Start fine-tuning").click()
    page.get_by_text("Last run:").first.wait_for(timeout=timeout_ms)
    wait_rendered(page)


def drawn_digit_attacked(page, timeout_ms: int = 300_000) -> None:
    """Draw a 7 and make it read as a 3 (targeted PGD, the repaired gradient)."""
    draw(page)
    page.get_by_text("Each model's answer").first.wait_for(timeout=timeout_ms)
    wait_rendered(page)
    picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Make it read as")
    picker.locator("input").click()
    page.get_by_role("option", name="3", exact=True).click()
    wait_rendered(page)
    page.get_by_text("PGD step by step").first.wait_for(timeout=timeout_ms)
    wait_rendered(page)


def quiz_vote(student_page, choice: str, timeout_ms: int = 120_000) -> None:
    """On a student's quiz screen: wait for the ballot and vote for ``choice``."""
    button = student_page.get_by_role("button", name=choice, exact=True)
    button.wait_for(timeout=timeout_ms)
    button.click()
    student_page.get_by_text("Your vote:").first.wait_for(timeout=timeout_ms)


def wait_metric(page, label: str, value: str, timeout_ms: int = 120_000) -> None:
    """Wait until the metric labelled ``label`` shows ``value`` (a polling fragment's update)."""
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label)
    shown = metric.locator('[data-testid="stMetricValue"]')
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        if shown.count() and shown.first.inner_text().strip() == value:
            return
        page.wait_for_timeout(250)
    raise TimeoutError(f"{label!r} did not show {value!r} within {timeout_ms / 1000:.0f} s")


def quiz_round(page, votes=("3", "3", "7", "3", "8"), timeout_ms: int = 120_000) -> None:
    """On the teacher's quiz screen: students (one browser context each, as separate devices)
    vote, the tally shows their votes, the teacher reveals the answer."""
    browser, url = page.context.browser, page.url.split("?")[0]
    for choice in votes:
        student = browser.new_context().new_page()
        student.goto(url)
        wait_rendered(student)
        quiz_vote(student, choice, timeout_ms)
        student.context.close()
    wait_metric(page, "Votes so far", str(len(votes)), timeout_ms)
    page.get_by_role("button", name="Reveal the answer").click()
    page.get_by_text("The answer:").first.wait_for(timeout=timeout_ms)
    wait_rendered(page)


def presenter_grid(page, timeout_ms: int = 300_000) -> None:
    """Wait for a presenter step's grid of attacked digits (a VOneNet's attack takes a while)."""
    page.locator('[data-testid="stImage"]').nth(7).wait_for(timeout=timeout_ms)
    wait_rendered(page)


# Pages shown after something is done on them.
ACTIONS = {
    "fine_tune": fine_tune_run,
    "your_digit": drawn_digit_attacked,
    "quiz": quiz_round,
    "presenter": presenter_grid,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", nargs="+", choices=list(PAGES), help="these pages only")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        print("error: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    votes = Path(tempfile.mkdtemp(prefix="vonedemo-screenshots-")) / "votes.sqlite"
    app = start_app(port, {"VONEDEMO_VOTES": str(votes)})
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(f"http://127.0.0.1:{port}/")  # the entry script declares the menu first
            wait_rendered(page)
            for name, path in PAGES.items():
                if args.only and name not in args.only:
                    continue
                started = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/{path}")
                wait_rendered(page)
                if name in ACTIONS:
                    ACTIONS[name](page)
                page.screenshot(path=str(args.out / f"{name}.png"), full_page=True)
                print(f"{name}: {time.perf_counter() - started:.1f} s")
            browser.close()
    finally:
        stop_app(app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
