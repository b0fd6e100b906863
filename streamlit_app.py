"""VOneNet adversarial lab — the entry point: the sidebar menu and the home page.

Run with ``streamlit run streamlit_app.py``; the other pages live in ``pages/``.
"""

import streamlit as st

from ui import compute, loaders, panels, text, widgets
from vonedemo import models
from vonedemo.attack_view import AttackSettings
from vonedemo.study import STUDY_EPS

TWINS = ("basic-cnn", "vone-basic-cnn")  # a plain CNN and its VOneNet twin


def _next_digit() -> None:
    st.session_state["home_index"] = int(st.session_state["home_index"]) + 1


def missing_note(missing: list[str]) -> None:
    names = " and ".join(models.model_label(n) for n in missing)
    st.info(
        f"The pretrained {names} {'is' if len(missing) == 1 else 'are'} not in `checkpoints/` yet "
        f"(training may still be running): {text.REGENERATE}. Meanwhile you can train your own "
        "on the *Train a model* page."
    )


def home() -> None:
    widgets.page_setup("VOneNet adversarial lab", "🧠", text.HOME_INTRO)
    st.session_state.setdefault("home_index", 0)

    with widgets.guard("the home page"):
        # One fixed noise draw (seeded) for the VOne model: both pictures then see the same noise,
        # so a changed answer is the attack's doing, not the noise's.
        settings = AttackSettings(attack="fgsm", eps=STUDY_EPS, noise="seeded", seed=0)
        index = int(st.session_state["home_index"])
        missing = []
        for column, name in zip(st.columns(2), TWINS, strict=True):
            choice = loaders.pretrained_choice(name)
            with column:
                st.subheader(choice.label)
                if not choice.available:
                    missing.append(name)
                    st.caption("Its checkpoint is not there yet.")
                    continue
                panels.home_digit(compute.digit_view(choice, settings, index), STUDY_EPS)
                if choice.is_vone:
                    st.caption(text.HOME_NOISE_NOTE)
        if missing:
            missing_note(missing)
        st.button("Another digit", key="home_next", on_click=_next_digit)

    st.markdown(text.CAVEAT)
    st.subheader("Explore")
    widgets.page_links()


widgets.navigation(home).run()
