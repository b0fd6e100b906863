"""One look for every chart — the app's and the files ``reproduce`` and ``audit`` write: a
colour per quantity, a colour per model pair (a baseline and its VOneNet twin share one), a line
style per model family, and the study's own figures always dashed. Plain values: no plotting
library is imported here."""

from __future__ import annotations

CLEAN = "#3b6fd1"  # clean accuracy, original images
ADVERSARIAL = "#e0742b"  # accuracy under attack, adversarial images
RIGHT, WRONG = "#2e9d4f", "#d43c3c"  # a prediction that is right / wrong
STUDY_GREY = "#8a8799"  # the study's marks (its eps, its bars)

BASELINE_DASH = "solid"  # baselines: solid lines
VONE_DASH = "dot"  # VOneNets: dotted lines
STUDY_DASH = "dash"  # the study's own figures: dashed, in every chart
COMMITTED_DASH = "dashdot"  # a committed earlier run of ours, beside a live one

# A colour per model pair, in the registry's order of the four baselines; references after.
PAIR_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")
_PAIRS = ("alexnet", "convnet", "basic-cnn", "mlp")

# Legends sit to the right of the plot area, clear of the title and of both axis titles.
LEGEND = {"orientation": "v", "yanchor": "top", "y": 1, "xanchor": "left", "x": 1.02}
MARGIN = {"l": 10, "r": 10, "t": 50, "b": 10}


def is_vone(name_or_label: str) -> bool:
    """A VOneNet, by registry name (``vone-…``) or display label (``VOne…``)."""
    return name_or_label.lower().startswith("vone")


def family_dash(name_or_label: str) -> str:
    return VONE_DASH if is_vone(name_or_label) else BASELINE_DASH


def pair_colour(name: str, index: int = 0) -> str:
    """The colour of a model's pair (registry names); others by their position ``index``."""
    base = name.removeprefix("vone-")
    if base in _PAIRS:
        return PAIR_COLOURS[_PAIRS.index(base)]
    return PAIR_COLOURS[(len(_PAIRS) + index) % len(PAIR_COLOURS)]
