"""Training, scoring and registering the shipped checkpoints (``checkpoints/`` + manifest)."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from .checkpoints import (
    MANIFEST,
    default_checkpoint_dir,
    directory_lock,
    load_checkpoint,
    read_manifest,
    save_checkpoint,
    sha256_file,
)
from .data import load_mnist
from .evaluation import accuracy, evaluate_attack
from .models import WEIGHT_INIT, build_model
from .study import STUDY_EPS
from .training import StepInfo, TrainConfig, train


def write_manifest(manifest: dict, directory: str | Path) -> Path:
    """Atomic write, like checkpoints: a crash never leaves a half-written manifest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=directory)
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the manifest is a shared, published file
    os.replace(tmp, directory / MANIFEST)
    return directory / MANIFEST


def update_manifest_entry(directory: str | Path, name: str, **fields) -> dict:
    directory = Path(directory)
    with directory_lock(directory, ".manifest.lock"):  # two trainings may finish at once
        manifest = read_manifest(directory)
        entry = manifest["models"].setdefault(name, {})
        entry.update(fields)
        manifest["models"] = dict(sorted(manifest["models"].items()))
        write_manifest(manifest, directory)
    return entry


def train_pretrained(
    name: str,
    *,
    directory: str | Path | None = None,
    data_source: str = "embedded",
    config: TrainConfig | None = None,
    init_seed: int = 0,
    on_step: Callable[[StepInfo], None] | None = None,
    model_options: dict | None = None,
) -> dict:
    """Train ``name`` with the study's settings, save it (half precision) and register it."""
    directory = Path(directory) if directory else default_checkpoint_dir()
    config = config or TrainConfig(eval_limit=None)
    train_data = load_mnist("train", source=data_source)
    torch.manual_seed(init_seed)  # weight initialisation
    model = build_model(name, **(model_options or {}))
    start = time.perf_counter()
    history = train(model, train_data, config, on_step=on_step)
    seconds = time.perf_counter() - start
    file = f"{name}.pt"
    metadata = {
        "model": name,
        "data": f"{data_source}/train ({len(train_data.subset(config.limit))} images)",
        "epochs": config.epochs,
        "train_config": history.config,
        "init_seed": init_seed,
        "weight_init": WEIGHT_INIT,
        "train_seconds": round(seconds, 1),
        "final_train_loss": history.epochs[-1].train_loss if history.epochs else None,
        "torch": str(torch.__version__),
        "machine": f"{platform.machine()} ({torch.get_num_threads()} threads)",
    }
    save_checkpoint(directory / file, model, metadata, half=True)
    return update_manifest_entry(
        directory,
        name,
        file=file,
        sha256=sha256_file(directory / file),
        model=name,
        builder_args=model.builder_args,
        data=metadata["data"],
        epochs=config.epochs,
        seed=config.seed,
        init_seed=init_seed,
        weight_init=WEIGHT_INIT,
        train_seconds=metadata["train_seconds"],
        lr=config.lr,
        batch_size=config.batch_size,
        **(
            {
                "adversarial_training": {
                    "attack": config.adversarial,
                    "eps": config.adv_eps,
                    "steps": config.adv_steps,
                    "step_size": config.adv_step_size,
                    "warmup_epochs": config.adv_warmup_epochs,
                }
            }
            if config.adversarial
            else {}
        ),
    )


def score_pretrained(
    name: str,
    *,
    directory: str | Path | None = None,
    limit: int | None = None,
    seed: int = 0,
    on_batch: Callable[[int, int], None] | None = None,
) -> dict:
    """Clean and FGSM-0.35 accuracy of the shipped (half-precision) file on the test set."""
    directory = Path(directory) if directory else default_checkpoint_dir()
    entry = read_manifest(directory)["models"][name]
    model, _ = load_checkpoint(directory / entry["file"])
    test = load_mnist("test").subset(limit)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        clean = accuracy(model, test)
        result = evaluate_attack(model, test, "fgsm", STUDY_EPS, on_batch=on_batch)
    return update_manifest_entry(
        directory,
        name,
        test_images=len(test),
        clean_accuracy=round(100 * clean, 2),
        fgsm_accuracy=round(100 * result.accuracy, 2),
        fgsm_eps=STUDY_EPS,
        fgsm_gradient_health=result.health.summary(),
    )
