"""Reproduce the study in one call: its two tables, its fine-tuning curves, a summary.json.

Each step reports :class:`~vonedemo.progress.Progress` to ``on_progress``; nothing prints.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .checkpoints import (
    default_checkpoint_dir,
    load_pretrained,
    read_manifest,
    record_test_scores,
)
from .data import load_mnist
from .device import resolve_device
from .evaluation import accuracy, eps_sweep, evaluate_attack
from .files import atomic_write
from .models import BASELINES, STUDY_MODELS, model_label
from .ordering import merge_in_registry_order
from .parallel import Job, JobsFailed, run_jobs
from .progress import Progress, ProgressCallback, counter
from .study import STUDY_EPS, study_accuracy, study_curves
from .training import FinetuneConfig, adversarial_finetune
from .vone import GradientMode


@dataclass(frozen=True)
class ReproduceConfig:
    models: tuple[str, ...] = STUDY_MODELS
    limit: int | None = None  # test images for the tables (None: all 10,000)
    rounds: int = 3  # fine-tuning rounds (the study: 30, use full=True)
    finetune_train_limit: int = 500  # training images per round
    finetune_eval_limit: int = 300  # test images scored after each round
    sweep_limit: int = 500  # test images per eps of the accuracy-vs-eps curves
    sweep_eps: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(11))
    seed: int = 0
    skip_finetune: bool = False
    # The fine-tuning attack's complex-cell gradient: the study's "raw" (on a VOneNet its FGSM
    # moves nothing), or "repaired": what the study would have seen with a working attack.
    finetune_gradient: GradientMode = "raw"
    record_in_manifest: bool = True  # full-test-set figures go into checkpoints/manifest.json

    @classmethod
    def full(cls, **overrides) -> ReproduceConfig:
        """The study's 30 rounds, over the whole embedded training set and test set."""
        base = {"rounds": 30, "finetune_train_limit": 10_000, "finetune_eval_limit": 10_000}
        return cls(**{**base, **overrides})


# Settings that change no figure in a report: runs that differ only in these merge. ``models``
# says which models ran; ``record_in_manifest`` only decides whether full-test-set figures are
# also copied into checkpoints/manifest.json.
RESULT_NEUTRAL_FIELDS = ("models", "record_in_manifest")


def _plain(value):
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def normalised_config(config: dict, models: list[str] | None = None) -> dict:
    """A saved run's config in today's shape: a field added since the file was written takes
    its default today (the setting runs used before the field existed). With ``models`` (the
    ones in the file's table) its ``models`` name each of them too, in registry order (an
    older merge kept only the last run's)."""
    normal = {**_plain(asdict(ReproduceConfig())), **_plain(dict(config))}
    if models is not None:
        named = dict.fromkeys(config.get("models", ()))
        normal["models"] = list(merge_in_registry_order(named, dict.fromkeys(models)))
    return normal


def config_differences(saved: dict, config: dict) -> list[str]:
    """The settings in which a saved run's config and ``config`` differ, each with both values,
    leaving out :data:`RESULT_NEUTRAL_FIELDS`; empty when their results can be merged."""
    saved, config = normalised_config(saved), normalised_config(config)
    missing = object()  # a field today's settings no longer have

    def shown(value) -> str:
        return "no such setting" if value is missing else repr(value)

    differences = []
    for key in dict.fromkeys([*config, *saved]):
        before, now = saved.get(key, missing), config.get(key, missing)
        if key not in RESULT_NEUTRAL_FIELDS and before != now:
            differences.append(f"{key} (saved {shown(before)}, this run {shown(now)})")
    return differences


@dataclass
class Reproduction:
    config: dict
    models: dict[str, dict] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    environment: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Reproduction:
        models = dict(data.get("models", {}))
        return cls(
            config=normalised_config(data.get("config", {}), list(models)),
            models=models,
            timings=dict(data.get("timings", {})),
            environment=dict(data.get("environment", {})),
        )

    def merged_into(self, earlier: Reproduction) -> Reproduction:
        """Earlier results for other models, these for the models run now (registry order);
        the config names every model in the merged table. Callers check first that both runs
        had the same settings (:func:`config_differences`)."""
        models = merge_in_registry_order(earlier.models, self.models)
        timings = {**earlier.timings}
        for k, v in self.timings.items():
            timings[k] = timings.get(k, 0.0) + v
        config = {**self.config, "models": list(models)}
        return Reproduction(config, models, timings, self.environment)


