"""Predict, then reveal: the class quiz.

A fixed set of prepared questions (a test digit, a shipped model, an attack, all seeds fixed, so
every device shows the same picture). The teacher's screen picks the question, watches the tally
grow and reveals; each student's screen votes once per question and, after the reveal, shows the
answer — the model's real prediction, computed by the project's own attack code — and the
class's votes. Votes, the shown question and the reveals live in :class:`ui.votes.VoteStore`
(SQLite in the app's folder), shared by every browser session and kept across restarts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

import plotly.graph_objects as go
import streamlit as st

from vonedemo import models
from vonedemo.attack_view import AttackSettings
from vonedemo.study import STUDY_EPS

from . import compute, exports, loaders
from .i18n import t
from .pictures import digit_strip, png_data_url
from .settings import votes_path
from .votes import VoteError, VoteStore
from .widgets import KEPT

POLL_S = 2.0  # how often a screen asks the database for new votes, the shown question, a reveal
VOTER_KEY = "quiz_voter"  # session-state key of the browser session's random voter token
TEACHER_KEY = "quiz_teacher"  # session-state key of the teacher toggle
PICK_KEY = "quiz_pick"  # session-state key of the teacher's question picker
DIGITS = tuple(str(k) for k in range(10))
YES_NO = ("yes", "no")
QuestionKind = Literal["prediction", "fooled"]
KINDS = ("prediction", "fooled")


@dataclass(frozen=True)
class Question:
    """One prepared question; ``qid`` names its votes in the database and its words in the
    catalogs (``quiz.<qid>_title``)."""

    qid: str
    model: str  # a shipped model's registry name
    index: int  # the digit's index in the MNIST test set
    kind: QuestionKind  # "prediction": which digit will it say? "fooled": will it be fooled?
    settings: AttackSettings

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown question kind {self.kind!r}; known: {', '.join(KINDS)}")

    @property
    def choices(self) -> tuple[str, ...]:
        return DIGITS if self.kind == "prediction" else YES_NO


# The lesson's arc on one 7 (test digit 0): a plain CNN falls for FGSM; the VOneNet seems immune
# with the study's raw gradient; repaired, FGSM fools it too; PGD fools it on another digit.
# VOne models use one fixed noise draw (seeded), like the home page.
QUESTIONS = (
    Question("plain_cnn_fgsm", "basic-cnn", 0, "prediction", AttackSettings("fgsm", STUDY_EPS)),
    Question(
        "vone_fgsm_raw",
        "vone-basic-cnn",
        0,
        "fooled",
        AttackSettings("fgsm", STUDY_EPS, "raw", noise="seeded"),
    ),
    Question(
        "vone_fgsm_repaired",
        "vone-basic-cnn",
        0,
        "prediction",
        AttackSettings("fgsm", STUDY_EPS, "repaired", noise="seeded"),
    ),
    Question(
        "vone_pgd_repaired",
        "vone-basic-cnn",
        2,
        "fooled",
        AttackSettings("pgd", STUDY_EPS, "repaired", noise="seeded"),
    ),
)
BY_ID = {q.qid: q for q in QUESTIONS}


@dataclass(frozen=True)
class Shown:
    """What every screen shows for a question, and its answer."""

    picture: str  # original | attacked | perturbation, a PNG data URL
    label: int  # the digit's true label
    clean_pred: int  # what the model says before the attack
    adv_pred: int  # what it says about the attacked picture
    answer: str  # the right choice


# --- the database and the session's token ------------------------------------------------------
@st.cache_resource(max_entries=4, show_spinner=False)
def _store(path: str) -> VoteStore:
    return VoteStore(path)


def store() -> VoteStore:
    """The class's votes (one file shared by every session; opened once per path)."""
    return _store(str(votes_path()))


def voter() -> str:
    """This browser session's random token: no name, nothing personal."""
    return st.session_state.setdefault(VOTER_KEY, secrets.token_urlsafe(16))


def shown_question() -> Question:
    """The question the teacher picked last (the first one before any pick)."""
    return BY_ID.get(store().shown() or "", QUESTIONS[0])


def title(question: Question) -> str:
    number = QUESTIONS.index(question) + 1
    return t("quiz.question_title", n=number, total=len(QUESTIONS), title=_words(question, "title"))


def _words(question: Question, what: str) -> str:
    return t(f"quiz.{question.qid}_{what}")


def choice_words(choice: str) -> str:
    return t(f"quiz.choice_{choice}") if choice in YES_NO else choice


