"""Inside the VOneBlock: the Gabor filter bank, cell responses, noise, and what an attack changes."""

import numpy as np
import streamlit as st
import torch

from ui import loaders, widgets
from vonedemo import vone_views as vv
from vonedemo.attack_view import AttackSettings
from vonedemo.study import STUDY_EPS

widgets.page_setup(
    "Inside the VOneBlock",
    "🔬",
    "The VOneBlock is a fixed model of primary visual cortex (V1): 512 Gabor filters whose "
    "spatial frequency, orientation, phase and size follow measurements in monkeys. **Simple "
    "cells** respond to a filter's match with the image (ReLU); **complex cells** combine a "
    "quadrature pair into a phase-free energy. Then comes random, Poisson-like **neuronal "
    "noise**. Nothing here is learned; the network after it is.",
)
widgets.init_state(
    {
        "v1_sort": "sf",
        "v1_desc": False,
        "v1_kind": "all",
        "v1_part": "q0",
        "v1_count": 64,
        "v1_index": 0,
        "v1_noise_n": 4,
        "v1_eps": STUDY_EPS,
        "v1_gradient": "raw",
    }
)
STUDY_BLOCK = "block:study"
SORT_LABELS = {
    "index": "channel number",
    "sf": "spatial frequency",
    "ori": "orientation",
    "phase": "phase",
    "nx": "envelope width nx",
    "ny": "envelope height ny",
}


def _channel_name(block, c: int) -> str:
    p = vv.params_array(block)[c]
    return f"ch {c} ({vv.cell_kinds(block)[c]}, sf {p[0]:.2f} cyc/deg, ori {p[1]:.0f}°)"


