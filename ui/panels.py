"""Page sections drawn from computed results: the explorer's metrics, grid, close-up and larger
sample, the home page's digit and its FGSM twin. Drawing only: the results come in as
arguments, computed by :mod:`ui.compute`."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import streamlit as st

from vonedemo import models
from vonedemo.attack_view import AttackView

from . import charts, compute, exports, run_views, text, widgets
from .block_views import BankView, BlockAttackView, CellView, NoiseView
from .pictures import digit_strip


# --- the attack explorer -----------------------------------------------------------------------
def _once_per_view(view: AttackView, what: tuple, make):
    """``make()``, made once per view object: prepared views are shared by every session, so
    a class's reruns draw the same chart or table from one object instead of rebuilding it."""
    made = view.__dict__.setdefault("_drawn", {})
    if what not in made:
        made[what] = make()
    return made[what]


def shown_metrics(view: AttackView) -> tuple[list, st.delta_generator.DeltaGenerator]:
    """Right answers among the shown digits, before and after the attack: (the four metric
    columns, the last two left for the larger sample; a box for its health note)."""
    n = len(view)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(f"Shown digits right, original ({n})", f"{view.clean_correct.sum()}/{n}")
    m2.metric(
        f"Shown digits right, attacked ({n})",
        f"{view.adv_correct.sum()}/{n}",
        delta=f"{int(view.adv_correct.sum()) - int(view.clean_correct.sum())}",
        delta_color="normal",
    )
    if view.eps == 0 and view.flipped:
        st.caption(text.noise_not_attack(view.flipped, n))
    if view.reached_target is not None:
        st.markdown(f"🎯 **{view.reached_target} of {n}** shown digits now read as their target.")
    widgets.health_note(
        view.health,
        n,
        view.eps,
        view.health_sentence,
        view.stalled,
        prefix=f"Gradient health, the {n} digits shown",
    )
    return [m1, m2, m3, m4], st.container()


def digit_grid(view: AttackView, pictures: list[str], columns: int = 4) -> None:
    """Every shown digit: its picture strip and both predictions."""
    for start in range(0, len(view), columns):
        cells = st.columns(columns)
        for j, cell in enumerate(cells):
            i = start + j
            if i >= len(view):
                break
            label = int(view.labels[i])
            cell.image(pictures[i])
            cell.markdown(
                f"#{i} · label **{label}** · "
                + widgets.before_after(view, i, before="original", after="attacked", sep=" → ")
            )


def digit_up_close(view: AttackView) -> None:
    """One chosen digit's confidence bars, the table of all shown digits, the attack's time."""
    st.subheader("One digit up close")
    positions = list(range(len(view)))
    widgets.ensure_option("ae_digit", positions, 0)
    pick = st.selectbox(
        "Digit",
        positions,
        key="ae_digit",
        persist_state="session",
        format_func=lambda i: (
            f"#{i} — label {int(view.labels[i])}, attacked → {int(view.adv_pred[i])}"
        ),
    )
    bars = _once_per_view(
        view,
        ("bars", pick),
        lambda: charts.confidence_bars(
            view.clean_probs[pick], view.adv_probs[pick], int(view.labels[pick]), view.eps
        ),
    )
    st.plotly_chart(bars, key="ae_confidence")
    rows = _once_per_view(view, ("rows",), view.rows)
    # The Arrow table Streamlit would make of the rows, made once (the conversion is costly).
    table = _once_per_view(view, ("table",), lambda: pa.Table.from_pandas(pd.DataFrame(rows)))
    with st.expander("Table of the shown digits"):
        st.dataframe(table, hide_index=True, key="ae_table")

    def grid_png() -> bytes:  # made when downloaded
        strips = [
            digit_strip(view.original[i], view.adversarial[i], view.perturbation[i], zoom=4)
            for i in range(len(view))
        ]
        return exports.png_bytes(exports.stacked(strips))

    exports.buttons(
        [
            ("the digits (PNG)", grid_png, "attacked_digits.png", "image/png"),
            (
                "the table (CSV)",
                _once_per_view(view, ("csv",), lambda: exports.csv_bytes(rows)),
                "attacked_digits.csv",
                "text/csv",
            ),
        ],
        key="ae_download",
    )
    st.caption(
        f"The attack on the shown digits took {view.seconds:.2f} s (results are cached per eps)."
    )


def larger_sample(choice, settings, limit: int, metrics: list, box) -> None:
    """The larger sample's accuracies in the last two metric columns and its health in ``box``.
    They are scored in the background: until they are ready the columns show dashes and a
    fragment polls, so the grid above never waits for them."""
    m3, m4 = metrics[2:]
    scores = compute.larger_sample_scores(choice, settings, limit)
    if scores is None:
        m3.metric(f"First {limit} test digits, original", "—")
        m4.metric(f"First {limit} test digits, attacked", "—")
        job = compute.larger_sample_job(choice, settings, limit)
        with box:
            st.caption(text.EXPLORER_SCORING if job.running() else text.EXPLORER_QUEUED)
            st.fragment(_rerun_when_scored, run_every=1.0)(choice, settings, limit)
        return
    clean_big, big = scores
    m3.metric(f"First {big['images']} test digits, original", f"{100 * clean_big:.1f}%")
    m4.metric(
        f"First {big['images']} test digits, attacked",
        f"{100 * big['accuracy']:.1f}%",
        delta=f"{100 * (big['accuracy'] - clean_big):+.1f} points",
        delta_color="normal",
    )
    with box:
        if big.get("target_reached") is not None:
            st.markdown(
                f"🎯 {100 * big['target_reached']:.1f}% of the first {big['images']} test digits "
                "now read as their target."
            )
        widgets.health_note(
            big["health"],
            big["images"],
            settings.eps,
            big["sentence"],
            big["stalled"],
            prefix=f"Gradient health, first {big['images']} test digits",
        )