# --- the question's picture and answer ---------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner=False)
def _shown(key: str, stamp: str, settings: AttackSettings, index: int, kind: str) -> Shown:
    view = compute.digit_view(key, settings, index)
    label, adv = int(view.labels[0]), int(view.adv_pred[0])
    strip = digit_strip(view.original[0], view.adversarial[0], view.perturbation[0], zoom=6)
    answer = str(adv) if kind == "prediction" else ("yes" if adv != label else "no")
    return Shown(png_data_url(strip), label, int(view.clean_pred[0]), adv, answer)


def shown(question: Question) -> Shown | None:
    """The question's picture and answer, or None (with the reason shown) when its model is
    not available."""
    choice = loaders.pretrained_choice(question.model)
    if not choice.available:
        st.info(t("quiz.model_missing", model=choice.label, reason=choice.reason))
        return None
    with st.spinner(t("quiz.preparing")):
        return _shown(choice.key, choice.stamp, question.settings, question.index, question.kind)


def model_words(question: Question) -> str:
    return models.model_label(question.model)


def attack_words(settings: AttackSettings) -> str:
    """ "FGSM, eps 0.35, raw gradient" in the session's language."""
    words = t(
        "quiz.attack",
        attack=settings.attack.upper(),
        eps=f"{settings.eps:.2f}",
        gradient=t(f"quiz.gradient_{settings.gradient}"),
    )
    if settings.attack == "pgd":
        words += t("quiz.attack_steps", steps=settings.pgd_steps)
    return words


def question_card(question: Question, seen: Shown) -> None:
    """The question as every screen shows it: title, picture, what is known, what is asked."""
    st.subheader(title(question))
    st.image(seen.picture, caption=t("quiz.picture_caption"))
    st.markdown(
        t(
            "quiz.facts",
            index=question.index,
            label=seen.label,
            model=model_words(question),
            clean=seen.clean_pred,
            attack=attack_words(question.settings),
        )
    )
    prompt = "prompt_prediction" if question.kind == "prediction" else "prompt_fooled"
    st.markdown(f"### {t(f'quiz.{prompt}', label=seen.label)}")


def answer_words(question: Question, seen: Shown) -> str:
    if question.kind == "prediction":
        return t("quiz.answer_prediction", pred=seen.adv_pred, label=seen.label)
    key = "answer_fooled_yes" if seen.answer == "yes" else "answer_fooled_no"
    return t(f"quiz.{key}", pred=seen.adv_pred, label=seen.label)


def votes_figure(tally: dict[str, int], answer: str | None) -> go.Figure:
    """The class's votes as bars; the right choice in green once it is revealed."""
    choices = list(tally)
    colours = ["#2e7d32" if c == answer else "#90a4ae" for c in choices]
    figure = go.Figure(
        go.Bar(
            x=[choice_words(c) for c in choices],
            y=list(tally.values()),
            marker_color=colours,
            text=list(tally.values()),
            textposition="outside",
        )
    )
    figure.update_layout(
        title=t("quiz.chart_title", n=sum(tally.values())),
        xaxis={"type": "category", "title": t("quiz.chart_choice")},
        yaxis={"title": t("quiz.chart_votes"), "rangemode": "tozero", "dtick": 1},
        height=320,
        margin={"l": 40, "r": 10, "t": 50, "b": 40},
    )
    return figure


# --- the teacher's screen ----------------------------------------------------------------------
def is_teacher() -> bool:
    """The teacher toggle (``?role=teacher`` turns it on when the page is first opened). No
    password: the teacher's screen is the one on the projector."""
    st.session_state.setdefault(TEACHER_KEY, st.query_params.get("role") == "teacher")
    return st.sidebar.toggle(
        t("quiz.teacher_toggle"), key=TEACHER_KEY, help=t("quiz.teacher_help"), **KEPT
    )


def _show_pick() -> None:
    store().show(st.session_state[PICK_KEY])


def teacher_pick() -> Question:
    """The teacher's question picker; the pick goes to every student's screen. It follows the
    database, so two teacher screens (a laptop and the projector) never disagree."""
    st.session_state[PICK_KEY] = shown_question().qid
    st.selectbox(
        t("quiz.pick"),
        list(BY_ID),
        key=PICK_KEY,
        format_func=lambda qid: title(BY_ID[qid]),
        on_change=_show_pick,
        help=t("quiz.pick_help"),
    )
    return BY_ID[st.session_state[PICK_KEY]]


def _reveal(qid: str) -> None:
    store().reveal(qid)


def _reset(qid: str) -> None:
    store().reset(qid)


def teacher_view(question: Question) -> None:
    """The question, the live tally, Reveal / Reset and the results download."""
    seen = shown(question)
    if seen is None:
        return
    question_card(question, seen)
    st.fragment(_teacher_tally, run_every=POLL_S)(question, seen)
    st.caption(t("quiz.teacher_students_hint"))
    with st.spinner(t("quiz.preparing")):
        answers = all_answers()
    exports.buttons(
        [(t("quiz.download"), lambda: results_csv(answers), "quiz_results.csv", "text/csv")],
        key="quiz_download",
    )