with widgets.guard("the VOneBlock page"):
    choices = [c for c in loaders.model_choices(vone_only=True) if c.available]
    by_key = {c.key: c for c in choices}
    options = [*by_key, STUDY_BLOCK]
    default = "pretrained:vone-basic-cnn" if "pretrained:vone-basic-cnn" in by_key else options[0]
    widgets.ensure_option("v1_source", options, default)
    source = st.selectbox(
        "Whose VOneBlock",
        options,
        key="v1_source",
        persist_state="session",
        format_func=lambda k: (
            by_key[k].label
            if k in by_key
            else "the study's VOneBlock on its own (no trained network)"
        ),
    )
    model = None
    if source == STUDY_BLOCK:
        block = loaders.study_block()
        if not choices:
            st.caption(
                f"No trained VOne model is available ({loaders.REGENERATE}); the filter bank, "
                "cells and noise do not need one."
            )
    else:
        model, _ = loaders.get_model(source)
        block = model.vone
    n_simple, n_complex = block.config.simple_channels, block.config.complex_channels
    test = loaders.test_data()

    bank_tab, cells_tab, noise_tab, attack_tab = st.tabs(
        ["Filter bank", "Cell responses", "Noise", "Clean vs adversarial"]
    )

    with bank_tab:
        c1, c2, c3, c4 = st.columns(4)
        c1.selectbox(
            "Sort by",
            list(vv.SORT_KEYS),
            key="v1_sort",
            persist_state="session",
            format_func=SORT_LABELS.get,
        )
        c2.toggle("Largest first", key="v1_desc", persist_state="session")
        c3.radio(
            "Cells", list(vv.CELL_KINDS), key="v1_kind", persist_state="session", horizontal=True
        )
        c4.radio(
            "Filter",
            ["q0", "q1"],
            key="v1_part",
            persist_state="session",
            horizontal=True,
            help="q0: each cell's own filter. q1: the complex cell's quadrature partner (phase + 90°).",
        )
        kind, part = st.session_state["v1_kind"], st.session_state["v1_part"]
        if part == "q1" and kind != "complex":
            st.caption("q1 filters belong to complex cells only: showing complex cells.")
            kind = "complex"
        available = {"all": n_simple + n_complex, "simple": n_simple, "complex": n_complex}[kind]
        counts = sorted({n for n in (16, 32, 64, 128, 256, 512) if n <= available} | {available})
        widgets.ensure_option(
            "v1_count", counts, min(64, available) if min(64, available) in counts else counts[-1]
        )
        st.select_slider("Filters shown", options=counts, key="v1_count", persist_state="session")
        image, shown = vv.kernel_gallery(
            block,
            by=st.session_state["v1_sort"],
            descending=st.session_state["v1_desc"],
            kind=kind,
            part=part,
            count=int(st.session_state["v1_count"]),
            columns=16,
            zoom=2,
        )
        st.image(
            image,
            caption=f"{len(shown)} {part} kernels, sorted by {SORT_LABELS[st.session_state['v1_sort']]} "
            "(red positive, blue negative; each scaled to its own peak)",
        )
        st.dataframe(vv.params_table(block, shown), hide_index=True, key="v1_params")

    digit_index = int(st.session_state["v1_index"]) % len(test)
    x = test.images[digit_index : digit_index + 1]
    label = int(test.labels[digit_index])
    simple, complex_ = vv.cell_maps(block, x)
    every = torch.cat([simple, complex_], 0)

    with cells_tab:
        a, b = st.columns([1, 3])
        a.number_input(
            "Test digit",
            min_value=0,
            max_value=len(test) - 1,
            step=1,
            key="v1_index",
            persist_state="session",
        )
        a.image(
            widgets.gray_image(x[0, 0].numpy(), zoom=4),
            caption=f"test digit {digit_index}, label {label}",
        )
        k = 16
        for title, maps, offset in (
            ("Simple cells", simple, 0),
            ("Complex cells", complex_, n_simple),
        ):
            top = vv.strongest_channels(maps, k)
            tiles = vv.heat_tiles(maps[torch.as_tensor(top)])
            b.markdown(
                f"**{title}** — the {len(top)} strongest of {maps.shape[0]} (one brightness scale)"
            )
            b.image(
                vv.mosaic(tiles, 8, zoom=2),
                caption="channels " + ", ".join(str(int(c) + offset) for c in top),
            )

    strongest = [int(c) for c in vv.strongest_channels(every, 16)]
    widgets.ensure_option("v1_channel", strongest, strongest[0])

    with noise_tab:
        st.selectbox(
            "Channel",
            strongest,
            key="v1_channel",
            persist_state="session",
            format_func=lambda c: _channel_name(block, c),
        )
        st.slider("Noise samples", 1, 8, key="v1_noise_n", persist_state="session")
        channel = int(st.session_state["v1_channel"])
        samples = vv.noise_samples(block, x, int(st.session_state["v1_noise_n"]))[:, channel]
        clean_map = every[channel]
        top = float(max(samples.max(), clean_map.max(), 1e-6))
        st.image(
            vv.mosaic(vv.heat_tiles(torch.cat([clean_map[None], samples]), vmax=top), 9, zoom=3),
            caption="left: the response before noise; then the same digit through the block with "
            "noise seeds 0, 1, 2, … (one brightness scale)",
        )
        st.markdown(
            f"Across samples the mean response changes by {float((samples - clean_map).abs().mean()):.2f} "
            f"per pixel (response peak {float(clean_map.max()):.2f}). The network after the block sees a "
            "different noisy picture on every pass — an attacker's gradient does too."
        )

    with attack_tab:
        if model is None:
            st.info(
                "Choose a trained VOne model above to attack it; the study's block on its own "
                "has no network to fool."
            )
        else:
            col_eps, col_grad = st.columns(2)
            col_eps.slider("eps", 0.0, 0.5, step=0.01, key="v1_eps", persist_state="session")
            col_grad.radio(
                "Gradient",
                ["raw", "repaired"],
                key="v1_gradient",
                persist_state="session",
                horizontal=True,
                help="raw: the study's (NaN at zero energy); repaired: 0 there.",
            )
            settings = AttackSettings(
                attack="fgsm",
                eps=round(float(st.session_state["v1_eps"]), 4),
                gradient=st.session_state["v1_gradient"],
                noise="seeded",
                seed=0,
            )
            view = loaders.digit_view(source, by_key[source].stamp, settings, digit_index)
            adv = torch.from_numpy(view.adversarial[:1].astype(np.float32) / 255.0)[:, None]
            change = vv.activation_change(block, x, adv)
            st.image(
                widgets.digit_strip(
                    view.original[0], view.adversarial[0], view.perturbation[0], zoom=4
                ),
                caption="original | FGSM | perturbation",
            )
            st.markdown(
                f"Label **{label}** · original → {widgets.verdict(int(view.clean_pred[0]), float(view.clean_confidence[0]), label)}"
                f" · attacked → {widgets.verdict(int(view.adv_pred[0]), float(view.adv_confidence[0]), label)}"
            )
            widgets.health_note(view.health_sentence, view.stalled)
            st.metric(
                "Total change in the block's responses", f"{100 * change['relative_change']:.1f}%"
            )
            channel = int(st.session_state["v1_channel"])
            trio = torch.stack([change["clean"][channel], change["adversarial"][channel]])
            peak = float(max(trio.max(), 1e-6))
            left_img = vv.mosaic(vv.heat_tiles(trio, vmax=peak), 2, zoom=4)
            diff_img = vv.mosaic(vv.diverging_tiles(change["difference"][channel][None]), 1, zoom=4)
            c1, c2 = st.columns([2, 1])
            c1.image(left_img, caption=f"{_channel_name(block, channel)}: clean | adversarial")
            c2.image(diff_img, caption="difference (red: stronger under attack, blue: weaker)")
            most = torch.argsort(change["channel_change"], descending=True)[:8].tolist()
            st.caption(
                "Channels the attack changed most: "
                + ", ".join(_channel_name(block, int(c)) for c in most)
            )
