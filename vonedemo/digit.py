"""Your own digit as the models see it: a picture (a phone photo of a digit on paper, a scan, a
drawing on a canvas) made into a 28x28 MNIST-style image the way MNIST itself was made.

MNIST's digits are light ink on a black background, the ink's bounding box scaled to fit a
20x20 box (aspect ratio kept, anti-aliased), then placed in a 28x28 field so that the ink's
centre of mass sits at the centre. :func:`preprocess` does the same, after the steps a photo
needs first: greyscale, inversion when the background is light, and removal of paper texture
and shadows (a slowly varying background removed by a grey opening, then Otsu's threshold and
only the connected pieces of ink large enough to be strokes).

Decoding is defensive: the pixel count is checked from the header before any pixel is decoded
(a decompression bomb must not eat the memory), animated pictures give their first frame,
16-bit, palette, CMYK and transparent pictures are converted, and every failure is a
:class:`DigitImageError` whose message a user can act on. Nothing is written to disk.

Example::

    >>> image = preprocess(open("my_seven.jpg", "rb").read())   # [1, 28, 28], values in [0, 1]
    >>> model(image[None]).argmax(1)
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

__all__ = [
    "ACCEPTED_FORMATS",
    "DigitImageError",
    "PreprocessConfig",
    "decode_image",
    "preprocess",
    "preprocess_array",
    "preprocess_picture",
]

ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")  # GIF: animated pictures give their first frame


class DigitImageError(ValueError):
    """A picture that cannot be turned into a digit; the message says why and what to do."""


@dataclass(frozen=True)
class PreprocessConfig:
    """How a picture becomes a 28x28 digit. Defaults follow MNIST's own preparation."""

    max_pixels: int = 40_000_000  # refuse larger pictures before decoding (a phone photo is ~12 M)
    max_bytes: int = 25_000_000  # refuse larger files outright
    work_size: int = 256  # long side the picture is reduced to before cleaning (speed)
    background_size: float = 0.2  # background (shadow) filter width, as a share of the long side
    smoothing: float = 1.0  # Gaussian sigma (work pixels) against sensor noise and paper grain
    min_piece: float = 0.05  # ink pieces smaller than this share of the largest are specks
    saturated_share: float = 0.28  # share of MNIST's ink pixels at full brightness
    min_ink_fraction: float = 0.002  # less ink than this share of the picture: "draw a digit first"
    max_ink_fraction: float = 0.6  # more than this: the picture is mostly ink, not a digit
    min_contrast: float = 0.08  # darkest to lightest span below this: a flat picture
    box: int = 20  # MNIST fits the ink into a 20x20 box ...
    field: int = 28  # ... centred by its centre of mass in a 28x28 field


