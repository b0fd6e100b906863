"""Is it real? The audit: adaptive attacks, the worst case per image, and sanity checks."""

import streamlit as st

from ui import jobs, loaders, settings, text, widgets
from vonedemo import audit, models
from vonedemo import results as measured_results
from vonedemo.plots import eps_curves_figure


def audit_ui() -> tuple[loaders.ModelChoice | None, int]:
    """(the study model to audit now, how many test digits)."""
    choice = widgets.model_picker("real_model", loaders.model_choices(include_app=False))
    st.select_slider("Test digits", options=[20, 50, 100, 200], key="real_limit")
    return choice, int(st.session_state["real_limit"])


def show_report(report: dict) -> None:
    st.subheader("Headline")
    st.markdown(audit.headline_markdown(report))
    curves = measured_results.strongest_curves(report)
    if curves:
        st.plotly_chart(
            eps_curves_figure(curves, "Accuracy vs eps — strongest attack (95% intervals)"),
            key="real_curves",
        )
    st.subheader("Every attack and check")
    for name, m in report["models"].items():
        label = f"{models.model_label(name)} — worst case {m['worst_case']}"
        with st.expander(label, expanded=False):
            st.dataframe(m["attacks"], hide_index=True, key=f"real_table_{name}")
            for c in m["checks"]:
                (st.success if c["passed"] else st.warning)(f"{c['check']}: {c['sentence']}")


widgets.page_setup("Is it real?", "🔍", text.REAL_INTRO)
widgets.init_state({"real_fresh": None, "real_model": None, "real_limit": 50})

with widgets.guard("the audit page"):
    fresh = st.session_state["real_fresh"]
    report, notes = measured_results.read_audit_report(settings.audit_path(), fresh)
    for note in notes:
        st.warning(note)
    if report and report.get("models"):
        show_report(report)
    else:
        st.info(text.REAL_NO_AUDIT)

    st.subheader("Run a quick audit now")
    choice, limit = audit_ui()
    if choice is not None and st.button("Audit this model", key="real_run"):
        st.session_state["real_fresh"] = jobs.quick_audit(choice, limit)
        st.rerun()
