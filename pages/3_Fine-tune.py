"""The study's experiment, live: fine-tune on FGSM digits and watch both accuracies move."""

import time

import streamlit as st

from ui import charts, loaders, settings, widgets
from ui.progress import FinetuneMonitor
from vonedemo import models, runs
from vonedemo.study import study_curves
from vonedemo.training import FinetuneConfig, adversarial_finetune

widgets.page_setup(
    "Adversarial fine-tuning",
    "🛡️",
    "The study's second experiment: keep training a model, but on FGSM versions of the training "
    "digits, made from the current weights at every step (Adam, learning rate 1e-4). After each "
    "round the model is scored on clean and on FGSM test digits. The study's curves for the same "
    "model are dashed. The model you start from is never changed — fine-tuning works on a copy.",
)
widgets.init_state(
    {
        "ft_eps": 0.35,
        "ft_rounds": 3,
        "ft_lr": 1e-4,
        "ft_train": 500,
        "ft_eval": 200,
        "ft_name": "",
        "ft_result": None,
    }
)

with widgets.guard("the fine-tuning page"):
    choice = widgets.model_picker("ft_model", loaders.model_choices(), label="Model to fine-tune")
    left, right = st.columns(2)
    left.slider(
        "eps of the training (and test) attack",
        0.0,
        0.5,
        step=0.01,
        key="ft_eps",
        persist_state="session",
    )
    left.slider("Rounds", 1, 30, key="ft_rounds", persist_state="session", help="The study ran 30.")
    left.select_slider(
        "Learning rate",
        options=[1e-5, 3e-5, 1e-4, 3e-4, 1e-3],
        key="ft_lr",
        persist_state="session",
        format_func=lambda v: f"{v:g}",
        help="The study: 1e-4.",
    )
    right.select_slider(
        "Training images per round",
        options=[64, 128, 256, 500, 1000, 2000, 5000],
        key="ft_train",
        persist_state="session",
    )
    right.select_slider(
        "Test images scored per round",
        options=[50, 100, 200, 500, 1000],
        key="ft_eval",
        persist_state="session",
    )
    rounds = int(st.session_state["ft_rounds"])
    study = study_curves(choice.name) if choice is not None and choice.name else None
    study_label = models.model_label(choice.name) if choice is not None and choice.name else ""
    if choice is not None and study is None:
        st.caption("The study has no fine-tuning curve for this model.")
    if choice is not None and choice.is_vone:
        st.caption(
            "VOne models are slow on a CPU: each step runs an FGSM attack and a training step "
            "through 512 Gabor filters. Start with a few rounds and a few hundred images."
        )

    if choice is not None and st.button("▶ Start fine-tuning", key="ft_start", type="primary"):
        model, metadata = loaders.get_model(choice.key)
        config = FinetuneConfig(
            rounds=rounds,
            lr=float(st.session_state["ft_lr"]),
            eps=float(st.session_state["ft_eps"]),
            batch_size=64,
            train_limit=int(st.session_state["ft_train"]),
            eval_limit=int(st.session_state["ft_eval"]),
            attack="fgsm",
            seed=0,
        )
        monitor = FinetuneMonitor(rounds, study, study_label, key="ft_live")
        result = adversarial_finetune(
            model,
            loaders.train_data(),
            loaders.test_data(),
            config,
            on_round=monitor.on_round,
            on_step=monitor.on_step,
        )
        monitor.bar.progress(1.0, text=f"Done in {result.seconds:.1f} s")
        st.session_state["ft_result"] = {
            "model": result.model,
            "rows": monitor.rows,
            "config": result.config,
            "base": choice.key,
            "name": choice.name,
            "label": choice.label,
            "seconds": result.seconds,
            "saved": None,
            "study": study,
            "study_label": study_label,
        }
    elif st.session_state["ft_result"]:
        last = st.session_state["ft_result"]
        st.markdown(
            f"**Last run:** {last['label']}, {len(last['rows']) - 1} rounds in {last['seconds']:.1f} s."
        )
        st.plotly_chart(
            charts.finetune_figure(
                last["rows"], last["config"]["rounds"], last["study"], last["study_label"]
            ),
            key="ft_last_chart",
        )

    last = st.session_state["ft_result"]
    if last:
        rows = last["rows"]
        st.dataframe(
            [
                {
                    "round": r["round"],
                    "clean %": round(r["clean"], 1),
                    "adversarial %": round(r["adversarial"], 1),
                    "train loss": None if r["train_loss"] is None else round(r["train_loss"], 3),
                    "seconds": round(r["seconds"], 1),
                }
                for r in rows
            ],
            hide_index=True,
            key="ft_rounds_table",
        )
        if last["saved"]:
            st.success(f"Saved as **{last['saved']}** — pick it on the other pages.")
        else:
            default_name = f"{last['name'] or 'model'}-ft{len(rows) - 1}"
            st.text_input(
                "Save the fine-tuned model as",
                key="ft_name",
                persist_state="session",
                placeholder=default_name,
                max_chars=64,
            )
            if st.button("💾 Save", key="ft_save"):
                metadata = {
                    "made_by": "fine-tuned in the app",
                    "model": last["name"],
                    "base": last["base"],
                    "finetune": last["config"],
                    "rounds": rows,
                    "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                }
                path = runs.save_named_checkpoint(
                    settings.app_checkpoint_dir(),
                    st.session_state["ft_name"] or default_name,
                    last["model"],
                    metadata,
                )
                last["saved"] = path.name
                st.success(f"Saved as **{path.name}** — pick it on the other pages.")
