"""The study's two tables beside our measured numbers, and accuracy against eps for every model."""

import streamlit as st

from ui import charts, compute, exports, jobs, links, loaders, text, widgets
from ui.i18n import t
from ui.widgets import KEPT
from vonedemo import models


def measure_ui() -> int:
    st.select_slider(
        t("compare.limit"),
        options=[20, 50, 100, 200, 500, 1000],
        key="cmp_limit",
        **KEPT,
        help=t("compare.limit_help"),
    )
    return int(st.session_state["cmp_limit"])


widgets.page_setup(t("compare.title"), "📊", t("text.compare_intro"))
links.restore(links.COMPARE, {"cmp_limit": 100, "cmp_measured": None})

with widgets.guard(t("compare.guard")):
    fresh = st.session_state["cmp_measured"]
    found = compute.comparison(fresh)
    for note in found.notes:
        st.warning(note)

    verdict = text.compare_verdict(found.rows)
    if verdict:
        st.container(border=True).markdown(f"⚖️ {verdict}")
    st.subheader(t("compare.headline"))
    table = text.columns(found.table)
    st.dataframe(table, hide_index=True, key="cmp_table")
    st.caption(t("text.compare_columns"))
    if not found.anything_measured:
        st.info(t("text.compare_nothing_measured"))
    st.plotly_chart(charts.compare_bars(found.rows), key="cmp_bars")
    exports.buttons(
        [(t("app.table_csv"), exports.csv_bytes(table), "compare.csv", "text/csv")],
        key="cmp_download",
    )

    st.subheader(t("compare.eps_header"))
    if found.curves:
        st.plotly_chart(charts.eps_figure(found.curves), key="cmp_eps")
    else:
        st.info(t("compare.no_curves"))
    st.subheader(t("compare.measure_header"))
    limit = measure_ui()
    available = [
        c for c in (loaders.pretrained_choice(n) for n in models.STUDY_MODELS) if c.available
    ]
    if not available:
        st.info(t("compare.nothing_to_measure", regenerate=t("app.regenerate")))
    elif st.button(t("compare.measure"), key="cmp_run", type="primary"):
        st.session_state["cmp_measured"] = jobs.measure_now(available, limit)
        st.rerun()
    if found.fresh_table:
        st.info(t("text.compare_fresh", limit=found.fresh_limit))
        st.dataframe(text.columns(found.fresh_table), hide_index=True, key="cmp_fresh")
        for name, row in fresh["models"].items():
            words = text.health_words(row["health"], row["test_images"], 0.35)
            st.markdown(f"- 🩺 **{models.model_label(name)}**: {words}")
links.share(links.COMPARE)
