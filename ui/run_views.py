"""A background run on its page: its progress and curves while it goes (a fragment that polls
once a second), then its result. The page keeps only the run's id — in the session and in the
URL — so a reload or a changed control finds the same run again."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from . import background, charts, exports, text
from .i18n import t

POLL_S = 1.0


def follow(kind: str, state_key: str) -> background.Run | None:
    """The run this page follows: the session's, or the one named in the URL (a reload);
    None — with a notice for a link to a run the app no longer has — otherwise."""
    run_id = st.session_state.get(state_key) or st.query_params.get("run")
    if not run_id:
        return None
    run = background.find(run_id, kind)
    if run is None and background.find(run_id) is not None:
        return None  # another page's run (the URL came along): not this page's business
    if run is None:
        st.info(t("text.run_gone"))
        st.session_state[state_key] = None
        if "run" in st.query_params:
            del st.query_params["run"]
        return None
    st.session_state[state_key] = run.id
    st.query_params["run"] = run.id
    return run


def keep(run: background.Run, state_key: str) -> None:
    """Follow ``run`` from now on (this session and its URL)."""
    st.session_state[state_key] = run.id
    st.query_params["run"] = run.id


def live(run: background.Run, draw: Callable[[background.Run], None]) -> None:
    """Draw ``run`` now; while it goes, redraw it once a second in a fragment and rerun the
    page when it ends, so the finished result is drawn by the page itself."""
    if run.snapshot().finished:
        draw(run.snapshot())
        return

    def poll() -> None:
        shown = run.snapshot()
        if shown.finished:
            st.rerun()
        draw(shown)

    st.fragment(poll, run_every=POLL_S)()


def progress_line(run: background.Run) -> None:
    """The run's progress bar: steps done, what it is doing, the time left."""
    if run.status == "queued":
        st.progress(0.0, text=t("text.run_queued"))
        return
    left = run.seconds_left()
    suffix = t("runs.time_left", seconds=f"{left:.0f}") if left is not None else ""
    st.progress(min(1.0, run.step / max(run.total_steps, 1)), text=run.step_text + suffix)


def training(run: background.Run, key: str) -> None:
    """A training run: bar, loss per step, accuracy per epoch."""
    if run.status == "failed":
        st.error(t("train.failed", error=run.error))
        return
    if run.status != "done":
        progress_line(run)
    result = run.result or {}
    planned = result.get("planned_epochs") or max(len(run.rows), 1)
    a, b = st.columns(2)
    a.plotly_chart(charts.loss_figure(run.steps, run.losses, run.total_steps), key=f"{key}_loss")
    b.plotly_chart(charts.accuracy_figure(run.rows, planned), key=f"{key}_acc")


def finetuning(
    run: background.Run, key: str, study: dict | None, label: str, committed: dict | None
) -> None:
    """A fine-tuning run: bar, curves beside the study's and the committed run's, the table of
    rounds with each round's gradient health, and what the curves show."""
    if run.status == "failed":
        st.error(t("finetune.failed", error=run.error))
        return
    if run.status != "done":
        progress_line(run)
    rounds = (run.result or {}).get("config", {}).get("rounds") or max(len(run.rows) - 1, 1)
    figure = charts.finetune_figure(run.rows, rounds, study, label, committed)
    st.plotly_chart(figure, key=f"{key}_chart")
    stalled = finetune_stalled(run.rows)
    if stalled:
        st.warning(t("text.finetune_stalled"))
    st.caption(text.finetune_reading(run.rows, stalled))
    rounds_table = text.columns(finetune_table(run.rows))
    st.dataframe(rounds_table, hide_index=True, key=f"{key}_rounds")
    if run.status == "done":
        exports.buttons(
            [
                (
                    t("finetune.download_rounds"),
                    exports.csv_bytes(rounds_table),
                    "rounds.csv",
                    "text/csv",
                ),
                (
                    t("finetune.download_curves"),
                    exports.standalone_html(figure),
                    "curves.html",
                    "text/html",
                ),
            ],
            key=key,
        )


def finetune_stalled(rows: list[dict]) -> bool:
    """True when the attack that made the training images moved (almost) none of them: the
    model then trained on clean digits, and its "adversarial" accuracy says nothing."""
    made = [r["train_moved"] for r in rows if r.get("train_moved") is not None]
    return bool(made) and max(made) < 0.01


def _share(fraction: float | None) -> str:
    return "—" if fraction is None else f"{100 * fraction:.0f}%"


def finetune_table(rows: list[dict]) -> list[dict]:
    """One row per round: both accuracies, the loss, and the two attacks' gradient health."""
    return [
        {
            "round": r["round"],
            "clean %": f"{r['clean']:.1f}",
            "FGSM %": f"{r['adversarial']:.1f}",
            "train loss": "—" if r["train_loss"] is None else f"{r['train_loss']:.3f}",
            "training digits the attack moved": _share(r.get("train_moved")),
            "training gradient NaN": _share(r.get("train_nan")),
            "test digits FGSM moved": _share(r.get("test_moved")),
            "seconds": f"{r['seconds']:.1f}",
        }
        for r in rows
    ]
