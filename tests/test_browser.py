"""End-to-end: the running app in headless Chromium (Debian's package) driven by Playwright.

Skipped where no browser can exist (no chromium on PATH, or Playwright not installed). Screenshots
go to ``$VONEDEMO_ARTIFACTS`` (default ``test-artifacts/``) as test artefacts.
"""

import os
import re
import sys
import time
from pathlib import Path

import pytest

from ui.i18n import catalog

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

screenshots = pytest.importorskip("screenshots")
playwright = pytest.importorskip("playwright.sync_api")

# CI sets VONEDEMO_REQUIRE_BROWSER: there a missing browser is a failure, not a skip.
if screenshots.chromium_path() is None and os.environ.get("VONEDEMO_REQUIRE_BROWSER"):
    raise RuntimeError("VONEDEMO_REQUIRE_BROWSER is set but no chromium is on PATH")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(screenshots.chromium_path() is None, reason="no chromium on PATH"),
]

ERROR_TEXT = re.compile(r"Traceback|Exception:|Error:|StreamlitAPIException", re.IGNORECASE)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    env = {
        "VONEDEMO_APP_MODELS": "tiny",
        "VONEDEMO_APP_DATA_LIMIT": "200",
        "VONEDEMO_APP_CHECKPOINTS": str(tmp / "ckpt"),
        "VONEDEMO_RESULTS": str(tmp / "results"),
        "VONEDEMO_PRECOMPUTE": "off",  # no background work beside the browser
    }
    port = screenshots.free_port()
    proc = screenshots.start_app(port, env)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def page():
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=screenshots.chromium_path(), args=screenshots.CHROMIUM_ARGS
        )
        yield browser.new_page(viewport={"width": 1300, "height": 900})
        browser.close()


