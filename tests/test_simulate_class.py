"""scripts/simulate_class.py: its safety bounds, and a tiny simulated class against the real app."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "simulate_class.py"
sys.path.insert(0, str(ROOT / "scripts"))

import simulate_class  # noqa: E402
import streamlit_client  # noqa: E402


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "localhost", "example.com"])
def test_only_loopback_host_is_accepted(host):
    with pytest.raises(SystemExit) as info:
        simulate_class.parse_args(["--host", host])
    assert info.value.code == 2


@pytest.mark.parametrize(
    "argv", [["--sessions", "51"], ["--sessions", "0"], ["--seconds", "601"], ["--seconds", "0"]]
)
def test_count_and_time_are_bounded(argv):
    with pytest.raises(SystemExit) as info:
        simulate_class.parse_args(argv)
    assert info.value.code == 2


def test_defaults_match_the_issue():
    args = simulate_class.parse_args([])
    assert (args.sessions, args.seconds, args.interval, args.host) == (20, 60.0, 1.0, "127.0.0.1")
    assert simulate_class.parse_args(["--sessions", "50", "--seconds", "600"]).sessions == 50


def test_media_urls_never_leave_the_machine():
    # Only paths on the app's own 127.0.0.1 port are fetched; an absolute URL is refused unsent.
    with pytest.raises(ValueError):
        asyncio.run(streamlit_client.fetch_media(8501, "http://example.com/media/x.png"))


def test_percentile():
    assert simulate_class.percentile([], 50) is None
    assert simulate_class.percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert simulate_class.percentile([1.0, 2.0], 100) == 2.0


@pytest.mark.slow
def test_tiny_load_run(tmp_path):
    out = tmp_path / "load.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VONEDEMO_APP_THREADS": "1",  # light on a shared machine
        "VONEDEMO_APP_CHECKPOINTS": str(tmp_path / "ckpt"),  # no user-trained models in the picker
        "VONEDEMO_PRECOMPUTE": "off",  # no background work beside two tiny sessions
    }
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--tiny",
        "--sessions",
        "2",
        "--seconds",
        "5",
        "--json",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "grid latency" in proc.stdout
    report = json.loads(out.read_text())
    assert report["errors"] == 0, report["error_messages"]
    assert report["sessions_ready"] == 2
    assert report["requests_completed"] >= 4
    assert report["latency_grid"]["p50_ms"] > 0
    assert (
        report["latency_run"]["p50_ms"] >= report["latency_grid"]["p50_ms"]
    )  # the grid comes first
    memory = report["memory"]
    assert memory["before_mb"] > 0 and memory["peak_during_mb"] > 0 and memory["after_mb"] > 0
