"""End-to-end: a quiz round in headless Chromium, a teacher's window and a student's window (two
Playwright browser contexts: two devices, two Streamlit sessions) on one running app.

Skipped without chromium or Playwright, unless ``VONEDEMO_REQUIRE_BROWSER`` is set (CI), where a
missing browser is a failure. Screenshots go to ``$VONEDEMO_ARTIFACTS`` (default
``test-artifacts/``).
"""

import csv
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

screenshots = pytest.importorskip("screenshots")
playwright = pytest.importorskip("playwright.sync_api")

if screenshots.chromium_path() is None and os.environ.get("VONEDEMO_REQUIRE_BROWSER"):
    raise RuntimeError("VONEDEMO_REQUIRE_BROWSER is set but no chromium is on PATH")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(screenshots.chromium_path() is None, reason="no chromium on PATH"),
]

ERROR_TEXT = re.compile(r"Traceback|Exception:|Error:|StreamlitAPIException", re.IGNORECASE)
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    env = {
        "VONEDEMO_APP_MODELS": "tiny",
        "VONEDEMO_APP_DATA_LIMIT": "200",
        "VONEDEMO_APP_CHECKPOINTS": str(tmp / "ckpt"),
        "VONEDEMO_RESULTS": str(tmp / "results"),
        "VONEDEMO_PRECOMPUTE": "off",  # no background work beside the browser
        "VONEDEMO_VOTES": str(tmp / "votes.sqlite"),
    }
    port = screenshots.free_port()
    proc = screenshots.start_app(port, env)
    yield f"http://127.0.0.1:{port}"
    screenshots.stop_app(proc)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=screenshots.chromium_path(), args=screenshots.CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def artifacts():
    out = Path(os.environ.get("VONEDEMO_ARTIFACTS", ROOT / "test-artifacts"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def window(browser, url: str):
    """A new device: a browser context of its own (its own Streamlit session) on ``url``."""
    page = browser.new_context(viewport={"width": 1300, "height": 1000}).new_page()
    page.goto(url)
    screenshots.wait_rendered(page)
    return page


def no_error_text(page) -> None:
    body = page.inner_text("body")
    assert not ERROR_TEXT.search(body), ERROR_TEXT.search(body).group(0)
    assert page.query_selector('[data-testid="stException"]') is None


def test_a_teacher_and_a_student_play_a_round(browser, app_url, artifacts):
    window(browser, app_url).context.close()  # the home page first (the declared menu in force)
    teacher = window(browser, f"{app_url}/Quiz?role=teacher")
    student = window(browser, f"{app_url}/Quiz")
    assert "Reveal the answer" in teacher.inner_text("body")
    assert "Reveal the answer" not in student.inner_text("body")
    screenshots.wait_metric(teacher, "Votes so far", "0", WAIT_MS)

    screenshots.quiz_vote(student, "3", WAIT_MS)
    assert "Your vote: 3" in student.inner_text("body")
    assert "The answer:" not in student.inner_text("body")
    # The teacher's screen was not touched: its polling tally shows the vote by itself.
    screenshots.wait_metric(teacher, "Votes so far", "1", WAIT_MS)

    teacher.get_by_role("button", name="Reveal the answer").click()
    teacher.get_by_text("The answer:").first.wait_for(timeout=WAIT_MS)
    # ... and the student's screen, untouched too, shows the answer and the class's votes.
    student.get_by_text("The answer:").first.wait_for(timeout=WAIT_MS)
    answer = re.search(r"as (\d)", student.inner_text("body"))
    assert answer, student.inner_text("body")
    verdict = "right!" if answer.group(1) == "3" else "not this time"
    assert verdict in student.inner_text("body")
    student.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=WAIT_MS)
    for page in (teacher, student):
        no_error_text(page)
    teacher.screenshot(path=str(artifacts / "quiz_teacher.png"), full_page=True)
    student.screenshot(path=str(artifacts / "quiz_student.png"), full_page=True)

    # The teacher keeps the results: one row per question and choice, the vote counted.
    with teacher.expect_download(timeout=WAIT_MS) as download:
        teacher.get_by_role("button", name="⬇ the quiz results (CSV)").click()
    assert download.value.suggested_filename == "quiz_results.csv"
    saved = artifacts / "quiz_results.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(saved.open(encoding="utf-8")))
    voted = [r for r in rows if r["question"] == "plain_cnn_fgsm" and r["choice"] == "3"]
    assert len(voted) == 1 and voted[0]["votes"] == "1" and voted[0]["revealed"] == "True"

    # Reset: the student's ballot comes back by itself.
    teacher.get_by_role("button", name="Reset this question").click()
    student.get_by_role("button", name="3", exact=True).wait_for(timeout=WAIT_MS)
    screenshots.wait_metric(teacher, "Votes so far", "0", WAIT_MS)
    for page in (teacher, student):
        page.context.close()


def test_presenter_mode_steps_with_the_buttons_and_the_keys(browser, app_url, artifacts):
    # The home page first, as a class would: the app's declared menu is then in force, in
    # which a link may name only the menu's pages.
    window(browser, app_url).context.close()
    page = window(browser, f"{app_url}/Presenter")
    assert page.locator('[data-testid="stSidebar"]').is_hidden()
    page.get_by_role("button", name="Next ▶").click()
    page.wait_for_url(re.compile(r"step=2"), timeout=WAIT_MS)
    screenshots.wait_rendered(page)
    assert "the attack changes nothing" in page.inner_text("body")
    page.keyboard.press("ArrowRight")  # the Next button's shortcut
    page.wait_for_url(re.compile(r"step=3"), timeout=WAIT_MS)
    screenshots.wait_rendered(page)
    assert "the gradient is NaN" in page.inner_text("body")
    no_error_text(page)
    page.screenshot(path=str(artifacts / "presenter_step3.png"), full_page=True)
    page.get_by_text("Leave presenter mode").click()  # the way out, the sidebar being hidden
    page.wait_for_url(re.compile(r"/Attack_explorer"), timeout=WAIT_MS)
    screenshots.wait_rendered(page)
    assert page.locator("h1").first.inner_text().endswith("Attack explorer")
    no_error_text(page)
    page.context.close()
