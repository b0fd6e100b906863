"""Section 4b: one training epoch of vone-alexnet through ``vonedemo.training.train``."""

from __future__ import annotations

import time

import torch

from benchmarks.common import Report
from vonedemo.data import load_mnist
from vonedemo.models import build_model


def run(report: Report, data_limit: int | None) -> dict:
    """One epoch of ``vone-alexnet`` on the embedded training images, through ``train``."""
    from vonedemo.training import TrainConfig, train

    train_data = load_mnist("train")
    images = data_limit or len(train_data)
    config = TrainConfig(epochs=1, limit=images)  # no test set: no evaluation inside the timing
    torch.manual_seed(0)
    model = build_model("vone-alexnet")
    start = time.perf_counter()
    train(model, train_data, config)
    seconds = (time.perf_counter() - start) * len(train_data) / images
    report.add(
        "## 4b. Training vone-alexnet for one epoch on the 10k embedded images",
        "",
        f"{torch.get_num_threads()} thread(s), `vonedemo.training.train` with the study's settings "
        f"(Adam 1e-3, batch 64, neuronal noise on): **{seconds:.0f} s** per epoch"
        + (
            f" (quick run: {images} images, scaled to {len(train_data)})"
            if images < len(train_data)
            else ""
        )
        + ".",
        "",
    )
    return {
        "seconds": seconds,
        "threads": torch.get_num_threads(),
        "extrapolated": images < len(train_data),
    }