def _decode(data: bytes, config: PreprocessConfig) -> Image.Image:
    if not data:
        raise DigitImageError("The file is empty (0 bytes): choose a picture of a digit.")
    if len(data) > config.max_bytes:
        raise DigitImageError(
            f"The file is {len(data) / 1e6:.1f} MB; pictures up to "
            f"{config.max_bytes / 1e6:.0f} MB are accepted."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
            if image.format not in ACCEPTED_FORMATS:
                raise DigitImageError(
                    f"{image.format or 'This'} pictures are not accepted; use "
                    f"{', '.join(ACCEPTED_FORMATS[:-1])} or {ACCEPTED_FORMATS[-1]}."
                )
            width, height = image.size
            if width * height > config.max_pixels:
                raise DigitImageError(
                    f"The picture is {width} x {height} pixels; up to "
                    f"{config.max_pixels / 1e6:.0f} million pixels are accepted."
                )
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)  # animated: the first frame
            image.load()
    except DigitImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard, from the header alone, for pictures far beyond our limit.
        raise DigitImageError(
            f"The picture is too large: up to {config.max_pixels / 1e6:.0f} million pixels "
            "are accepted."
        ) from None
    except UnidentifiedImageError:
        raise DigitImageError(
            "This file is not a picture we can read: use a PNG, JPEG or WebP image."
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise DigitImageError(
            f"The picture could not be decoded (the file may be truncated or damaged: {e})."
        ) from None
    return ImageOps.exif_transpose(image)  # phone photos: turn them the way they were taken


def _grey(image: Image.Image) -> np.ndarray:
    """Grey levels in [0, 1] (0 black); transparency is composited onto white paper."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        return np.clip(values / peak, 0.0, 1.0)
    if image.mode == "P" or "A" in image.getbands() or "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA"):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def decode_image(data: bytes, config: PreprocessConfig | None = None) -> np.ndarray:
    """The picture in ``data`` (PNG, JPEG, WebP or GIF bytes) as grey levels in [0, 1]."""
    return _grey(_decode(data, config or PreprocessConfig()))


def _reduce(grey: np.ndarray, long_side: int) -> np.ndarray:
    height, width = grey.shape
    scale = long_side / max(height, width)
    if scale >= 1:
        return grey
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(grey.astype(np.float32), mode="F").resize(size, Image.Resampling.BOX)
    return np.asarray(image, dtype=np.float64)


def _background(ink: np.ndarray, size: int) -> np.ndarray:
    """A slowly varying background (shadows, uneven light, paper tone): a grey opening wider
    than any stroke removes the ink and keeps what lies under it."""
    opened = ndimage.grey_opening(ink, size=(size, size), mode="nearest")
    return ndimage.uniform_filter(opened, size=size, mode="nearest")


def _otsu(values: np.ndarray) -> float:
    """The threshold that best splits ``values`` (in [0, 1]) into two classes."""
    hist, edges = np.histogram(values, bins=128, range=(0.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(hist)
    total = weight[-1]
    mean = np.cumsum(hist * centres)
    between = (mean[-1] * weight / total - mean) ** 2 / np.maximum(weight * (total - weight), 1)
    return float(centres[int(np.argmax(between))])


def _digit_strokes(ink: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """The ink of the digit alone: smoothed (sensor noise, paper grain), thresholded, and only
    the connected pieces large enough to be strokes, with their soft edges."""
    smooth = ndimage.gaussian_filter(ink, sigma=config.smoothing)
    threshold = max(_otsu(smooth), config.min_contrast)
    pieces, count = ndimage.label(smooth > threshold)
    if count == 0:
        return np.zeros_like(ink)
    areas = ndimage.sum_labels(np.ones_like(ink), pieces, index=np.arange(1, count + 1))
    keep = np.flatnonzero(areas >= config.min_piece * areas.max()) + 1
    mask = ndimage.binary_dilation(np.isin(pieces, keep), iterations=2)
    return np.where(mask & (smooth > threshold / 2), smooth, 0.0)


def _fit_and_centre(ink: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """MNIST's layout: crop to the ink, fit into a box x box square keeping the aspect ratio,
    put the centre of mass at the centre of a field x field image."""
    rows = np.flatnonzero(ink.any(1))
    cols = np.flatnonzero(ink.any(0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = crop.shape
    scale = config.box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(crop.astype(np.float32), mode="F").resize(
        size, Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    )
    small = np.clip(np.asarray(small, dtype=np.float64), 0.0, None)
    # MNIST's strokes are saturated in their middle: scale so that the same share of the ink
    # pixels reaches 1.
    level = np.quantile(small[small > 0], 1 - config.saturated_share)
    small = np.clip(small / level, 0.0, 1.0)
    field = np.zeros((config.field, config.field))
    top, left = (config.field - size[1]) // 2, (config.field - size[0]) // 2
    field[top : top + size[1], left : left + size[0]] = small
    centre_y, centre_x = ndimage.center_of_mass(field)
    middle = config.field / 2  # MNIST's centres of mass sit at pixel (14, 14) of 28
    # Never push ink off the field: the shift is limited by the margins the box leaves.
    shift_y = int(np.clip(round(middle - centre_y), -top, config.field - top - size[1]))
    shift_x = int(np.clip(round(middle - centre_x), -left, config.field - left - size[0]))
    return np.roll(field, (shift_y, shift_x), axis=(0, 1))


def preprocess_array(grey: np.ndarray, config: PreprocessConfig | None = None) -> torch.Tensor:
    """A grey picture (2-D, values in [0, 1], any size) as a ``[1, 28, 28]`` float tensor in
    [0, 1]: light ink on black, fitted and centred as MNIST's digits are."""
    config = config or PreprocessConfig()
    grey = np.asarray(grey, dtype=np.float64)
    if grey.ndim != 2 or min(grey.shape) < 1:
        raise DigitImageError(f"expected a 2-D grey picture, got shape {grey.shape}")
    if not np.isfinite(grey).all():
        raise DigitImageError("the picture has undefined (NaN or infinite) pixels")
    grey = _reduce(np.clip(grey, 0.0, 1.0), config.work_size)
    if grey.max() - grey.min() < config.min_contrast:
        if grey.mean() < 0.5:
            raise DigitImageError(
                "The picture is dark all over: it looks like all ink. Draw or photograph one "
                "digit with background around it."
            )
        raise DigitImageError("The picture is blank: draw a digit first.")
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    ink = 1.0 - grey if np.median(border) > 0.5 else grey  # ink becomes light, as in MNIST
    share = float((ink > (ink.min() + ink.max()) / 2).mean())
    if share > config.max_ink_fraction:
        raise DigitImageError(
            f"{share:.0%} of the picture is ink: it looks like all ink, not a digit on a "
            "background. Draw or photograph one digit with space around it."
        )
    opening = max(3, round(max(ink.shape) * config.background_size))
    ink = np.clip(ink - _background(ink, opening), 0.0, None)
    if ink.max() < config.min_contrast:
        raise DigitImageError("No ink found: draw a digit first.")
    strokes = _digit_strokes(ink / ink.max(), config)
    if float((strokes > 0).mean()) < config.min_ink_fraction:
        raise DigitImageError("There is almost no ink: draw a digit first.")
    return torch.from_numpy(_fit_and_centre(strokes, config)).float().clamp(0, 1)[None]


def preprocess_picture(image: Image.Image, config: PreprocessConfig | None = None) -> torch.Tensor:
    """A decoded picture (a drawing canvas's RGBA, say) as a ``[1, 28, 28]`` MNIST-style digit."""
    return preprocess_array(_grey(image), config)


def preprocess(data: bytes, config: PreprocessConfig | None = None) -> torch.Tensor:
    """The picture in ``data`` (file bytes) as a ``[1, 28, 28]`` MNIST-style digit in [0, 1].

    Raises :class:`DigitImageError` with a message for the user when the bytes are not a
    readable picture, are too large, or hold no single digit."""
    config = config or PreprocessConfig()
    return preprocess_array(decode_image(data, config), config)
