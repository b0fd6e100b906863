"""The explorer's prepared views (``ui.prepared``, ``ui.precompute``): what is prepared is what
the explorer computes, it survives a restart and is then used, a changed model is never served
a stale view, bad files are ignored (and rebuilt), and the precompute can be switched off."""

from __future__ import annotations

import ast
import dataclasses
import io
import json
import threading
import time

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from test_app import EXPLORER, ROOT, app_env, assert_clean, open_page, run  # noqa: F401 (a fixture)

from ui import compute, loaders, precompute, prepared
from ui import settings as app_settings
from vonedemo import attack_view as views

MODEL = "vone-alexnet"
EPS = (0.35, 0.2)


@pytest.fixture
def app(request):
    """test_app's app_env: tiny models, every folder in tmp_path, the precompute off."""
    return request.getfixturevalue("app_env")


def _choice():
    return loaders.pretrained_choice(MODEL)


def _settings(eps: float):
    return precompute.default_settings(_choice(), eps)


def _grid_args(eps: float, choice=None):
    choice = choice or _choice()
    return (choice.key, choice.stamp, _settings(eps), precompute.DEFAULT_DIGITS, 0)


def _prepare(eps=EPS) -> precompute.Progress:
    return precompute.prepare_all([_choice()], pause_s=0.0, eps_stops=tuple(eps))


def _restart() -> None:
    """What a new app process starts with: no cached results, no grids in memory."""
    st.cache_data.clear()
    st.cache_resource.clear()
    compute.clear_caches()


def assert_same_view(a: views.AttackView, b: views.AttackView) -> None:
    for field in dataclasses.fields(views.AttackView):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if field.name == "seconds":  # how long the computation took: never the same twice
            continue
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, field.name
            assert x.tobytes() == y.tobytes(), field.name
        else:
            assert x == y, field.name


def _explorer_at(eps: float, before_choosing=lambda: None):
    at = open_page(EXPLORER)  # the picker's default model first
    before_choosing()
    label = next(o for o in at.selectbox(key="ae_model").options if f"({MODEL})" in o)
    at.selectbox(key="ae_model").set_value(label).run()
    at.slider(key="ae_eps").set_value(eps).run()
    assert_clean(at)
    return at


def test_the_defaults_are_the_explorer_pages_defaults():
    tree = ast.parse((ROOT / EXPLORER).read_text())
    defaults = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign) and isinstance(node.value, ast.Dict):
            defaults |= ast.literal_eval(node.value)
    settings = _settings(defaults["ae_eps"])
    assert defaults["ae_eps"] in precompute.EPS_STOPS and len(precompute.EPS_STOPS) == 51
    assert (settings.attack, settings.gradient) == (defaults["ae_attack"], defaults["ae_gradient"])
    assert (settings.eot_samples, settings.pgd_steps) == (defaults["ae_eot"], 1 * 10)
    assert settings.pgd_steps == defaults["ae_pgd_steps"] and settings.noise == defaults["ae_noise"]
    assert (precompute.DEFAULT_DIGITS, precompute.DEFAULT_SEED) == (
        defaults["ae_n"],
        defaults["ae_seed"],
    )
    assert precompute.DEFAULT_SAMPLE == defaults["ae_sample"] and defaults["ae_target"] == "none"


def test_prepared_views_are_exactly_the_computed_ones(app):
    choice = _choice()
    computed = {eps: compute.explorer_grid(choice, _settings(eps), 16, 0) for eps in EPS}
    samples = {
        eps: compute._score_sample(
            loaders.get_model(choice)[0], loaders.test_data(), _settings(eps), 100
        )
        for eps in EPS
    }
    progress = _prepare()
    assert (progress.done, progress.failed, progress.finished) == (4, 0, True)
    prepared.forget_memory()
    for eps in EPS:
        view, pictures = prepared.load_grid(*_grid_args(eps))
        assert_same_view(view, computed[eps][0])
        assert pictures == computed[eps][1]
        assert prepared.load_sample(choice.key, choice.stamp, _settings(eps), 100) == samples[eps]


