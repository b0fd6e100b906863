"""VOneNet adversarial lab — the entry point: the sidebar menu and the home page.

Run with ``streamlit run streamlit_app.py``; the other pages live in ``pages/``.
"""

import streamlit as st

from ui import loaders, widgets
from vonedemo import models
from vonedemo.attack_view import AttackSettings
from vonedemo.study import STUDY_EPS


def _next_digit() -> None:
    st.session_state["home_index"] = int(st.session_state["home_index"]) + 1


def home() -> None:
    widgets.page_setup(
        "VOneNet adversarial lab",
        "🧠",
        "A network that reads handwritten digits almost perfectly can be fooled by a faint, "
        "carefully chosen pattern of pixel changes — an **adversarial example**. The fast gradient "
        "sign method (FGSM) nudges every pixel by ±eps in the direction that raises the network's "
        "error. A 2021 study reported that putting a fixed, brain-like front-end — the **VOneBlock**, "
        "a bank of V1-style Gabor filters with neuronal noise — before a small network made it "
        "resist FGSM at eps 0.35. Below: one test digit and its FGSM twin for a plain CNN and for "
        "its VOneNet twin.",
    )
    widgets.init_state({"home_index": 0})

    with widgets.guard("the home page"):
        # One fixed noise draw (seeded) for the VOne model: both pictures then see the same noise,
        # so a changed answer is the attack's doing, not the noise's.
        settings = AttackSettings(attack="fgsm", eps=STUDY_EPS, noise="seeded", seed=0)
        index = int(st.session_state["home_index"])
        missing = []
        for column, name in zip(st.columns(2), ("basic-cnn", "vone-basic-cnn"), strict=True):
            choice = loaders.pretrained_choice(name)
            with column:
                st.subheader(choice.label)
                if not choice.available:
                    missing.append(name)
                    st.caption("Its checkpoint is not there yet.")
                    continue
                view = loaders.digit_view(choice.key, choice.stamp, settings, index)
                st.image(
                    widgets.digit_strip(
                        view.original[0], view.adversarial[0], view.perturbation[0], zoom=5
                    ),
                    caption=f"original | FGSM twin (eps {STUDY_EPS}) | perturbation (red brighter, blue darker)",
                )
                label = int(view.labels[0])
                st.markdown(
                    f"True label **{label}** · original → "
                    f"{widgets.verdict(int(view.clean_pred[0]), float(view.clean_confidence[0]), label)}"
                    f" · FGSM twin → {widgets.verdict(int(view.adv_pred[0]), float(view.adv_confidence[0]), label)}"
                )
                widgets.health_note(view.health_sentence, view.stalled)
                if choice.is_vone:
                    st.caption(
                        "VOne noise: one fixed draw for both pictures (the Attack explorer also "
                        "shows the study's fresh noise on every pass)."
                    )
        if missing:
            names = " and ".join(models.model_label(n) for n in missing)
            st.info(
                f"The pretrained {names} {'is' if len(missing) == 1 else 'are'} not in `checkpoints/` yet "
                f"(training may still be running): {loaders.REGENERATE}. Meanwhile you can train your own "
                "on the *Train a model* page."
            )
        st.button("Another digit", key="home_next", on_click=_next_digit)

    st.markdown(widgets.CAVEAT)
    st.subheader("Explore")
    widgets.page_links()


widgets.navigation(home).run()
