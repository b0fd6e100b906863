"""Plotly figures the pages share. Inputs are plain lists/arrays; accuracies in %."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from vonedemo import models, style
from vonedemo.style import ADVERSARIAL as ADV_COLOUR
from vonedemo.style import CLEAN as CLEAN_COLOUR
from vonedemo.style import RIGHT, STUDY_GREY

from .i18n import t, tr

_LAYOUT = {"margin": style.MARGIN, "legend": style.LEGEND}


@st.cache_data(max_entries=128, show_spinner=False)  # built again on every rerun otherwise
def confidence_bars(
    clean_probs: Sequence[float], adv_probs: Sequence[float], label: int, eps: float, lang: str
) -> go.Figure:
    """The ten class probabilities of one digit, before and after the attack (its words in
    ``lang``: the cache keeps one figure per language)."""
    classes = [str(c) for c in range(10)]
    fig = go.Figure(
        [
            go.Bar(
                name=tr(lang, "charts.original"),
                x=classes,
                y=100 * np.asarray(clean_probs),
                marker_color=CLEAN_COLOUR,
            ),
            go.Bar(
                name=tr(lang, "charts.adversarial", eps=f"{eps:.2f}"),
                x=classes,
                y=100 * np.asarray(adv_probs),
                marker_color=ADV_COLOUR,
            ),
        ]
    )
    fig.update_layout(
        barmode="group",
        title=tr(lang, "charts.confidence_title", label=label),
        height=320,
        yaxis={"title": tr(lang, "charts.confidence"), "range": [0, 100]},
        xaxis={"title": tr(lang, "charts.class"), "type": "category"},
        **_LAYOUT,
    )
    return fig


def _kind(key: str) -> str:
    """ "clean" or "adversarial", in the session's language."""
    return t("charts.clean") if key == "clean" else t("charts.adv")


def loss_figure(
    steps: Sequence[int], losses: Sequence[float], total_steps: int | None = None
) -> go.Figure:
    """Training loss per step, with a running mean."""
    losses = np.asarray(losses, dtype=float)
    fig = go.Figure(
        go.Scatter(
            x=list(steps),
            y=losses,
            mode="lines",
            name=t("charts.batch_loss"),
            line={"color": "#c9c2e8", "width": 1},
        )
    )
    if len(losses) >= 5:
        k = max(5, len(losses) // 20)
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        fig.add_trace(
            go.Scatter(
                x=list(steps)[k - 1 :],
                y=smooth,
                mode="lines",
                name=t("charts.mean_of", k=k),
                line={"color": "#5b3cc4", "width": 2},
            )
        )
    fig.update_layout(
        title=t("charts.loss_title"),
        height=300,
        xaxis={"title": t("charts.step"), "range": [0, total_steps or None]},
        yaxis={"title": t("charts.cross_entropy"), "rangemode": "tozero"},
        **_LAYOUT,
    )
    return fig


def accuracy_figure(epochs: Sequence[dict], planned: int) -> go.Figure:
    """Train and test accuracy (%) after each epoch."""
    xs = [e["epoch"] for e in epochs]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[100 * e["train_accuracy"] for e in epochs],
            mode="lines+markers",
            name=t("charts.train_running"),
            line={"color": CLEAN_COLOUR},
        )
    )
    test = [
        (e["epoch"], 100 * e["test_accuracy"]) for e in epochs if e.get("test_accuracy") is not None
    ]
    if test:
        fig.add_trace(
            go.Scatter(
                x=[t[0] for t in test],
                y=[t[1] for t in test],
                mode="lines+markers",
                name=t("charts.test"),
                line={"color": RIGHT},
            )
        )
    fig.update_layout(
        title=t("charts.accuracy_title"),
        height=300,
        xaxis={"title": t("charts.epoch"), "range": [0.5, max(planned, 1) + 0.5], "dtick": 1},
        yaxis={"title": t("charts.accuracy"), "range": [0, 100]},
        **_LAYOUT,
    )
    return fig


