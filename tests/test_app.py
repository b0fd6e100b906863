"""The Streamlit app, page by page, through ``streamlit.testing.v1.AppTest``.

Models: ``VONEDEMO_APP_MODELS=tiny`` makes ``ui.loaders.load_model`` (the app's one door to
model files) hand out small, untrained, seeded stand-ins, so no real checkpoint is needed; one
test replaces ``load_model`` itself. Data: ``VONEDEMO_APP_DATA_LIMIT`` keeps a few hundred
digits per split. Saved checkpoints go to a temporary ``VONEDEMO_APP_CHECKPOINTS``.
"""

from __future__ import annotations

import ast
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from ui import compute, loaders, pictures, widgets
from ui import settings as app_settings
from vonedemo import models
from vonedemo.study import study_accuracy

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / "streamlit_app.py"
EXPLORER = "pages/1_Attack_explorer.py"
TRAIN = "pages/2_Train.py"
FINETUNE = "pages/3_Fine-tune.py"
COMPARE = "pages/4_Compare.py"
VONE = "pages/5_Inside_the_VOneBlock.py"
TIMEOUT = 60  # seconds per script run: generous, the test machine may be busy


@pytest.fixture
def app_env(monkeypatch, tmp_path):
    """Tiny models, a small data limit, and every folder the app writes to in tmp_path."""
    monkeypatch.setenv(app_settings.MODELS_ENV, "tiny")
    monkeypatch.setenv(app_settings.DATA_LIMIT_ENV, "200")
    # The larger sample is scored in the background; tests wait for it so their pages are whole.
    monkeypatch.setattr(compute, "SAMPLE_WAIT_S", 120.0)
    monkeypatch.setenv("VONEDEMO_APP_CHECKPOINTS", str(tmp_path / "app"))
    monkeypatch.setenv("VONEDEMO_CHECKPOINTS", str(tmp_path / "shipped"))
    monkeypatch.setenv("VONEDEMO_RESULTS", str(tmp_path / "results" / "summary.json"))
    monkeypatch.setenv(app_settings.PREPARED_ENV, str(tmp_path / "prepared"))
    monkeypatch.setenv(app_settings.PRECOMPUTE_ENV, "off")  # a test turns it on if it needs it
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # modest CPU use; the models are tiny anyway
    st.cache_data.clear()
    st.cache_resource.clear()
    compute.clear_caches()
    yield tmp_path
    st.cache_data.clear()
    st.cache_resource.clear()
    torch.set_num_threads(threads)


def open_page(page: str | None = None) -> AppTest:
    """Run the app's entry point, or one of its pages, as a multipage app would."""
    at = AppTest.from_file(str(HOME), default_timeout=TIMEOUT)
    if page:
        at.switch_page(page)
    return run(at)


def run(target) -> AppTest:
    """Rerun the app (``target``: the AppTest, or a widget just changed) and check it."""
    at = target.run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    """No uncaught exception, and no error the pages' guard turned into a message."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def finish_run(at: AppTest, state_key: str) -> dict:
    """Wait for the page's background run (training or fine-tuning) to end, rerun the page as
    its poll would, and return the run's result."""
    from ui import background

    kind = {"tr_run": "train", "ft_run": "finetune"}[state_key]
    record = background.find(at.session_state[state_key], kind)
    assert record is not None, "the page started no run"
    deadline = time.monotonic() + 600
    while not record.snapshot().finished and time.monotonic() < deadline:
        time.sleep(0.05)
    assert record.status == "done", record.error
    run(at)
    return record.result


def texts(at: AppTest) -> str:
    """Every markdown and caption on the page, one per line."""
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def table(at: AppTest, column: str, *, nth: int = 0):
    """The first (or ``nth``, counting from 0) dataframe with ``column``."""
    frames = [df.value for df in at.dataframe if column in df.value.columns]
    if len(frames) <= nth:
        raise AssertionError(f"no table {nth} with column {column!r}")
    return frames[nth]


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


# --- home --------------------------------------------------------------------------------------
def test_home_shows_a_digit_its_twin_and_the_caveat(app_env):
    at = open_page()
    body = texts(at)
    assert body.count("True label") == 2  # the baseline and its VOneNet
    assert {h.value for h in at.subheader} >= {
        "Basic-CNN (basic-cnn) · untrained stand-in",
        "VOne-CNN (vone-basic-cnn) · untrained stand-in",
    }
    assert "Gradient health" in body and "sign(NaN) = 0" in body
    assert len(at.image) == 2
    assert len(at.get("page_link")) == len(widgets.PAGES) - 1  # every other page
    first = body
    at = run(at.button(key="home_next").click())
    assert texts(at) != first  # another digit


def test_the_menu_lists_every_page_file_once():
    """The sidebar menu is declared (``widgets.PAGES``), not discovered: a page file missing
    from it would be unreachable."""
    declared = [path for path, _, _ in widgets.PAGES[1:]]
    assert sorted(declared) == sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py"))
    assert len({label for _, label, _ in widgets.PAGES}) == len(widgets.PAGES)
    assert widgets.menu_label(widgets.PAGES[0][1]) == "Home"


def test_an_untouched_perturbation_tile_is_still_visible():
    digit = np.zeros((28, 28), dtype=np.uint8)
    untouched = np.full((28, 28, 3), 255, dtype=np.uint8)  # white: no pixel moved
    strip = pictures.digit_strip(digit, digit, untouched, zoom=3)
    assert strip.shape == (84, (3 * 28 + 2 * 2) * 3, 3)
    tile = strip[:, 2 * 30 * 3 :]
    assert (tile[[0, -1]] < 255).all() and (tile[:, [0, -1]] < 255).all()  # a grey frame
    assert (tile[1:-1, 1:-1] == 255).all() and (strip[:, : 28 * 3] == 0).all()  # pictures untouched


def test_home_without_checkpoints_says_how_to_make_them(app_env, monkeypatch):
    monkeypatch.delenv(app_settings.MODELS_ENV)
    at = open_page()
    assert any("python -m vonedemo train --all" in i.value for i in at.info)
    assert len(at.get("page_link")) == len(widgets.PAGES) - 1


