"""How the weight initialisation shapes one epoch of training: the experiment behind
``vonedemo.models._init_weights``.

    python scripts/init_experiment.py --models vone-basic-cnn basic-cnn --seeds 2
    python scripts/init_experiment.py --models mlp --variants he head-zero --seeds 5 --test

Each run builds a model (torch seed = the run's seed), re-initialises its classifier head as the
variant says, trains one epoch with the study's settings (Adam 1e-3, batch 64) and scores it.
By default it trains on the first ``--train`` embedded training images and scores on the next
``--held-out`` ones, so choosing an initialisation never looks at the test set; ``--test``
trains on all 10,000 and scores on the official test set instead. Prints a Markdown table:
mean and standard deviation over seeds, the starting loss, and every seed's accuracy.

Variants: ``current`` (what ``build_model`` gives: ``vonedemo.models.WEIGHT_INIT``), ``he``
(He in every layer, the VOne heads at full scale: how the shipped checkpoints started),
``head-zero``, and ``head/F`` (the He head divided by F).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from vonedemo.data import MNISTData, load_mnist  # noqa: E402
from vonedemo.evaluation import accuracy  # noqa: E402
from vonedemo.models import VOneNet, build_model, classifier_head, list_models  # noqa: E402
from vonedemo.training import TrainConfig, train  # noqa: E402


def head_factor(variant: str) -> float:
    """What a variant multiplies the head's He draw by."""
    if variant == "he":
        return 1.0
    if variant == "head-zero":
        return 0.0
    if variant.startswith("head/"):
        return 1.0 / float(variant.removeprefix("head/"))
    raise ValueError(f"unknown variant {variant!r}; known: current, he, head-zero, head/F")


def apply_variant(model: nn.Module, variant: str) -> None:
    if variant == "current":
        return
    factor = head_factor(variant)
    if isinstance(model, VOneNet):  # undo the model's own VOne scaling: back to the He draw
        factor *= model.vone.config.k_exc
    with torch.no_grad():
        classifier_head(model).weight *= factor


def splits(train_images: int, held_out: int, on_test: bool) -> tuple[MNISTData, MNISTData]:
    data = load_mnist("train")
    if on_test:
        return data, load_mnist("test")
    if train_images + held_out > len(data):
        raise SystemExit(f"error: --train + --held-out must be at most {len(data)}")
    fit = MNISTData(data.images[:train_images], data.labels[:train_images], "train")
    scored = MNISTData(
        data.images[train_images : train_images + held_out],
        data.labels[train_images : train_images + held_out],
        "held-out",
    )
    return fit, scored


def run(
    name: str, variant: str, seed: int, fit: MNISTData, scored: MNISTData
) -> tuple[float, float]:
    """(starting loss on the scored images, accuracy after one epoch), both noise as configured."""
    torch.manual_seed(seed)
    model = build_model(name)
    apply_variant(model, variant)
    with torch.no_grad():
        start_loss = F.cross_entropy(model.eval()(scored.images[:512]), scored.labels[:512]).item()
    train(model, fit, TrainConfig(epochs=1, seed=seed, eval_limit=None))
    torch.manual_seed(0)  # the same noise draws for every variant's score
    return start_loss, 100 * accuracy(model, scored)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list_models(), default=["vone-basic-cnn"])
    parser.add_argument("--variants", nargs="+", default=["he", "current"])
    parser.add_argument("--seeds", type=int, default=2, help="seeds 0 … N-1")
    parser.add_argument("--train", type=int, default=8000, help="training images (held-out mode)")
    parser.add_argument("--held-out", type=int, default=2000, help="images scored (held-out mode)")
    parser.add_argument(
        "--test", action="store_true", help="train on all 10k, score on the test set"
    )
    args = parser.parse_args(argv)
    for variant in set(args.variants) - {"current"}:
        head_factor(variant)  # unknown names fail before any training
    fit, scored = splits(args.train, args.held_out, args.test)
    print(
        f"One epoch on {len(fit)} {fit.name} images, scored on {len(scored)} {scored.name} images.\n"
    )
    print("| model | variant | accuracy % (mean ± sd) | starting loss | per seed |")
    print("| --- | --- | ---: | ---: | --- |")
    for name in args.models:
        for variant in args.variants:
            runs = [run(name, variant, seed, fit, scored) for seed in range(args.seeds)]
            accs = [a for _, a in runs]
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            per_seed = ", ".join(f"{a:.2f}" for a in accs)
            print(
                f"| {name} | {variant} | {statistics.mean(accs):.2f} ± {sd:.2f} | "
                f"{statistics.mean(loss for loss, _ in runs):.2f} | {per_seed} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