def finetune_figure(
    rounds: Sequence[dict],
    planned: int,
    study: dict | None,
    study_label: str = "",
    committed: dict | None = None,
) -> go.Figure:
    """Clean and adversarial accuracy (%) per round: this run solid, the study's dashed, and
    the run ``reproduce`` committed (if any) dotted."""
    fig = go.Figure()
    if committed:
        for key, colour in (("clean", CLEAN_COLOUR), ("adversarial", ADV_COLOUR)):
            values = committed[key]
            fig.add_trace(
                go.Scatter(
                    x=list(range(len(values))),
                    y=values,
                    mode="lines+markers",
                    name=t(
                        "charts.committed",
                        kind=_kind(key),
                        images=committed.get("train_images") or t("charts.all"),
                    ),
                    line={"color": colour, "dash": style.COMMITTED_DASH, "width": 1.5},
                    marker={"size": 4},
                )
            )
    if study:
        n = len(study.get("clean", []))
        for key, colour in (("clean", CLEAN_COLOUR), ("adversarial", ADV_COLOUR)):
            values = study.get(key) or []
            fig.add_trace(
                go.Scatter(
                    x=list(range(n)),
                    y=values,
                    mode="lines",
                    name=t("charts.study_series", kind=_kind(key), label=study_label),
                    line={"color": colour, "dash": style.STUDY_DASH, "width": 1.5},
                    opacity=0.6,
                )
            )
    xs = [r["round"] for r in rounds]
    for key, colour in (("clean", CLEAN_COLOUR), ("adversarial", ADV_COLOUR)) if rounds else ():
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[r[key] for r in rounds],
                mode="lines+markers",
                name=t("charts.ours", kind=_kind(key)),
                line={"color": colour, "width": 3},
            )
        )
    right = max(planned, 1) if not study else max(planned, 1, len(study.get("clean", [])) - 1)
    if committed:
        right = max(right, len(committed["clean"]) - 1)
    fig.update_layout(
        title=t("charts.finetune_title"),
        height=380,
        xaxis={"title": t("charts.round"), "range": [-0.3, right + 0.3]},
        yaxis={"title": t("charts.accuracy"), "range": [0, 100]},
        **_LAYOUT,
    )
    return fig


def compare_bars(rows: Sequence[dict]) -> go.Figure:
    """Study vs measured, clean and FGSM 0.35, grouped per model."""
    labels = [r["label"] for r in rows]
    series = (
        ("study_clean", t("charts.study_clean"), CLEAN_COLOUR, 0.45),
        ("clean", t("charts.measured_clean"), CLEAN_COLOUR, 1.0),
        ("study_fgsm", t("charts.study_fgsm"), ADV_COLOUR, 0.45),
        ("fgsm", t("charts.measured_fgsm"), ADV_COLOUR, 1.0),
    )
    fig = go.Figure()
    for key, name, colour, alpha in series:
        fig.add_trace(
            go.Bar(
                name=name,
                x=labels,
                y=[r.get(key) for r in rows],
                marker_color=colour,
                opacity=alpha,
            )
        )
    fig.update_layout(
        barmode="group",
        title=t("charts.compare_title"),
        height=420,
        yaxis={"title": t("charts.accuracy"), "range": [0, 100]},
        **_LAYOUT,
    )
    return fig


