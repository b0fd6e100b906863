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

_LAYOUT = {"margin": style.MARGIN, "legend": style.LEGEND}


@st.cache_data(max_entries=128, show_spinner=False)  # built again on every rerun otherwise
def confidence_bars(
    clean_probs: Sequence[float], adv_probs: Sequence[float], label: int, eps: float
) -> go.Figure:
    """The ten class probabilities of one digit, before and after the attack."""
    classes = [str(c) for c in range(10)]
    fig = go.Figure(
        [
            go.Bar(
                name="original",
                x=classes,
                y=100 * np.asarray(clean_probs),
                marker_color=CLEAN_COLOUR,
            ),
            go.Bar(
                name=f"adversarial (eps {eps:.2f})",
                x=classes,
                y=100 * np.asarray(adv_probs),
                marker_color=ADV_COLOUR,
            ),
        ]
    )
    fig.update_layout(
        barmode="group",
        title=f"Confidence per class (true label {label})",
        height=320,
        yaxis={"title": "confidence %", "range": [0, 100]},
        xaxis={"title": "class", "type": "category"},
        **_LAYOUT,
    )
    return fig


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
            name="batch loss",
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
                name=f"mean of {k}",
                line={"color": "#5b3cc4", "width": 2},
            )
        )
    fig.update_layout(
        title="Training loss",
        height=300,
        xaxis={"title": "step", "range": [0, total_steps or None]},
        yaxis={"title": "cross-entropy", "rangemode": "tozero"},
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
            name="train (running)",
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
                name="test",
                line={"color": RIGHT},
            )
        )
    fig.update_layout(
        title="Accuracy per epoch",
        height=300,
        xaxis={"title": "epoch", "range": [0.5, max(planned, 1) + 0.5], "dtick": 1},
        yaxis={"title": "accuracy %", "range": [0, 100]},
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
                    name=f"committed run {key} ({committed.get('train_images') or 'all'} digits/round)",
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
                    name=f"study {key} ({study_label})",
                    line={"color": colour, "dash": style.STUDY_DASH, "width": 1.5},
                    opacity=0.6,
                )
            )
    xs = [r["round"] for r in rounds]
    for key, colour in (("clean", CLEAN_COLOUR), ("adversarial", ADV_COLOUR)):
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[r[key] for r in rounds],
                mode="lines+markers",
                name=f"ours {key}",
                line={"color": colour, "width": 3},
            )
        )
    right = max(planned, 1) if not study else max(planned, 1, len(study.get("clean", [])) - 1)
    if committed:
        right = max(right, len(committed["clean"]) - 1)
    fig.update_layout(
        title="Accuracy on test digits after each fine-tuning round",
        height=380,
        xaxis={"title": "round (0 = before fine-tuning)", "range": [-0.3, right + 0.3]},
        yaxis={"title": "accuracy %", "range": [0, 100]},
        **_LAYOUT,
    )
    return fig


def compare_bars(rows: Sequence[dict]) -> go.Figure:
    """Study vs measured, clean and FGSM 0.35, grouped per model."""
    labels = [r["label"] for r in rows]
    series = (
        ("study_clean", "study clean", CLEAN_COLOUR, 0.45),
        ("clean", "measured clean", CLEAN_COLOUR, 1.0),
        ("study_fgsm", "study FGSM 0.35", ADV_COLOUR, 0.45),
        ("fgsm", "measured FGSM 0.35", ADV_COLOUR, 1.0),
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
        title="The study's numbers beside ours",
        height=420,
        yaxis={"title": "accuracy %", "range": [0, 100]},
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
        annotation_text="study's eps 0.35",
    )
    fig.update_layout(
        title="FGSM accuracy against eps",
        height=420,
        xaxis={"title": "eps (pixel units)"},
        yaxis={"title": "accuracy %", "range": [0, 100]},
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
            (study_fgsm[eps], f"study's FGSM, eps {eps:g}", STUDY_GREY),
            (worst_case[eps], f"worst case of every attack, eps {eps:g}", ADV_COLOUR),
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
        title="The study's FGSM beside the audit's worst case (accuracy %)",
        height=440,
        yaxis={"title": "accuracy %", "range": [0, 110]},
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
        title="Each model's answer (on the bar) and its confidence",
        height=320,
        yaxis={"title": "confidence %", "range": [0, 105]},
        **_LAYOUT,
    )
    return fig


def replay_figure(steps: Sequence, current: int, target: int | None) -> go.Figure:
    """PGD step by step: the loss and the label's (and target's) probability at every step,
    a line at the step shown."""
    xs = [s.index for s in steps]
    fig = go.Figure()
    fig.add_scatter(
        x=xs, y=[100 * s.label_probability for s in steps], name="label's probability %"
    )
    if target is not None:
        fig.add_scatter(
            x=xs,
            y=[100 * s.target_probability for s in steps],
            name=f"target {target}'s probability %",
        )
    fig.add_scatter(x=xs, y=[s.loss for s in steps], name="loss", yaxis="y2", line={"dash": "dot"})
    fig.add_vline(x=current, line={"color": STUDY_GREY})
    fig.update_layout(
        title="PGD step by step",
        height=320,
        xaxis={"title": "step"},
        yaxis={"title": "probability %", "range": [0, 100]},
        yaxis2={"title": "loss", "overlaying": "y", "side": "right"},
        **_LAYOUT,
    )
    return fig