# --- attack explorer ---------------------------------------------------------------------------
def test_explorer_eps_zero_shows_the_originals_and_eps_changes_predictions(app_env):
    at = open_page(EXPLORER)
    assert at.selectbox(key="ae_model").value == "pretrained:basic-cnn"
    assert at.slider(key="ae_eps").value == pytest.approx(0.35)
    assert len(at.image) == 16

    run(at.slider(key="ae_eps").set_value(0.0))
    rows = table(at, "adversarial prediction")
    assert len(rows) == 16
    assert (rows["adversarial prediction"] == rows["clean prediction"]).all()
    assert (rows["adversarial confidence %"] == rows["clean confidence %"]).all()
    m = metrics(at)
    assert m["Shown digits right, original (16)"] == m["Shown digits right, attacked (16)"]
    assert "no attack" in texts(at)
    assert not at.warning  # eps 0 moves nothing on purpose: that is not a stalled attack

    run(at.slider(key="ae_eps").set_value(0.35))
    rows = table(at, "adversarial prediction")
    assert rows["changed"].any()
    assert (rows["adversarial prediction"] != rows["clean prediction"]).sum() == rows[
        "changed"
    ].sum()
    # The untrained stand-in gets 2 of its 16 digits right, and the attack changes 4 answers.
    assert int(rows["changed"].sum()) == 4
    shown = {k: v for k, v in metrics(at).items() if k.startswith("Shown")}
    assert shown == {
        "Shown digits right, original (16)": "2/16",
        "Shown digits right, attacked (16)": "2/16",
    }
    assert "L∞ applied 0.350" in texts(at)
    assert len(charts(at)) == 1  # the confidence bars of one digit

    # Revisiting an eps is served from the cache: the same digits, the same answers.
    again = run(at.slider(key="ae_eps").set_value(0.0))
    assert (table(again, "adversarial prediction")["changed"] == False).all()  # noqa: E712


def test_settings_survive_a_visit_to_another_page(app_env):
    at = open_page(EXPLORER)
    run(at.slider(key="ae_eps").set_value(0.12))
    run(at.switch_page(TRAIN))
    assert at.selectbox(key="tr_model").value == "basic-cnn"
    run(at.switch_page(EXPLORER))
    assert at.slider(key="ae_eps").value == pytest.approx(0.12)


def test_explorer_new_sample_and_seed_are_repeatable(app_env):
    at = open_page(EXPLORER)
    first = table(at, "test index")["test index"].tolist()
    run(at.button(key="ae_new_sample").click())
    assert at.number_input(key="ae_seed").value == 1
    second = table(at, "test index")["test index"].tolist()
    assert second != first
    run(at.number_input(key="ae_seed").set_value(0))
    assert table(at, "test index")["test index"].tolist() == first


def test_explorer_vone_model_noise_modes_and_stalled_warning(app_env):
    at = open_page(EXPLORER)
    run(at.selectbox(key="ae_model").set_value("pretrained:vone-basic-cnn"))
    assert not at.radio(key="ae_noise").disabled
    # The study's raw gradient is NaN almost everywhere in a VOneBlock: FGSM stalls, and says so.
    assert at.warning and "did not move" in at.warning[0].value
    run(at.radio(key="ae_gradient").set_value("repaired"))
    assert not at.warning
    for mode in ("off", "seeded"):
        run(at.radio(key="ae_noise").set_value(mode))
        rows = table(at, "adversarial prediction")
        assert len(rows) == 16
    # The cached model itself was never switched: the override is per computation.
    model, _ = loaders.get_model("pretrained:vone-basic-cnn")
    assert model.vone.noise_mode == "neuronal"
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_explorer_pgd_with_eot(app_env):
    at = open_page(EXPLORER)
    at.radio(key="ae_attack").set_value("pgd")
    at.slider(key="ae_eot").set_value(2)
    at.select_slider(key="ae_n").set_value(8)
    run(at)
    run(at.slider(key="ae_pgd_steps").set_value(3))
    assert len(table(at, "adversarial prediction")) == 8
    assert "PGD eps=0.35, 3 steps" in "\n".join(c.value for c in at.caption)


def test_explorer_uses_the_one_model_loader(app_env, monkeypatch):
    """Every model the pages use comes through ui.loaders.load_model."""

    class Constant(torch.nn.Module):  # always answers 3, and offers no gradient
        registry_name = "basic-cnn"

        def forward(self, x):
            logits = torch.zeros(x.shape[0], 10) + x.sum() * 0
            logits[:, 3] = 5.0
            return logits

    monkeypatch.setattr(loaders, "load_model", lambda key: (Constant(), {}))
    at = open_page(EXPLORER)
    rows = table(at, "adversarial prediction")
    assert set(rows["clean prediction"]) == {3} and set(rows["adversarial prediction"]) == {3}
    assert at.warning  # a zero gradient moves nothing: flagged


# --- training ----------------------------------------------------------------------------------
def test_train_page_trains_saves_and_never_overwrites(app_env):
    at = open_page(TRAIN)
    at.select_slider(key="tr_size").set_value(200)
    at.select_slider(key="tr_batch").set_value(32)
    at.text_input(key="tr_name").input("my run/../../evil name")
    run(at.button(key="tr_start").click())
    last = finish_run(at, "tr_run")
    assert last["file"] == "my-run-evil-name.pt"
    assert len(last["epochs"]) == 1 and last["epochs"][0]["test_accuracy"] is not None
    assert len(last["losses"]) == 7  # 200 images / 32 per batch
    saved = app_env / "app" / "my-run-evil-name.pt"
    assert saved.is_file() and saved.stat().st_size > 0
    assert any("my-run-evil-name.pt" in s.value for s in at.success)
    assert len(charts(at)) >= 2  # live loss and accuracy curves

    run(at.button(key="tr_start").click())  # same name again: a new file, never an overwrite
    assert finish_run(at, "tr_run")["file"] == "my-run-evil-name-2.pt"
    assert (app_env / "app" / "my-run-evil-name-2.pt").is_file()

    explorer = open_page(EXPLORER)  # the new checkpoints appear on the other pages
    options = explorer.selectbox(key="ae_model").options
    assert sum("my-run-evil-name" in o for o in options) == 2
    run(explorer.selectbox(key="ae_model").set_value("app:my-run-evil-name.pt"))
    assert len(table(explorer, "adversarial prediction")) == 16


