"""Presenter mode through ``streamlit.testing.v1.AppTest``: every step renders, the buttons and
``?step=`` move through the lesson, a forged step falls back to the first, and a replay shows
the same pictures. Tiny stand-in models; the last test steps through on the shipped models."""

from __future__ import annotations

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest
from test_app import HOME, ROOT, app_env, run, texts  # noqa: F401 (app_env: a fixture used here)

from ui import compute, presenter, quiz
from ui import settings as app_settings
from vonedemo import checkpoints

PRESENTER = "pages/9_Presenter.py"
TIMEOUT = 60
TITLES = [
    "The claim: a V1 front-end stops FGSM",
    "The study's grid: the attack changes nothing",
    "Why: the gradient is NaN",
    "Repaired: now the VOneNet is fooled",
    "The audit's verdict",
    "Your turn: predict, then reveal",
]


@pytest.fixture
def lesson_env(request, monkeypatch):
    """The app_env of test_app plus a votes database in tmp_path."""
    tmp = request.getfixturevalue("app_env")
    monkeypatch.setenv(app_settings.VOTES_ENV, str(tmp / "votes.sqlite"))
    return tmp


def open_step(step: str | None = None, *, timeout: int = TIMEOUT) -> AppTest:
    at = AppTest.from_file(str(HOME), default_timeout=timeout)
    if step is not None:
        at.query_params["step"] = step
    at.switch_page(PRESENTER)
    return run(at)


def title(at: AppTest) -> str:
    return at.title[0].value


def pictures(at: AppTest) -> list[str]:
    """Every picture on the page, as its PNG data URL (the bytes themselves)."""
    return [image.proto.imgs[0].url for image in at.image]


def clear_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()
    compute.clear_caches()


@pytest.mark.parametrize("step", range(1, len(TITLES) + 1))
def test_every_step_renders(lesson_env, step):
    at = open_step(str(step))
    assert title(at) == TITLES[step - 1]
    assert not at.warning
    assert f"Step {step} of {len(TITLES)}" in at.get("progress")[0].proto.text
    assert any("display: none" in m.value for m in at.markdown)  # the sidebar is hidden


def test_next_and_previous_step_through_the_lesson(lesson_env):
    at = open_step()
    assert title(at) == TITLES[0] and at.button(key="presenter_previous").disabled
    for step in range(2, len(TITLES) + 1):
        run(at.button(key="presenter_next").click())
        assert title(at) == TITLES[step - 1]
        assert at.query_params["step"] == str(step)  # a reload opens the same step
    assert at.button(key="presenter_next").disabled
    run(at.button(key="presenter_previous").click())
    assert title(at) == TITLES[-2] and at.query_params["step"] == str(len(TITLES) - 1)


@pytest.mark.parametrize(
    "forged", ["0", "7", "99", "-1", "abc", "2.5", "1e3", "²", "<b>3</b>", "9" * 40, ""]
)
def test_a_forged_step_falls_back_to_the_first_with_a_notice(lesson_env, forged):
    at = open_step(forged)
    assert title(at) == TITLES[0]
    assert len(at.warning) == 1 and "starting from the first step" in at.warning[0].value
    if forged:
        assert forged not in at.warning[0].value  # the link's text is never echoed
    assert at.query_params["step"] == "1"


def test_the_grids_show_the_same_pictures_on_every_replay(lesson_env):
    """The raw gradient moves nothing (the pictures' middle tiles are the originals); the
    repaired one moves the digits; and a replay after a restart draws the same bytes."""
    raw = open_step("2")
    assert len(raw.image) == presenter.GRID_DIGITS
    assert "the attack moved **0%** of the digits" in texts(raw)
    repaired = open_step("4")
    assert "the attack moved **0%**" not in texts(repaired)
    assert pictures(repaired) != pictures(raw)
    first = pictures(raw), pictures(repaired)
    clear_caches()  # as if the app had restarted: everything is computed again
    assert (pictures(open_step("2")), pictures(open_step("4"))) == first


def test_the_nan_step_shows_the_gradient_health(lesson_env):
    at = open_step("3")
    shown = {m.label: m.value for m in at.metric}
    assert float(shown["gradient entries NaN"].rstrip("%")) > 50
    assert shown["digits the attack moved"] == "0%"
    assert "sign(NaN) = 0" in texts(at)


def test_the_audit_step_reads_the_committed_audit(lesson_env, monkeypatch):
    assert any("no saved audit" in i.value for i in open_step("5").info)  # tmp results: none
    monkeypatch.setenv(app_settings.RESULTS_ENV, str(ROOT / "results" / "summary.json"))
    at = open_step("5")
    assert "Verdict" in texts(at)
    worst = {m.label: m.value for m in at.metric}
    assert worst["VOne-CNN: worst case at eps 0.35"] == "0.0%"
    assert all(m.delta.startswith("the study's FGSM") for m in at.metric)


def test_the_quiz_step_shows_the_class_question(lesson_env):
    quiz.store().show(quiz.QUESTIONS[2].qid)
    at = open_step("6")
    assert at.subheader[0].value == quiz.title(quiz.QUESTIONS[2])
    assert at.get("page_link")[0].proto.page == "Quiz"
    assert {m.label: m.value for m in at.metric}["Votes so far"] == "0"


def test_presenter_in_korean(lesson_env):
    at = AppTest.from_file(str(HOME), default_timeout=TIMEOUT)
    at.query_params.update({"lang": "ko", "step": "3"})
    at.switch_page(PRESENTER)
    run(at)
    assert title(at) == "이유: 기울기가 NaN이다"


@pytest.mark.slow
@pytest.mark.skipif(
    not checkpoints.pretrained_available("vone-basic-cnn"),
    reason="the shipped checkpoints are not there",
)
def test_the_lesson_on_the_shipped_models(lesson_env, monkeypatch):
    for name in (app_settings.MODELS_ENV, app_settings.DATA_LIMIT_ENV, "VONEDEMO_CHECKPOINTS"):
        monkeypatch.delenv(name)
    monkeypatch.setenv(app_settings.RESULTS_ENV, str(ROOT / "results" / "summary.json"))
    torch.set_num_threads(2)
    raw = open_step("2", timeout=300)
    assert "the attack moved **0%** of the digits" in texts(raw)
    assert "**7** right before the attack, **7** right after" in texts(raw)
    repaired = open_step("4", timeout=300)
    assert "**7** right before the attack, **2** right after" in texts(repaired)
    for step in (1, 3, 5, 6):
        assert title(open_step(str(step), timeout=300)) == TITLES[step - 1]
