"""Page sections drawn from computed results: the explorer's metrics, grid, close-up and larger
sample, the home page's digit and its FGSM twin. Drawing only: the results come in as
arguments, computed by :mod:`ui.compute`."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import streamlit as st

from vonedemo import models
from vonedemo.attack_view import AttackView

from . import charts, compute, exports, i18n, jobs, run_views, text, widgets
from .block_views import BankView, BlockAttackView, CellView, NoiseView
from .i18n import t, tr
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
    m1.metric(t("explorer.right_original", n=n), f"{view.clean_correct.sum()}/{n}")
    m2.metric(
        t("explorer.right_attacked", n=n),
        f"{view.adv_correct.sum()}/{n}",
        delta=f"{int(view.adv_correct.sum()) - int(view.clean_correct.sum())}",
        delta_color="normal",
    )
    if view.eps == 0 and view.flipped:
        st.caption(text.noise_not_attack(view.flipped, n))
    if view.reached_target is not None:
        st.markdown(t("explorer.reached_target", reached=view.reached_target, n=n))
    widgets.health_note(
        view.health,
        n,
        view.eps,
        view.stalled,
        prefix=t("explorer.health_shown", n=n),
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
            before, after = t("explorer.original"), t("explorer.attacked")
            cell.markdown(
                t("explorer.grid_line", i=i, label=label)
                + widgets.before_after(view, i, before=before, after=after, sep=" → ")
            )


def digit_up_close(view: AttackView) -> None:
    """One chosen digit's confidence bars, the table of all shown digits, the attack's time."""
    st.subheader(t("explorer.up_close"))
    positions = list(range(len(view)))
    widgets.ensure_option("ae_digit", positions, 0)
    lang = i18n.language()  # the options are formatted again later, maybe away from the run
    pick = st.selectbox(
        t("explorer.digit"),
        positions,
        key="ae_digit",
        persist_state="session",
        format_func=lambda i: tr(
            lang,
            "explorer.digit_option",
            i=i,
            label=int(view.labels[i]),
            pred=int(view.adv_pred[i]),
        ),
    )
    bars = _once_per_view(
        view,
        ("bars", pick, lang),
        lambda: charts.confidence_bars(
            view.clean_probs[pick],
            view.adv_probs[pick],
            int(view.labels[pick]),
            view.eps,
            lang,
        ),
    )
    st.plotly_chart(bars, key="ae_confidence")
    rows = _once_per_view(view, ("rows", lang), lambda: text.columns(view.rows()))
    # The Arrow table Streamlit would make of the rows, made once (the conversion is costly).
    table = _once_per_view(view, ("table", lang), lambda: pa.Table.from_pandas(pd.DataFrame(rows)))
    with st.expander(t("explorer.table")):
        st.dataframe(table, hide_index=True, key="ae_table")

    def grid_png() -> bytes:  # made when downloaded
        strips = [
            digit_strip(view.original[i], view.adversarial[i], view.perturbation[i], zoom=4)
            for i in range(len(view))
        ]
        return exports.png_bytes(exports.stacked(strips))

    exports.buttons(
        [
            (t("explorer.download_digits"), grid_png, "attacked_digits.png", "image/png"),
            (
                t("app.table_csv"),
                _once_per_view(view, ("csv", lang), lambda: exports.csv_bytes(rows)),
                "attacked_digits.csv",
                "text/csv",
            ),
        ],
        key="ae_download",
    )
    st.caption(t("explorer.took", seconds=f"{view.seconds:.2f}"))


def larger_sample(choice, settings, limit: int, metrics: list, box) -> None:
    """The larger sample's accuracies in the last two metric columns and its health in ``box``.
    They are scored in the background: until they are ready the columns show dashes and a
    fragment polls, so the grid above never waits for them."""
    m3, m4 = metrics[2:]
    scores = compute.larger_sample_scores(choice, settings, limit)
    if scores is None:
        m3.metric(t("explorer.first_original", n=limit), "—")
        m4.metric(t("explorer.first_attacked", n=limit), "—")
        job = compute.larger_sample_job(choice, settings, limit)
        with box:
            st.caption(t("text.explorer_scoring") if job.running() else t("text.explorer_queued"))
            st.fragment(_rerun_when_scored, run_every=1.0)(choice, settings, limit)
        return
    clean_big, big = scores
    m3.metric(t("explorer.first_original", n=big["images"]), f"{100 * clean_big:.1f}%")
    m4.metric(
        t("explorer.first_attacked", n=big["images"]),
        f"{100 * big['accuracy']:.1f}%",
        delta=t("explorer.points", value=f"{100 * (big['accuracy'] - clean_big):+.1f}"),
        delta_color="normal",
    )
    with box:
        if big.get("target_reached") is not None:
            share = f"{100 * big['target_reached']:.1f}"
            st.markdown(t("explorer.target_share", share=share, n=big["images"]))
        widgets.health_note(
            big["health"],
            big["images"],
            settings.eps,
            big["stalled"],
            prefix=t("explorer.health_first", n=big["images"]),
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
    widgets.health_note(view.health, len(view), view.eps, view.stalled)


def home_digit(view: AttackView, eps: float) -> None:
    """The home page's digit and its FGSM twin for one model."""
    digit_and_twin(
        view,
        digit_strip(view.original[0], view.adversarial[0], view.perturbation[0], zoom=5),
        caption=t("home.caption", eps=eps),
        lead=t("home.true_label"),
        before=t("home.before"),
        after=t("home.after"),
    )