def _rerun_when_scored(choice, settings, limit: int) -> None:
    if compute.larger_sample_job(choice, settings, limit).done():
        st.rerun()  # the whole page: the grid comes from the cache, the sample is now ready


# --- one digit and its twin --------------------------------------------------------------------
def digit_and_twin(
    view: AttackView, strip, *, caption: str, lead: str, before: str, after: str
) -> None:
    """One attacked digit: its picture strip, both verdicts and the gradient's health."""
    st.image(strip, caption=caption)
    st.markdown(
        f"{lead} **{int(view.labels[0])}** · "
        + widgets.before_after(view, 0, before=before, after=after, sep=" · ")
    )
    widgets.health_note(view.health, len(view), view.eps, view.health_sentence, view.stalled)


def home_digit(view: AttackView, eps: float) -> None:
    """The home page's digit and its FGSM twin for one model."""
    digit_and_twin(
        view,
        digit_strip(view.original[0], view.adversarial[0], view.perturbation[0], zoom=5),
        caption=f"original | FGSM twin (eps {eps}) | perturbation (red brighter, blue darker)",
        lead="True label",
        before="original →",
        after="FGSM twin →",
    )


# --- training and fine-tuning ------------------------------------------------------------------
def training_run(run) -> None:
    """A training run: live while it goes; when done, what was saved and any trouble."""
    done = run.result
    if run.status == "done" and done:
        accuracy = done["test_accuracy"]
        st.success(
            f"Saved as **{done['file']}** in `{done['folder']}` — pick it on the other pages."
        )
        if done["trouble"]:
            st.warning(done["trouble"])
        st.markdown(
            f"**Last run:** {models.model_label(done['model'])}, saved as `{done['file']}`"
            + (f", test accuracy {100 * accuracy:.1f}%" if accuracy is not None else "")
            + f" on {done['test_images']} test digits, {done['seconds']:.1f} s."
        )
    run_views.training(run, "tr_run")


def finetuning_run(run) -> None:
    """A fine-tuning run: live while it goes, beside the study's curves and the committed
    run's; when done, how long it took."""
    done = run.result
    study, label, committed = (run.context.get(k) for k in ("study", "study_label", "committed"))
    if run.status == "done" and done:
        st.markdown(
            f"**Last run:** {done['label']}, {len(done['rows']) - 1} rounds in "
            f"{done['seconds']:.1f} s."
        )
    run_views.finetuning(run, "ft_run", study, label, committed)


# --- inside the VOneBlock ----------------------------------------------------------------------
def filter_bank(bank: BankView, beside: BankView | None) -> None:
    """The chosen block's filters (and the 2.5-degree block's beside them) with the Nyquist
    sentence, then the parameter table of the chosen ones."""
    st.markdown(bank.resolution)
    columns = st.columns(2) if beside is not None else [st.container()]
    for column, shown in zip(columns, [bank] + ([beside] if beside else []), strict=True):
        column.markdown(f"**{shown.title}**")
        column.image(shown.image, caption=shown.caption)
        if shown is beside:
            column.caption(shown.resolution)
    st.dataframe(bank.params, hide_index=True, key="v1_params")


def cell_responses(cells: CellView, left, right) -> None:
    """The digit in ``left``; its strongest simple and complex cell maps in ``right``."""
    left.image(cells.digit, caption=f"test digit {cells.index}, label {cells.label}")
    for title, picture, caption in cells.mosaics:
        right.markdown(title)
        right.image(picture, caption=caption)


def noise(view: NoiseView) -> None:
    st.image(view.image, caption=text.NOISE_CAPTION)
    st.markdown(
        f"Across samples the mean response changes by {view.mean_change:.2f} "
        f"per pixel (response peak {view.peak:.2f}). The network after the block sees a "
        "different noisy picture on every pass — an attacker's gradient does too."
    )


def block_attack(shown: BlockAttackView) -> None:
    """The attacked digit, and what the attack changed in the block's responses."""
    digit_and_twin(
        shown.view,
        shown.strip,
        caption="original | FGSM | perturbation",
        lead="Label",
        before="original →",
        after="attacked →",
    )
    st.metric(
        "Total change in the block's responses",
        f"{100 * shown.relative_change:.1f}%",
        help=text.TOTAL_CHANGE_HELP,
    )
    c1, c2 = st.columns([2, 1])
    c1.image(shown.pair, caption=f"{shown.channel_name}: clean | adversarial")
    c2.image(shown.difference, caption="difference (red: stronger under attack, blue: weaker)")
    if shown.most_changed:
        st.caption("Channels the attack changed most: " + ", ".join(shown.most_changed))
    else:
        st.caption(text.NOTHING_CHANGED)
