"""Inside the VOneBlock: the Gabor filter bank, cell responses, noise, and what an attack changes."""

import streamlit as st

from ui import block_views, panels, text, widgets
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
        "Whose VOneBlock", list(labels), key="v1_source", format_func=labels.get, **KEPT
    )
    if source == STUDY_BLOCK and len(labels) == 1:
        st.caption(text.NO_TRAINED_VONE)
    return source


def bank_ui(info: block_views.BlockInfo) -> tuple[str, bool, str, str, int]:
    """The gallery's (sort key, largest first, cells, filter part, count)."""
    c1, c2, c3, c4 = st.columns(4)
    c1.selectbox(
        "Sort by", list(vv.SORT_KEYS), key="v1_sort", format_func=text.SORT_LABELS.get, **KEPT
    )
    c2.toggle("Largest first", key="v1_desc", **KEPT)
    c3.radio("Cells", list(vv.CELL_KINDS), key="v1_kind", horizontal=True, **KEPT)
    c4.radio("Filter", ["q0", "q1"], key="v1_part", horizontal=True, help=text.Q_HELP, **KEPT)
    state = st.session_state
    kind, part = state["v1_kind"], state["v1_part"]
    if part == "q1" and kind != "complex":
        st.caption("q1 filters belong to complex cells only: showing complex cells.")
        kind = "complex"
    counts = info.filter_counts(kind)
    widgets.ensure_option("v1_count", counts, min(64, counts[-1]))
    st.select_slider("Filters shown", options=counts, key="v1_count", **KEPT)
    return state["v1_sort"], bool(state["v1_desc"]), kind, part, int(state["v1_count"])


def attack_ui() -> AttackSettings:
    col_eps, col_grad = st.columns(2)
    col_eps.slider("eps", 0.0, 0.5, step=0.01, key="v1_eps", **KEPT)
    col_grad.radio(
        "Gradient",
        ["raw", "repaired"],
        key="v1_gradient",
        horizontal=True,
        help=text.V1_GRADIENT_HELP,
        **KEPT,
    )
    eps, gradient = st.session_state["v1_eps"], st.session_state["v1_gradient"]
    return AttackSettings(eps=round(float(eps), 4), gradient=gradient, noise="seeded", seed=0)


widgets.page_setup("Inside the VOneBlock", "🔬", text.VONE_INTRO)
widgets.init_state(DEFAULTS)

with widgets.guard("the VOneBlock page"):
    source = source_ui()
    info = block_views.block_info(source)
    tabs = st.tabs(["Filter bank", "Cell responses", "Noise", "Clean vs adversarial"])
    with tabs[0]:
        panels.filter_bank(*block_views.filter_bank(source, *bank_ui(info)))

    cells = block_views.cell_view(source, st.session_state["v1_index"])
    with tabs[1]:
        a, b = st.columns([1, 3])
        last = info.test_size - 1
        a.number_input("Test digit", min_value=0, max_value=last, step=1, key="v1_index", **KEPT)
        panels.cell_responses(cells, a, b)

    widgets.ensure_option("v1_channel", cells.strongest, cells.strongest[0])
    with tabs[2]:
        names = cells.channel_names
        st.selectbox("Channel", cells.strongest, key="v1_channel", format_func=names.get, **KEPT)
        st.slider("Noise samples", 1, 8, key="v1_noise_n", **KEPT)
        channel = int(st.session_state["v1_channel"])
        samples = int(st.session_state["v1_noise_n"])
        panels.noise(block_views.noise_view(source, cells.index, channel, samples))

    with tabs[3]:
        if not info.has_network:
            st.info(text.VONE_NO_MODEL)
        else:
            panels.block_attack(block_views.block_attack(source, attack_ui(), cells.index, channel))
