"""Pictures of attacks, shared by the CLI (PNG files) and the app: plain numpy / PIL."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


def to_gray_uint8(images: torch.Tensor) -> np.ndarray:
    """[B,1,H,W] in [0,1] → uint8 [B,H,W]."""
    return (images.detach().cpu().clamp(0, 1)[:, 0].numpy() * 255).round().astype(np.uint8)


def perturbation_rgb(delta: torch.Tensor, scale: float) -> np.ndarray:
    """Diverging colours for [B,1,H,W] perturbations: red = brighter, blue = darker, white = 0.

    ``scale`` maps to full colour (use eps so every picture shares one scale)."""
    d = delta.detach().cpu()[:, 0].numpy() / max(float(scale), 1e-12)
    d = np.clip(d, -1.0, 1.0)
    pos, neg = np.clip(d, 0, 1), np.clip(-d, 0, 1)
    r = 1.0 - neg
    g = 1.0 - np.maximum(pos, neg)
    b = 1.0 - pos
    return (np.stack([r, g, b], -1) * 255).round().astype(np.uint8)


def attack_grid(
    originals: torch.Tensor,
    adversarials: torch.Tensor,
    labels: torch.Tensor,
    clean_pred: torch.Tensor,
    adv_pred: torch.Tensor,
    eps: float,
    *,
    zoom: int = 4,
    columns: int = 4,
) -> Image.Image:
    """A PNG-ready grid: for each digit, original | adversarial | perturbation, with the true
    label and both predictions (green right, red wrong)."""
    n = originals.shape[0]
    cell = 28 * zoom
    pad, text_h = 6, 16
    tile_w, tile_h = 3 * cell + 4 * pad, cell + text_h + 2 * pad
    rows = (n + columns - 1) // columns
    canvas = Image.new("RGB", (columns * tile_w, rows * tile_h + 24), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    draw.text(
        (pad, 4),
        f"original | adversarial (eps={eps:.2f}) | perturbation (red +, blue -)",
        fill="black",
        font=font,
    )
    gray_o, gray_a = to_gray_uint8(originals), to_gray_uint8(adversarials)
    delta = perturbation_rgb(adversarials - originals, eps if eps > 0 else 1.0)
    for i in range(n):
        x0 = (i % columns) * tile_w
        y0 = (i // columns) * tile_h + 24
        pictures = (
            Image.fromarray(gray_o[i]).convert("RGB"),
            Image.fromarray(gray_a[i]).convert("RGB"),
            Image.fromarray(delta[i]),
        )
        for j, pic in enumerate(pictures):
            canvas.paste(pic.resize((cell, cell), Image.NEAREST), (x0 + pad + j * (cell + pad), y0))
        ty = y0 + cell + 2
        y, p0, p1 = int(labels[i]), int(clean_pred[i]), int(adv_pred[i])
        draw.text((x0 + pad, ty), f"label {y}", fill="black", font=font)
        draw.text(
            (x0 + pad + cell + pad, ty),
            f"clean {p0}",
            fill="green" if p0 == y else "red",
            font=font,
        )
        draw.text(
            (x0 + pad + 2 * (cell + pad), ty),
            f"adv {p1}",
            fill="green" if p1 == y else "red",
            font=font,
        )
    return canvas
