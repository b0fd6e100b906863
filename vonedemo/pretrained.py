"""Training, scoring and registering the shipped checkpoints (``checkpoints/`` + manifest)."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

from .checkpoints import (
    default_checkpoint_dir,
    load_checkpoint,
    read_manifest,
    record_test_scores,
    save_checkpoint,
    sha256_file,
    update_manifest_entry,
)
from .data import load_mnist
from .device import resolve_device
from .evaluation import accuracy, evaluate_attack
from .models import WEIGHT_INIT, build_model
from .progress import ProgressCallback, counter
from .study import STUDY_EPS
from .training import TrainConfig, train


def train_pretrained(
    name: str,
    *,
    directory: str | Path | None = None,
    data_source: str = "embedded",
    config: TrainConfig | None = None,
    init_seed: int = 0,
    on_step: ProgressCallback | None = None,
    model_options: dict | None = None,
    device: str | torch.device | None = None,
) -> dict:
    """Train ``name`` with the study's settings on ``device`` (None: the CPU), save it (half
    precision) and register it."""
    directory = Path(directory) if directory else default_checkpoint_dir()
    config = config or TrainConfig(eval_limit=None)
    train_data = load_mnist("train", source=data_source)
    torch.manual_seed(init_seed)  # weight initialisation
    model = build_model(name, **(model_options or {}))
    if device is not None:  # built on the CPU first: the same initial weights everywhere
        model.to(resolve_device(device))
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
    on_progress: ProgressCallback | None = None,
    device: str | torch.device | None = None,
) -> dict:
    """Clean and FGSM-0.35 accuracy of the shipped (half-precision) file on the test set,
    recorded in the manifest; progress as ``"score NAME"`` (images)."""
    directory = Path(directory) if directory else default_checkpoint_dir()
    entry = read_manifest(directory)["models"][name]
    model, _ = load_checkpoint(directory / entry["file"], device=device)
    test = load_mnist("test").subset(limit)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        clean = accuracy(model, test)
        result = evaluate_attack(
            model, test, "fgsm", STUDY_EPS, on_batch=counter(on_progress, f"score {name}")
        )
    return record_test_scores(directory, name, len(test), clean, result)
