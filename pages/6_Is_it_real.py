"""Is it real? The audit: adaptive attacks, the worst case per image, and sanity checks."""

import streamlit as st

from ui import audit_view, jobs, links, loaders, settings, widgets
from ui.i18n import t


def audit_ui() -> tuple[loaders.ModelChoice | None, int]:
    """(the study model to audit now, how many test digits)."""
    choice = widgets.model_picker("real_model", loaders.model_choices(include_app=False))
    st.select_slider(t("audit.limit"), options=[20, 50, 100, 200], key="real_limit")
    return choice, int(st.session_state["real_limit"])


widgets.page_setup(t("audit.title"), "🔍", t("text.real_intro"))
links.restore(links.AUDIT, {"real_fresh": None, "real_model": None, "real_limit": 50})

with widgets.guard(t("audit.guard")):
    saved_limit = audit_view.saved_audit(settings.audit_path())
    audit_view.converged_audit(settings.converged_audit_path())

    st.subheader(t("audit.quick_header"))
    choice, limit = audit_ui()
    if choice is not None and st.button(t("audit.run"), key="real_run"):
        st.session_state["real_fresh"] = jobs.quick_audit(choice, limit)
        st.rerun()
    if st.session_state["real_fresh"]:
        audit_view.quick_audit(st.session_state["real_fresh"], saved_limit)
links.share(links.AUDIT)
