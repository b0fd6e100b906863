"""Digit pictures as numpy arrays and PNG data URLs (no Streamlit here: the cached computations
and the widgets both draw with these)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def digit_strip(
    original: np.ndarray, adversarial: np.ndarray, perturbation: np.ndarray, zoom: int = 3
) -> np.ndarray:
    """original | adversarial | perturbation of one digit, side by side, as one RGB image. The
    perturbation tile gets a thin grey frame: untouched pixels are white, and an attack that
    moved nothing would otherwise leave no visible third picture at all."""
    gray = [np.repeat(a[..., None], 3, axis=2) for a in (original, adversarial)]
    tiles = [*gray, perturbation]
    gap = np.full((28, 2, 3), 255, dtype=np.uint8)
    strip = np.concatenate([tiles[0], gap, tiles[1], gap, tiles[2]], axis=1)
    strip = strip.repeat(zoom, axis=0).repeat(zoom, axis=1)
    left, frame = 2 * (28 + 2) * zoom, (200, 200, 200)
    strip[[0, -1], left:] = frame
    strip[:, [left, -1]] = frame
    return strip


def gray_image(image: np.ndarray, zoom: int = 3) -> np.ndarray:
    """A [H, W] image in [0, 1] (or uint8) as an enlarged uint8 picture."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0.0, 1.0) * 255).round().astype(np.uint8)
    return a.repeat(zoom, axis=0).repeat(zoom, axis=1)


def png_data_url(picture: np.ndarray) -> str:
    """An RGB or grey uint8 picture as a ``data:image/png;base64,…`` URL."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
