"""Presenter mode: the lesson as a fixed sequence of large, uncluttered views for a projector.

The study's claim, its grid (FGSM on a VOneNet with the raw gradient: nothing changes), the NaN
gradient behind it, the repaired attack (now the VOneNet is fooled), the audit's verdict and the
class quiz. Every view is drawn by the app's own helpers from fixed settings and seeds, so every
replay of the lesson shows the same pictures. The step lives in ``?step=`` (1-based), so a
reload or a shared link opens the same view; a forged step falls back to the first.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import streamlit as st

from vonedemo import models
from vonedemo.attack_view import AttackSettings, AttackView
from vonedemo.results import audit_findings, read_audit_report
from vonedemo.study import STUDY_EPS, study_report

from . import audit_text, compute, loaders, panels, quiz, widgets
from .i18n import t
from .settings import audit_path, tiny_mode

STEP_PARAM = "step"
STEP_PATTERN = re.compile(r"[1-9][0-9]?")  # a short decimal number; anything else is forged
GRID_MODEL = "vone-basic-cnn"  # the study's VOne-CNN
GRID_DIGITS = 8
SAMPLE_SEED = 0  # which test digits the grid shows
# The study's FGSM (its raw gradient) and the same attack with the repaired gradient, on the
# model's own neuronal noise with a fixed seed.
RAW = AttackSettings("fgsm", STUDY_EPS, "raw", noise="neuronal", seed=0)
REPAIRED = AttackSettings("fgsm", STUDY_EPS, "repaired", noise="neuronal", seed=0)

LARGE_TYPE = """
<style>
[data-testid="stSidebar"], [data-testid="stExpandSidebarButton"] { display: none; }
[data-testid="stMainBlockContainer"] { padding-top: 4.5rem; max-width: 1500px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li {
  font-size: 1.65rem; line-height: 1.45;
}
[data-testid="stCaptionContainer"] p { font-size: 1.2rem; }
h1 { font-size: 3.2rem !important; }
h2, h3 { font-size: 2.2rem !important; }
[data-testid="stMetricValue"] { font-size: 3rem; }
[data-testid="stMetricLabel"] p { font-size: 1.35rem; }
.stButton button p { font-size: 1.4rem; }
</style>
"""


def setup() -> None:
    """The page without the sidebar, in large type. The sidebar keeps the app's glossary (as on
    every page) but stays out of sight."""
    st.set_page_config(
        page_title=f"{t('presenter.title')} · VOneNet lab",
        page_icon="📽️",
        layout="wide",
        initial_sidebar_state="collapsed",
    )
    st.markdown(LARGE_TYPE, unsafe_allow_html=True)
    widgets.glossary()
    if tiny_mode():
        st.caption(t("presenter.tiny"))


# --- stepping ----------------------------------------------------------------------------------
def current_step() -> int:
    """The step in ``?step=`` (1 when absent); a forged one is replaced by 1, with a notice that
    never repeats what was in the link."""
    asked = st.query_params.get(STEP_PARAM)
    if asked is None:
        return 1
    if STEP_PATTERN.fullmatch(asked) and int(asked) <= len(STEPS):
        return int(asked)
    st.warning(t("presenter.bad_step", total=len(STEPS)))
    st.query_params[STEP_PARAM] = "1"
    return 1


def _go(step: int) -> None:
    st.query_params[STEP_PARAM] = str(step)


def stepper(step: int) -> None:
    """Previous / where we are / Next; the arrow keys press the buttons."""
    total = len(STEPS)
    back, where, forward = st.columns([1, 3, 1], vertical_alignment="center")
    back.button(
        t("presenter.previous"),
        key="presenter_previous",
        on_click=_go,
        args=(step - 1,),
        disabled=step == 1,
        shortcut="Left",
        width="stretch",
    )
    forward.button(
        t("presenter.next"),
        key="presenter_next",
        on_click=_go,
        args=(step + 1,),
        disabled=step == total,
        shortcut="Right",
        type="primary",
        width="stretch",
    )
    name = STEPS[step - 1][0]
    where.progress(step / total, text=t("presenter.where", step=step, total=total))
    st.title(t(f"presenter.{name}_title"))


def show(step: int) -> None:
    """The step's view, then the way out (the sidebar is hidden here)."""
    STEPS[step - 1][1]()
    st.divider()
    # A page file, not the home page: the home page is drawn by a function, which a link can
    # only name through the navigation object the entry script keeps.
    st.page_link("pages/1_Attack_explorer.py", label=t("presenter.leave"), icon="🎯")