def reproduce_model(
    name: str,
    config: ReproduceConfig,
    state_dir: str | Path | None = None,
    device: str | torch.device | None = None,
    on_progress: ProgressCallback | None = None,
) -> tuple[dict, dict[str, float]]:
    """One model's part of :func:`reproduce`: its table row, its accuracy-vs-eps curve and
    its fine-tuning curves, and the seconds each took. Every part seeds its own generators,
    so the result does not depend on which models ran before, or where."""
    progress = on_progress or (lambda _: None)
    parts = None if state_dir is None else Path(state_dir) / f"{name}-tables.json"
    saved = _read_parts(parts, _parts_key(name, config))
    if saved is None:
        entry, timings = _table_and_curve(name, config, device, progress)
        if parts is not None:  # a resumed run never redoes them
            record = {"key": _parts_key(name, config), "entry": entry, "timings": timings}
            atomic_write(parts, json.dumps(record, indent=1) + "\n")
    else:
        entry, timings = saved
    if not config.skip_finetune:
        entry, timings = _finetune_part(name, config, state_dir, device, progress, entry, timings)
    return entry, timings


def _parts_key(name: str, config: ReproduceConfig) -> dict:
    """What a model's table row and eps curve depend on: the settings and the weights."""
    return {
        "model": name,
        "sha256": read_manifest()["models"].get(name, {}).get("sha256"),
        "limit": config.limit,
        "sweep_limit": config.sweep_limit,
        "sweep_eps": list(config.sweep_eps),
        "seed": config.seed,
    }