def eps_figure(curves: dict[str, Sequence[dict]]) -> go.Figure:
    """Accuracy (%) against eps, one line per model (keyed by label): baselines solid,
    VOneNets dotted, a baseline and its twin in one colour."""
    fig = go.Figure()
    names = {models.model_label(n): n for n in models.list_models()}
    for i, (label, points) in enumerate(curves.items()):
        if not points:
            continue
        name = names.get(label, label)
        fig.add_trace(
            go.Scatter(
                x=[p["eps"] for p in points],
                y=[p["accuracy"] for p in points],
                mode="lines+markers",
                name=label,
                line={"dash": style.family_dash(label), "color": style.pair_colour(name, i)},
            )
        )
    fig.add_vline(
        x=0.35,
        line={"color": STUDY_GREY, "dash": style.STUDY_DASH},
        annotation_text=t("charts.study_eps"),
    )
    fig.update_layout(
        title=t("charts.eps_title"),
        height=420,
        xaxis={"title": t("charts.eps_axis")},
        yaxis={"title": t("charts.accuracy"), "range": [0, 100]},
        **_LAYOUT,
    )
    return fig


def audit_bars(
    labels: Sequence[str],
    study_fgsm: dict[float, Sequence[float]],
    worst_case: dict[float, Sequence[float]],
) -> go.Figure:
    """Per model, the study's FGSM accuracy beside the audit's worst case, grouped, one pair per
    eps ({eps: one value per label}); the first eps (the study's) solid, the others pale."""
    fig = go.Figure()
    for i, eps in enumerate(study_fgsm):
        alpha = 1.0 if i == 0 else 0.45
        for values, name, colour in (
            (study_fgsm[eps], t("charts.audit_study", eps=f"{eps:g}"), STUDY_GREY),
            (worst_case[eps], t("charts.audit_worst", eps=f"{eps:g}"), ADV_COLOUR),
        ):
            fig.add_trace(
                go.Bar(
                    name=name,
                    x=list(labels),
                    y=list(values),
                    marker_color=colour,
                    opacity=alpha,
                    text=[f"{v:.1f}" for v in values],
                    textposition="outside",
                    textfont={"size": 9},
                )
            )
    fig.update_layout(
        barmode="group",
        title=t("charts.audit_title"),
        height=440,
        yaxis={"title": t("charts.accuracy"), "range": [0, 110]},
        **_LAYOUT,
    )
    return fig


def digit_answers(rows: Sequence[dict]) -> go.Figure:
    """Every model's confidence in its answer on one digit, its answer written on the bar; a
    VOneNet's bar carries the spread over noisy passes."""
    fig = go.Figure(
        go.Bar(
            x=[r["label"] for r in rows],
            y=[100 * r["confidence"] for r in rows],
            error_y={"type": "data", "array": [100 * r["spread"] for r in rows]},
            text=[str(r["answer"]) for r in rows],
            textposition="inside",
            marker_color=[ADV_COLOUR if style.is_vone(r["label"]) else CLEAN_COLOUR for r in rows],
        )
    )
    fig.update_layout(
        title=t("charts.answers_title"),
        height=320,
        yaxis={"title": t("charts.confidence"), "range": [0, 105]},
        **_LAYOUT,
    )
    return fig


def replay_figure(steps: Sequence, current: int, target: int | None) -> go.Figure:
    """PGD step by step: the loss and the label's (and target's) probability at every step,
    a line at the step shown."""
    xs = [s.index for s in steps]
    fig = go.Figure()
    fig.add_scatter(
        x=xs, y=[100 * s.label_probability for s in steps], name=t("charts.label_probability")
    )
    if target is not None:
        fig.add_scatter(
            x=xs,
            y=[100 * s.target_probability for s in steps],
            name=t("charts.target_probability", target=target),
        )
    fig.add_scatter(
        x=xs, y=[s.loss for s in steps], name=t("charts.loss"), yaxis="y2", line={"dash": "dot"}
    )
    fig.add_vline(x=current, line={"color": STUDY_GREY})
    fig.update_layout(
        title=t("charts.replay_title"),
        height=320,
        xaxis={"title": t("charts.step")},
        yaxis={"title": t("charts.probability"), "range": [0, 100]},
        yaxis2={"title": t("charts.loss"), "overlaying": "y", "side": "right"},
        **_LAYOUT,
    )
    return fig
