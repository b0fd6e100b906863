"""Korean and English: both catalogs complete, every key the code asks for present, every page
rendered in both languages, no English left on a Korean page, ``?lang=ko`` and the sidebar's
choice kept for the session."""

from __future__ import annotations

import ast
import json
import re
import string
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_app import (  # noqa: F401  (app_env is a fixture)
    COMPARE,
    EXPLORER,
    FINETUNE,
    HOME,
    TIMEOUT,
    TRAIN,
    VONE,
    app_env,
    assert_clean,
    finish_run,
    seven_png,
)

from ui import i18n, text, widgets
from ui.i18n import catalog

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("app_env")  # tiny models, every folder in tmp_path
AUDIT = "pages/6_Is_it_real.py"
DIGIT = "pages/7_Your_digit.py"
PAGES = [None, EXPLORER, TRAIN, FINETUNE, COMPARE, VONE, AUDIT, DIGIT]
SOURCES = [ROOT / "streamlit_app.py", *sorted((ROOT / "pages").glob("*.py"))]
SOURCES += sorted((ROOT / "ui").glob("*.py"))
HANGUL = re.compile(r"[\uac00-\ud7a3]")
# Korean values that are rightly the same as the English: names, symbols and numbers.
SAME_IN_BOTH = {
    "app.eps",
    "explorer.describe",
    "explorer.describe_gradient",
    "explorer.points",
    "home.name_join",
    "audit.by_points",
    "audit.the_vonenet",
    "columns.eps",
    "glossary.fgsm",
    "glossary.pgd",
    "glossary.eot",
    "glossary.nan",
    "glossary.eps",
    "compare.measuring_model",
    "audit.period",
    "audit.check_words",
    "audit.check_other",
    "common.language",
    "quiz.attack",  # "{attack}, eps {eps}, {gradient}": only placeholders, each translated
}


def _placeholders(value: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(value) if name}


# --- the catalogs ------------------------------------------------------------------------------
def test_both_catalogs_have_the_same_keys_and_placeholders():
    en, ko = catalog("en"), catalog("ko")
    assert sorted(set(en) - set(ko)) == [], "missing in ko.toml"
    assert sorted(set(ko) - set(en)) == [], "missing in en.toml"
    differ = {k: (_placeholders(en[k]), _placeholders(ko[k])) for k in en}
    assert {k: v for k, v in differ.items() if v[0] != v[1]} == {}


def test_the_korean_catalog_is_korean():
    """A Korean value is Korean (Hangul), or one of the few names the same in both."""
    en, ko = catalog("en"), catalog("ko")
    english = [k for k in ko if k not in SAME_IN_BOTH and not HANGUL.search(ko[k])]
    english = [k for k in english if any(c.isalpha() for c in en[k])]  # ", " and the like pass
    assert english == [], "untranslated in ko.toml"
    assert all(value.strip() for value in ko.values())


def _literal_keys() -> dict[str, str]:
    """Every ``t("key")`` and ``tr(lang, "key")`` with a literal key in the app's code."""
    found = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            position = {"t": 0, "tr": 1}.get(name)
            if position is None or len(node.args) <= position:
                continue
            arg = node.args[position]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found[arg.value] = f"{path.name}:{node.lineno}"
    return found


def test_every_key_the_code_asks_for_is_in_the_catalogs():
    keys = _literal_keys()
    assert len(keys) > 300  # the scan sees the code
    missing = {k: where for k, where in keys.items() if k not in catalog("en")}
    assert missing == {}
    menu = [f"menu.{key}" for _, key, _ in widgets.PAGES]
    glossary = [f"glossary.{k}" for k in text.GLOSSARY_TERMS]
    assert [k for k in menu + glossary if k not in catalog("en")] == []


def test_placeholders_the_code_fills_are_the_catalogs():
    """``t("key", name=...)`` fills exactly the key's placeholders (a missing one raises, an
    extra one would be silently dropped)."""
    wrong = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = getattr(getattr(node, "func", None), "id", None)
            if not isinstance(node, ast.Call) or name not in ("t", "tr"):
                continue
            arg = node.args[0 if name == "t" else 1] if len(node.args) > (name == "tr") else None
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                continue
            given = {k.arg for k in node.keywords if k.arg}
            if given and given != _placeholders(catalog("en")[arg.value]):
                wrong[f"{path.name}:{node.lineno}"] = (arg.value, sorted(given))
    assert wrong == {}


