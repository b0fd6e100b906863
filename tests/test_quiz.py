"""The quiz page through ``streamlit.testing.v1.AppTest``: a teacher and several students, each
an AppTest of its own (one AppTest is one browser session), sharing one votes database.

Tiny stand-in models (``VONEDEMO_APP_MODELS=tiny``) for speed; the last test plays the prepared
questions on the shipped models.
"""

from __future__ import annotations

import csv
import io

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest
from test_app import HOME, app_env, run, texts  # noqa: F401 (app_env: a fixture used here)

from ui import compute, loaders, quiz
from ui import settings as app_settings
from ui.votes import VoteStore
from vonedemo import attack_view, checkpoints

QUIZ = "pages/8_Quiz.py"
TIMEOUT = 60


@pytest.fixture
def votes_env(request, monkeypatch):
    """The app_env of test_app plus a votes database of its own in tmp_path."""
    path = request.getfixturevalue("app_env") / "votes" / "votes.sqlite"
    monkeypatch.setenv(app_settings.VOTES_ENV, str(path))
    return path


def open_quiz(*, teacher: bool = False, voter: str | None = None) -> AppTest:
    """A new browser session on the quiz page (the teacher's with ``?role=teacher``)."""
    at = AppTest.from_file(str(HOME), default_timeout=TIMEOUT)
    if teacher:
        at.query_params["role"] = "teacher"
    if voter:
        at.session_state[quiz.VOTER_KEY] = voter  # the same browser session as before
    at.switch_page(QUIZ)
    return run(at)


def votes_so_far(teacher: AppTest) -> int:
    return int(next(m.value for m in teacher.metric if m.label == "Votes so far"))


def vote(student: AppTest, choice: str) -> AppTest:
    return run(student.button(key=f"quiz_vote_{choice}").click())


def answer_text(at: AppTest) -> str:
    return "\n".join(s.value for s in at.success)


def real_prediction(question: quiz.Question) -> int:
    """The question's answer computed here, straight from the core's attack code."""
    model, _ = loaders.load_model(f"pretrained:{question.model}")
    images, labels = attack_view.select(loaders.test_data(), [question.index])
    view = attack_view.attack_batch(
        model, images, labels, question.settings, indices=[question.index]
    )
    return int(view.adv_pred[0])


def test_a_round_several_students_vote_the_teacher_reveals(votes_env):
    teacher = open_quiz(teacher=True)
    assert teacher.toggle(key=quiz.TEACHER_KEY).value
    assert votes_so_far(teacher) == 0
    assert not answer_text(teacher)  # nothing revealed yet

    students = [open_quiz() for _ in range(3)]
    question = quiz.QUESTIONS[0]
    for student in students:
        assert not student.toggle(key=quiz.TEACHER_KEY).value
        assert question_title(student) == quiz.title(question)
        assert len(student.image) == 1
        assert [b.label for b in student.button] == list(quiz.DIGITS)
    for student, choice in zip(students, ["3", "3", "7"], strict=True):
        vote(student, choice)
        assert "Your vote: **" + choice in texts(student) + "\n".join(i.value for i in student.info)
        assert not student.button  # the ballot is gone: one vote per question
        assert not answer_text(student)  # not before the teacher reveals

    run(teacher)  # the teacher's screen polls; a rerun is what its fragment does
    assert votes_so_far(teacher) == 3
    bars = teacher.get("plotly_chart")[0]
    assert '"y":[0,0,0,2,0,0,0,1,0,0]' in bars.proto.spec.replace(" ", "")

    run(teacher.button(key="quiz_reveal").click())
    assert teacher.button(key="quiz_reveal").disabled
    predicted = real_prediction(question)
    assert f"as **{predicted}**" in answer_text(teacher)

    for student, choice in zip(students, ["3", "3", "7"], strict=True):
        run(student)
        assert f"as **{predicted}**" in answer_text(student)
        verdict = "right!" if choice == str(predicted) else "not this time"
        assert verdict in texts(student)
        assert len(student.get("plotly_chart")) == 1  # the class's votes
    late = open_quiz()  # a student who did not vote sees the answer, and no ballot
    assert f"as **{predicted}**" in answer_text(late) and not late.button
    assert "did not vote" in "\n".join(i.value for i in late.info)


def question_title(at: AppTest) -> str:
    return at.subheader[0].value


def test_reset_forgets_the_votes_and_hides_the_answer(votes_env):
    teacher = open_quiz(teacher=True)
    student = open_quiz()
    vote(student, "5")
    run(teacher.button(key="quiz_reveal").click())
    run(teacher.button(key="quiz_reset").click())
    assert votes_so_far(teacher) == 0
    assert not teacher.button(key="quiz_reveal").disabled and not answer_text(teacher)
    run(student)
    assert [b.label for b in student.button] == list(quiz.DIGITS)  # the ballot is back
    vote(student, "6")
    assert votes_so_far(run(teacher)) == 1


