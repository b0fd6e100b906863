"""Downloads: the things a page shows that are worth keeping — a grid as PNG, a table as CSV,
a chart as a standalone HTML page that works offline. Large files are made only when the
download button is clicked (Streamlit runs the callable then), never on every rerun."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image


def csv_bytes(rows: Sequence[dict]) -> bytes:
    """Rows of a table (dicts with the same keys) as UTF-8 CSV."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def png_bytes(picture: np.ndarray) -> bytes:
    """An RGB or grey uint8 picture as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(picture, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def stacked(strips: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Pictures of one width, one under the other on white (the explorer's grid as one PNG)."""
    width = max(s.shape[1] for s in strips)
    rows = []
    for s in strips:
        s = s if s.ndim == 3 else np.repeat(s[..., None], 3, axis=2)
        padded = np.full((s.shape[0] + gap, width, 3), 255, dtype=np.uint8)
        padded[: s.shape[0], : s.shape[1]] = s
        rows.append(padded)
    return np.concatenate(rows, axis=0)


def standalone_html(figure: go.Figure) -> Callable[[], str]:
    """A chart as an HTML page with plotly inside it (offline), made when it is downloaded."""
    return lambda: figure.to_html(full_html=True, include_plotlyjs=True)


def buttons(items: Sequence[tuple[str, object, str, str]], key: str) -> None:
    """A row of download buttons: (label, data or a callable making it, file name, mime)."""
    for column, (label, data, name, mime) in zip(st.columns(len(items)), items, strict=True):
        column.download_button(
            f"⬇ {label}", data, file_name=name, mime=mime, key=f"{key}_{name}", on_click="ignore"
        )
