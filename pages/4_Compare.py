"""The study's two tables beside our measured numbers, and accuracy against eps for every model."""

import streamlit as st

from ui import charts, compute, jobs, loaders, text, widgets
from ui.widgets import KEPT
from vonedemo import models

PERCENT_COLUMNS = ("study clean %", "study FGSM 0.35 %", "our clean %", "our FGSM 0.35 %")


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.1f}"


def measure_ui() -> int:
    st.select_slider(
        "Test digits per model",
        options=[20, 50, 100, 200, 500, 1000],
        key="cmp_limit",
        **KEPT,
        help="VOne models take about 20 ms per digit and eps on a laptop CPU.",
    )
    return int(st.session_state["cmp_limit"])


widgets.page_setup("Compare with the study", "📊", text.COMPARE_INTRO)
widgets.init_state({"cmp_limit": 100, "cmp_measured": None})

with widgets.guard("the compare page"):
    fresh = st.session_state["cmp_measured"]
    found = compute.comparison(fresh)
    for note in found.notes:
        st.warning(note)

    st.subheader("Clean and FGSM (eps 0.35) accuracy")
    st.dataframe(
        found.table,
        hide_index=True,
        key="cmp_table",
        column_config={k: st.column_config.NumberColumn(format="%.1f") for k in PERCENT_COLUMNS},
    )
    if not found.anything_measured:
        st.info(text.COMPARE_NOTHING_MEASURED)
    st.plotly_chart(charts.compare_bars(found.rows), key="cmp_bars")
    for r in found.rows:
        if r["label"].startswith("VOne") and r["fgsm"] is not None and r["study_fgsm"] is not None:
            st.caption(
                f"{r['label']}: study {_fmt(r['study_fgsm'])}% under FGSM, ours {_fmt(r['fgsm'])}%."
            )

    st.subheader("Accuracy against eps")
    if found.curves:
        st.plotly_chart(charts.eps_figure(found.curves), key="cmp_eps")
    else:
        st.info("No accuracy-against-eps curves yet — **Measure now** computes them.")
    if fresh:
        st.markdown(f"🩺 Gradient health at eps 0.35 (measured now, {fresh['limit']} digits):")
        for name, row in fresh["models"].items():
            st.markdown(f"- **{models.model_label(name)}**: {row['health_sentence']}")

    st.subheader("Measure now")
    limit = measure_ui()
    available = [
        c for c in (loaders.pretrained_choice(n) for n in models.STUDY_MODELS) if c.available
    ]
    if not available:
        st.info(f"No pretrained model is available to measure; {text.REGENERATE}.")
    elif st.button("📏 Measure now", key="cmp_run", type="primary"):
        st.session_state["cmp_measured"] = jobs.measure_now(available, limit)
        st.rerun()