# --- pages in both languages -------------------------------------------------------------------
def open_in(page: str | None, lang: str) -> AppTest:
    at = AppTest.from_file(str(HOME), default_timeout=TIMEOUT)
    at.query_params[i18n.LANG_KEY] = lang
    if page:
        at.switch_page(page)
    at.run()
    assert_clean(at)
    if page == DIGIT:  # the page's sections appear once there is a digit
        at.file_uploader(key="yd_file").set_value(("seven.png", seven_png(), "image/png")).run()
        assert_clean(at)
    return at


def shown_texts(at: AppTest) -> list[str]:
    """What a reader sees: prose, notices, titles and every widget's label and options."""
    shown = []
    for kind in ("markdown", "caption", "title", "header", "subheader", "info", "warning"):
        shown += [e.value for e in at.get(kind)]
    shown += [e.value for e in at.get("success")] + [e.label for e in at.get("expander")]
    shown += [e.label for e in at.get("tab")] + [e.label for e in at.metric]
    for kind in ("button", "slider", "select_slider", "selectbox", "radio", "toggle"):
        for widget in at.get(kind):
            shown.append(widget.label)
            shown += [str(o) for o in getattr(widget, "options", [])]
    shown += [e.label for e in at.get("number_input")] + [e.label for e in at.get("text_input")]
    for frame in at.dataframe:
        shown += [str(c) for c in frame.value.columns]
    shown += [picture.caption for image in at.image for picture in image.proto.imgs]
    for chart in at.get("plotly_chart"):  # titles, axis titles and legends
        spec = json.loads(chart.proto.spec)
        layout = spec.get("layout", {})
        for part in [layout, *(v for k, v in layout.items() if k.startswith(("xaxis", "yaxis")))]:
            title = part.get("title", {}) if isinstance(part, dict) else {}
            shown.append(title.get("text", "") if isinstance(title, dict) else str(title))
        shown += [trace.get("name", "") for trace in spec.get("data", [])]
        shown += [a.get("text", "") for a in layout.get("annotations", [])]
    return [s for s in shown if s]


def english_left(shown: list[str]) -> list[str]:
    """The English catalog values (those that differ from their Korean) that a Korean page
    shows: a whole label, or a fragment of 16 or more characters in any text."""
    en, ko = catalog("en"), catalog("ko")
    whole = {en[k] for k in en if en[k] != ko[k] and not _placeholders(en[k])}
    fragments = {
        part.strip()
        for k in en
        if en[k] != ko[k]
        for part in re.split(r"\{[^}]*\}", en[k])
        if len(part.strip()) >= 16
    }
    left = [s for s in shown if s in whole and not HANGUL.search(s)]
    left += [f for f in fragments if any(f in s for s in shown)]
    return sorted(set(left))


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("page", PAGES, ids=lambda p: Path(p).stem if p else "home")
def test_every_page_renders_in_both_languages(page, lang):
    at = open_in(page, lang)
    title = at.title[0].value
    assert bool(HANGUL.search(title)) == (lang == "ko"), title
    assert at.query_params[i18n.LANG_KEY] == lang
    if lang == "ko":
        assert english_left(shown_texts(at)) == []


def step(widget) -> AppTest:
    at = widget.run()
    assert_clean(at)
    return at


def test_results_made_on_a_korean_page_read_in_korean():
    """What a button makes — a quick audit, a measurement, a training and a fine-tuning run —
    in Korean too (the runs' progress and results are worded where they are made)."""
    at = open_in(AUDIT, "ko")
    at = step(at.select_slider(key="real_limit").set_value(20))
    at = step(at.button(key="real_run").click())
    assert at.expander and english_left(shown_texts(at)) == []
    at = open_in(COMPARE, "ko")
    at = step(at.select_slider(key="cmp_limit").set_value(20))
    at = step(at.button(key="cmp_run").click())
    assert english_left(shown_texts(at)) == []
    assert (
        "측정"
        in at.dataframe[-1].value.iloc[0].to_dict()[catalog("ko")["columns.our numbers from"]]
    )
    at = open_in(TRAIN, "ko")
    at = step(at.select_slider(key="tr_size").set_value(200))
    at = step(at.button(key="tr_start").click())
    finish_run(at, "tr_run")
    assert at.success and english_left(shown_texts(at)) == []
    at = open_in(FINETUNE, "ko")
    at = step(at.slider(key="ft_rounds").set_value(1))
    at = step(at.select_slider(key="ft_train").set_value(250))
    at = step(at.select_slider(key="ft_eval").set_value(50))
    at = step(at.button(key="ft_start").click())
    finish_run(at, "ft_run")
    assert english_left(shown_texts(at)) == []
    assert any(catalog("ko")["finetune.last_run"].split(" ")[0] in m for m in shown_texts(at))


