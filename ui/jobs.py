"""Long runs a button starts: training, adversarial fine-tuning, measuring the study's models
and a quick audit. Each draws its progress live (``ui.progress``) and returns plain records a
page keeps in its session state. Not cached and not in a compute slot: a run takes minutes,
and a slot held that long would stall every other session's grid."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import streamlit as st
import torch

from vonedemo import audit, models, runs
from vonedemo import results as measured_results
from vonedemo.progress import Progress
from vonedemo.study import study_curves
from vonedemo.training import FinetuneConfig, TrainConfig, adversarial_finetune, train

from . import background
from .i18n import DEFAULT_LANGUAGE, language, t, tr
from .loaders import ModelChoice, build_fresh_model, get_model, test_data, train_data
from .progress import ProgressBar
from .settings import app_checkpoint_dir, repaired_results_path, results_path

EVAL_LIMIT = 500  # test digits scored after each training epoch


TRAINING_SIZES = (200, 500, 1000, 2000, 5000, 10000)


def recommended_training(name: str) -> dict:
    """Settings the Train page steers to for ``name``: {"lr", "sizes"}. A VOne model's block
    multiplies its responses by k_exc = 25, and Adam's first steps at 1e-3 on fewer than a few
    thousand images throw its back-end off (the loss climbs and stays up); 1e-4 on 2,000 or
    more images trains."""
    if models.get_spec(name).vone:
        return {"lr": 1e-4, "sizes": tuple(s for s in TRAINING_SIZES if s >= 2000)}
    return {"lr": 1e-3, "sizes": TRAINING_SIZES}


def training_trouble(
    losses: list[float], test_accuracy: float | None, lang: str = DEFAULT_LANGUAGE
) -> str | None:
    """Why a finished run did not train, or None: accuracy no better than chance, or a loss
    that ended above where it started (in ``lang``: runs end away from any session)."""
    if test_accuracy is not None and test_accuracy <= 0.1:
        return tr(lang, "train.trouble_chance", accuracy=f"{100 * test_accuracy:.1f}")
    if len(losses) >= 4:
        tail = losses[-max(1, len(losses) // 4) :]
        if sum(tail) / len(tail) > losses[0]:
            first, last = f"{losses[0]:.2f}", f"{sum(tail) / len(tail):.2f}"
            return tr(lang, "train.trouble_diverged", first=first, last=last)
    return None


def training_plan(size: int, batch: int, epochs: int) -> tuple[int, int]:
    """(training images actually available, optimiser steps) for the chosen sizes."""
    size = min(int(size), len(train_data()))
    return size, int(epochs) * -(-size // int(batch))


def _record_step(run: background.Run, info: Progress, text: str) -> None:
    with run.lock:
        run.step = info.done
        run.steps.append(info.done)
        run.losses.append(info.metrics["loss"])
        run.step_text = text


def start_training(
    name: str, *, epochs: int, lr: float, batch: int, size: int, save_as: str
) -> background.Run:
    """Train ``name`` from scratch in the background and save it in the app's folder; the
    run's record (its result: what the page shows afterwards, the saved file's name)."""
    size, steps = training_plan(size, batch, epochs)
    config = TrainConfig(
        epochs=epochs, lr=lr, batch_size=batch, seed=0, limit=size, eval_limit=EVAL_LIMIT
    )
    train_set, test_set = train_data(), test_data()  # resolved here: workers have no session
    folder = app_checkpoint_dir()
    lang = language()  # the run's words, in the language of whoever started it

    def work(run: background.Run) -> dict:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # weight initialisation
            model = build_fresh_model(name)

        def on_step(info: Progress) -> None:
            epoch, loss = info.metrics["epoch"], f"{info.metrics['loss']:.3f}"
            text = tr(
                lang,
                "train.progress",
                epoch=epoch,
                epochs=epochs,
                done=info.done,
                total=info.total,
                loss=loss,
            )
            _record_step(run, info, text)

        def on_epoch(info: Progress) -> None:
            with run.lock:
                run.rows.append({"epoch": info.done, **info.metrics})

        history = train(
            model, train_set, config, test_data=test_set, on_step=on_step, on_epoch=on_epoch
        )
        model.eval()
        final = history.epochs[-1] if history.epochs else None
        test_acc = final.test_accuracy if final else None
        metadata = {
            "made_by": "trained in the app",
            "model": name,
            "train_config": history.config,
            "epochs": [asdict(e) for e in history.epochs],
            "train_seconds": round(history.seconds, 1),
            "test_accuracy": test_acc,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        path = runs.save_named_checkpoint(folder, save_as, model, metadata)
        losses = [s.loss for s in history.steps]
        return {
            "file": path.name,
            "folder": str(path.parent),
            "model": name,
            "seconds": history.seconds,
            "test_accuracy": test_acc,
            "test_images": min(EVAL_LIMIT, len(test_set)),
            "steps": [s.step for s in history.steps],
            "losses": losses,
            "epochs": metadata["epochs"],
            "planned_epochs": epochs,
            "total_steps": steps,
            "trouble": training_trouble(losses, test_acc, lang),
        }

    return background.start("train", models.model_label(name), steps, work)


def start_finetune(
    choice: ModelChoice,
    *,
    rounds: int,
    lr: float,
    eps: float,
    gradient: str,
    train_limit: int,
    eval_limit: int,
    study: dict | None,
    study_label: str,
) -> background.Run:
    """Fine-tune a copy of the shared model on FGSM digits in the background; the run's
    record (its result holds the fine-tuned model, unsaved)."""
    model, _ = get_model(choice)
    train_set, test_set = train_data(), test_data()
    config = FinetuneConfig(
        rounds=rounds,
        lr=lr,
        eps=eps,
        gradient=gradient,
        batch_size=64,
        train_limit=train_limit,
        eval_limit=eval_limit,
        attack="fgsm",
        seed=0,
    )
    per_round = train_set.subset(train_limit).num_batches(64)
    lang = language()

    def work(run: background.Run) -> dict:
        def on_step(info: Progress) -> None:
            text = tr(
                lang,
                "finetune.progress",
                round=info.metrics["round"],
                rounds=rounds,
                done=info.done,
                total=info.total,
                loss=f"{info.metrics['loss']:.3f}",
            )
            _record_step(run, info, text)

        def on_round(info: Progress) -> None:
            m = info.metrics
            made, scored = m["train_health"] or {}, m["test_health"] or {}
            row = {
                "round": info.done,
                "clean": 100 * m["clean_accuracy"],
                "adversarial": 100 * m["adversarial_accuracy"],
                "train_loss": m["train_loss"],
                "seconds": m["seconds"],
                "train_moved": made.get("moved_fraction"),
                "train_nan": made.get("nonfinite_gradient_fraction"),
                "test_moved": scored.get("moved_fraction"),
                "test_nan": scored.get("nonfinite_gradient_fraction"),
            }
            with run.lock:
                run.rows.append(row)

        result = adversarial_finetune(
            model, train_set, test_set, config, on_round=on_round, on_step=on_step
        )
        return {
            "model": result.model,
            "rows": list(run.rows),
            "config": result.config,
            "base": choice.key,
            "name": choice.name,
            "label": choice.label,
            "seconds": result.seconds,
            "saved": None,
            "study": study,
            "study_label": study_label,
        }

    context = {"study": study, "study_label": study_label, "committed": committed_curves(choice)}
    return background.start("finetune", choice.label, per_round * rounds, work, context)


def committed_curves(choice: ModelChoice | None) -> dict | None:
    """The committed fine-tuning curves of ``choice``'s shipped model (``results/``: the
    study's full run); None for others."""
    if choice is None or not choice.name:
        return None
    return measured_results.committed_finetune(results_path(), choice.name)


