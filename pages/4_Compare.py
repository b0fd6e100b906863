"""The study's two tables beside our measured numbers, and accuracy against eps for every model."""

import streamlit as st

from ui import charts, compute, exports, jobs, loaders, text, widgets
from ui.widgets import KEPT
from vonedemo import models


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

    verdict = text.compare_verdict(found.rows)
    if verdict:
        st.container(border=True).markdown(f"⚖️ {verdict}")
    st.subheader("Clean and FGSM (eps 0.35) accuracy")
    st.dataframe(found.table, hide_index=True, key="cmp_table")
    st.caption(text.COMPARE_COLUMNS)
    if not found.anything_measured:
        st.info(text.COMPARE_NOTHING_MEASURED)
    st.plotly_chart(charts.compare_bars(found.rows), key="cmp_bars")
    exports.buttons(
        [("the table (CSV)", exports.csv_bytes(found.table), "compare.csv", "text/csv")],
        key="cmp_download",
    )

    st.subheader("Accuracy against eps")
    if found.curves:
        st.plotly_chart(charts.eps_figure(found.curves), key="cmp_eps")
    else:
        st.info("No accuracy-against-eps curves yet — **Measure now** computes them.")
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
    if found.fresh_table:
        st.info(text.COMPARE_FRESH.format(limit=found.fresh_limit))
        st.dataframe(found.fresh_table, hide_index=True, key="cmp_fresh")
        for name, row in fresh["models"].items():
            words = text.health_words(row["health"], row["test_images"], 0.35)
            st.markdown(f"- 🩺 **{models.model_label(name)}**: {words}")