# --- the views ---------------------------------------------------------------------------------
def _claim() -> None:
    """The study's reported FGSM accuracies: each baseline beside its VOneNet twin."""
    report = study_report()
    st.markdown(t("presenter.claim_lead", eps=STUDY_EPS))
    pairs = zip(report["table_baseline"], report["table_vonenet"], strict=True)
    for baseline, vone in pairs:
        left, right = st.columns(2)
        left.metric(
            t("presenter.claim_metric", model=baseline["model"]), f"{baseline['adversarial']:.1f}%"
        )
        right.metric(
            t("presenter.claim_metric", model=vone["model"]), f"{vone['adversarial']:.1f}%"
        )
    st.caption(t("presenter.claim_source", source=report["source"]))


def _grid(settings: AttackSettings) -> AttackView | None:
    """The grid of the fixed test digits under ``settings`` (the explorer's own cached view and
    pictures), with its score; None when the model is missing."""
    choice = loaders.pretrained_choice(GRID_MODEL)
    if not choice.available:
        st.info(t("presenter.model_missing", model=choice.label, reason=choice.reason))
        return None
    with st.spinner(t("presenter.attacking")):
        view, pictures = compute.explorer_grid(choice, settings, GRID_DIGITS, SAMPLE_SEED)
    st.markdown(
        t(
            "presenter.grid_score",
            model=models.model_label(GRID_MODEL),
            n=len(view),
            clean=int(view.clean_correct.sum()),
            attacked=int(view.adv_correct.sum()),
            moved=view.health["moved_fraction"] * 100,
        )
    )
    panels.digit_grid(view, pictures)
    return view


def _study_grid() -> None:
    st.markdown(t("presenter.grid_lead", eps=STUDY_EPS))
    _grid(RAW)


def _nan_gradient() -> None:
    choice = loaders.pretrained_choice(GRID_MODEL)
    if not choice.available:
        st.info(t("presenter.model_missing", model=choice.label, reason=choice.reason))
        return
    with st.spinner(t("presenter.attacking")):
        view, _ = compute.explorer_grid(choice, RAW, GRID_DIGITS, SAMPLE_SEED)
    health = view.health
    nan, zero, moved = st.columns(3)
    nan.metric(t("presenter.nan_metric"), f"{100 * health['nonfinite_gradient_fraction']:.1f}%")
    zero.metric(t("presenter.zero_metric"), f"{100 * health['zero_sign_fraction']:.1f}%")
    moved.metric(t("presenter.moved_metric"), f"{100 * health['moved_fraction']:.0f}%")
    st.markdown(t("presenter.nan_explain"))


def _repaired() -> None:
    st.markdown(t("presenter.repaired_lead"))
    _grid(REPAIRED)


def _audit() -> None:
    report, _ = read_audit_report(audit_path())  # a missing or unreadable audit: the notice
    if not report or not report.get("models"):
        st.info(t("presenter.no_audit"))
        return
    findings = audit_findings(report)
    st.markdown(audit_text.overall_verdict(findings))
    vone = [f for f in findings if f.vone] or findings
    for row in range(0, len(vone), 2):
        for column, f in zip(st.columns(2), vone[row : row + 2], strict=False):
            eps = f.primary_eps
            column.metric(
                t("presenter.audit_metric", model=f.label, eps=eps),
                f"{f.worst_case[eps]:.1f}%",
                delta=t("presenter.audit_delta", study=f.study_fgsm[eps]),
                delta_color="off",
            )
    st.caption(t("presenter.audit_source", images=int(report["config"]["limit"])))


def _quiz() -> None:
    st.markdown(t("presenter.quiz_lead"))
    st.page_link("pages/8_Quiz.py", label=t("presenter.quiz_link"), icon="🗳️")
    question = quiz.shown_question()
    seen = quiz.shown(question)
    if seen is not None:
        quiz.question_card(question, seen)
        votes = sum(quiz.store().tally(question.qid, question.choices).values())
        st.metric(t("quiz.votes_so_far"), votes)


STEPS: tuple[tuple[str, Callable[[], None]], ...] = (
    ("claim", _claim),
    ("grid", _study_grid),
    ("nan", _nan_gradient),
    ("repaired", _repaired),
    ("audit", _audit),
    ("quiz", _quiz),
)
