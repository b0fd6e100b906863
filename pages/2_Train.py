"""Train a model from scratch, watch the curves grow, and keep it as a named checkpoint."""

import time
from dataclasses import asdict

import streamlit as st
import torch

from ui import charts, loaders, settings, widgets
from ui.progress import TrainingMonitor
from vonedemo import models, runs
from vonedemo.training import TrainConfig, train

widgets.page_setup(
    "Train a model",
    "🏋️",
    "Train one of the study's eight networks from scratch on MNIST digits (Adam and "
    "cross-entropy, as the study). The loss and accuracy curves grow while it learns; the result "
    "is saved under a name of your choice and appears in the model lists of the other pages.",
)
widgets.init_state(
    {
        "tr_model": "basic-cnn",
        "tr_epochs": 1,
        "tr_lr": 1e-3,
        "tr_batch": 64,
        "tr_size": 2000,
        "tr_name": "",
        "tr_last": None,
    }
)

with widgets.guard("the training page"):
    left, right = st.columns(2)
    widgets.ensure_option("tr_model", list(models.STUDY_MODELS), "basic-cnn")
    name = left.selectbox(
        "Model",
        list(models.STUDY_MODELS),
        key="tr_model",
        persist_state="session",
        format_func=lambda n: f"{models.model_label(n)} ({n})",
    )
    left.slider(
        "Epochs",
        1,
        10,
        key="tr_epochs",
        persist_state="session",
        help="The study trained for 10 epochs.",
    )
    left.select_slider(
        "Learning rate",
        options=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
        key="tr_lr",
        persist_state="session",
        format_func=lambda v: f"{v:g}",
        help="The study: Adam at 0.001.",
    )
    right.select_slider(
        "Batch size",
        options=[16, 32, 64, 128, 256],
        key="tr_batch",
        persist_state="session",
        help="The study: 64.",
    )
    right.select_slider(
        "Training images",
        options=[200, 500, 1000, 2000, 5000, 10000],
        key="tr_size",
        persist_state="session",
        help="The first N of the 10,000 embedded training digits.",
    )
    default_name = f"{name}-{st.session_state['tr_epochs']}ep-{st.session_state['tr_size']}img"
    right.text_input(
        "Save as",
        key="tr_name",
        persist_state="session",
        placeholder=default_name,
        max_chars=64,
        help="Letters, digits, - _ and . only; a taken name gets a -2, -3 … suffix.",
    )

    data = loaders.train_data()
    size = min(int(st.session_state["tr_size"]), len(data))
    batch = int(st.session_state["tr_batch"])
    epochs = int(st.session_state["tr_epochs"])
    steps = epochs * -(-size // batch)
    slow = models.get_spec(name).vone
    st.caption(
        f"{steps} steps on {size} images. "
        + (
            "VOne models are slow on a CPU — each step runs 512 Gabor filters — so start small."
            if slow
            else "Baselines train in seconds to a minute on a laptop CPU."
        )
    )
    st.caption("Changing a control while training runs stops the run.")

    if st.button("▶ Start training", key="tr_start", type="primary"):
        config = TrainConfig(
            epochs=epochs,
            lr=float(st.session_state["tr_lr"]),
            batch_size=batch,
            seed=0,
            limit=size,
            eval_limit=500,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # weight initialisation
            model = loaders.build_fresh_model(name)
        monitor = TrainingMonitor(steps, epochs, key="tr_live")
        history = train(
            model,
            data,
            config,
            test_data=loaders.test_data(),
            on_step=monitor.on_step,
            on_epoch=monitor.on_epoch,
        )
        model.eval()
        final = history.epochs[-1] if history.epochs else None
        test_acc = final.test_accuracy if final else None
        monitor.finish(
            f"Done in {history.seconds:.1f} s"
            + (
                f" · test accuracy {100 * test_acc:.1f}% on {min(500, len(loaders.test_data()))} digits"
                if test_acc is not None
                else ""
            )
        )
        metadata = {
            "made_by": "trained in the app",
            "model": name,
            "train_config": history.config,
            "epochs": [asdict(e) for e in history.epochs],
            "train_seconds": round(history.seconds, 1),
            "test_accuracy": test_acc,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        path = runs.save_named_checkpoint(
            settings.app_checkpoint_dir(),
            st.session_state["tr_name"] or default_name,
            model,
            metadata,
        )
        st.session_state["tr_last"] = {
            "file": path.name,
            "model": name,
            "seconds": history.seconds,
            "test_accuracy": test_acc,
            "steps": [s.step for s in history.steps],
            "losses": [s.loss for s in history.steps],
            "epochs": metadata["epochs"],
            "planned_epochs": epochs,
            "total_steps": steps,
        }
        st.success(f"Saved as **{path.name}** in `{path.parent}` — pick it on the other pages.")
    elif st.session_state["tr_last"]:
        last = st.session_state["tr_last"]
        st.markdown(
            f"**Last run:** {models.model_label(last['model'])}, saved as `{last['file']}`"
            + (
                f", test accuracy {100 * last['test_accuracy']:.1f}%"
                if last["test_accuracy"] is not None
                else ""
            )
            + f", {last['seconds']:.1f} s."
        )
        a, b = st.columns(2)
        a.plotly_chart(
            charts.loss_figure(last["steps"], last["losses"], last["total_steps"]),
            key="tr_last_loss",
        )
        b.plotly_chart(
            charts.accuracy_figure(last["epochs"], last["planned_epochs"]), key="tr_last_acc"
        )

    saved = settings.app_checkpoints()
    if saved:
        with st.expander(f"Checkpoints saved in this app ({len(saved)})"):
            st.dataframe(
                [{"file": p.name, "size kB": round(p.stat().st_size / 1024)} for p in saved],
                hide_index=True,
                key="tr_saved",
            )
