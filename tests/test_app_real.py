"""Every page on the real shipped checkpoints (``checkpoints/``) and the real results folder,
through ``streamlit.testing.v1.AppTest``: the tiny stand-ins of ``test_app.py`` share the code
paths, but only the trained models show what a person sees — for instance that the study's raw
gradient is NaN on real digits, so FGSM moves nothing and the explorer must say so.

A small data limit keeps the set quick; the expected numbers are those of the shipped models
on the first 64 test digits (same seeds, same results).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest
from test_app import HOME, finish_run, metrics, page_elements, table, texts

from ui import compute
from ui import settings as app_settings
from ui.i18n import t
from vonedemo import checkpoints

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not all(checkpoints.pretrained_available(n) for n in ("basic-cnn", "vone-basic-cnn")),
        reason="the shipped checkpoints are not there",
    ),
]
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180  # seconds per script run: real models load and attack slower than stand-ins
DIGITS = 64


@pytest.fixture(scope="module", autouse=True)
def real_env(tmp_path_factory):
    """The shipped models and results; only what the app writes goes to a temporary folder."""
    with pytest.MonkeyPatch.context() as mp:
        for name in (app_settings.MODELS_ENV, app_settings.RESULTS_ENV, "VONEDEMO_CHECKPOINTS"):
            mp.delenv(name, raising=False)
        mp.setenv(app_settings.DATA_LIMIT_ENV, str(DIGITS))
        mp.setenv(app_settings.PRECOMPUTE_ENV, "off")  # no background work on the real models
        mp.setattr(compute, "SAMPLE_WAIT_S", 120.0)  # whole pages: wait for the larger sample
        mp.setenv(app_settings.APP_CHECKPOINTS_ENV, str(tmp_path_factory.mktemp("app")))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        st.cache_data.clear()
        st.cache_resource.clear()
        compute.clear_caches()
        yield
        st.cache_data.clear()
        st.cache_resource.clear()
        torch.set_num_threads(threads)


def open_page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(HOME), default_timeout=TIMEOUT)
    if page:
        at.switch_page(page)
    return run(at)


def run(target) -> AppTest:
    at = target.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def stalled(at: AppTest) -> bool:
    return any("did not move most digits" in w.value for w in at.warning)


def test_home_on_the_shipped_twins():
    at = open_page()
    assert [h.value for h in at.subheader][:2] == [
        "Basic-CNN (basic-cnn)",
        "VOne-CNN (vone-basic-cnn)",
    ]
    lines = [m.value for m in at.markdown if m.value.startswith("True label")]
    assert lines == [
        "True label **7** · original → :green[**7**] (100%) · FGSM twin → :red[**3**] (100%)",
        "True label **7** · original → :green[**7**] (100%) · FGSM twin → :green[**7**] (100%)",
    ]
    assert len(at.warning) == 1 and stalled(at)  # the VOneNet's, not the baseline's


def test_explorer_on_the_shipped_models():
    at = open_page("pages/1_Attack_explorer.py")
    assert at.selectbox(key="ae_model").value == "pretrained:basic-cnn"
    rows = table(at, "adversarial prediction")
    assert len(rows) == 16 and int(rows["changed"].sum()) == 12
    assert metrics(at) == {
        "Shown digits right, original (16)": "16/16",
        "Shown digits right, attacked (16)": "4/16",
        f"First {DIGITS} test digits, original": "100.0%",
        f"First {DIGITS} test digits, attacked": "12.5%",
    }
    assert not stalled(at)

    # The study's VOneNet: its raw gradient is NaN on real digits, FGSM moves nothing — and says so.
    run(at.selectbox(key="ae_model").set_value("pretrained:vone-basic-cnn"))
    rows = table(at, "adversarial prediction")
    assert len(rows) == 16 and not rows["changed"].any()
    assert stalled(at)
    assert "100.0% of gradient entries NaN/inf" in texts(at)
    assert (
        "The attack changed 0 of 16 digits: its gradient was undefined (NaN) at every pixel"
        in texts(at)
    )
    run(at.radio(key="ae_gradient").set_value("repaired"))
    assert not stalled(at) and table(at, "adversarial prediction")["changed"].any()


def test_vone_page_on_the_shipped_vone_cnn():
    at = open_page("pages/5_Inside_the_VOneBlock.py")
    assert at.selectbox(key="v1_source").value == "pretrained:vone-basic-cnn"
    assert at.select_slider(key="v1_count").options == ["16", "32", "64", "128", "256", "512"]
    assert len(table(at, "sf [cyc/deg]")) == 64
    assert stalled(at)  # the attack tab: the study's raw gradient moves nothing
    assert metrics(at) == {"Total change in the block's responses": "0.0%"}
    assert "The attack changed no channel of the block" in texts(at)
    assert "Channels the attack changed most" not in texts(at)
    assert "394 of these 512 filters are finer than that" in texts(at)  # the study's 8 degrees
    assert "0 of these 512 filters are finer" in texts(at)  # the 2.5-degree block beside it
    run(at.radio(key="v1_gradient").set_value("repaired"))
    assert not stalled(at)
    assert "Channels the attack changed most" in texts(at)
    assert metrics(at)["Total change in the block's responses"] != "0.0%"


def test_compare_page_reads_the_shipped_results():
    at = open_page("pages/4_Compare.py")
    assert not at.warning
    frame = table(at, "study clean %").set_index("model")
    assert len(frame) == 10  # the study's eight and the two references of the manifest
    fgsm = "our FGSM 0.35 % (the study's attack)"
    assert frame.loc["Basic-CNN", "our clean %"] == "97.9"
    assert frame.loc["Basic-CNN", fgsm] == "7.2"
    assert frame.loc["Basic-CNN", "FGSM gradient NaN %"] == "0.0"
    # the study's VOneNet: its FGSM figure, its gradient health and the audit's worst case
    vone = frame.loc["VOne-CNN"]
    assert (vone[fgsm], vone["FGSM gradient NaN %"], vone["images FGSM moved %"]) == (
        "96.5",
        "100.0",
        "0.0",
    )
    assert vone["worst case 0.35 % (audit)"] == "0.0"
    assert (
        texts(at)
        .split("⚖️ ")[1]
        .startswith(
            "**Verdict: the study's VOneNet figures do not show robustness.** Run as the study ran "
            "it, FGSM leaves 4 VOneNets at 96.5–97.2%"
        )
    )
    assert frame.loc["Basic-CNN", "our numbers from"] == "summary.json"
    assert frame.loc["Madry-CNN (PGD-trained)", "our numbers from"] == "checkpoints/manifest.json"
    assert len(at.get("plotly_chart")) == 2


def test_is_it_real_page_shows_the_shipped_audit(tmp_path, monkeypatch):
    """The shipped audit, the converged one: the fourteen targets, each model's verdict from
    its numbers, the VOneNets' failing check read as the finding, and no caveat left: every
    check of every deterministic model passes."""
    shutil.copy(ROOT / "results" / "summary.json", tmp_path / "summary.json")
    shutil.copytree(ROOT / "results" / "audit", tmp_path / "audit")
    monkeypatch.setenv(app_settings.RESULTS_ENV, str(tmp_path / "summary.json"))
    at = open_page("pages/6_Is_it_real.py")
    assert [h.value for h in at.subheader] == [
        "Verdict",
        "Headline",
        "Every attack and check",
        "Run a quick audit now",
    ]
    assert not any(t("text.real_no_audit") in i.value for i in at.info)
    assert [h.value for h in at.header] == []  # no converged audit still running beside it
    assert len(at.dataframe) == 15  # the headline, then one table per audited model
    assert len(at.get("plotly_chart")) == 2  # the bars, the curves
    # A verdict per model, from the numbers: every VOneNet falls to 0.0% at eps 0.35.
    verdicts = {
        line.split("** — ")[0].removeprefix("- **"): line.split("** — ")[1]
        for line in at.markdown[2].value.splitlines()
    }
    assert len(verdicts) == 14
    vone = [label for label in verdicts if label.startswith("VOne")]
    assert len(vone) == 5
    for label in vone:
        assert verdicts[label].startswith("Not robust: the study's FGSM never moved its digits")
        assert "leaves 0.0% at eps 0.35" in verdicts[label]
    assert verdicts["VOne-CNN"] == (
        "Not robust: the study's FGSM never moved its digits (its gradient was NaN at every "
        "pixel), and a working attack leaves 0.0% at eps 0.35 (0.1: 0.2%)."
    )
    assert verdicts["Basic-CNN"].startswith("Not robust: the study's FGSM already leaves 6.8%")
    assert verdicts["Madry-CNN (PGD-trained)"] == (
        "Not robust: the study's FGSM already leaves 86.0% at eps 0.35, and the strongest "
        "attacks leave 12.3% (0.1: 94.2%)."
    )
    assert verdicts["AlexNet, FGSM-fine-tuned"].endswith("leave 0.0% (0.1: 8.3%).")
    assert at.markdown[1].value.startswith(
        "**Verdict: 14 of 14 models are not robust at eps 0.35**"
    )
    assert "convergence check: APGD-200 on the cross-entropy" in at.markdown[3].value
    # No raw dict, no number with more than two decimals, in a title or a table cell.
    too_precise = re.compile(r"\d\.\d{3,}")
    for title in [e.label for e in at.expander]:
        assert "{" not in title and not too_precise.search(title), title
    assert (
        at.expander[6].label == "VOne-CNN — not robust: worst case 0.0% at eps 0.35 · 0.2% at 0.1"
    )
    for frame in (df.value for df in at.dataframe):
        for cell in map(str, frame.to_numpy().ravel()):
            assert "{" not in cell and not too_precise.search(cell), cell
    # The VOneNets' NaN check reads as a finding; nothing else failed, so there is no caveat.
    findings = [i.value for i in at.info]
    assert len(findings) == 10  # 5 VOneNets × 2 eps
    assert all(f.startswith("**Finding: the study's FGSM never moved its digits") for f in findings)
    assert all("FAIL" not in f and "not a fault of the audit" in f for f in findings)
    assert [w.value for w in at.warning] == []
    assert "FAIL" not in "\n".join(texts(at).splitlines())
    # The chart comes before the first table.
    kinds = [getattr(e, "type", "") for e in page_elements(at)]
    assert kinds.index("plotly_chart") < kinds.index("dataframe")


def test_finetune_page_on_the_shipped_basic_cnn():
    at = open_page("pages/3_Fine-tune.py")
    at.slider(key="ft_rounds").set_value(1)
    at.select_slider(key="ft_train").set_value(250)  # all 64 digits of the data limit
    at.select_slider(key="ft_eval").set_value(50)
    run(at.button(key="ft_start").click())
    rows = finish_run(at, "ft_run")["rows"]
    assert [(r["round"], r["clean"]) for r in rows] == [(0, 100.0), (1, 100.0)]
    assert [r["adversarial"] for r in rows] == pytest.approx([14.0, 14.0])  # 7 of 50 digits


def test_train_page_with_the_real_data_limit():
    at = open_page("pages/2_Train.py")
    assert at.caption[0].value.startswith(f"1 steps on {DIGITS} images.")
    run(at.button(key="tr_start").click())
    last = finish_run(at, "tr_run")
    assert last["file"] == "basic-cnn-1ep-2000img.pt" and last["total_steps"] == 1
    assert last["test_accuracy"] == pytest.approx(18 / DIGITS)


def test_your_digit_page_on_the_shipped_models():
    from test_app import DIGIT_PAGE, seven_png

    at = open_page(DIGIT_PAGE)
    run(at.file_uploader(key="yd_file").set_value(("seven.png", seven_png(), "image/png")))
    assert at.selectbox(key="yd_label").value == 7  # every shipped model reads the drawn 7
    at.selectbox(key="yd_model").set_value("pretrained:basic-cnn")
    at.selectbox(key="yd_target").set_value("3")
    at.slider(key="yd_eps").set_value(0.35)
    run(at.radio(key="yd_gradient").set_value("repaired"))
    fooled = table(at, "answer on the attacked digit").set_index("model")
    assert fooled.loc["Basic-CNN (basic-cnn)", "answer on the attacked digit"] == 3  # as asked
    assert fooled.loc["Basic-CNN (basic-cnn)", "fooled"] == "yes"
    # The study's FGSM on a VOneNet moves nothing, and the page says so.
    at.selectbox(key="yd_model").set_value("pretrained:vone-basic-cnn")
    at.radio(key="yd_attack").set_value("fgsm")
    run(at.radio(key="yd_gradient").set_value("raw"))
    assert "its gradient was undefined (NaN) at every pixel" in texts(at)
    assert any("did not change the picture by its gradient" in w.value for w in at.warning)


def test_a_targeted_attack_in_the_explorer_on_the_shipped_basic_cnn():
    at = open_page("pages/1_Attack_explorer.py")
    at.selectbox(key="ae_target").set_value("3")
    run(at.radio(key="ae_attack").set_value("pgd"))  # 10 steps by default
    shown = texts(at)
    assert "target 3" in shown  # the settings line names the target
    reached = int(shown.split("🎯 **")[1].split(" of 16")[0])
    assert reached >= 12  # targeted PGD makes most digits read as a 3
    assert "of the first 64 test digits now read as their target" in shown