def _read_parts(path: Path | None, key: dict) -> tuple[dict, dict] | None:
    """A finished table row and eps curve kept by an earlier run with the same key, or None
    (no file, another key, or a file that does not parse: then they are computed again)."""
    if path is None or not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        if record.get("key") != key:
            return None
        return dict(record["entry"]), {k: float(v) for k, v in record["timings"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _table_and_curve(
    name: str, config: ReproduceConfig, device, progress: ProgressCallback
) -> tuple[dict, dict[str, float]]:
    test = load_mnist("test").subset(config.limit)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    model, _ = load_pretrained(name, device=device)
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        clean = accuracy(model, test)
        attacked = evaluate_attack(
            model, test, "fgsm", STUDY_EPS, on_batch=counter(progress, f"table: {name}")
        )
    study = study_accuracy(name) or {}
    manifest = read_manifest()["models"]
    entry = {
        "label": model_label(name),
        "kind": "baseline" if name in BASELINES else "vonenet",
        "test_images": len(test),
        "clean": 100 * clean,
        "fgsm": 100 * attacked.accuracy,
        "study_clean": study.get("clean"),
        "study_fgsm": study.get("adversarial"),
        "fgsm_gradient_health": attacked.health.summary(),
        "train_seconds": manifest.get(name, {}).get("train_seconds"),
    }
    if config.limit is None and config.record_in_manifest:
        # The full test set: these are the shipped file's figures, recorded beside its hash.
        record_test_scores(default_checkpoint_dir(), name, len(test), clean, attacked)
    timings["tables_seconds"] = time.perf_counter() - start

    start = time.perf_counter()
    model, _ = load_pretrained(name, device=device)
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        rows = eps_sweep(model, test.subset(config.sweep_limit), config.sweep_eps, "fgsm")
    entry["eps_curve"] = [
        {
            "eps": r["eps"],
            "accuracy": 100 * r["accuracy"],
            "zero_sign_fraction": r["health"]["zero_sign_fraction"],
        }
        for r in rows
    ]
    timings["eps_curves_seconds"] = time.perf_counter() - start
    return entry, timings


def _finetune_part(
    name: str,
    config: ReproduceConfig,
    state_dir: str | Path | None,
    device,
    progress: ProgressCallback,
    entry: dict,
    timings: dict[str, float],
) -> tuple[dict, dict[str, float]]:
    entry, timings = dict(entry), dict(timings)
    start = time.perf_counter()
    ft_config = FinetuneConfig(
        rounds=config.rounds,
        train_limit=config.finetune_train_limit,
        eval_limit=config.finetune_eval_limit,
        gradient=config.finetune_gradient,
        seed=config.seed,
    )
    model, _ = load_pretrained(name, device=device)
    result = adversarial_finetune(
        model,
        load_mnist("train"),
        load_mnist("test"),
        ft_config,
        on_round=lambda r: progress(Progress(f"fine-tune: {name}", r.done, r.total)),
        state_file=None if state_dir is None else Path(state_dir) / f"{name}-finetune.pt",
    )
    curves = {k: [100 * v for v in vals] for k, vals in result.curves().items()}
    health = {
        "train_moved": [(r.train_health or {}).get("moved_fraction") for r in result.rounds],
        "test_nan": [
            (r.test_health or {}).get("nonfinite_gradient_fraction") for r in result.rounds
        ],
    }
    entry["finetune"] = {**curves, **health, "seconds": time.perf_counter() - start}
    entry["study_finetune"] = study_curves(name)
    timings["finetune_seconds"] = time.perf_counter() - start
    return entry, timings


def reproduce(
    config: ReproduceConfig | None = None,
    on_progress: ProgressCallback | None = None,
    state_dir: str | Path | None = None,
    *,
    device: str | torch.device | None = None,
    ray: str | None = None,
    ray_cpus: int | None = None,
) -> Reproduction:
    """The study's tables and fine-tuning curves for ``config``, one job per model.

    With ``state_dir`` every model's fine-tuning keeps its state there after each round
    (``<model>-finetune.pt``), and a run started again with the same folder continues each
    model after its last finished round. ``device``: where the models compute (None: the
    CPU). ``ray``: None runs the models here one after another; ``"local"`` (a Ray started
    in this process with ``ray_cpus`` cores) or a cluster address runs each model as a Ray
    task (see :mod:`vonedemo.parallel`); the numbers are the same. Progress: per model
    (``"models"``) and, when run here, within each model."""
    config = config or ReproduceConfig()
    device_name = None if device is None else str(resolve_device(device))
    report = Reproduction(
        config=asdict(config),
        environment={
            "torch": torch.__version__,
            "machine": platform.machine(),
            "threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d"),
            "device": device_name or "cpu",
            **({"ray": ray} if ray else {}),
        },
    )
    progress = on_progress or (lambda _: None)
    jobs = [
        Job(
            name,
            reproduce_model,
            (name, config, state_dir, device_name, None if ray else progress),
            gpu=(device_name or "").startswith("cuda"),
        )
        for name in config.models
    ]
    failed = None
    try:
        results = run_jobs(
            jobs,
            ray=ray,
            num_cpus=ray_cpus,
            on_done=lambda _n, _r, done, total: progress(Progress("models", done, total)),
        )
    except JobsFailed as e:
        failed, results = e, e.results
    for name in config.models:  # registry order, whatever order the jobs finished in
        if name not in results:
            continue
        entry, timings = results[name]
        report.models[name] = entry
        for key, seconds in timings.items():
            report.timings[key] = report.timings.get(key, 0.0) + seconds
    if failed is not None:
        failed.report = report  # the models that finished, for the caller to keep
        raise failed
    return report


# --- writing -----------------------------------------------------------------------------------
def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _diff(ours: float | None, theirs: float | None) -> str:
    return "—" if ours is None or theirs is None else f"{ours - theirs:+.2f}"


def tables_markdown(report: Reproduction) -> str:
    lines = []
    for kind, title in (("baseline", "Baselines"), ("vonenet", "VOneNets")):
        rows = [(n, m) for n, m in report.models.items() if m["kind"] == kind]
        if not rows:
            continue
        n_images = rows[0][1]["test_images"]
        lines += [
            f"**{title}** — accuracy (%) on {n_images:,} test images; FGSM at eps {STUDY_EPS} as the study ran it",
            "",
            "| model | study clean | ours clean | Δ | study FGSM | ours FGSM | Δ | FGSM steps that were 0 |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for _, m in rows:
            zero = m["fgsm_gradient_health"]["zero_sign_fraction"]
            lines.append(
                f"| {m['label']} | {_fmt(m['study_clean'])} | {_fmt(m['clean'])} | "
                f"{_diff(m['clean'], m['study_clean'])} | {_fmt(m['study_fgsm'])} | {_fmt(m['fgsm'])} | "
                f"{_diff(m['fgsm'], m['study_fgsm'])} | {100 * zero:.1f}% |"
            )
        lines.append("")
    return "\n".join(lines)


FULL_ROUNDS_SHOWN = (1, 5, 10, 30)  # the rounds the README's table of a full run shows


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def expected_models(config: dict) -> list[str]:
    """The models a full run of this kind covers: with the repaired gradient only the VOneNets
    (a baseline has no complex cell, so its run would be the study's again)."""
    if config.get("finetune_gradient", "raw") == "raw":
        return list(STUDY_MODELS)
    return [n for n in STUDY_MODELS if n not in BASELINES]


def readme_key(config: dict) -> str:
    """The README block a run's report goes to: the study's run, or the repaired-gradient one."""
    return "results" if config.get("finetune_gradient", "raw") == "raw" else "results-repaired"


def finetune_rounds_markdown(report: Reproduction) -> str:
    """A long fine-tuning run round by round: clean and FGSM accuracy at rounds 1, 5, 10 and
    30 beside the study's, and the training attack's gradient health (share of digits its
    FGSM moved, share of NaN input-gradient entries when scoring)."""
    rows = [(n, m) for n, m in report.models.items() if "finetune" in m]
    if not rows:
        return ""
    config = report.config
    shown = [r for r in FULL_ROUNDS_SHOWN if r <= config["rounds"]]
    head = " | ".join(f"r{r} clean / FGSM" for r in shown)
    lines = [
        f"**Fine-tuning on FGSM images, {config['rounds']} rounds** — each round one pass over "
        f"{config['finetune_train_limit']:,} training images (FGSM at eps {STUDY_EPS} from the "
        f"current weights at every step, {config.get('finetune_gradient', 'raw')} gradient, "
        f"Adam 1e-4, batch 64), then clean and FGSM accuracy (%) on "
        f"{config['finetune_eval_limit']:,} test images; the study's in brackets (its curves "
        "have 30 points, the first before fine-tuning: its last is shown at round 30). Last "
        "columns: the training attack's digits moved (round 1) and NaN input-gradient entries "
        "when scoring (last round).",
        "",
        f"| model | {head} | FGSM above clean | moved | NaN |",
        "| --- |" + " ---: |" * (len(shown) + 3),
    ]
    for _, m in rows:
        ft, st = m["finetune"], m.get("study_finetune") or {}
        cells = []
        for r in shown:
            ours = f"{ft['clean'][r]:.1f} / {ft['adversarial'][r]:.1f}"
            s_clean, s_adv = st.get("clean") or [], st.get("adversarial") or []
            at = min(r, len(s_clean) - 1, len(s_adv) - 1)  # the study's last point is its end
            theirs = f" ({s_clean[at]:.0f} / {s_adv[at]:.0f})" if at >= 0 else ""
            cells.append(ours + theirs)
        above = sum(a > c for c, a in zip(ft["clean"][1:], ft["adversarial"][1:], strict=False))
        moved = (ft.get("train_moved") or [None, None])[1:2] or [None]
        nan = (ft.get("test_nan") or [None])[-1]
        lines.append(
            f"| {m['label']} | {' | '.join(cells)} | {above} of {len(ft['clean']) - 1} rounds | "
            f"{_pct(moved[0])} | {_pct(nan)} |"
        )
    missing = [model_label(n) for n in expected_models(config) if n not in report.models]
    if missing:
        lines += ["", f"Not yet run in full: {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


def finetune_markdown(report: Reproduction) -> str:
    rows = [(n, m) for n, m in report.models.items() if "finetune" in m]
    if not rows:
        return ""
    rounds = len(rows[0][1]["finetune"]["clean"]) - 1
    if rounds >= max(FULL_ROUNDS_SHOWN):
        return finetune_rounds_markdown(report)
    lines = [
        f"**Fine-tuning on FGSM images** — after {rounds} round(s) "
        f"({report.config['finetune_train_limit']:,} training images per round, accuracy on "
        f"{report.config['finetune_eval_limit']:,} test images); the study's value after the same round:",
        "",
        "| model | clean before → after | study after | FGSM before → after | study after |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for _, m in rows:
        ft, st = m["finetune"], m.get("study_finetune") or {}
        s_clean = st.get("clean", [None] * (rounds + 1))
        s_adv = st.get("adversarial", [None] * (rounds + 1))
        at = min(rounds, len(s_clean) - 1)
        lines.append(
            f"| {m['label']} | {ft['clean'][0]:.1f} → {ft['clean'][-1]:.1f} | {_fmt(s_clean[at])} | "
            f"{ft['adversarial'][0]:.1f} → {ft['adversarial'][-1]:.1f} | {_fmt(s_adv[at])} |"
        )
    return "\n".join(lines) + "\n"


def write_outputs(report: Reproduction, out: Path) -> list[Path]:
    from .plots import accuracy_bars, eps_curves_figure, finetune_figure, write_figure

    out.mkdir(parents=True, exist_ok=True)
    written = [
        atomic_write(out / "summary.json", json.dumps(report.to_dict(), indent=1)),
        atomic_write(out / "tables.md", tables_markdown(report) + "\n" + finetune_markdown(report)),
    ]
    table = io.StringIO(newline="")
    w = csv.writer(table)
    w.writerow(
        [
            "model",
            "label",
            "kind",
            "test_images",
            "study_clean",
            "clean",
            "study_fgsm",
            "fgsm",
            "fgsm_zero_sign_fraction",
        ]
    )
    for name, m in report.models.items():
        w.writerow(
            [
                name,
                m["label"],
                m["kind"],
                m["test_images"],
                m["study_clean"],
                round(m["clean"], 3),
                m["study_fgsm"],
                round(m["fgsm"], 3),
                round(m["fgsm_gradient_health"]["zero_sign_fraction"], 4),
            ]
        )
    atomic_write(out / "tables.csv", table.getvalue())
    written.append(out / "tables.csv")
    rows = [{"model": n, **m} for n, m in report.models.items()]
    written += write_figure(accuracy_bars(rows), out / "tables")
    curves = {n: m["eps_curve"] for n, m in report.models.items() if "eps_curve" in m}
    if curves:
        written += write_figure(
            eps_curves_figure(curves, "Accuracy vs eps — FGSM as the study ran it"),
            out / "eps_curves",
        )
    ft = {n: m["finetune"] for n, m in report.models.items() if "finetune" in m}
    if ft:
        study = {n: m.get("study_finetune") for n, m in report.models.items()}
        written += write_figure(finetune_figure(ft, study), out / "finetune")
    return written


def update_readme_block(readme: Path, key: str, body: str, heading: str | None = None) -> None:
    """Replace the text between ``<!-- KEY:start -->`` and ``<!-- KEY:end -->`` (appending the
    block, under ``heading``, if the markers are missing)."""
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    text = readme.read_text()
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + f"\n\n## {heading or key}\n\n{block}\n"
    atomic_write(readme, text)


def update_readme(readme: Path, report: Reproduction, out: Path, command: str) -> None:
    """Replace the README's generated Results block with these numbers."""
    rel = out.as_posix()
    key = readme_key(report.config)
    # A repaired run's tables are the study's FGSM again: its block shows the fine-tuning only.
    tables = [tables_markdown(report)] if key == "results" else []
    plots = ["tables", "eps_curves", "finetune"] if tables else ["finetune"]
    body = "\n".join(
        [
            f"_Generated by `{command}` on {report.environment['date']} "
            f"(torch {report.environment['torch']}, {report.environment['threads']} CPU threads); "
            f"files in `{rel}/`._",
            "",
            *tables,
            finetune_markdown(report),
            f"Plots: {', '.join(f'`{rel}/{p}.html`' for p in plots)}. "
            f"Every number: `{rel}/summary.json`.",
        ]
    )
    update_readme_block(readme, key, body, heading="Results")
