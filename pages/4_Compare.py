"""The study's two tables beside our measured numbers, and accuracy against eps for every model."""

import streamlit as st

from ui import charts, loaders, settings, widgets
from vonedemo import checkpoints, models
from vonedemo import results as measured_results

widgets.page_setup(
    "Compare with the study",
    "📊",
    "The 2021 study reported clean accuracy and accuracy under FGSM at eps 0.35 for four "
    "baselines and their VOneNet twins. Here are its numbers beside ours, measured on the same "
    "MNIST test digits with the same attack.",
)
widgets.init_state({"cmp_limit": 100, "cmp_measured": None})


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.1f}"


with widgets.guard("the compare page"):
    notes = []
    try:
        manifest = checkpoints.read_manifest()
    except checkpoints.CheckpointError as e:
        manifest, notes = {"models": {}}, [str(e)]
    measured, more_notes = measured_results.read_measured(settings.results_path(), manifest)
    notes += more_notes
    fresh = st.session_state["cmp_measured"]
    if fresh:
        measured.update(fresh["models"])
    for note in notes:
        st.warning(note)

    # The study's eight, then any other registered model a results file measured (e.g. references).
    extra = [n for n in measured if n not in models.STUDY_MODELS and n in models.list_models()]
    names = [*models.STUDY_MODELS, *extra]
    rows = measured_results.comparison_rows(measured, names)
    table = [
        {
            "model": r["label"],
            "study clean %": r["study_clean"],
            "study FGSM 0.35 %": r["study_fgsm"],
            "our clean %": r["clean"],
            "our FGSM 0.35 %": r["fgsm"],
            "test digits": r["test_images"],
            "our numbers from": r["source"] or "not measured yet",
        }
        for r in rows
    ]
    st.subheader("Clean and FGSM (eps 0.35) accuracy")
    st.dataframe(
        table,
        hide_index=True,
        key="cmp_table",
        column_config={
            k: st.column_config.NumberColumn(format="%.1f")
            for k in ("study clean %", "study FGSM 0.35 %", "our clean %", "our FGSM 0.35 %")
        },
    )
    if not any(r["clean"] is not None or r["fgsm"] is not None for r in rows):
        st.info(
            "No measured numbers yet: `results/summary.json` and the checkpoint manifest have none. "
            "Press **Measure now** below for a quick estimate on a few test digits."
        )
    st.plotly_chart(charts.compare_bars(rows), key="cmp_bars")
    for r in rows:
        if r["label"].startswith("VOne") and r["fgsm"] is not None and r["study_fgsm"] is not None:
            st.caption(
                f"{r['label']}: study {_fmt(r['study_fgsm'])}% under FGSM, ours {_fmt(r['fgsm'])}%."
            )

    st.subheader("Accuracy against eps")
    curves = {
        models.model_label(name): measured[name]["eps_curve"]
        for name in names
        if name in measured and measured[name].get("eps_curve")
    }
    if curves:
        st.plotly_chart(charts.eps_figure(curves), key="cmp_eps")
    else:
        st.info("No accuracy-against-eps curves yet — **Measure now** computes them.")
    if fresh:
        st.markdown(f"🩺 Gradient health at eps 0.35 (measured now, {fresh['limit']} digits):")
        for name, row in fresh["models"].items():
            st.markdown(f"- **{models.model_label(name)}**: {row['health_sentence']}")

    st.subheader("Measure now")
    st.select_slider(
        "Test digits per model",
        options=[20, 50, 100, 200, 500, 1000],
        key="cmp_limit",
        persist_state="session",
        help="VOne models take about 20 ms per digit and eps on a laptop CPU.",
    )
    available = [
        c for c in (loaders.pretrained_choice(n) for n in models.STUDY_MODELS) if c.available
    ]
    if not available:
        st.info(f"No pretrained model is available to measure; {loaders.REGENERATE}.")
    elif st.button("📏 Measure now", key="cmp_run", type="primary"):
        limit = int(st.session_state["cmp_limit"])
        eps_values = measured_results.DEFAULT_EPS_VALUES
        total = len(available) * len(eps_values)
        bar = st.progress(0.0, text="Measuring…")
        results = {}
        for i, choice in enumerate(available):
            model, _ = loaders.get_model(choice.key)

            def on_eps(done: int, n: int, i: int = i, label: str = choice.label) -> None:
                bar.progress(min(1.0, (i * n + done) / total), text=f"{label}: eps {done}/{n}")

            results[choice.name] = measured_results.measure_model(
                model, loaders.test_data(), limit=limit, eps_values=eps_values, on_eps=on_eps
            )
            results[choice.name]["source"] = f"measured now ({limit} digits)"
        bar.progress(1.0, text="Done")
        st.session_state["cmp_measured"] = {"limit": limit, "models": results}
        st.rerun()
