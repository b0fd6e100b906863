"""The *Inside the VOneBlock* page's views, one cached call each, computed inside a compute slot.

A VOneBlock comes from a source: :data:`~ui.loaders.STUDY_BLOCK` (the study's block on its own)
or a VOne model's key. Every view is keyed on the source and its stamp (derived here) plus the
page's plain choices, so a rerun that changes nothing in a view recomputes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import streamlit as st
import torch

from vonedemo import attack_view as views
from vonedemo import vone_views as vv
from vonedemo.attack_view import AttackSettings, AttackView

from .compute import compute_slot
from .i18n import language, t, tr
from .loaders import (
    STUDY_BLOCK,
    block_stamp,
    find_choice,
    model_choices,
    test_data,
    vone_block,
)
from .pictures import digit_strip, gray_image

STRONGEST = 16  # channels offered in the channel pickers
ORIENTATIONS = 8  # orientation bands of the cell maps shown
RESOLVABLE_BLOCK = "pretrained:vone-basic-cnn-2.5deg"  # filters sized for 28 px over 2.5 degrees


def channel_name(block, channel: int, lang: str) -> str:
    """A channel in a few words (number, cell kind, spatial frequency, orientation), as the
    core's ``vone_views.channel_name`` says it, in ``lang``."""
    sf, ori = vv.params_array(block)[channel][:2]
    kind = tr(lang, f"app.{vv.cell_kinds(block)[channel]}")
    return tr(
        lang, "vone.channel_name", channel=channel, kind=kind, sf=f"{sf:.2f}", ori=f"{ori:.0f}"
    )


def block_sources() -> tuple[dict[str, str], str]:
    """({source: label} of every available VOne model, then the study's block; the default
    source: the study's VOne-CNN when there, else the first)."""
    labels = {c.key: c.label for c in model_choices(vone_only=True) if c.available}
    labels[STUDY_BLOCK] = t("text.study_block_label")
    default = "pretrained:vone-basic-cnn"
    return labels, default if default in labels else next(iter(labels))


@dataclass(frozen=True)
class BlockInfo:
    simple_channels: int
    complex_channels: int
    has_network: bool  # False for the study's block on its own: nothing to attack
    test_size: int  # test digits to choose from

    def filter_counts(self, kind: str) -> list[int]:
        """The "Filters shown" choices for ``kind`` cells, and the default among them."""
        available = {
            "all": self.simple_channels + self.complex_channels,
            "simple": self.simple_channels,
            "complex": self.complex_channels,
        }[kind]
        return sorted({n for n in (16, 32, 64, 128, 256, 512) if n <= available} | {available})


def block_info(source: str) -> BlockInfo:
    block, model = vone_block(source)
    config = block.config
    return BlockInfo(
        config.simple_channels, config.complex_channels, model is not None, len(test_data())
    )


def _digit(index: int) -> tuple[int, torch.Tensor, int]:
    test = test_data()
    index = int(index) % len(test)
    return index, test.images[index : index + 1], int(test.labels[index])


# --- the filter bank ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BankView:
    image: np.ndarray
    caption: str
    params: list[dict]
    resolution: str  # the Nyquist sentence: how many filters the pixel grid can show
    title: str


@st.cache_data(max_entries=32, show_spinner=False)
def _filter_bank(
    source: str, stamp: str, lang: str, by: str, descending: bool, kind: str, part: str, count: int
) -> BankView:
    block, _ = vone_block(source)
    with compute_slot():
        image, shown = vv.kernel_gallery(
            block, by=by, descending=descending, kind=kind, part=part, count=count, columns=16
        )
        params = vv.params_table(block, shown)
        fine = vv.resolvable(block)
    caption = tr(lang, "vone.bank_caption", n=len(shown), part=part, by=tr(lang, f"sort.{by}"))
    config = block.config
    per_degree = config.image_size / config.visual_degrees
    resolution = tr(
        lang,
        "vone.nyquist",
        pixels=config.image_size,
        degrees=f"{config.visual_degrees:g}",
        per_degree=f"{per_degree:.1f}",
        nyquist=f"{per_degree / 2:.2f}",
        too_fine=int((~fine).sum()),
        filters=fine.size,
    )
    study = tr(lang, "text.study_block_label")
    title = study if source == STUDY_BLOCK else find_choice(source).label
    return BankView(image, caption, params, resolution, title)


def filter_bank(
    source: str, by: str, descending: bool, kind: str, part: str, count: int
) -> tuple[BankView, BankView | None]:
    """The gallery of ``count`` kernels in the chosen order and their parameter table — and,
    beside it, the same gallery of the block built for 2.5 degrees (filters a 28-pixel digit
    can show), when that model is there and is not the one chosen."""
    options = (by, bool(descending), kind, part, int(count))
    lang = language()  # the views carry words: one cached view per language
    shown = _filter_bank(source, block_stamp(source), lang, *options)
    if source == RESOLVABLE_BLOCK or not find_choice(RESOLVABLE_BLOCK).available:
        return shown, None
    return shown, _filter_bank(RESOLVABLE_BLOCK, block_stamp(RESOLVABLE_BLOCK), lang, *options)


# --- cell responses ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CellView:
    index: int  # the test digit (wrapped around the test set)
    label: int
    digit: np.ndarray
    mosaics: list[tuple[str, np.ndarray, str]]  # (title, picture, caption) per cell kind
    strongest: list[int]  # the strongest channels of both kinds, for the channel pickers
    channel_names: dict[int, str]


