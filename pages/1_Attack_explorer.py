"""Attack explorer: pick a model and an attack, move eps, watch digits change their minds."""

import streamlit as st

from ui import charts, loaders, widgets
from vonedemo.attack_view import AttackSettings
from vonedemo.vone import NOISE_MODES

widgets.page_setup(
    "Attack explorer",
    "🎯",
    "Each digit is shown three times: the **original**, the **adversarial** version the attack "
    "made, and the **perturbation** (red: pixel made brighter, blue: darker, white: untouched). "
    "Predictions are green when right and red when wrong. Move **eps** — the largest change "
    "allowed per pixel — and see when the model gives in.",
)
widgets.init_state(
    {
        "ae_eps": 0.35,
        "ae_attack": "fgsm",
        "ae_gradient": "raw",
        "ae_eot": 1,
        "ae_pgd_steps": 10,
        "ae_noise": "neuronal",
        "ae_n": 16,
        "ae_seed": 0,
        "ae_sample": 100,
        "ae_digit": 0,
    }
)


def _new_sample() -> None:
    st.session_state["ae_seed"] = int(st.session_state.get("ae_seed", 0)) + 1


GRADIENT_HELP = (
    "raw: the study's backward pass — NaN where a complex cell sees no contrast, and "
    "sign(NaN) = 0 leaves those pixels alone. repaired: the same network, with the gradient "
    "defined as 0 there, so the attack can use every other pixel."
)
NOISE_HELP = (
    "neuronal: fresh random noise on every pass (the study's setting); off: no noise; seeded: "
    "one fixed noise pattern. Only VOne models have noise."
)

with widgets.guard("the attack explorer"):
    side = st.sidebar
    choice = widgets.model_picker("ae_model", loaders.model_choices(), container=side)
    side.radio(
        "Attack",
        ["fgsm", "pgd"],
        key="ae_attack",
        persist_state="session",
        horizontal=True,
        format_func=str.upper,
        help="FGSM: one step of size eps (the study's). PGD: many small steps.",
    )
    if st.session_state["ae_attack"] == "pgd":
        side.slider(
            "PGD steps",
            1,
            40,
            key="ae_pgd_steps",
            persist_state="session",
            help="Each step costs one more gradient.",
        )
    side.radio(
        "Gradient",
        ["raw", "repaired"],
        key="ae_gradient",
        persist_state="session",
        horizontal=True,
        help=GRADIENT_HELP,
    )
    side.slider(
        "EOT samples",
        1,
        8,
        key="ae_eot",
        persist_state="session",
        help="Average the gradient over this many noisy passes (expectation over transformation).",
    )
    is_vone = choice is not None and choice.is_vone
    side.radio(
        "Noise (VOne models)",
        list(NOISE_MODES),
        key="ae_noise",
        persist_state="session",
        horizontal=True,
        help=NOISE_HELP,
        disabled=not is_vone,
    )
    side.select_slider("Digits shown", options=[8, 16, 24, 32], key="ae_n", persist_state="session")
    side.number_input(
        "Seed (which digits; noise draws)",
        min_value=0,
        max_value=1_000_000,
        step=1,
        key="ae_seed",
        persist_state="session",
    )
    side.button("🎲 New sample", key="ae_new_sample", on_click=_new_sample)
    side.select_slider(
        "Larger sample (first N test digits)",
        options=[50, 100, 200, 500, 1000],
        key="ae_sample",
        persist_state="session",
    )

    st.slider(
        "eps — the largest change per pixel (pixel values run from 0 to 1)",
        0.0,
        0.5,
        step=0.01,
        key="ae_eps",
        persist_state="session",
    )

    if choice is not None:
        eps = float(st.session_state["ae_eps"])
        seed = int(st.session_state["ae_seed"])
        noise = st.session_state["ae_noise"] if is_vone else None
        settings = AttackSettings(
            attack=st.session_state["ae_attack"],
            eps=round(eps, 4),
            gradient=st.session_state["ae_gradient"],
            eot_samples=int(st.session_state["ae_eot"]),
            pgd_steps=int(st.session_state["ae_pgd_steps"]),
            noise=noise,
            seed=seed,
        )
        n = int(st.session_state["ae_n"])
        with st.spinner("Attacking the digits…"):
            view = loaders.attack_view(choice.key, choice.stamp, settings, n, seed)

        st.caption(f"{settings.describe()} · model: {choice.label}")
        m1, m2, m3, m4 = st.columns(4)
        m1.metric(f"Shown digits right, original ({n})", f"{view.clean_correct.sum()}/{n}")
        m2.metric(
            f"Shown digits right, attacked ({n})",
            f"{view.adv_correct.sum()}/{n}",
            delta=f"{int(view.adv_correct.sum()) - int(view.clean_correct.sum())}",
            delta_color="normal",
        )
        health_box = st.container()  # filled last: the larger sample must not hold up the grid

        pictures = loaders.grid_pictures(choice.key, choice.stamp, settings, n, seed)
        columns = 4
        for start in range(0, len(view), columns):
            cells = st.columns(columns)
            for j, cell in enumerate(cells):
                i = start + j
                if i >= len(view):
                    break
                label = int(view.labels[i])
                cell.image(pictures[i])
                cell.markdown(
                    f"#{i} · label **{label}** · original "
                    f"{widgets.verdict(int(view.clean_pred[i]), float(view.clean_confidence[i]), label)}"
                    f" → attacked {widgets.verdict(int(view.adv_pred[i]), float(view.adv_confidence[i]), label)}"
                )

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
        st.plotly_chart(
            charts.confidence_bars(
                view.clean_probs[pick], view.adv_probs[pick], int(view.labels[pick]), view.eps
            ),
            key="ae_confidence",
        )
        with st.expander("Table of the shown digits"):
            st.dataframe(view.rows(), hide_index=True, key="ae_table")
        st.caption(
            f"The attack on the shown digits took {view.seconds:.2f} s (results are cached per eps)."
        )

        limit = int(st.session_state["ae_sample"])
        force = st.session_state.get("ae_score_now", False)
        scores = loaders.larger_sample_scores(
            choice.key, choice.stamp, settings, limit, force=force
        )
        if scores is None:  # the app is busy (a class at work): the grid came first
            m3.metric(f"First {limit} test digits, original", "—")
            m4.metric(f"First {limit} test digits, attacked", "—")
            with health_box:
                st.caption(
                    "⏳ Many people are using the lab right now: the larger sample is skipped "
                    "for this eps so the grid stays quick."
                )
                st.button("Score the larger sample now", key="ae_score_now")
        else:
            clean_big, big = scores
            m3.metric(f"First {big['images']} test digits, original", f"{100 * clean_big:.1f}%")
            m4.metric(
                f"First {big['images']} test digits, attacked",
                f"{100 * big['accuracy']:.1f}%",
                delta=f"{100 * (big['accuracy'] - clean_big):+.1f} points",
                delta_color="normal",
            )
            with health_box:
                widgets.health_note(
                    big["sentence"],
                    big["stalled"],
                    prefix=f"Gradient health ({big['images']} digits)",
                )
