"""VOneNet adversarial lab — the entry point: the sidebar menu and the home page.

Run with ``streamlit run streamlit_app.py``; the other pages live in ``pages/``.
"""

import streamlit as st

from ui import compute, links, loaders, panels, widgets
from ui.i18n import t
from vonedemo import models
from vonedemo.attack_view import AttackSettings
from vonedemo.study import STUDY_EPS

TWINS = ("basic-cnn", "vone-basic-cnn")  # a plain CNN and its VOneNet twin


def _next_digit() -> None:
    st.session_state["home_index"] = int(st.session_state["home_index"]) + 1


def missing_note(missing: list[str]) -> None:
    names = t("home.name_join").join(models.model_label(n) for n in missing)
    key = "home.missing_one" if len(missing) == 1 else "home.missing_many"
    st.info(t(key, names=names, regenerate=t("app.regenerate")))


def home() -> None:
    widgets.page_setup(t("home.title"), "🧠", t("text.home_intro"))
    links.restore(links.HOME, {"home_index": 0})

    with widgets.guard(t("home.guard")):
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
                    st.caption(t("home.no_checkpoint"))
                    continue
                panels.home_digit(compute.digit_view(choice, settings, index), STUDY_EPS)
                if choice.is_vone:
                    st.caption(t("text.home_noise_note"))
        if missing:
            missing_note(missing)
        st.button(t("home.another"), key="home_next", on_click=_next_digit)

    st.markdown(t("text.caveat"))
    st.subheader(t("home.explore"))
    widgets.page_links()
    links.share(links.HOME)


widgets.navigation(home).run()