@st.cache_data(max_entries=32, show_spinner=False)
def _cell_view(source: str, stamp: str, index: int, lang: str) -> CellView:
    block, _ = vone_block(source)
    index, x, label = _digit(index)
    n_simple = block.config.simple_channels
    mosaics = []
    with compute_slot():
        simple, complex_ = vv.cell_maps(block, x)
        for title, maps, offset in (
            (tr(lang, "vone.simple_cells"), simple, 0),
            (tr(lang, "vone.complex_cells"), complex_, n_simple),
        ):
            tuned = vv.tuned_channels(block, maps, offset, ORIENTATIONS)
            tiles = vv.heat_tiles(maps[torch.as_tensor(tuned) - offset])
            orientation = vv.params_array(block)[tuned, 1]
            mosaics.append(
                (
                    tr(
                        lang,
                        "vone.mosaic_title",
                        title=title,
                        bands=ORIENTATIONS,
                        channels=maps.shape[0],
                    ),
                    vv.mosaic(tiles, ORIENTATIONS, zoom=2),
                    " · ".join(
                        f"{o:.0f}°: ch {c}" for o, c in zip(orientation, tuned, strict=True)
                    ),
                )
            )
        every = torch.cat([simple, complex_], 0)
        strongest = [int(c) for c in vv.strongest_channels(every, STRONGEST)]
    names = {c: channel_name(block, c, lang) for c in strongest}
    return CellView(index, label, gray_image(x[0, 0].numpy(), zoom=4), mosaics, strongest, names)


def cell_view(source: str, index: int) -> CellView:
    """The digit, and the strongest simple and complex cell maps it evokes."""
    return _cell_view(source, block_stamp(source), int(index), language())


# --- noise -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NoiseView:
    image: np.ndarray
    mean_change: float  # mean |noisy - clean| per pixel
    peak: float  # the clean response's peak


@st.cache_data(max_entries=32, show_spinner=False)
def _noise_view(source: str, stamp: str, index: int, channel: int, samples: int) -> NoiseView:
    block, _ = vone_block(source)
    _, x, _ = _digit(index)
    with compute_slot():
        clean_map = torch.cat(vv.cell_maps(block, x), 0)[channel]
        noisy = vv.noise_samples(block, x, samples)[:, channel]
    top = float(max(noisy.max(), clean_map.max(), 1e-6))
    image = vv.mosaic(vv.heat_tiles(torch.cat([clean_map[None], noisy]), vmax=top), 9, zoom=3)
    return NoiseView(image, float((noisy - clean_map).abs().mean()), float(clean_map.max()))


def noise_view(source: str, index: int, channel: int, samples: int) -> NoiseView:
    """One channel's response to the digit before noise and under ``samples`` seeded draws."""
    return _noise_view(source, block_stamp(source), int(index), int(channel), int(samples))


# --- clean vs adversarial ----------------------------------------------------------------------
@dataclass(frozen=True)
class BlockAttackView:
    view: AttackView
    strip: np.ndarray  # original | FGSM | perturbation
    relative_change: float  # Σ|Δ| / Σ|clean| over the block's responses
    pair: np.ndarray  # the chosen channel: clean | adversarial
    difference: np.ndarray
    channel_name: str  # named by ``block_attack``, in the session's language
    most_changed: list[str]  # the channels the attack changed most (none if nothing changed)
    most_changed_channels: tuple[int, ...] = ()


@st.cache_data(max_entries=32, show_spinner=False)
def _block_attack(
    source: str, stamp: str, settings: AttackSettings, index: int, channel: int
) -> BlockAttackView:
    block, model = vone_block(source)
    index = int(index) % len(test_data())
    images, labels = views.select(test_data(), [index])
    with compute_slot():
        view, change = vv.attacked_responses(model, images, labels, settings, index=index)
    trio = torch.stack([change["clean"][channel], change["adversarial"][channel]])
    peak = float(max(trio.max(), 1e-6))
    moved = change["channel_change"] > 0
    order = torch.argsort(change["channel_change"], descending=True)[:8]
    most = [int(c) for c in order if moved[c]]
    return BlockAttackView(
        view=view,
        strip=digit_strip(view.original[0], view.adversarial[0], view.perturbation[0], zoom=4),
        relative_change=change["relative_change"],
        pair=vv.mosaic(vv.heat_tiles(trio, vmax=peak), 2, zoom=4),
        difference=vv.mosaic(vv.diverging_tiles(change["difference"][channel][None]), 1, zoom=4),
        channel_name="",
        most_changed=[],
        most_changed_channels=tuple(most),
    )


def block_attack(
    source: str, settings: AttackSettings, index: int, channel: int
) -> BlockAttackView:
    """Attack the digit through the source's network and show what changed inside its block."""
    if source == STUDY_BLOCK:
        raise ValueError("the study's block on its own has no network to attack")
    shown = _block_attack(source, block_stamp(source), settings, int(index), int(channel))
    block, lang = vone_block(source)[0], language()
    return replace(
        shown,
        channel_name=channel_name(block, int(channel), lang),
        most_changed=[channel_name(block, c, lang) for c in shown.most_changed_channels],
    )


def clear_caches() -> None:
    for fn in (_filter_bank, _cell_view, _noise_view, _block_attack):
        fn.clear()