def test_one_vote_per_session_a_second_one_is_refused(votes_env):
    stale = open_quiz(voter="student-a")  # a screen still showing the ballot
    student = open_quiz(voter="student-a")
    vote(student, "4")
    assert not student.button and "Your vote: **4**" in "\n".join(i.value for i in student.info)
    # A second vote that reaches the app anyway (a double click, a stale screen) is refused:
    # the first one counts, and the screen says so.
    vote(stale, "9")
    assert "already voted" in "\n".join(w.value for w in stale.warning)
    assert "Your vote: **4**" in "\n".join(i.value for i in stale.info)
    store = VoteStore(votes_env)
    assert store.tally(quiz.QUESTIONS[0].qid, quiz.DIGITS)["4"] == 1
    assert sum(store.tally(quiz.QUESTIONS[0].qid, quiz.DIGITS).values()) == 1
    other = open_quiz(voter="student-b")
    vote(other, "4")
    assert store.tally(quiz.QUESTIONS[0].qid, quiz.DIGITS)["4"] == 2


def test_no_votes_after_the_reveal(votes_env):
    teacher = open_quiz(teacher=True)
    stale = open_quiz()  # a screen still showing the ballot when the answer comes out
    run(teacher.button(key="quiz_reveal").click())
    vote(stale, "2")
    assert "already out" in "\n".join(w.value for w in stale.warning)
    assert votes_so_far(run(teacher)) == 0 and answer_text(stale)


def test_votes_and_the_reveal_survive_a_restart(votes_env):
    teacher = open_quiz(teacher=True)
    for choice in ("1", "2"):
        vote(open_quiz(), choice)
    run(teacher.button(key="quiz_reveal").click())
    st.cache_data.clear()  # a restarted app: no cached store, no cached pictures
    st.cache_resource.clear()
    compute.clear_caches()
    restarted = open_quiz(teacher=True)
    assert votes_so_far(restarted) == 2
    assert restarted.button(key="quiz_reveal").disabled and answer_text(restarted)


def test_the_teachers_pick_goes_to_every_student(votes_env):
    teacher = open_quiz(teacher=True)
    student = open_quiz()
    second = quiz.QUESTIONS[1]
    run(teacher.selectbox(key=quiz.PICK_KEY).set_value(second.qid))
    run(student)
    assert question_title(student) == quiz.title(second)
    assert [b.label for b in student.button] == ["Yes, fooled", "No, still right"]
    vote(student, "no")
    assert votes_so_far(run(teacher)) == 1
    other_teacher = open_quiz(teacher=True)  # a second teacher screen follows the database
    assert other_teacher.selectbox(key=quiz.PICK_KEY).value == second.qid


def test_the_teacher_toggle_without_the_link(votes_env):
    student = open_quiz()
    assert not student.get("download_button")
    run(student.toggle(key=quiz.TEACHER_KEY).set_value(True))
    assert student.button(key="quiz_reveal") and student.get("download_button")


def test_the_results_csv_has_every_question_its_votes_and_answer(votes_env):
    teacher = open_quiz(teacher=True)
    for choice in ("3", "3", "8"):
        vote(open_quiz(), choice)
    run(teacher.button(key="quiz_reveal").click())
    assert teacher.get("download_button")
    rows = list(csv.DictReader(io.StringIO(quiz.results_csv(quiz.all_answers()).decode())))
    assert len(rows) == sum(len(q.choices) for q in quiz.QUESTIONS)
    first = [r for r in rows if r["question"] == quiz.QUESTIONS[0].qid]
    assert {r["choice"]: int(r["votes"]) for r in first if int(r["votes"])} == {"3": 2, "8": 1}
    assert {r["right answer"] for r in first} == {str(real_prediction(quiz.QUESTIONS[0]))}
    assert {r["revealed"] for r in first} == {"True"}
    assert float(next(r for r in first if r["choice"] == "3")["share %"]) == pytest.approx(66.7)


def test_every_question_renders_for_students_in_korean(votes_env):
    teacher = open_quiz(teacher=True)
    for question in quiz.QUESTIONS:
        run(teacher.selectbox(key=quiz.PICK_KEY).set_value(question.qid))
        at = AppTest.from_file(str(HOME), default_timeout=TIMEOUT)
        at.query_params["lang"] = "ko"
        at.switch_page(QUIZ)
        run(at)
        assert question_title(at).startswith("문제 ")
        assert len(at.button) == len(question.choices)


@pytest.mark.slow
@pytest.mark.skipif(
    not all(checkpoints.pretrained_available(n) for n in ("basic-cnn", "vone-basic-cnn")),
    reason="the shipped checkpoints are not there",
)
def test_the_prepared_questions_on_the_shipped_models(votes_env, monkeypatch):
    """The lesson's arc on the real models: the plain CNN is fooled, the VOneNet is not with
    the study's raw gradient, and is with the repaired one."""
    for name in (app_settings.MODELS_ENV, app_settings.DATA_LIMIT_ENV, "VONEDEMO_CHECKPOINTS"):
        monkeypatch.delenv(name)
    torch.set_num_threads(2)
    answers = quiz.all_answers()
    found = {qid: (s.label, s.clean_pred, s.adv_pred, s.answer) for qid, s in answers.items()}
    assert found == {
        "plain_cnn_fgsm": (7, 7, 3, "3"),
        "vone_fgsm_raw": (7, 7, 7, "no"),
        "vone_fgsm_repaired": (7, 7, 9, "9"),
        "vone_pgd_repaired": (1, 1, 4, "yes"),
    }
    teacher = open_quiz(teacher=True)
    run(teacher.button(key="quiz_reveal").click())
    assert "as **3**" in answer_text(teacher)