@pytest.fixture(scope="module")
def artifacts():
    out = Path(os.environ.get("VONEDEMO_ARTIFACTS", ROOT / "test-artifacts"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def _no_error_text(page) -> None:
    body = page.inner_text("body")
    assert not ERROR_TEXT.search(body), ERROR_TEXT.search(body).group(0)
    assert page.query_selector('[data-testid="stException"]') is None


@pytest.mark.parametrize("name, path", list(screenshots.PAGES.items()))
def test_every_page_renders_without_errors(page, app_url, artifacts, name, path):
    page.goto(f"{app_url}/{path}")
    screenshots.wait_rendered(page)
    _no_error_text(page)
    page.screenshot(path=str(artifacts / f"page_{name}.png"), full_page=True)


def test_moving_the_eps_slider_updates_the_grid(page, app_url, artifacts):
    page.goto(f"{app_url}/Attack_explorer")
    screenshots.wait_rendered(page)
    assert "eps=0.35" in page.inner_text("body")
    before = page.locator('[data-testid="stImage"] img').first.get_attribute("src")
    group = page.get_by_role("group", name=re.compile(r"^eps"))  # the eps slider (react-aria)
    slider = group.locator('input[type="range"]').first
    slider.focus()
    started = time.perf_counter()
    for _ in range(35):  # 0.35 → 0.00 in steps of 0.01
        page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => document.body.innerText.includes('eps=0.00')", timeout=120_000)
    screenshots.wait_rendered(page)
    elapsed = time.perf_counter() - started
    after = page.locator('[data-testid="stImage"] img').first.get_attribute("src")
    _no_error_text(page)
    page.screenshot(path=str(artifacts / "explorer_eps0.png"), full_page=True)
    assert before != after  # the grid was redrawn for the new eps
    assert elapsed < 120


def test_the_sidebar_menu_names_every_page(page, app_url):
    page.goto(app_url)
    screenshots.wait_rendered(page)
    menu = page.locator('[data-testid="stSidebarNav"]').inner_text()
    entries = [line.strip() for line in menu.splitlines() if line.strip()]
    assert entries[:2] == ["🏠", "Home"]  # icon, label: not the entry script's file name
    assert "streamlit app" not in menu
    for label in ("Attack explorer", "Train a model", "Is it real? The audit"):
        assert label in menu


def test_a_digit_drawn_with_the_mouse_is_read_attacked_and_stepped(page, app_url, artifacts):
    page.goto(f"{app_url}/Your_digit")
    screenshots.wait_rendered(page)
    screenshots.draw(page)  # a 7, in two mouse strokes on the canvas
    page.get_by_text("Each model's answer").first.wait_for(timeout=120_000)
    screenshots.wait_rendered(page)
    body = page.inner_text("body")
    assert "what the models see (28x28)" in body
    assert "PGD step by step" in body  # the default attack, with its step-through
    page.get_by_role("button", name="⏭ Step").click()
    screenshots.wait_rendered(page)
    assert "step 1 of" in page.inner_text("body")
    # A targeted attack: make the drawn digit read as a 3.
    picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Make it read as")
    picker.locator("input").click()
    page.keyboard.type("3")  # the picker filters its options as one types
    page.keyboard.press("Enter")
    screenshots.wait_rendered(page)
    assert "target 3's probability" in page.inner_text("body")  # the replay now aims at a 3
    page.get_by_role("button", name="▶ Play").click()  # steps on by itself, once per tick
    page.get_by_text(re.compile(r"step [3-9] of 20")).first.wait_for(timeout=60_000)
    page.get_by_role("button", name="⏸ Pause").click()
    _no_error_text(page)
    page.screenshot(path=str(artifacts / "your_digit_drawn.png"), full_page=True)


BAD_UPLOADS = {
    "notes.png": (b"this is not a picture", "not a picture we can read"),
    "empty.png": (b"", "empty"),
    "white.png": (None, "draw a digit first"),
}


@pytest.mark.parametrize("name", list(BAD_UPLOADS))
def test_a_bad_upload_gets_a_message_in_the_browser(page, app_url, tmp_path, name):
    from PIL import Image

    content, message = BAD_UPLOADS[name]
    bad = tmp_path / name
    if content is None:
        Image.new("L", (200, 200), 255).save(bad)
    else:
        bad.write_bytes(content)
    page.goto(f"{app_url}/Your_digit")
    screenshots.wait_rendered(page)
    page.get_by_role("tab", name=re.compile("Upload")).click()
    page.locator('input[type="file"]').set_input_files(str(bad))
    page.get_by_text(message).first.wait_for(timeout=60_000)
    _no_error_text(page)


def test_a_download_button_delivers_a_file(page, app_url, tmp_path):
    page.goto(f"{app_url}/Attack_explorer")
    screenshots.wait_rendered(page)
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="⬇ the digits (PNG)").click()
    saved = tmp_path / "digits.png"
    download.value.save_as(saved)
    from PIL import Image

    picture = Image.open(saved)
    assert download.value.suggested_filename == "attacked_digits.png"
    assert picture.format == "PNG" and picture.height > 16 * 28  # all 16 digits, one under another


# --- Korean and lesson links -------------------------------------------------------------------
HANGUL = re.compile(r"[\uac00-\ud7a3]")
KO = catalog("ko")  # the Korean catalog: what a Korean page must show


@pytest.fixture
def korean(page, app_url):
    # Until the entry script has run once, Streamlit serves a deep link with the menu it
    # discovers in pages/ (English file names): open the home page first, as a class would.
    page.goto(app_url)
    screenshots.wait_rendered(page)
    page.goto(f"{app_url}/Attack_explorer?lang=ko")
    screenshots.wait_rendered(page)
    return page


def test_a_page_in_korean_shows_korean(korean, artifacts):
    body = korean.inner_text("body")
    title = korean.locator('[data-testid="stApp"] h1').first.inner_text()
    assert title.endswith(KO["explorer.title"])
    assert KO["explorer.up_close"] in body and KO["app.gradient_health"] in body
    menu = korean.locator('[data-testid="stSidebarNav"]').inner_text()
    assert KO["menu.home"] in menu and KO["menu.attack_explorer"] in menu
    assert "Attack explorer" not in menu
    assert len(HANGUL.findall(body)) > 500
    _no_error_text(korean)
    korean.screenshot(path=str(artifacts / "korean_explorer.png"), full_page=True)


def test_the_language_stays_korean_on_the_next_page(korean):
    korean.get_by_role("link", name=re.compile(KO["menu.inside_the_vone_block"])).first.click()
    screenshots.wait_rendered(korean)
    title = korean.locator('[data-testid="stApp"] h1').first.inner_text()
    assert title.endswith(KO["vone.title"])
    assert "lang=ko" in korean.url


def test_a_lesson_link_opens_the_same_view(page, app_url):
    page.goto(f"{app_url}/Attack_explorer?attack=pgd&steps=3&eps=0.12&seed=4&n=8&lang=ko")
    screenshots.wait_rendered(page)
    body = page.inner_text("body")
    assert "PGD eps=0.12" in body and KO["explorer.right_original"].format(n=8) in body
    link = page.locator('[data-testid="stCode"] code').last.text_content()  # in a closed expander
    assert "eps=0.12" in link and "seed=4" in link and "lang=ko" in link
    assert link.startswith(app_url + "/Attack_explorer?")
    _no_error_text(page)


def test_a_forged_link_shows_the_defaults_and_a_notice(page, app_url):
    page.goto(f"{app_url}/Attack_explorer?eps=9&attack=%3Cscript%3Ealert(1)%3C/script%3E")
    screenshots.wait_rendered(page)
    body = page.inner_text("body")
    assert "FGSM eps=0.35" in body and "(attack, eps)" in body
    assert "<script>" not in page.content().split("<body", 1)[1].split("stCode")[0]
    _no_error_text(page)