def test_prepared_views_survive_a_restart_and_are_used_without_computing(app, monkeypatch):
    _prepare()
    _restart()
    ready = prepared.load_grid(*_grid_args(0.2), keep=False)

    def no_compute(*args, **kwargs):
        raise AssertionError("computed although prepared")

    def forbid_computing():
        monkeypatch.setattr(views, "attack_batch", no_compute)
        monkeypatch.setattr(compute, "_score_sample", no_compute)

    at = _explorer_at(0.2, forbid_computing)
    captions = " ".join(c.value for c in at.caption)
    assert f"took {ready[0].seconds:.2f} s" in captions
    assert "First 100 test digits, attacked" in [m.label for m in at.metric]
    assert not any(m.value == "—" for m in at.metric)  # the larger sample came prepared too


def test_a_changed_checkpoint_stamp_is_never_served_a_stale_view(app, monkeypatch):
    _prepare(eps=(0.35,))
    retrained = dataclasses.replace(_choice(), stamp="retrained")
    assert prepared.load_grid(*_grid_args(0.35, retrained)) is None
    calls = []
    attack = views.attack_batch
    monkeypatch.setattr(views, "attack_batch", lambda *a, **k: calls.append(1) or attack(*a, **k))
    compute.explorer_grid(retrained, _settings(0.35), 16, 0)
    assert calls == [1]
    assert prepared.load_sample(retrained.key, "retrained", _settings(0.35), 100) is None


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _bad_files(path, other, marker):
    """(name, bytes) of files that must never be served from ``path``."""
    good = path.read_bytes()
    evil = io.BytesIO()
    np.savez(evil, meta=np.array([_Evil(marker)], dtype=object))
    with np.load(path) as files:
        wrong_shape = {name: files[name] for name in files.files}
    wrong_shape["original"] = np.zeros((16, 27, 27), np.uint8)
    shaped = io.BytesIO()
    np.savez(shaped, **wrong_shape)
    return [
        ("truncated", good[: len(good) // 2]),
        ("not an npz", b"hello"),
        ("a pickle inside", evil.getvalue()),
        ("another view's file", other.read_bytes()),
        ("wrong shapes", shaped.getvalue()),
    ]


def test_corrupt_or_malicious_prepared_files_are_ignored_and_rebuilt(app, tmp_path):
    _prepare()
    path = prepared._path(prepared.identity("grid", *_grid_args(0.35)))
    other = prepared._path(prepared.identity("grid", *_grid_args(0.2)))
    marker = tmp_path / "pwned"
    sample = prepared._path(prepared.identity("sample", *_grid_args(0.35)[:3], 100, 0))
    for what, data in _bad_files(path, other, marker):
        path.write_bytes(data)
        sample.write_text('{"identity": 1, "clean": "x"}' if "npz" in what else data.hex())
        _restart()
        assert prepared.load_grid(*_grid_args(0.35)) is None, what
        assert prepared.load_sample(*_grid_args(0.35)[:3], 100) is None, what
        at = _explorer_at(0.35)  # computed instead: no error, no traceback
        assert "label" in " ".join(m.value for m in at.markdown), what
        assert not marker.exists(), what
        progress = _prepare(eps=(0.35,))
        assert (progress.done, progress.failed) == (2, 0), what
        assert prepared.load_grid(*_grid_args(0.35)) is not None, what


def test_the_precompute_can_be_switched_off_and_runs_once_when_on(app, monkeypatch):
    calls = []
    monkeypatch.setattr(precompute, "_thread", None)
    monkeypatch.setattr(precompute, "prepare_all", lambda **kw: calls.append(kw))
    open_page(EXPLORER)  # off in tests by default
    assert precompute._thread is None and not precompute.start_background()
    monkeypatch.setenv(app_settings.PRECOMPUTE_ENV, "on")
    for _ in range(2):  # a page opened first (not the home page) starts it, once per process
        run(AppTest.from_file(str(ROOT / EXPLORER), default_timeout=60))
    precompute._thread.join(timeout=10)
    assert len(calls) == 1


def test_background_work_waits_while_a_live_request_holds_a_slot(monkeypatch):
    monkeypatch.setattr(compute, "_slots", threading.BoundedSemaphore(2))  # one slot stays free
    order = []
    live_in = threading.Event()

    def live():
        with compute.compute_slot():
            live_in.set()
            time.sleep(0.3)
            order.append("live")

    def background():
        live_in.wait()
        with compute.compute_slot(background=True):
            order.append("background")

    threads = [threading.Thread(target=live), threading.Thread(target=background)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert order == ["live", "background"]


@pytest.mark.parametrize("name", ["basic-cnn", MODEL])
def test_the_class_model_comes_first_and_every_shipped_model_is_prepared(app, name):
    choices = precompute.shipped_models()
    assert [c.name for c in choices][:2] == list(precompute.FIRST_MODELS)
    assert name in [c.name for c in choices] and all(c.available for c in choices)


def test_the_heap_is_frozen_once_and_streamlit_never_collects_after_every_run(monkeypatch):
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False  # a full scan per rerun: too slow for a class
    frozen, started = [], []
    monkeypatch.setattr(precompute, "_runs", 0)
    monkeypatch.setattr(precompute, "freeze_heap", lambda: frozen.append(1))
    monkeypatch.setattr(precompute, "_collect_now_and_then", lambda: None)
    monkeypatch.setattr(precompute, "start_background", lambda: started.append(1) or False)
    for _ in range(12):
        precompute.after_startup()
    assert (len(frozen), len(started)) == (len(precompute.FREEZE_AT_RUNS), 12)


def test_a_changed_manifest_is_read_again(monkeypatch, tmp_path):
    from vonedemo.files import atomic_write

    monkeypatch.delenv(app_settings.MODELS_ENV, raising=False)
    monkeypatch.setenv("VONEDEMO_CHECKPOINTS", str(tmp_path))
    (tmp_path / "basic-cnn.pt").write_bytes(b"")
    for sha in ("abc", "def"):
        entry = {"file": "basic-cnn.pt", "sha256": sha}
        atomic_write(tmp_path / "manifest.json", json.dumps({"models": {"basic-cnn": entry}}))
        assert loaders.pretrained_choice("basic-cnn").stamp == sha
    (tmp_path / "basic-cnn.pt").unlink()
    assert not loaders.pretrained_choice("basic-cnn").available


def test_a_shared_prepared_view_draws_each_chosen_digits_own_chart(app):
    _prepare(eps=(0.35,))
    at = _explorer_at(0.35)

    def chart_for(digit: int) -> str:
        at.selectbox(key="ae_digit").set_value(digit).run()
        assert_clean(at)
        return at.get("plotly_chart")[0].proto.spec

    first, other = chart_for(0), chart_for(3)
    assert first != other and chart_for(0) == first


def test_at_exit_the_precompute_stops_after_its_current_view(monkeypatch):
    """A daemon thread still inside torch when the interpreter tears down aborts the process
    (exit status -6): at exit the precompute is told to stop and joined."""
    seen = []

    def prepare_all(*, progress, stop):
        while not stop.is_set():  # one view after another, checking between them
            time.sleep(0.01)
        seen.append("stopped")
        return progress

    monkeypatch.setattr(precompute, "_thread", None)
    monkeypatch.setattr(precompute, "_stop", threading.Event())
    monkeypatch.setattr(precompute, "prepare_all", prepare_all)
    monkeypatch.setenv(app_settings.PRECOMPUTE_ENV, "on")
    assert precompute.start_background()
    precompute._stop_at_exit()
    assert seen == ["stopped"] and not precompute._thread.is_alive()