def test_the_untranslated_check_sees_english(monkeypatch):
    """The check above bites: a Korean page with one English value left is caught."""
    ko = dict(catalog("ko"))
    ko["explorer.up_close"] = catalog("en")["explorer.up_close"]
    monkeypatch.setattr(i18n, "catalog", lambda lang: ko if lang == "ko" else catalog("en"))
    assert english_left(shown_texts(open_in(EXPLORER, "ko"))) == ["One digit up close"]


def test_lang_in_the_url_and_the_sidebar_choice_last_the_session():
    at = open_in(None, "ko")
    assert at.title[0].value.endswith(catalog("ko")["home.title"])
    at.switch_page(EXPLORER).run()  # a page change drops the URL's query: the session keeps it
    assert at.title[0].value.endswith(catalog("ko")["explorer.title"])
    at.selectbox(key=i18n.SELECTOR_KEY).set_value("en").run()
    assert at.title[0].value.endswith("Attack explorer")
    assert at.query_params[i18n.LANG_KEY] == "en"
    at.switch_page(VONE).run()
    assert at.title[0].value.endswith("Inside the VOneBlock")
    at.selectbox(key=i18n.SELECTOR_KEY).set_value("ko").run()
    assert at.title[0].value.endswith(catalog("ko")["vone.title"])
    at.switch_page(TRAIN).run()
    assert at.title[0].value.endswith(catalog("ko")["train.title"])
    assert at.query_params[i18n.LANG_KEY] == "ko"


def test_a_language_switch_keeps_every_choice():
    """Options shown as words get new labels: the values chosen stay, and the page works."""
    at = open_in(EXPLORER, "ko")
    at.selectbox(key="ae_target").set_value("runner-up").run()
    at.radio(key="ae_gradient").set_value("repaired").run()
    at.selectbox(key="ae_digit").set_value(3).run()
    keys = ["ae_target", "ae_gradient", "ae_digit", "ae_model"]
    before = {k: at.session_state[k] for k in keys}
    for lang in ("en", "ko"):
        at.selectbox(key=i18n.SELECTOR_KEY).set_value(lang).run()
        assert_clean(at)
        assert {k: at.session_state[k] for k in keys} == before
        assert at.radio(key="ae_gradient").value == "repaired"


def test_an_unknown_language_falls_back_to_english_with_a_notice():
    at = open_in(EXPLORER, "<script>alert(1)</script>")
    assert at.title[0].value.endswith("Attack explorer")
    assert any("lang" in w.value and "<script>" not in w.value for w in at.warning)


# --- words built from numbers, in Korean -------------------------------------------------------
def test_the_health_words_read_in_korean(monkeypatch):
    monkeypatch.setattr(i18n, "language", lambda: "ko")
    health = {"moved_fraction": 0.5, "nonfinite_gradient_fraction": 0.25, "zero_sign_fraction": 0}
    assert text.health_words(health | {"linf": 0.1}, 16, 0.1) == (
        "공격이 숫자 16개 중 8개를 바꿨습니다: 픽셀의 25%에서 기울기가 정의되지 않았고(NaN), "
        "그곳에서는 움직이지 않습니다."
    )


def test_channel_names_in_english_are_the_cores():
    from ui import block_views, loaders
    from vonedemo import vone_views as vv

    block, _ = loaders.vone_block(loaders.STUDY_BLOCK)
    for channel in (0, 7, 15):
        assert block_views.channel_name(block, channel, "en") == vv.channel_name(block, channel)
    assert block_views.channel_name(block, 15, "ko").startswith("채널 15 (")
