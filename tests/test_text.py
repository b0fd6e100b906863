"""ui.text: the words a student reads for a measured gradient health."""

import pytest

from ui.text import health_words


def health(moved, nan=0.0, zero=0.0, linf=0.35):
    return {
        "moved_fraction": moved,
        "nonfinite_gradient_fraction": nan,
        "zero_sign_fraction": zero,
        "linf": linf,
    }


@pytest.mark.parametrize(
    ("summary", "eps", "expected"),
    [
        (
            health(0.0),
            0.0,
            "eps is 0, so there is no attack: the attacked digits are the originals.",
        ),
        (health(1.0), 0.35, "The attack changed all 16 digits, each pixel by at most 0.35."),
        (
            health(0.0, nan=1.0, zero=1.0, linf=0.0),
            0.35,
            "The attack changed 0 of 16 digits: its gradient was undefined (NaN) at every pixel, "
            "and sign(NaN) = 0 is no step.",
        ),
        (
            health(0.5, nan=0.25, zero=0.3),
            0.1,
            "The attack changed 8 of 16 digits: its gradient was undefined (NaN) at 25% of the "
            "pixels, where it takes no step.",
        ),
        (
            health(0.75, zero=0.4),
            0.1,
            "The attack changed 12 of 16 digits: its gradient was exactly 0 at 40% of the "
            "pixels, where it takes no step.",
        ),
    ],
)
def test_health_words(summary, eps, expected):
    assert health_words(summary, 16, eps) == expected
