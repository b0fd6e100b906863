"""Your digit: draw it or photograph it, see every model's answer, attack it, watch PGD step by step."""

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from ui import digit_panels, digit_views, links, text, widgets
from ui.i18n import t
from ui.widgets import KEPT

DEFAULTS = {"yd_attack": "pgd", "yd_gradient": "repaired", "yd_eps": 0.2, "yd_target": "none"}
DEFAULTS |= {"yd_steps": 20, "yd_at": 0, "yd_playing": False}


def picture_ui() -> bytes | None:
    """The picture's bytes: drawn on the canvas, or uploaded (kept in memory, never on disk)."""
    draw, upload = st.tabs([t("digit.draw"), t("digit.upload")])
    with draw:
        canvas = st_canvas(
            stroke_width=18,
            stroke_color="#000000",
            background_color="#ffffff",
            height=280,
            width=280,
            return_image_data=True,
            key="yd_canvas",
        )
    with upload:
        file = st.file_uploader(
            t("text.digit_upload"), type=["png", "jpg", "jpeg", "webp"], key="yd_file"
        )
    if file is not None:
        return file.getvalue()
    return canvas.image_bytes if canvas is not None and canvas.json_data else None


def attack_ui(label: int) -> dict:
    """The attack's settings; the target as None, a class or "runner-up"."""
    c1, c2, c3, c4 = st.columns(4)
    choices = digit_views.shipped_models()
    model = c1.selectbox(
        t("digit.model"),
        [c.key for c in choices],
        key="yd_model",
        format_func={c.key: c.label for c in choices}.get,
    )
    words = {"format_func": text.option_label(), **KEPT}
    c2.radio(t("app.attack"), list(links.ATTACKS), key="yd_attack", **words)
    help = t("text.gradient_help")
    c3.radio(t("app.gradient"), list(links.GRADIENTS), key="yd_gradient", help=help, **words)
    help = t("text.digit_target_help")
    c4.selectbox(t("digit.target"), links.TARGETS, key="yd_target", help=help, **words)
    st.slider(t("app.eps"), 0.0, 0.5, step=0.01, key="yd_eps", **KEPT)
    if st.session_state["yd_attack"] == "pgd":
        st.slider(t("app.pgd_steps"), 1, 60, key="yd_steps", **KEPT)
    state, target = st.session_state, st.session_state["yd_target"]
    target = None if target == "none" else (target if target == "runner-up" else int(target))
    return {
        "model": model,
        "attack_name": state["yd_attack"],
        "eps": float(state["yd_eps"]),
        "gradient": state["yd_gradient"],
        "target": target,
        "steps": int(state["yd_steps"]),
        "label": label,
    }


widgets.page_setup(t("digit.title"), "✍️", t("text.digit_intro"))
links.restore(links.DIGIT, DEFAULTS)

with widgets.guard(t("digit.guard")):
    data = picture_ui()
    digit, problem = digit_views.read_digit(data) if data is not None else (None, None)
    if problem:
        st.warning(problem)
    if digit is not None:
        left, right = st.columns([1, 3])
        with left:
            digit_panels.seen(digit)
        rows = digit_views.answers(digit)
        with right:
            digit_panels.answers(rows)
        majority = max(range(10), key=[r["answer"] for r in rows].count)
        label = st.selectbox(t("digit.label"), list(range(10)), index=majority, key="yd_label")
        run = attack_ui(label)
        if run["target"] == "runner-up":
            chosen = next(r for r in rows if r["model"] == run["model"])
            run["target"] = int(chosen["probs"].argsort()[-2])
        shown = digit_views.attack(digit=digit, **run)
        digit_panels.attacked(digit, shown, run["eps"], label, run["target"])
        if run["attack_name"] == "pgd":
            digit_panels.pgd_section(digit, run)
    elif not problem:
        st.info(t("text.digit_empty"))
links.share(links.DIGIT)