def _teacher_tally(question: Question, seen: Shown) -> None:
    """Polled: the votes so far, then the buttons (their state follows the reveal)."""
    votes = store()
    tally = votes.tally(question.qid, question.choices)
    revealed = votes.is_revealed(question.qid)
    st.metric(t("quiz.votes_so_far"), sum(tally.values()))
    st.plotly_chart(votes_figure(tally, seen.answer if revealed else None), key="quiz_teacher_bars")
    if revealed:
        st.success(answer_words(question, seen))
    left, right = st.columns(2)
    left.button(
        t("quiz.reveal"),
        key="quiz_reveal",
        on_click=_reveal,
        args=(question.qid,),
        disabled=revealed,
        type="primary",
        width="stretch",
    )
    right.button(
        t("quiz.reset"),
        key="quiz_reset",
        on_click=_reset,
        args=(question.qid,),
        help=t("quiz.reset_help"),
        width="stretch",
    )


def results_csv(answers: dict[str, Shown | None]) -> bytes:
    """Every question's tally and answer as CSV (``answers``: each question's :func:`shown`,
    computed beforehand; only the votes are read when the teacher downloads)."""
    votes, rows = store(), []
    for question in QUESTIONS:
        seen = answers.get(question.qid)
        tally = votes.tally(question.qid, question.choices)
        total = sum(tally.values())
        for option, count in tally.items():
            rows.append(
                {
                    "question": question.qid,
                    "model": question.model,
                    "attack": question.settings.describe(),
                    "test digit": question.index,
                    "true label": "" if seen is None else seen.label,
                    "choice": option,
                    "votes": count,
                    "share %": round(100 * count / total, 1) if total else 0.0,
                    "right answer": "" if seen is None else seen.answer,
                    "revealed": votes.is_revealed(question.qid),
                }
            )
    return exports.csv_bytes(rows)


def all_answers() -> dict[str, Shown | None]:
    """Every question's picture and answer (cached; preparing them on the teacher's screen means
    each student's screen finds its next question ready)."""
    answers = {}
    for question in QUESTIONS:
        choice = loaders.pretrained_choice(question.model)
        answers[question.qid] = (
            _shown(choice.key, choice.stamp, question.settings, question.index, question.kind)
            if choice.available
            else None
        )
    return answers


# --- a student's screen ------------------------------------------------------------------------
def student_view() -> None:
    """Polled as a whole: the teacher may switch the question or reveal at any moment."""
    st.fragment(_student_screen, run_every=POLL_S)()


def _vote(qid: str, option: str) -> None:
    """A ballot button's callback. A vote from a screen that is behind (the answer is out, or
    this session voted already) is refused, with a notice."""
    question, votes = BY_ID[qid], store()
    if votes.is_revealed(qid):
        st.session_state["quiz_notice"] = "closed"
        return
    try:
        if not votes.vote(qid, voter(), option, question.choices):
            st.session_state["quiz_notice"] = "already"
    except VoteError:
        st.session_state["quiz_notice"] = "refused"


def _student_screen() -> None:
    question = shown_question()
    seen = shown(question)
    if seen is None:
        return
    question_card(question, seen)
    votes = store()
    mine = votes.choice_of(question.qid, voter())
    notice = st.session_state.pop("quiz_notice", None)
    if notice:
        st.warning(t(f"quiz.notice_{notice}"))
    if votes.is_revealed(question.qid):
        _revealed(question, seen, mine)
    elif mine is None:
        _ballot(question)
    else:
        st.info(t("quiz.voted_waiting", choice=choice_words(mine)))


def _ballot(question: Question) -> None:
    """One button per choice, five to a row (large enough for a phone)."""
    choices = question.choices
    for start in range(0, len(choices), 5):
        row = choices[start : start + 5]
        for column, option in zip(st.columns(len(row)), row, strict=True):
            column.button(
                choice_words(option),
                key=f"quiz_vote_{option}",
                on_click=_vote,
                args=(question.qid, option),
                width="stretch",
            )
    st.caption(t("quiz.one_vote"))


def _revealed(question: Question, seen: Shown, mine: str | None) -> None:
    st.success(answer_words(question, seen))
    if mine is None:
        st.info(t("quiz.no_vote"))
    elif mine == seen.answer:
        st.markdown(t("quiz.you_right", choice=choice_words(mine)))
    else:
        st.markdown(t("quiz.you_wrong", choice=choice_words(mine)))
    tally = store().tally(question.qid, question.choices)
    st.plotly_chart(votes_figure(tally, seen.answer), key="quiz_student_bars")
