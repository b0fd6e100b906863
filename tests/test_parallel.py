"""Jobs fanned out as Ray tasks (a real local Ray with 2 CPUs, no mocks): the same numbers as
the serial run, one retry for a failed task, failures reported by name."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from conftest import TINY_AUDIT

from vonedemo.audit import audit_job
from vonedemo.parallel import Job, JobsFailed, run_jobs, start_ray
from vonedemo.reproduce import ReproduceConfig, reproduce

ray = pytest.importorskip("ray")

TINY_REPRODUCE = ReproduceConfig(
    models=("basic-cnn", "vone-mlp"),
    limit=32,
    rounds=1,
    finetune_train_limit=32,
    finetune_eval_limit=16,
    sweep_limit=16,
    sweep_eps=(0.0, 0.35),
    record_in_manifest=False,
)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (starting one costs seconds); tasks get one core each."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the jobs defined below
    started = start_ray(num_cpus=2)
    yield
    if started:
        ray.shutdown()


@pytest.fixture
def one_thread():
    """A Ray task computes on one thread; the serial reference does too, so that both sum
    their floating-point reductions in the same order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _numbers(report) -> dict:
    models = asdict(report)["models"]
    for entry in models.values():
        entry.get("finetune", {}).pop("seconds", None)
    return models


def test_reproduce_on_ray_gives_the_serial_numbers(local_ray, one_thread):
    serial = reproduce(TINY_REPRODUCE)
    fanned = reproduce(TINY_REPRODUCE, ray="local")
    assert list(fanned.models) == list(TINY_REPRODUCE.models)  # registry order
    assert _numbers(fanned) == _numbers(serial)
    assert fanned.environment["ray"] == "local"
    assert set(fanned.timings) == {"tables_seconds", "eps_curves_seconds", "finetune_seconds"}


def _audit_numbers(audit) -> dict:
    numbers = asdict(audit)
    numbers.pop("seconds")
    for row in numbers["attacks"]:
        row.pop("seconds", None)
    return numbers


def test_audit_on_ray_gives_the_serial_numbers(local_ray, one_thread):
    jobs = [Job(name, audit_job, (name, TINY_AUDIT, "cpu")) for name in ("basic-cnn", "mlp")]
    serial = run_jobs(jobs)
    fanned = run_jobs(jobs, ray="local")
    assert set(fanned) == {"basic-cnn", "mlp"}
    for name in serial:
        assert _audit_numbers(fanned[name]) == _audit_numbers(serial[name])


def _dies_once(marker: str) -> str:
    """Kills its own worker the first time (as an out-of-memory kill would), then succeeds."""
    if not Path(marker).exists():
        Path(marker).write_text("died once")
        os._exit(1)
    return "second try"


def _always_fails() -> None:
    raise RuntimeError("this job is broken")


def _counts(marker: str) -> int:
    with open(marker, "a") as f:
        f.write("run\n")
    return 7


def test_a_killed_task_is_retried_once_and_a_broken_one_reported_by_name(local_ray, tmp_path):
    runs = tmp_path / "runs.txt"
    jobs = [
        Job("dies-once", _dies_once, (str(tmp_path / "died"),)),
        Job("broken", _always_fails),
        Job("fine", _counts, (str(runs),)),
    ]
    with pytest.raises(JobsFailed) as failure:
        run_jobs(jobs, ray="local")
    assert failure.value.results == {"dies-once": "second try", "fine": 7}
    assert list(failure.value.failures) == ["broken"]
    assert "this job is broken" in failure.value.failures["broken"]
    assert "broken" in str(failure.value)
    assert runs.read_text() == "run\n"  # a finished job is never run again


def test_serial_jobs_report_in_order_and_names_must_be_unique():
    seen = []
    results = run_jobs(
        [Job("a", int, ("3",)), Job("b", int, ("4",))],
        on_done=lambda name, result, done, total: seen.append((name, result, done, total)),
    )
    assert results == {"a": 3, "b": 4}
    assert seen == [("a", 3, 1, 2), ("b", 4, 2, 2)]
    with pytest.raises(ValueError, match="unique"):
        run_jobs([Job("a", int), Job("a", int)])


def test_a_reproduce_with_a_failed_model_keeps_the_finished_ones(local_ray, monkeypatch):
    config = replace(TINY_REPRODUCE, models=("basic-cnn", "no-such-model"), skip_finetune=True)
    with pytest.raises(JobsFailed) as failure:
        reproduce(config, ray="local")
    assert list(failure.value.failures) == ["no-such-model"]
    assert list(failure.value.report.models) == ["basic-cnn"]
