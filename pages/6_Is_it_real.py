"""Is it real? The audit: adaptive attacks, the worst case per image, and sanity checks."""

import json

import streamlit as st

from ui import loaders, settings, widgets
from ui.progress import ProgressBar
from vonedemo import audit, models
from vonedemo.plots import eps_curves_figure

widgets.page_setup(
    "Is it real?",
    "🔍",
    "The study attacked its VOneNets with one FGSM step through a noisy network — and its complex "
    "cells have a NaN gradient wherever they see no contrast, and `sign(NaN) = 0`. Here every "
    "model faces a ladder of attacks: the study's FGSM, the same with a **repaired** gradient, "
    "gradients averaged over noise (EOT), PGD, noise switched off or fixed, and transfer from the "
    "twin model. An image counts as robust only if it survives **all** of them.",
)
widgets.init_state({"real_fresh": None, "real_model": None, "real_limit": 50})

with widgets.guard("the audit page"):
    path = settings.results_path().parent / "audit" / "audit.json"
    report = None
    if path.is_file():
        try:
            report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            st.warning(f"Could not read {path}: {e}")
    fresh = st.session_state["real_fresh"]
    if fresh:
        report = {
            "config": fresh["config"],
            "models": {**(report or {}).get("models", {}), **fresh["models"]},
        }
    if report and report.get("models"):
        st.subheader("Headline")
        st.markdown(audit.headline_markdown(report))
        curves = {
            n: m["curves"]["strongest"] for n, m in report["models"].items() if m.get("curves")
        }
        if curves:
            st.plotly_chart(
                eps_curves_figure(curves, "Accuracy vs eps — strongest attack (95% intervals)"),
                key="real_curves",
            )
        st.subheader("Every attack and check")
        for name, m in report["models"].items():
            with st.expander(
                f"{models.model_label(name)} — worst case {m['worst_case']}", expanded=False
            ):
                st.dataframe(m["attacks"], hide_index=True, key=f"real_table_{name}")
                for c in m["checks"]:
                    (st.success if c["passed"] else st.warning)(f"{c['check']}: {c['sentence']}")
    else:
        st.info(
            "No precomputed audit yet (`python -m vonedemo audit --out results/audit` makes one). "
            "Run a quick one below."
        )

    st.subheader("Run a quick audit now")
    choices = loaders.model_choices(include_app=False)
    choice = widgets.model_picker("real_model", choices)
    st.select_slider("Test digits", options=[20, 50, 100, 200], key="real_limit")
    if choice is not None and st.button("Audit this model", key="real_run"):
        limit = int(st.session_state["real_limit"])
        config = audit.AuditConfig(
            limit=limit,
            eot_samples=(1, 4),
            pgd_steps=10,
            pgd_step_size=0.05,
            pgd_restarts=1,
            pgd_eot=2,
            curve_eps=(0.0, 0.1, 0.2, 0.35, 0.5),
            curve_limit=limit,
            curve_pgd_steps=10,
            curve_repeats=2,
            doubling_limit=limit,
            batch_size=limit,
        )
        bar = ProgressBar("Auditing")

        def load(name: str):  # the audited model and its transfer source, from the shared cache
            return loaders.get_model(f"pretrained:{name}")[0]

        result = audit.audit_model(choice.name, load, loaders.test_data(), config, bar)
        bar.done("Done")
        st.session_state["real_fresh"] = audit.audit_to_dict([result], config)
        st.rerun()