# --- fine-tuning -------------------------------------------------------------------------------
def test_finetune_page_grows_curves_beside_the_study_and_saves(app_env):
    at = open_page(FINETUNE)
    at.slider(key="ft_rounds").set_value(2)
    at.select_slider(key="ft_train").set_value(250)
    at.select_slider(key="ft_eval").set_value(50)
    run(at.button(key="ft_start").click())
    result = finish_run(at, "ft_run")
    assert [r["round"] for r in result["rows"]] == [0, 1, 2]
    assert [r["clean"] for r in result["rows"]] == pytest.approx([10.0, 16.0, 24.0])
    assert [r["adversarial"] for r in result["rows"]] == pytest.approx([6.0, 0.0, 0.0])
    fig = charts(at)[-1].proto.spec
    assert "study clean (Basic-CNN)" in fig and "ours adversarial" in fig
    assert len(table(at, "FGSM %")) == 3
    # The shared model was fine-tuned through a copy.
    model, _ = loaders.get_model("pretrained:basic-cnn")
    assert not model.training and not any(p.requires_grad for p in model.parameters())

    at.text_input(key="ft_name").input("robust")
    run(at.button(key="ft_save").click())
    assert (app_env / "app" / "robust.pt").is_file()
    assert any("robust.pt" in s.value for s in at.success)


def test_finetune_page_shows_the_committed_full_run_when_nothing_runs(app_env):
    """No live run: the page shows the committed run's curves for the chosen model beside the
    study's, with the training attack's gradient health; nothing when it lacks the model."""
    full = app_env / "results" / "summary.json"
    full.parent.mkdir(parents=True)
    curve = [90.0] * 31
    full.write_text(
        json.dumps(
            {
                "config": {"finetune_train_limit": 10000, "finetune_eval_limit": 2000},
                "models": {
                    "basic-cnn": {
                        "finetune": {
                            "clean": curve,
                            "adversarial": curve,
                            "train_moved": [None] + [0.0] * 30,
                            "test_nan": [1.0] * 31,
                        }
                    }
                },
            }
        )
    )
    at = open_page(FINETUNE)
    assert any("30 rounds × 10,000 training digits" in h.value for h in at.subheader)
    names = [d.get("name") for d in json.loads(charts(at)[-1].proto.spec)["data"]]
    assert "committed run clean (10000 digits/round)" in names, names
    shown = texts(at)
    assert "moved 0% of the training digits" in shown and "100% of its input-gradient" in shown
    assert "results/summary.json" in shown
    full.write_text("{broken")  # a damaged file shows nothing, and breaks nothing
    at = open_page(FINETUNE)
    assert not any("rounds ×" in h.value for h in at.subheader)


def test_finetune_page_shows_the_repaired_gradient_run_beside_the_studys(app_env):
    """The same experiment with a working attack (``results/repaired/``) gets its own chart."""
    curve = {"clean": [90.0] * 4, "adversarial": [10.0, 50.0, 60.0, 70.0]}
    curve |= {"train_moved": [None, 1.0, 1.0, 1.0], "test_nan": [0.0] * 4}
    config = {"finetune_train_limit": 2000, "finetune_eval_limit": 1000}
    config |= {"finetune_gradient": "repaired"}
    repaired = app_env / "results" / "repaired" / "summary.json"
    repaired.parent.mkdir(parents=True)
    repaired.write_text(
        json.dumps({"config": config, "models": {"basic-cnn": {"finetune": curve}}})
    )
    at = open_page(FINETUNE)
    titles = [h.value for h in at.subheader]
    assert any("With a working attack" in h and "3 rounds × 2,000" in h for h in titles), titles
    shown = texts(at)
    assert "moved 100% of the training digits" in shown and "repaired/summary.json" in shown
    repaired.write_text("{broken")
    at = open_page(FINETUNE)
    assert not any("With a working attack" in h.value for h in at.subheader)


# --- compare -----------------------------------------------------------------------------------
def test_compare_page_shows_study_and_measured_numbers(app_env):
    summary = app_env / "results" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(
        json.dumps(
            {
                "models": {
                    "basic-cnn": {
                        "clean": 98.7,
                        "fgsm": 12.5,
                        "study_clean": 99.0,
                        "study_fgsm": 8.5,
                        "test_images": 10000,
                        "eps_curve": [
                            {"eps": 0.0, "accuracy": 98.7},
                            {"eps": 0.35, "accuracy": 12.5},
                        ],
                    },
                    "not-a-model": {
                        "clean": 50.0,
                        "fgsm": 50.0,
                    },  # unknown names are left out, not a crash
                }
            }
        )
    )
    at = open_page(COMPARE)
    frame = table(at, "study clean %")
    assert len(frame) == 8
    row = frame[frame["model"] == "Basic-CNN"].iloc[0]
    assert row["our clean %"] == "98.7" and row["our FGSM 0.35 % (the study's attack)"] == "12.5"
    assert row["study clean %"] == f"{study_accuracy('basic-cnn')['clean']:.1f}"
    assert row["FGSM gradient NaN %"] == "—"  # not measured: a dash, never "None"
    vone = frame[frame["model"] == "VOne-CNN"].iloc[0]
    assert vone["study FGSM 0.35 %"] == f"{study_accuracy('vone-basic-cnn')['adversarial']:.1f}"
    assert vone["our numbers from"] == "not measured yet"
    assert not any("None" in str(v) for v in frame.to_numpy().ravel())
    assert len(charts(at)) == 2  # grouped bars + accuracy against eps

    at.select_slider(key="cmp_limit").set_value(20)
    run(at.button(key="cmp_run").click())
    assert table(at, "study clean %").equals(frame)  # the small sample never replaces the files'
    fresh = table(at, "test digits", nth=1)
    assert len(fresh) == 8 and (fresh["test digits"] == "20").all()
    assert (fresh["our numbers from"] == "measured now (20 digits)").all()
    assert any("a small sample, shown apart" in i.value for i in at.info)
    assert "🩺 **VOne-CNN**: The attack changed" in texts(at)


