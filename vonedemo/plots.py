"""Plotly figures shared by the command line (HTML/PNG files) and the app."""

from __future__ import annotations

import os
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from . import style
from .files import atomic_write
from .models import model_label


def finetune_figure(curves: dict[str, dict], study: dict[str, dict | None]) -> go.Figure:
    """One panel per model: our clean/adversarial accuracy per round (solid), the study's (dashed)."""
    names = list(curves)
    cols = 4 if len(names) > 4 else max(len(names), 1)
    rows = (len(names) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[model_label(n) for n in names])
    for i, name in enumerate(names):
        r, c = i // cols + 1, i % cols + 1
        first = i == 0
        for key, color in (("clean", style.CLEAN), ("adversarial", style.ADVERSARIAL)):
            ours = curves[name][key]
            fig.add_trace(
                go.Scatter(
                    x=list(range(len(ours))),
                    y=ours,
                    mode="lines+markers",
                    name=f"ours: {key}",
                    legendgroup=f"ours-{key}",
                    showlegend=first,
                    line={"color": color},
                ),
                row=r,
                col=c,
            )
            theirs = (study.get(name) or {}).get(key)
            if theirs:
                fig.add_trace(
                    go.Scatter(
                        x=list(range(len(theirs))),
                        y=theirs,
                        mode="lines",
                        name=f"study: {key}",
                        legendgroup=f"study-{key}",
                        showlegend=first,
                        line={"color": color, "dash": style.STUDY_DASH},
                    ),
                    row=r,
                    col=c,
                )
        fig.update_yaxes(range=[0, 100], row=r, col=c)
    fig.update_layout(
        height=330 * rows,
        title="Fine-tuning on FGSM images: accuracy (%) per round",
        legend=style.LEGEND,
    )
    fig.update_xaxes(title_text="round")
    return fig


def accuracy_bars(rows: list[dict]) -> go.Figure:
    """Grouped bars: study vs ours, clean and FGSM, per model. rows: {model, clean, fgsm, study_clean, study_fgsm}."""
    labels = [model_label(r["model"]) for r in rows]
    fig = go.Figure()
    for key, name, color, pattern in (
        ("study_clean", "study: clean", style.CLEAN, "/"),
        ("clean", "ours: clean", style.CLEAN, ""),
        ("study_fgsm", "study: FGSM 0.35", style.ADVERSARIAL, "/"),
        ("fgsm", "ours: FGSM 0.35", style.ADVERSARIAL, ""),
    ):
        fig.add_bar(
            x=labels,
            y=[r.get(key) for r in rows],
            name=name,
            marker_color=color,
            marker_pattern_shape=pattern,
            opacity=0.6 if pattern else 1.0,
        )
    fig.update_layout(
        barmode="group",
        yaxis_title="accuracy (%)",
        yaxis_range=[0, 100],
        title="Clean and FGSM (eps 0.35) accuracy: the study and our reproduction",
    )
    return fig


def eps_curves_figure(
    curves: dict[str, list[dict]], title: str = "Accuracy vs eps (FGSM)"
) -> go.Figure:
    """curves: name → [{eps, accuracy (%) [, low, high]}]; baselines solid, VOneNets dotted, a
    baseline and its twin in one colour."""
    fig = go.Figure()
    for i, (name, points) in enumerate(curves.items()):
        color = style.pair_colour(name, i)
        x = [p["eps"] for p in points]
        y = [p["accuracy"] for p in points]
        error = None
        if all("low" in p and "high" in p for p in points):
            error = {
                "type": "data",
                "symmetric": False,
                "array": [p["high"] - p["accuracy"] for p in points],
                "arrayminus": [p["accuracy"] - p["low"] for p in points],
            }
        fig.add_scatter(
            x=x,
            y=y,
            mode="lines+markers",
            name=model_label(name),
            error_y=error,
            line={"color": color, "dash": style.family_dash(name)},
        )
    fig.update_layout(
        title=title,
        xaxis_title="eps",
        yaxis_title="accuracy (%)",
        yaxis_range=[0, 100],
        legend=style.LEGEND,
        margin=style.MARGIN,
    )
    return fig


def write_figure(
    fig: go.Figure, path_stem: Path, *, shared_plotly_js: Path | None = None
) -> list[Path]:
    """Write ``stem.html`` (works offline) and ``stem.png`` if an image exporter is installed.

    The page loads plotly.min.js (4.8 MB) from beside itself, written there once. With
    ``shared_plotly_js``, an existing copy elsewhere (e.g. the results folder above), it loads
    that one by relative path instead, so the library is stored once for several folders."""
    html = path_stem.with_suffix(".html")
    if shared_plotly_js is not None and Path(shared_plotly_js).is_file():
        # A path ending in .js becomes the page's <script src>.
        script = Path(os.path.relpath(shared_plotly_js, html.parent)).as_posix()
        atomic_write(html, fig.to_html(include_plotlyjs=script, full_html=True))
    else:
        atomic_write(html, fig.to_html(include_plotlyjs="directory", full_html=True))
        library = html.parent / "plotly.min.js"  # what include_plotlyjs="directory" loads
        if not library.exists():
            atomic_write(library, get_plotlyjs())
    written = [html]
    try:
        image = fig.to_image(format="png", width=1400, height=int(fig.layout.height or 500))
    except Exception:  # noqa: BLE001 - no kaleido/Chrome: HTML is the deliverable
        return written
    written.append(atomic_write(path_stem.with_suffix(".png"), image))
    return written