# --- training and fine-tuning ------------------------------------------------------------------
def training_run(run) -> None:
    """A training run: live while it goes; when done, what was saved and any trouble."""
    done = run.result
    if run.status == "done" and done:
        accuracy = done["test_accuracy"]
        st.success(t("train.saved_in", file=done["file"], folder=done["folder"]))
        if done["trouble"]:
            st.warning(done["trouble"])
        shown = f"{100 * accuracy:.1f}" if accuracy is not None else None
        st.markdown(
            t("train.last_run", model=models.model_label(done["model"]), file=done["file"])
            + (t("train.last_accuracy", accuracy=shown) if shown is not None else "")
            + t("train.last_rest", images=done["test_images"], seconds=f"{done['seconds']:.1f}")
        )
    run_views.training(run, "tr_run")


def finetuning_run(run) -> None:
    """A fine-tuning run: live while it goes, beside the study's curves and the committed
    run's; when done, how long it took."""
    done = run.result
    study, label, committed = (run.context.get(k) for k in ("study", "study_label", "committed"))
    if run.status == "done" and done:
        rounds, seconds = len(done["rows"]) - 1, f"{done['seconds']:.1f}"
        st.markdown(t("finetune.last_run", label=done["label"], rounds=rounds, seconds=seconds))
    run_views.finetuning(run, "ft_run", study, label, committed)


def committed_finetuning(choice, study: dict | None, study_label: str) -> None:
    """With no run to follow: the study's experiment as ``reproduce`` committed it for the
    chosen model, beside the study's curves, with the training attack's gradient health."""
    for committed, kind in (
        (jobs.committed_curves(choice), "committed"),
        (jobs.committed_repaired_curves(choice), "repaired"),
    ):
        if committed is None:
            continue
        st.subheader(
            t(
                f"finetune.{kind}_title",
                rounds=committed["rounds"],
                train=f"{committed['train_images'] or 0:,}",
                test=f"{committed['test_images'] or 0:,}",
            )
        )
        figure = charts.finetune_figure([], committed["rounds"], study, study_label, committed)
        st.plotly_chart(figure, key=f"ft_{kind}_chart")
        moved = [m for m in committed["train_moved"][1:] if m is not None]
        nan = [n for n in committed["test_nan"] if n is not None]
        if moved and nan:
            st.caption(
                t(
                    f"finetune.{kind}_health",
                    moved=f"{100 * sum(moved) / len(moved):.0f}%",
                    nan=f"{100 * sum(nan) / len(nan):.0f}%",
                    gradient=committed["gradient"],
                )
            )
        st.caption(t(f"finetune.{kind}_source", source=committed["source"]))


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
    rows = [r | {"cell": text.option(r["cell"])} if "cell" in r else r for r in bank.params]
    st.dataframe(text.columns(rows), hide_index=True, key="v1_params")


def cell_responses(cells: CellView, left, right) -> None:
    """The digit in ``left``; its strongest simple and complex cell maps in ``right``."""
    left.image(cells.digit, caption=t("vone.digit_caption", index=cells.index, label=cells.label))
    for title, picture, caption in cells.mosaics:
        right.markdown(title)
        right.image(picture, caption=caption)


def noise(view: NoiseView) -> None:
    st.image(view.image, caption=t("text.noise_caption"))
    change, peak = f"{view.mean_change:.2f}", f"{view.peak:.2f}"
    st.markdown(t("vone.noise_change", change=change, peak=peak))


def block_attack(shown: BlockAttackView) -> None:
    """The attacked digit, and what the attack changed in the block's responses."""
    digit_and_twin(
        shown.view,
        shown.strip,
        caption=t("vone.attack_caption"),
        lead=t("vone.label"),
        before=t("vone.before"),
        after=t("vone.after"),
    )
    st.metric(
        t("vone.total_change"),
        f"{100 * shown.relative_change:.1f}%",
        help=t("text.total_change_help"),
    )
    c1, c2 = st.columns([2, 1])
    c1.image(shown.pair, caption=t("vone.pair_caption", channel=shown.channel_name))
    c2.image(shown.difference, caption=t("vone.difference_caption"))
    if shown.most_changed:
        st.caption(t("vone.most_changed") + ", ".join(shown.most_changed))
    else:
        st.caption(t("text.nothing_changed"))