def test_compare_page_reads_the_manifest_and_survives_a_broken_summary(app_env):
    shipped = app_env / "shipped"
    shipped.mkdir()
    (shipped / "manifest.json").write_text(
        json.dumps(
            {
                "models": {
                    "mlp": {
                        "file": "mlp.pt",
                        "clean_accuracy": 97.0,
                        "fgsm_accuracy": 1.5,
                        "test_images": 10000,
                    }
                }
            }
        )
    )
    summary = app_env / "results" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text("{not json")
    at = AppTest.from_file(str(HOME), default_timeout=TIMEOUT)
    at.switch_page(COMPARE).run()
    assert not at.exception and not at.error
    assert any("could not be read" in w.value for w in at.warning)
    row = table(at, "study clean %").set_index("model").loc["Linear-Regression"]
    assert row["our clean %"] == "97.0"
    assert row["our numbers from"] == "checkpoints/manifest.json"


# --- inside the VOneBlock ----------------------------------------------------------------------
def test_vone_page_renders_gallery_cells_noise_and_attack(app_env):
    at = open_page(VONE)
    assert at.selectbox(key="v1_source").value == "pretrained:vone-basic-cnn"
    params = table(at, "sf [cyc/deg]")
    assert list(params.columns) == [
        "channel",
        "cell",
        "sf [cyc/deg]",
        "sf / Nyquist",
        "ori [deg]",
        "phase [deg]",
        "nx",
        "ny",
    ]
    assert params["sf [cyc/deg]"].is_monotonic_increasing  # sorted by spatial frequency
    ratio = params["sf [cyc/deg]"] / params["sf / Nyquist"]
    assert (ratio - 1.75).abs().max() < 0.03  # 28 pixels over 8 degrees: Nyquist 1.75 cyc/deg
    assert "the *Nyquist limit*" in texts(at)
    assert len(at.image) >= 6  # gallery, digit, two cell mosaics, noise, attack pictures

    at.selectbox(key="v1_sort").set_value("ori")
    at.toggle(key="v1_desc").set_value(True)
    run(at.radio(key="v1_part").set_value("q1"))
    params = table(at, "ori [deg]")
    assert params["ori [deg]"].is_monotonic_decreasing
    assert set(params["cell"]) == {"complex"}

    run(at.number_input(key="v1_index").set_value(3))
    run(at.slider(key="v1_noise_n").set_value(2))
    run(at.radio(key="v1_gradient").set_value("repaired"))
    assert "Total change in the block's responses" in metrics(at)

    run(at.selectbox(key="v1_source").set_value("block:study"))
    assert any("Choose a trained VOne model" in i.value for i in at.info)


# --- boundaries --------------------------------------------------------------------------------
def test_core_package_never_imports_streamlit():
    for path in (ROOT / "vonedemo").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] == "streamlit" for n in names), (
                f"{path} imports streamlit"
            )


def test_streamlit_caching_lives_only_in_ui():
    for path in [HOME, *(ROOT / "pages").glob("*.py")]:
        source = path.read_text(encoding="utf-8")
        assert "cache_data" not in source and "cache_resource" not in source, path


