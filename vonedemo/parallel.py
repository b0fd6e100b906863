"""Independent jobs, run one after another here or fanned out as Ray tasks.

A job is a named call ``fn(*args)`` whose result does not depend on the other jobs (each seeds
its own random generators), so the serial and the Ray run give the same results. With Ray each
job is a task on a core of its own (a GPU of its own when it asks for one); a task whose worker
dies or which raises is retried once, and a job that fails twice is reported by name while the
finished ones are kept (:class:`JobsFailed`). Results come back keyed by job name; callers
merge them in registry order.

``ray`` is imported only when a run asks for it: the serial path needs nothing beyond torch.
Every Ray node must be able to import this package (a checkout of the project on its
``PYTHONPATH``, or installed); the local Ray started here gets the project's folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LOCAL_RAY", "Job", "JobsFailed", "run_jobs", "start_ray"]

LOCAL_RAY = "local"  # start a Ray instance in this process rather than join a cluster
PROJECT_ROOT = Path(__file__).resolve().parent.parent
RETRIES = 1  # a task that fails is tried once more, then reported


@dataclass(frozen=True)
class Job:
    name: str  # unique within a run: results and failures are keyed by it
    fn: Callable[..., Any]  # a module-level function (Ray pickles it by reference)
    args: tuple = ()
    gpu: bool = False  # the task needs a GPU of its own


class JobsFailed(RuntimeError):
    """Some jobs failed twice. ``failures``: job name -> reason; ``results``: the jobs that
    finished, by name."""

    def __init__(self, failures: dict[str, str], results: dict[str, Any]):
        self.failures = dict(failures)
        self.results = dict(results)
        super().__init__(
            f"{len(failures)} job(s) failed after {RETRIES} retry: "
            + "; ".join(f"{name}: {reason}" for name, reason in failures.items())
        )


def _task_environment() -> dict[str, str]:
    """What a worker needs to import vonedemo and find the same files as this process."""
    env = {k: v for k, v in os.environ.items() if k.startswith("VONEDEMO_")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    return env


def start_ray(address: str = LOCAL_RAY, *, num_cpus: int | None = None) -> bool:
    """Connect to Ray: a local instance started in this process (``"local"``, with
    ``num_cpus`` cores, default all) or the cluster at ``address`` (started elsewhere with
    ``ray start --head``). Returns True when this call connected (and so should disconnect)."""
    import ray

    if ray.is_initialized():
        return False
    local = address == LOCAL_RAY
    ray.init(
        address=None if local else address,
        num_cpus=num_cpus if local else None,
        runtime_env={"env_vars": _task_environment()},
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    return True


def _short(error: BaseException) -> str:
    """One line for a failed task: the root cause, not Ray's whole traceback."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        error = cause
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}".rstrip(": ")


def _run_serially(jobs: Sequence[Job], on_done) -> dict[str, Any]:
    results = {}
    for i, job in enumerate(jobs):
        results[job.name] = job.fn(*job.args)
        if on_done:
            on_done(job.name, results[job.name], i + 1, len(jobs))
    return results


def _run_on_ray(jobs: Sequence[Job], address: str, on_done, num_cpus: int | None):
    import ray

    started = start_ray(address, num_cpus=num_cpus)
    try:
        call = ray.remote(max_retries=RETRIES, retry_exceptions=True)(_call)
        pending = {
            call.options(num_cpus=1, num_gpus=1 if job.gpu else 0, name=job.name).remote(
                job.fn, job.args
            ): job.name
            for job in jobs
        }
        results, failures = {}, {}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            name = pending.pop(ready[0])
            try:
                results[name] = ray.get(ready[0])
            except ray.exceptions.RayError as e:
                failures[name] = _short(e)
                continue
            if on_done:
                on_done(name, results[name], len(results), len(jobs))
    finally:
        if started:
            ray.shutdown()
    if failures:
        raise JobsFailed(failures, results)
    return results


def _call(fn: Callable[..., Any], args: tuple) -> Any:
    return fn(*args)


def run_jobs(
    jobs: Sequence[Job],
    *,
    ray: str | None = None,
    num_cpus: int | None = None,
    on_done: Callable[[str, Any, int, int], None] | None = None,
) -> dict[str, Any]:
    """Run ``jobs`` and return their results by name.

    ``ray``: None runs them here, one after another (an exception stops the run); ``"local"``
    starts Ray in this process (``num_cpus`` cores, default all); anything else is the address
    of a running cluster (``"ray://host:10001"`` or ``"host:6379"``). ``on_done(name, result,
    done, total)`` is called as each job finishes (in finishing order on Ray)."""
    names = [job.name for job in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"job names must be unique, got {names}")
    if ray is None:
        return _run_serially(jobs, on_done)
    return _run_on_ray(jobs, ray, on_done, num_cpus)
