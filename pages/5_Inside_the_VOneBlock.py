"""Inside the VOneBlock: the Gabor filter bank, cell responses, noise, and what an attack changes."""

import streamlit as st

from ui import block_views, links, panels, text, widgets
from ui.i18n import t
from ui.loaders import STUDY_BLOCK
from ui.widgets import KEPT
from vonedemo import vone_views as vv
from vonedemo.attack_view import AttackSettings
from vonedemo.study import STUDY_EPS

DEFAULTS = {"v1_sort": "sf", "v1_desc": False, "v1_kind": "all", "v1_part": "q0", "v1_count": 64}
DEFAULTS |= {"v1_index": 0, "v1_noise_n": 4, "v1_eps": STUDY_EPS, "v1_gradient": "raw"}


def source_ui() -> str:
    """Whose VOneBlock: a trained VOne model's key, or the study's block on its own."""
    labels, default = block_views.block_sources()
    widgets.ensure_option("v1_source", list(labels), default)
    source = st.selectbox(
        t("vone.source"), list(labels), key="v1_source", format_func=labels.get, **KEPT
    )
    if source == STUDY_BLOCK and len(labels) == 1:
        st.caption(t("text.no_trained_vone"))
    return source


def bank_ui(info: block_views.BlockInfo) -> tuple[str, bool, str, str, int]:
    """The gallery's (sort key, largest first, cells, filter part, count)."""
    c1, c2, c3, c4 = st.columns(4)
    c1.selectbox(
        t("vone.sort"),
        list(vv.SORT_KEYS),
        key="v1_sort",
        format_func=text.sort_labels().get,
        **KEPT,
    )
    c2.toggle(t("vone.largest_first"), key="v1_desc", **KEPT)
    flat = {"horizontal": True, "format_func": text.option_label(), **KEPT}
    c3.radio(t("vone.cells"), list(vv.CELL_KINDS), key="v1_kind", **flat)
    c4.radio(t("vone.filter"), ["q0", "q1"], key="v1_part", help=t("text.q_help"), **flat)
    state = st.session_state
    kind, part = state["v1_kind"], state["v1_part"]
    if part == "q1" and kind != "complex":
        st.caption(t("vone.q1_complex"))
        kind = "complex"
    counts = info.filter_counts(kind)
    widgets.ensure_option("v1_count", counts, min(64, counts[-1]))
    st.select_slider(t("vone.count"), options=counts, key="v1_count", **KEPT)
    return state["v1_sort"], bool(state["v1_desc"]), kind, part, int(state["v1_count"])


def attack_ui() -> AttackSettings:
    col_eps, col_grad = st.columns(2)
    col_eps.slider(t("app.eps"), 0.0, 0.5, step=0.01, key="v1_eps", **KEPT)
    col_grad.radio(
        t("app.gradient"),
        list(links.GRADIENTS),
        key="v1_gradient",
        horizontal=True,
        format_func=text.option_label(),
        help=t("text.v1_gradient_help"),
        **KEPT,
    )
    eps, gradient = st.session_state["v1_eps"], st.session_state["v1_gradient"]
    return AttackSettings(eps=round(float(eps), 4), gradient=gradient, noise="seeded", seed=0)


widgets.page_setup(t("vone.title"), "🔬", t("text.vone_intro"))
links.restore(links.VONE, DEFAULTS)

with widgets.guard(t("vone.guard")):
    source = source_ui()
    info = block_views.block_info(source)
    tabs = st.tabs([t(f"vone.tab_{k}") for k in ("bank", "cells", "noise", "attack")])
    with tabs[0]:
        panels.filter_bank(*block_views.filter_bank(source, *bank_ui(info)))

    cells = block_views.cell_view(source, st.session_state["v1_index"])
    with tabs[1]:
        a, b = st.columns([1, 3])
        last = info.test_size - 1
        a.number_input(
            t("vone.test_digit"), min_value=0, max_value=last, step=1, key="v1_index", **KEPT
        )
        panels.cell_responses(cells, a, b)

    widgets.ensure_option("v1_channel", cells.strongest, cells.strongest[0])
    with tabs[2]:
        names = cells.channel_names
        st.selectbox(
            t("vone.channel"), cells.strongest, key="v1_channel", format_func=names.get, **KEPT
        )
        st.slider(t("vone.noise_samples"), 1, 8, key="v1_noise_n", **KEPT)
        channel = int(st.session_state["v1_channel"])
        samples = int(st.session_state["v1_noise_n"])
        panels.noise(block_views.noise_view(source, cells.index, channel, samples))

    with tabs[3]:
        if not info.has_network:
            st.info(t("text.vone_no_model"))
        else:
            panels.block_attack(block_views.block_attack(source, attack_ui(), cells.index, channel))
links.share(links.VONE)