def test_every_widget_has_a_key():
    widget_calls = {
        "slider",
        "select_slider",
        "selectbox",
        "radio",
        "button",
        "number_input",
        "text_input",
        "toggle",
        "checkbox",
        "multiselect",
    }
    for path in [HOME, *(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in widget_calls
            ):
                keywords = {k.arg for k in node.keywords}
                assert "key" in keywords, f"{path.name}:{node.lineno} {node.func.attr} has no key="


def test_tiny_mode_models_are_frozen_and_shared(app_env):
    a, _ = loaders.get_model("pretrained:vone-mlp")
    b, _ = loaders.get_model("pretrained:vone-mlp")
    assert a is b
    assert not a.training and not any(p.requires_grad for p in a.parameters())
    assert models.is_stochastic(a)


# --- is it real? -------------------------------------------------------------------------------
REAL = "pages/6_Is_it_real.py"


def page_elements(at: AppTest) -> list:
    """Every element of the page's main area, in the order a reader meets them."""

    def walk(node):
        yield node
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    return list(walk(at.main))


def element_view(element) -> tuple[str, str]:
    """(an element's type, what it shows): a table as JSON, a chart as its figure."""
    kind = getattr(element, "type", type(element).__name__)
    if kind == "plotly_chart":
        return kind, element.proto.spec
    if kind in ("expander", "selectbox", "button", "select_slider"):
        return kind, str(element.label)
    value = getattr(element, "value", None)
    if hasattr(value, "to_json"):
        return kind, value.to_json()
    return kind, str(value)


def saved_audit_view(at: AppTest) -> list[tuple[str, str]]:
    """Everything the page shows above the quick audit's section, in order."""
    shown = []
    for element in page_elements(at):
        view = element_view(element)
        if view == ("subheader", "Run a quick audit now"):
            return shown
        shown.append(view)
    raise AssertionError("no quick audit section")


@pytest.fixture
def progress_values(monkeypatch) -> list[tuple[float, str]]:
    """Every (value, text) that any st.progress bar is set to, in order."""
    from streamlit.elements.progress import ProgressMixin

    seen: list[tuple[float, str]] = []
    original = ProgressMixin.progress

    def record(self, value, text=None, **kwargs):
        seen.append((float(value), text or ""))
        return original(self, value, text=text, **kwargs)

    monkeypatch.setattr(ProgressMixin, "progress", record)
    return seen


def test_is_it_real_page_runs_a_quick_audit_and_reads_saved_ones(app_env, progress_values):
    at = open_page(REAL)
    assert any("No precomputed audit" in i.value for i in at.info)
    at.select_slider(key="real_limit").set_value(20)
    run(at.button(key="real_run").click())
    # The quick audit stands in its own section, named by its model and its sample.
    quick = [h.value for h in at.subheader if h.value.startswith("Quick audit of")]
    assert quick == ["Quick audit of Basic-CNN on 20 test digits — shown on its own"]
    body = texts(at)
    assert "Basic-CNN" in body and "Accuracy (%) on the same 20 test digits" in body
    assert [e.label for e in at.expander][0].startswith("Basic-CNN — ")
    assert "worst case" in at.expander[0].label and "{" not in at.expander[0].label
    checks = [s.value for s in at.success] + [w.value for w in at.warning]  # one line per check
    assert any("at eps 0 the attack scores clean accuracy" in c for c in checks)
    assert any("At eps 0.5" in c for c in checks)
    # One bar over the whole audit: it only moves forward, through every stage, to the end.
    bar = [(v, t) for v, t in progress_values if "Basic-CNN on 20 digits" in t]
    values = [v for v, _ in bar]
    assert len(values) > 10 and values == sorted(values), values
    assert values[0] < 0.1 and values[-1] == 1.0  # (st.progress's first call is bound early)
    assert bar[-1][1].startswith("Done")
    assert any("the attacks" in t for _, t in bar) and any(
        "accuracy against eps" in t for _, t in bar
    )
    assert any(0.6 <= v < 0.9 for v in values)  # the curves continue where the attacks ended

    saved = app_env / "results" / "audit"
    saved.mkdir(parents=True)
    report = at.session_state["real_fresh"]
    (saved / "audit.json").write_text(json.dumps(report))
    at2 = open_page(REAL)
    assert "Basic-CNN" in texts(at2) and not any(
        "No precomputed audit" in i.value for i in at2.info
    )


def test_a_staged_bar_counts_on_across_stages_and_never_goes_back():
    """The quick audit's bar: each stage reports its own done/total (the attacks 1..14, then the
    curves 1..20); the bar continues where the last stage ended, and a late event of a stage
    left behind moves nothing."""
    from types import SimpleNamespace

    from ui.progress import ProgressBar
    from vonedemo.progress import Progress

    bar = ProgressBar(
        "Auditing",
        stages=(("audit", "the attacks", 0.6), ("curves", "curves", 0.3)),
        after="checks",
    )
    seen = []
    bar.bar = SimpleNamespace(progress=lambda value, text: seen.append((value, text)))
    for i in range(1, 15):
        bar(Progress("audit basic-cnn", i, 14))
    bar(Progress("curves basic-cnn", 1, 20))
    bar(Progress("audit basic-cnn", 12, 14))  # late: ignored
    for i in range(2, 21):
        bar(Progress("curves basic-cnn", i, 20))
    values = [v for v, _ in seen]
    assert values == sorted(values) and len(values) == 14 + 20
    assert values[13] == pytest.approx(0.6) and values[14] == pytest.approx(0.6 + 0.3 / 20)
    assert seen[0][1] == "Auditing · step 1 of 3: the attacks 1/14"
    assert seen[14][1] == "Auditing · step 2 of 3: curves 1/20"
    assert seen[-1] == (pytest.approx(0.9), "Auditing · step 3 of 3: checks…")
    with pytest.raises(ValueError, match="known: \\['audit', 'curves'\\]"):
        bar(Progress("fine-tune", 1, 2))


def test_a_quick_audit_never_changes_the_saved_audit(app_env):
    """The saved audit's rows, headline and titles read the same before and after a quick
    audit of a model it holds; the quick one appears below, in its own section."""
    saved = app_env / "results" / "audit"
    saved.mkdir(parents=True)
    report = {
        "config": {**json.loads(json.dumps(audit_config_dict())), "limit": 1000},
        "models": {"basic-cnn": fake_audit_entry("basic-cnn")},
    }
    (saved / "audit.json").write_text(json.dumps(report))
    at = open_page(REAL)
    before = saved_audit_view(at)
    assert "1,000 test digits" in texts(at)
    at.select_slider(key="real_limit").set_value(20)
    run(at.button(key="real_run").click())
    assert saved_audit_view(at) == before  # tables, headline, chart and titles: unchanged
    assert ("dataframe", table(at, "worst case 0.35 %").to_json()) in before
    assert at.session_state["real_fresh"]["config"]["limit"] == 20
    quick_headline = table(at, "worst case 0.35 %", nth=1)  # the saved headline is table 0
    assert quick_headline.shape[0] == 1
    assert quick_headline.to_json() != table(at, "worst case 0.35 %").to_json()
    quick = [h.value for h in at.subheader if h.value.startswith("Quick audit of")]
    assert quick == [
        "Quick audit of Basic-CNN on 20 test digits — not merged into the 1,000-image results above"
    ]
    # Elements after the quick heading are the quick audit's; before it, the saved audit's.
    order = [element_view(e) for e in page_elements(at)]
    assert order.index(("subheader", quick[0])) > order.index(
        ("subheader", "Run a quick audit now")
    )


def test_the_converged_audit_shows_beside_the_saved_one_while_it_runs(app_env):
    """A converged audit still running model by model has its own section, its budgets in
    words (APGD, the gradient-free rung last, AutoAttack), and a fine-tuned baseline by name;
    with none yet, the page shows no such section."""
    from dataclasses import asdict

    from vonedemo.audit import AuditConfig

    at = open_page(REAL)
    assert "The converged audit, so far" not in [h.value for h in at.header]
    folder = app_env / "results" / "audit-converged"
    folder.mkdir(parents=True)
    config = json.loads(json.dumps(asdict(AuditConfig.converged(eps=(0.35, 0.1)))))
    entry = {**fake_audit_entry("mlp"), "name": "mlp+fgsm-ft"}
    report = {"config": config, "models": {"mlp+fgsm-ft": entry}}
    (folder / "audit.json").write_text(json.dumps(report))
    at = open_page(REAL)
    assert "The converged audit, so far" in [h.value for h in at.header]
    body = texts(at)
    assert "(1 of 14 models so far)" in body
    assert "Linear-Regression, FGSM-fine-tuned" in body
    assert "**APGD-100**" in body and "last, on the digits every other attack left" in body
    assert "Square with 5,000 queries, run 1 time(s)" in body
    assert "convergence check: APGD-200 on the cross-entropy" in body
    assert "**Convergence check**: PGD with twice the steps" not in body  # each kind has its own


def audit_config_dict() -> dict:
    from dataclasses import asdict

    from vonedemo.audit import AuditConfig

    return asdict(AuditConfig(eps=(0.35, 0.1)))


def fake_audit_entry(name: str) -> dict:
    """A saved audit entry with round, recognisable numbers (no run needed)."""
    row = {
        "attack": "FGSM (study: raw gradient)",
        "ci95": [90.0, 95.0],
        "seconds": 1.0,
        "nonfinite_gradient_fraction": 0.0,
        "zero_sign_fraction": 0.0,
        "linf": 0.35,
        "moved_fraction": 1.0,
        "stalled": False,
    }
    return {
        "name": name,
        "stochastic": False,
        "clean": 97.5,
        "attacks": [{**row, "eps": 0.35, "accuracy": 12.5}, {**row, "eps": 0.1, "accuracy": 70.0}],
        "worst_case": {"0.35": 0.5, "0.1": 33.3},
        "study_fgsm": {"0.35": 12.5, "0.1": 70.0},
        "curves": None,
        "checks": [{"check": "eps 0 equals clean", "passed": True, "sentence": "Saved."}],
        "seconds": 10.0,
        "masking_suspected": False,
    }


# --- two sessions at once ----------------------------------------------------------------------
def _state_fingerprint(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_two_sessions_fine_tuning_and_training_leave_the_other_untouched(app_env):
    """Session B fine-tunes (high lr) and trains while session A watches the same shared model:
    A's predictions and the cached model's weights stay exactly as they were, and the two
    sessions' checkpoints with the same name both survive under different files."""
    model_key = "pretrained:basic-cnn"
    session_a = open_page(EXPLORER)
    run(session_a.selectbox(key="ae_model").set_value(model_key))
    before = table(session_a, "adversarial prediction").copy()
    shared, _ = loaders.get_model(model_key)
    weights_before = _state_fingerprint(shared)

    session_b = open_page(FINETUNE)
    session_b.select_slider(key="ft_lr").set_value(1e-3)
    session_b.slider(key="ft_rounds").set_value(2)
    session_b.select_slider(key="ft_train").set_value(250)
    session_b.select_slider(key="ft_eval").set_value(50)
    run(session_b.button(key="ft_start").click())
    rows = finish_run(session_b, "ft_run")["rows"]
    assert len(rows) == 3

    assert loaders.get_model(model_key)[0] is shared  # still the one cached object
    after = _state_fingerprint(shared)
    assert all(torch.equal(weights_before[k], after[k]) for k in weights_before)
    assert not shared.training and not any(p.requires_grad for p in shared.parameters())

    # Recompute A's view from the model itself, not from the result cache.
    st.cache_data.clear()
    run(session_a.slider(key="ae_eps").set_value(0.35))
    assert table(session_a, "adversarial prediction").equals(before)

    # Both sessions save a training run under the same name: two files, no silent overwrite.
    trainers = [open_page(TRAIN), open_page(TRAIN)]
    for trainer in trainers:
        trainer.select_slider(key="tr_size").set_value(200)
        trainer.text_input(key="tr_name").input("class run")
    run(trainers[0].button(key="tr_start").click())
    first = app_env / "app" / finish_run(trainers[0], "tr_run")["file"]
    first_bytes = first.read_bytes()
    run(trainers[1].button(key="tr_start").click())
    files = [finish_run(t, "tr_run")["file"] for t in trainers]
    assert files == ["class-run.pt", "class-run-2.pt"]
    assert first.read_bytes() == first_bytes  # the second save left the first file alone
    assert all(
        torch.equal(weights_before[k], v)
        for k, v in loaders.get_model(model_key)[0].state_dict().items()
    )


# --- a classmate's checkpoint ------------------------------------------------------------------
class _Evil:
    """Unpickling this would create ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_bad_checkpoint_files_in_the_app_folder_get_a_clear_message(app_env):
    """Malicious, truncated and random-bytes files dropped into the app's folder are listed as
    unreadable with the reason (an empty one not at all); choosing one shows a message, never a
    traceback, and nothing in them runs."""
    folder = app_env / "app"
    folder.mkdir(parents=True, exist_ok=True)
    marker = app_env / "pwned"
    torch.save({"format": "vonedemo-checkpoint", "payload": _Evil(marker)}, folder / "evil.pt")
    (folder / "empty.pt").write_bytes(b"")
    (folder / "noise.pt").write_bytes(bytes(range(256)) * 40)
    good = models.build_model("basic-cnn")
    from vonedemo.checkpoints import save_checkpoint

    whole = save_checkpoint(app_env / "whole.pt", good).read_bytes()
    (folder / "cut.pt").write_bytes(whole[: len(whole) // 2])

    at = open_page(EXPLORER)
    options = at.selectbox(key="ae_model").options
    assert not any(o.startswith("empty") for o in options)  # an empty file is never listed
    for stem in ("evil", "noise", "cut"):
        label = next(o for o in options if o.startswith(f"{stem} (unreadable)"))
        assert label.endswith("not available"), options
        run(at.selectbox(key="ae_model").set_value(f"app:{stem}.pt"))
        notes = [m.value for m in at.info]
        assert any(stem in n and "not available" in n for n in notes), notes
        assert not at.get("imgs")  # no grid for a model that could not load
    assert not marker.exists()


def test_explorer_grid_never_waits_for_the_larger_sample(app_env, monkeypatch):
    import threading

    release = threading.Event()
    score = compute._score_sample

    def slow_score(*args):
        release.wait(60)
        return score(*args)

    monkeypatch.setattr(compute, "_score_sample", slow_score)
    monkeypatch.setattr(compute, "SAMPLE_WAIT_S", 0.1)
    at = open_page(EXPLORER)  # returns although the larger sample is still being scored
    shown = metrics(at)
    attacked = next(k for k in shown if k.startswith("Shown digits right, attacked"))
    assert shown[attacked].endswith("/16")  # the grid came
    assert [v for k, v in shown.items() if k.startswith("First ")] == ["—", "—"]
    assert any("in the background" in c.value for c in at.caption)
    release.set()
    for _ in range(50):  # in a browser the page's poll reruns it once the job is done
        run(at)
        scored = [v for k, v in metrics(at).items() if k.startswith("First ")]
        if all(v.endswith("%") for v in scored):
            break
    assert len(scored) == 2 and all(v.endswith("%") for v in scored)


def test_compute_slots_bound_concurrent_work():
    """No more computations run at once than there are slots."""
    import threading
    import time

    running, peak, lock = [0], [0], threading.Lock()

    def work():
        with compute.compute_slot():
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(3 * compute.COMPUTE_SLOTS + 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == compute.COMPUTE_SLOTS


def test_explorer_at_eps_zero_blames_the_noise_for_changed_answers(app_env):
    at = open_page(EXPLORER)
    run(at.selectbox(key="ae_model").set_value("pretrained:vone-basic-cnn"))
    run(at.slider(key="ae_eps").set_value(0.0))
    changed = int(table(at, "adversarial prediction")["changed"].sum())
    assert changed > 0  # the untrained stand-in's answers are at the noise's mercy
    assert any(f"the {changed} of 16 answers that differ come from" in c.value for c in at.caption)
    run(at.radio(key="ae_noise").set_value("off"))
    assert int(table(at, "adversarial prediction")["changed"].sum()) == 0
    assert not any("answers that differ" in c.value for c in at.caption)


@pytest.mark.parametrize(
    "page", [None] + sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))
)
def test_every_page_has_the_glossary(app_env, page):
    at = open_page(page)
    glossary = [e for e in at.sidebar.expander if e.label == "📖 Glossary"]
    assert len(glossary) == 1
    words = "\n".join(m.value for m in glossary[0].markdown)
    for term in ("FGSM", "PGD", "EOT", "L∞", "eps", "NaN", "Gradient health", "Worst case"):
        assert f"**{term}" in words, term


def test_training_steers_vone_models_and_warns_when_a_run_diverges(app_env):
    at = open_page(TRAIN)
    run(at.selectbox(key="tr_model").set_value("vone-basic-cnn"))
    assert at.select_slider(key="tr_lr").value == pytest.approx(1e-4)
    assert at.select_slider(key="tr_size").options == ["2000", "5000", "10000"]
    run(at.selectbox(key="tr_model").set_value("basic-cnn"))
    assert at.select_slider(key="tr_lr").value == pytest.approx(1e-3)


@pytest.mark.parametrize(
    ("losses", "accuracy", "says"),
    [
        ([3.4, 16.0, 16.3, 17.5], 0.137, "the run diverged"),
        ([2.3, 2.3, 2.3, 2.3], 0.09, "no better than guessing"),
        ([2.3, 1.5, 1.0, 0.6], 0.85, None),
    ],
)
def test_training_trouble(losses, accuracy, says):
    from ui.jobs import training_trouble

    trouble = training_trouble(losses, accuracy)
    assert (trouble is None) if says is None else (says in trouble)


def test_a_training_run_survives_a_reload_and_a_forged_link_falls_back(app_env):
    at = open_page(TRAIN)
    at.select_slider(key="tr_size").set_value(200)
    run(at.button(key="tr_start").click())
    run_id = at.session_state["tr_run"]
    assert at.query_params["run"] == run_id  # the URL names the run
    finish_run(at, "tr_run")

    reloaded = AppTest.from_file(str(HOME), default_timeout=TIMEOUT)  # a new browser session
    reloaded.switch_page(TRAIN)
    reloaded.query_params["run"] = run_id
    run(reloaded)
    assert any("basic-cnn-1ep-200img.pt" in s.value for s in reloaded.success)
    assert len(charts(reloaded)) >= 2

    for forged in ("0123456789abcdef", "<b>x</b>", "../../etc"):
        stale = AppTest.from_file(str(HOME), default_timeout=TIMEOUT)
        stale.switch_page(TRAIN)
        stale.query_params["run"] = forged
        run(stale)
        assert any("not in the app any more" in i.value for i in stale.info)
        assert not stale.success and "<b>" not in texts(stale)


@pytest.mark.parametrize(("gradient", "warned"), [("raw", True), ("repaired", False)])
def test_finetuning_a_vone_model_warns_when_its_training_attack_moves_nothing(
    app_env, gradient, warned
):
    at = open_page(FINETUNE)  # the VOne stand-in's study gradient is NaN on real digits
    run(at.selectbox(key="ft_model").set_value("pretrained:vone-basic-cnn"))
    at.slider(key="ft_rounds").set_value(1)
    at.select_slider(key="ft_train").set_value(250)
    at.select_slider(key="ft_eval").set_value(50)
    run(at.radio(key="ft_gradient").set_value(gradient))
    run(at.button(key="ft_start").click())
    rows = finish_run(at, "ft_run")["rows"]
    moved = rows[1]["train_moved"]
    assert (moved < 0.01) == warned, moved
    assert any("moved none of them" in w.value for w in at.warning) == warned
    assert "training digits the attack moved" in table(at, "FGSM %").columns


def test_more_digits_extend_the_sample_on_screen(app_env):
    at = open_page(EXPLORER)
    first = table(at, "test index")["test index"].tolist()
    assert len(first) == 16
    run(at.select_slider(key="ae_n").set_value(32))
    more = table(at, "test index")["test index"].tolist()
    assert len(more) == 32 and more[:16] == first  # the digits being discussed stay


def test_a_diverging_training_run_warns(app_env):
    at = open_page(TRAIN)
    run(at.selectbox(key="tr_model").set_value("vone-basic-cnn"))  # 200 images: the data limit
    at.select_slider(key="tr_lr").set_value(1e-2)  # far too large: the loss climbs and stays
    run(at.button(key="tr_start").click())
    last = finish_run(at, "tr_run")
    assert last["trouble"] is not None
    assert any(last["trouble"] == w.value for w in at.warning)


# --- your digit --------------------------------------------------------------------------------
DIGIT_PAGE = "pages/7_Your_digit.py"


def seven_png() -> bytes:
    picture = Image.new("L", (280, 280), 255)
    draw = ImageDraw.Draw(picture)
    draw.line((60, 60, 220, 60), fill=0, width=18)
    draw.line((220, 60, 120, 250), fill=0, width=18)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def upload(at, name: str, data: bytes, mime: str = "image/png"):
    return run(at.file_uploader(key="yd_file").set_value((name, data, mime)))


def test_the_page_asks_for_a_digit_until_there_is_one(app_env):
    at = open_page(DIGIT_PAGE)
    assert any("Draw a digit on the canvas, or upload" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_an_uploaded_digit_is_read_attacked_and_stepped_through(app_env):
    at = upload(open_page(DIGIT_PAGE), "seven.png", seven_png())
    answers = at.get("plotly_chart")[0].proto.spec
    assert "Each model's answer" in answers
    assert len(table(at, "answer on the attacked digit")) == 8  # the same picture, every model
    assert "PGD step by step" in [h.value for h in at.subheader]
    assert at.slider(key="yd_step").value == 0
    run(at.button(key="yd_next").click())
    assert at.slider(key="yd_step").value == 1
    run(at.slider(key="yd_step").set_value(20))
    captions = [c for image in at.image for c in image.captions]
    assert "what the models see (28x28)" in captions
    assert any(c.startswith("step 20 of 20: the model reads") for c in captions)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.png", b"", "empty"),
        ("notes.png", b"just some text", "not a picture"),
        ("cut.png", seven_png()[:300], "truncated"),
        ("blank.png", None, "draw a digit first"),
        ("bomb.png", "bomb", "million pixels"),
        ("ink.png", "ink", "all ink"),
    ],
)
def test_every_bad_file_gets_a_message_and_nothing_else(app_env, name, data, message):
    if data is None or data == "ink":  # a white page, or a black one framed by a little paper
        page = Image.new("L", (200, 200), 255)
        if data == "ink":
            page.paste(0, (20, 20, 180, 180))
        buffer = io.BytesIO()
        page.save(buffer, format="PNG")
        data = buffer.getvalue()
    elif data == "bomb":
        from test_digit import _png_claiming

        data = _png_claiming(10_000, 5_000)  # refused from its header, never decoded
    at = upload(open_page(DIGIT_PAGE), name, data)
    assert any(message in w.value for w in at.warning), [w.value for w in at.warning]
    assert not at.exception and not at.get("plotly_chart")
    assert not (app_env / "app").exists()  # nothing of an upload is written to disk


def test_pgd_steps_are_computed_once_and_replayed(app_env, monkeypatch):
    from ui import digit_views

    calls = []
    real = digit_views.pgd_steps
    monkeypatch.setattr(digit_views, "pgd_steps", lambda *a, **k: calls.append(1) or real(*a, **k))
    digit_views._replay.clear()
    at = upload(open_page(DIGIT_PAGE), "seven.png", seven_png())
    for _ in range(3):
        run(at.button(key="yd_next").click())
    run(at.slider(key="yd_step").set_value(10))
    assert at.slider(key="yd_step").value == 10
    assert len(calls) == 1  # stepping and sliding replay the recorded iterates


def test_a_training_runs_link_on_the_finetuning_page_is_left_alone(app_env):
    at = open_page(TRAIN)
    at.select_slider(key="tr_size").set_value(200)
    run(at.button(key="tr_start").click())
    run_id = finish_run(at, "tr_run") and at.session_state["tr_run"]
    other = AppTest.from_file(str(HOME), default_timeout=TIMEOUT)
    other.switch_page(FINETUNE)
    other.query_params["run"] = run_id
    run(other)
    assert not any("not in the app any more" in i.value for i in other.info)
    assert not other.session_state["ft_run"]


def _downloads(at) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def test_pages_offer_what_they_show_for_download(app_env):
    at = open_page(EXPLORER)
    assert _downloads(at) == ["⬇ the digits (PNG)", "⬇ the table (CSV)"]
    assert _downloads(open_page(COMPARE)) == ["⬇ the table (CSV)"]
    digit = upload(open_page(DIGIT_PAGE), "seven.png", seven_png())
    assert _downloads(digit) == ["⬇ the picture (PNG)", "⬇ the table (CSV)"]


def test_exports_make_real_files():
    import csv

    from ui import exports

    rows = [{"model": "Basic-CNN", "clean %": "97.9"}, {"model": "VOne-CNN", "clean %": "96.6"}]
    assert list(csv.DictReader(io.StringIO(exports.csv_bytes(rows).decode()))) == rows
    picture = exports.stacked([np.zeros((28, 84, 3), np.uint8), np.zeros((28, 84), np.uint8)])
    assert picture.shape == (2 * (28 + 4), 84, 3)
    png = exports.png_bytes(picture)
    assert Image.open(io.BytesIO(png)).size == (84, 64)
    from ui.charts import finetune_figure

    figure = finetune_figure([{"round": 0, "clean": 98.0, "adversarial": 7.0}], 1, None)
    page = exports.standalone_html(figure)()
    assert page.lower().startswith("<!doctype html>") and len(page) > 1_000_000  # plotly inside
