"""vonedemo.digit: a picture of a digit made into a 28x28 MNIST-style image, and every bad file
refused with a message."""

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from vonedemo import create_model
from vonedemo.digit import DigitImageError, decode_image, preprocess, preprocess_array


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def photo_of(digit: torch.Tensor, rng: np.random.Generator, size: int = 300) -> bytes:
    """An MNIST digit as a phone might see it on paper: large, dark ink on light paper, shifted,
    with a shadow across the page, sensor noise and JPEG compression."""
    big = Image.fromarray((digit[0].numpy() * 255).astype(np.uint8)).resize(
        (size * 2 // 3, size * 2 // 3), Image.Resampling.BICUBIC
    )
    ink = np.zeros((size, size))
    top, left = rng.integers(0, size // 3, 2)
    ink[top : top + big.height, left : left + big.width] = np.asarray(big) / 255
    yy, xx = np.mgrid[0:size, 0:size] / size
    paper = 0.9 - 0.75 * ink - 0.25 * xx * yy + rng.normal(0, 0.03, ink.shape)
    picture = Image.fromarray((np.clip(paper, 0, 1) * 255).astype(np.uint8))
    return encode(picture, "JPEG", quality=90)


def canvas(strokes: list[tuple[int, int, int, int]], size: int = 280) -> np.ndarray:
    """A drawing canvas: white strokes of width 18 on black, like a drawing component's output."""
    from PIL import ImageDraw

    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    for line in strokes:
        draw.line(line, fill=255, width=18)
    return np.asarray(image, dtype=np.float64) / 255


@pytest.fixture(scope="module")
def basic_cnn():
    return create_model("basic-cnn", pretrained=True).eval()


def test_photographed_test_digits_come_back_as_the_model_saw_them(test_data, basic_cnn):
    rng = np.random.default_rng(0)
    originals = test_data.images[:200]
    rebuilt = torch.stack([preprocess(photo_of(x, rng)) for x in originals])
    assert rebuilt.shape == (200, 1, 28, 28)
    assert rebuilt.min() >= 0 and rebuilt.max() <= 1
    assert (rebuilt - originals).abs().mean() < 0.06  # close to the originals, pixel by pixel
    with torch.no_grad():
        same = basic_cnn(rebuilt).argmax(1) == basic_cnn(originals).argmax(1)
    assert same.float().mean() >= 0.95


def test_layout_is_mnists_fit_into_20_pixels_and_centred_by_mass():
    tall = canvas([(140, 20, 140, 260)])  # a "1": tall and thin
    digit = preprocess_array(tall)[0].numpy()
    rows = np.flatnonzero(digit.any(1))
    assert rows[-1] - rows[0] + 1 == 20  # the long side fills the 20-pixel box
    cols = np.flatnonzero(digit.any(0))
    assert cols[-1] - cols[0] + 1 < 8  # the aspect ratio is kept
    ys, xs = np.indices(digit.shape)
    assert abs((ys * digit).sum() / digit.sum() - 14) <= 0.5
    assert abs((xs * digit).sum() / digit.sum() - 14) <= 0.5


def test_light_and_dark_backgrounds_give_the_same_digit():
    drawing = canvas([(60, 60, 220, 60), (220, 60, 120, 250)])  # a "7"
    light_ink = preprocess_array(drawing)
    dark_ink_on_paper = preprocess_array(1.0 - drawing)
    assert torch.allclose(light_ink, dark_ink_on_paper, atol=1e-6)


def test_a_shadow_across_the_paper_is_not_ink():
    drawing = 1.0 - canvas([(60, 60, 220, 60), (220, 60, 120, 250)])
    yy, _ = np.mgrid[0:280, 0:280] / 280
    shadowed = np.clip(drawing - 0.45 * yy, 0, 1)  # the lower half in deep shadow
    assert (preprocess_array(shadowed) - preprocess_array(drawing)).abs().mean() < 0.02


def test_image_formats_and_modes_are_converted(test_data):
    rng = np.random.default_rng(1)
    reference = preprocess(photo_of(test_data.images[0], rng))
    grey = Image.open(io.BytesIO(photo_of(test_data.images[0], np.random.default_rng(1))))
    sixteen = Image.fromarray(np.asarray(grey, dtype=np.uint16) * 257)
    assert sixteen.mode == "I;16"
    for data in (
        encode(sixteen),  # 16-bit PNG
        encode(grey.convert("CMYK"), "JPEG", quality=95),
        encode(grey.convert("RGB"), "WEBP", quality=95),
        encode(grey.convert("P")),
    ):
        assert (preprocess(data) - reference).abs().mean() < 0.03


def test_transparent_png_counts_ink_on_paper():
    drawing = canvas([(60, 60, 220, 60), (220, 60, 120, 250)])
    rgba = np.zeros((280, 280, 4), dtype=np.uint8)
    rgba[..., 3] = (drawing * 255).astype(np.uint8)  # black ink, transparent elsewhere
    data = encode(Image.fromarray(rgba, mode="RGBA"))
    assert (preprocess(data) - preprocess_array(drawing)).abs().max() < 0.05


def test_animated_picture_gives_its_first_frame():
    first = Image.fromarray((canvas([(140, 20, 140, 260)]) * 255).astype(np.uint8))
    second = Image.fromarray((canvas([(20, 140, 260, 140)]) * 255).astype(np.uint8))
    data = encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    digit = preprocess(data)[0].numpy()
    assert np.flatnonzero(digit.any(1)).size == 20  # the tall "1", not the wide bar


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG header for a huge picture with almost no data: a decompression bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"this is a text file, not a picture", "not a picture"),
        (encode(Image.new("L", (64, 64), 200))[:60], "truncated"),
        (_png_claiming(10_000, 5_000), "million pixels"),
        (encode(Image.new("L", (64, 64), 255), "BMP"), "not accepted"),
        (encode(Image.new("L", (300, 300), 255)), "draw a digit first"),
        (encode(Image.new("L", (300, 300), 0)), "all ink"),
    ],
    ids=["zero-byte", "text", "truncated", "bomb", "bmp", "blank", "all-ink"],
)
def test_bad_files_are_refused_with_a_message(data, message):
    with pytest.raises(DigitImageError, match=message):
        preprocess(data)


def test_a_bomb_is_refused_before_its_pixels_are_decoded(monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decoding)
    with pytest.raises(DigitImageError, match="million pixels"):
        decode_image(_png_claiming(10_000, 5_000))


def test_nearly_empty_canvas_asks_for_a_digit():
    dot = np.zeros((280, 280))
    dot[140:142, 140:142] = 1.0
    with pytest.raises(DigitImageError, match="draw a digit first"):
        preprocess_array(dot)


def test_mostly_ink_picture_is_refused():
    paper = np.ones((280, 280))
    paper[20:-20, 20:-20] = 0.0  # a frame of paper around a black square
    with pytest.raises(DigitImageError, match="all ink"):
        preprocess_array(paper)
