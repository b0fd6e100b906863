"""The audit page's views of an audit report: verdicts, the chart, the tables and the checks.
The saved audit and a quick one run in the app are shown apart, each with its own sample: a
small estimate never mixes into the full table."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from vonedemo.audit import nothing_attacked
from vonedemo.audit.targets import audit_targets
from vonedemo.plots import eps_curves_figure
from vonedemo.results import AuditFindings, audit_findings, read_audit_report, strongest_curves

from . import audit_text, charts, text
from .i18n import t

PERCENT = st.column_config.NumberColumn(format="%.1f")
EPS = st.column_config.NumberColumn(format="%.2f")
CHECK_BOXES = {"pass": st.success, "finding": st.info, "caveat": st.warning, "fail": st.warning}


def _one(value: float | None, scale: float = 1.0) -> float | None:
    return None if value is None else round(scale * value, 1)


def headline_rows(report: dict, findings: list[AuditFindings]) -> list[dict]:
    """One row per model: its verdict, clean accuracy, the study's FGSM and the worst case per
    eps, the study's gradient health and its checks in short (percentages to one decimal)."""
    rows = []
    for f, model in zip(findings, report["models"].values(), strict=True):
        row = {"model": f.label, "verdict": t(f"audit.level_{audit_text.level(f)}_lower")}
        row["clean %"] = _one(f.clean)
        for eps in f.eps:
            row[t("columns.study_fgsm", eps=f"{eps:g}")] = _one(f.study_fgsm.get(eps))
            row[t("columns.worst_case", eps=f"{eps:g}")] = _one(f.worst_case.get(eps))
        eps = f.primary_eps
        row[t("columns.study_nan", eps=f"{eps:g}")] = _one(f.study_nan.get(eps), 100)
        row[t("columns.study_moved", eps=f"{eps:g}")] = _one(f.study_moved.get(eps), 100)
        row["sanity checks"] = audit_text.checks_summary(model, f)
        rows.append(row)
    return text.columns(rows)


def attack_rows(model: dict) -> list[dict]:
    """One row per attack and eps; — (None) where a row attacked no digit itself."""
    rows = []
    for r in model["attacks"]:
        skipped = nothing_attacked(r)
        low, high = r["ci95"]
        rows.append(
            {
                "attack": r["attack"] + (" ‡" if r.get("crafting_shared") else ""),
                "eps": r["eps"],
                "accuracy %": _one(r["accuracy"]),
                "95% interval %": f"{low:.1f}–{high:.1f}",
                "gradient NaN %": None if skipped else _one(r["nonfinite_gradient_fraction"], 100),
                "no step (sign 0) %": None if skipped else _one(r["zero_sign_fraction"], 100),
                "largest pixel change": None if skipped else round(r["linf"], 2),
                "digits moved %": None if skipped else _one(r["moved_fraction"], 100),
                "seconds": _one(r.get("seconds")),
            }
        )
    return rows


def _table(rows: list[dict], key: str) -> None:
    config = {c: PERCENT for c in (rows[0] if rows else {}) if c.endswith("%")}
    config |= {t("columns.eps"): EPS, t("columns.seconds"): PERCENT}
    st.dataframe(rows, hide_index=True, column_config=config, key=key)


def _bars(findings: list[AuditFindings], key: str) -> None:
    eps_values = findings[0].eps
    st.plotly_chart(
        charts.audit_bars(
            [f.label for f in findings],
            {e: [f.study_fgsm[e] for f in findings] for e in eps_values},
            {e: [f.worst_case[e] for f in findings] for e in eps_values},
        ),
        key=key,
    )


def _details(report: dict, findings: list[AuditFindings], key: str) -> None:
    """Every model's attacks and checks, an expander each."""
    for f, model in zip(findings, report["models"].values(), strict=True):
        with st.expander(audit_text.worst_case_title(f), expanded=False):
            st.markdown(audit_text.model_verdict(f))
            _table(text.columns(attack_rows(model)), f"{key}_table_{f.name}")
            for check in model["checks"]:
                kind, line = audit_text.check_line(check, f)
                CHECK_BOXES[kind](line)


def saved_audit(path: str | Path) -> int | None:
    """The saved audit at ``path`` in full: verdicts, chart, headline table, curves, budgets,
    then every attack and check. Its sample size (None: no saved audit)."""
    report, notes = read_audit_report(path)
    for note in notes:
        st.warning(note)
    if not report or not report.get("models"):
        st.info(t("text.real_no_audit"))
        return None
    _report(report, "real")
    return int(report["config"]["limit"])


def converged_audit(path: str | Path) -> None:
    """The converged audit at ``path`` while it runs model by model (nothing when there is
    none yet), under its own heading, with how many of the audit's targets it has covered."""
    report, _ = read_audit_report(path)
    if not report or not report.get("models"):
        return
    st.header(t("audit.converged_header"))
    total = len(audit_targets())
    st.markdown(t("audit.converged_intro", done=len(report["models"]), total=total))
    _report(report, "real_converged")


def _report(report: dict, key: str) -> None:
    findings = audit_findings(report)
    st.subheader(t("audit.verdict_header"))
    st.markdown(audit_text.overall_verdict(findings))
    st.markdown("\n".join(f"- **{f.label}** — {audit_text.model_verdict(f)}" for f in findings))
    _bars(findings, f"{key}_bars")
    st.subheader(t("audit.headline_header"))
    st.caption(audit_text.headline_caption(report["config"]["limit"]))
    _table(headline_rows(report, findings), f"{key}_headline")
    curves = strongest_curves(report)
    if curves:
        figure = eps_curves_figure(curves, t("charts.curves_title"))
        figure.update_layout(yaxis_title=t("charts.accuracy_axis"))  # the core's axis, in words
        st.plotly_chart(figure, key=f"{key}_curves")
    st.markdown(audit_text.budget_words(report["config"]))
    st.subheader(t("audit.details_header"))
    _details(report, findings, key)


def quick_audit(report: dict, saved_limit: int | None) -> None:
    """A quick audit run in the app, under a heading that names its model and sample."""
    findings = audit_findings(report)
    st.subheader(audit_text.quick_audit_title(findings, report["config"]["limit"], saved_limit))
    for f in findings:
        st.markdown(f"**{f.label}** — {audit_text.model_verdict(f)}")
    st.caption(audit_text.headline_caption(report["config"]["limit"]))
    _table(headline_rows(report, findings), "real_quick_headline")
    st.markdown(audit_text.budget_words(report["config"]))
    _details(report, findings, "real_quick")