def committed_repaired_curves(choice: ModelChoice | None) -> dict | None:
    """The committed fine-tuning curves of ``choice``'s shipped model with the repaired
    gradient (``results/repaired/``: what the study would have seen with a working attack)."""
    if choice is None or not choice.name:
        return None
    return measured_results.committed_finetune(repaired_results_path(), choice.name)


def save_finetuned(last: dict, save_as: str) -> Path:
    """Save a fine-tuning run's model in the app's folder and mark the record saved."""
    metadata = {
        "made_by": "fine-tuned in the app",
        "model": last["name"],
        "base": last["base"],
        "finetune": last["config"],
        "rounds": last["rows"],
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path = runs.save_named_checkpoint(app_checkpoint_dir(), save_as, last["model"], metadata)
    last["saved"] = path.name
    return path


def measure_now(available: list[ModelChoice], limit: int) -> dict:
    """Clean and FGSM accuracy along eps of every ``available`` model on the first ``limit``
    test digits, with one progress bar: {"limit", "models": {name: summary row}}."""
    eps_values = measured_results.DEFAULT_EPS_VALUES
    total = len(available) * len(eps_values)
    bar = st.progress(0.0, text=t("compare.measuring"))
    results = {}
    for i, choice in enumerate(available):
        model, _ = get_model(choice)

        def on_eps(done: int, n: int, i: int = i, label: str = choice.label) -> None:
            bar.progress(
                min(1.0, (i * n + done) / total),
                text=t("compare.measuring_model", label=label, done=done, n=n),
            )

        results[choice.name] = measured_results.measure_model(
            model, test_data(), limit=limit, eps_values=eps_values, on_eps=on_eps
        )
        results[choice.name]["source"] = t("compare.measured_now", limit=limit)
    bar.progress(1.0, text=t("compare.done"))
    return {"limit": limit, "models": results}


def quick_audit(choice: ModelChoice, limit: int) -> dict:
    """A small audit of one study model on ``limit`` digits, as a report dict (the page shows it
    apart from the saved audit: its sample and budgets differ)."""
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
    # One bar over the whole audit: its attacks, its curves, then its checks (which report
    # nothing), each stage a share of the bar roughly as long as it takes.
    label = models.model_label(choice.name)
    bar = ProgressBar(
        t("audit.auditing", label=label, limit=limit),
        stages=(
            ("audit", t("audit.stage_attacks"), 0.6),
            ("curves", t("audit.stage_curves"), 0.3),
        ),
        after=t("audit.stage_checks"),
    )

    def load(name: str):  # the audited model and its transfer source, from the shared cache
        return get_model(f"pretrained:{name}")[0]

    result = audit.audit_model(choice.name, load, test_data(), config, bar)
    bar.done(t("audit.audited", label=label, limit=limit, seconds=f"{result.seconds:.0f}"))
    return audit.audit_to_dict([result], config)


def study_curves_for(choice: ModelChoice | None) -> tuple[dict | None, str]:
    """(the study's fine-tuning curves for the chosen model or None, its label)."""
    if choice is None or not choice.name:
        return None, ""
    return study_curves(choice.name), models.model_label(choice.name)
