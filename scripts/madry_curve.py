"""How robust can PGD training on 10,000 digits make Madry et al.'s CNN? A curve over epochs.

    python3 scripts/madry_curve.py --epochs 40 --state runs/madry-curve --out results

Phase 1 trains ``madry-cnn`` from the shipped model's initial weights with the shipped recipe
(the manifest's ``adversarial_training``: PGD-7 at eps 0.3, step 0.1, a 2-epoch eps warm-up;
Adam 1e-3, batch 64, the 10,000 embedded training digits), only for ``--epochs`` epochs, and
keeps every epoch's weights in ``--state`` (``epoch-K.pt``, float32). With the same seeds its
epoch 8 is the shipped model (before half precision). It runs in one go; a killed run trains
again, unless every epoch's file is already there.

Phase 2 scores each kept epoch on the first ``--limit`` test digits: clean, and under APGD-CE
(``--steps`` steps, ``--restarts`` random restarts) at eps ``--eps``. A cheaper attack than the
converged audit's: it draws the curve's shape; the chosen epoch then gets the whole ladder.
Each epoch's figures are written to ``madry_curve.json`` as they finish, and a rerun skips
the epochs already there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vonedemo.checkpoints import load_checkpoint, read_manifest, save_checkpoint  # noqa: E402
from vonedemo.data import load_mnist  # noqa: E402
from vonedemo.evaluation import accuracy, evaluate_attack  # noqa: E402
from vonedemo.files import atomic_write  # noqa: E402
from vonedemo.models import build_model  # noqa: E402
from vonedemo.plots import write_figure  # noqa: E402
from vonedemo.runtime import tune_allocator  # noqa: E402
from vonedemo.training import TrainConfig, train  # noqa: E402

NAME = "madry-cnn"


def shipped_recipe(epochs: int) -> tuple[TrainConfig, int]:
    """The shipped madry-cnn's training settings (from the manifest), for ``epochs`` epochs."""
    entry = read_manifest()["models"][NAME]
    adv = entry["adversarial_training"]
    config = TrainConfig(
        epochs=epochs,
        lr=entry["lr"],
        batch_size=entry["batch_size"],
        seed=entry["seed"],
        eval_limit=None,
        adversarial=adv["attack"],
        adv_eps=adv["eps"],
        adv_steps=adv["steps"],
        adv_step_size=adv["step_size"],
        adv_warmup_epochs=adv["warmup_epochs"],
    )
    return config, entry["init_seed"]


def epoch_file(state: Path, epoch: int) -> Path:
    return state / f"epoch-{epoch}.pt"


def train_epochs(epochs: int, state: Path) -> float:
    """Phase 1: train and keep every epoch's weights; returns the training seconds."""
    if all(epoch_file(state, e).is_file() for e in range(1, epochs + 1)):
        return 0.0
    config, init_seed = shipped_recipe(epochs)
    torch.manual_seed(init_seed)
    model = build_model(NAME)
    state.mkdir(parents=True, exist_ok=True)

    def keep(event) -> None:
        save_checkpoint(epoch_file(state, event.done), model, {"epoch": event.done})
        print(
            f"epoch {event.done}/{event.total}: loss {event.metrics['train_loss']:.3f}", flush=True
        )

    history = train(model, load_mnist("train"), config, on_epoch=keep)
    return history.seconds


def score(path: Path, data, eps: float, steps: int, restarts: int) -> dict:
    model, _ = load_checkpoint(path)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        options = {"steps": steps, "restarts": restarts, "loss": "ce"}
        attacked = evaluate_attack(model, data, "apgd", eps, attack_options=options)
        return {"clean": 100 * accuracy(model, data), "robust": 100 * attacked.accuracy}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--state", type=Path, default=Path("runs/madry-curve"))
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--eps", type=float, default=0.3)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--restarts", type=int, default=1)
    args = parser.parse_args()
    tune_allocator()
    out = args.out / "madry_curve.json"
    config, _ = shipped_recipe(args.epochs)
    settings = {
        "model": NAME,
        "training": {k: v for k, v in vars(config).items() if k not in ("eval_limit", "limit")},
        "training_images": len(load_mnist("train")),
        "test_images": args.limit,
        "eps": args.eps,
        "attack": f"APGD-{args.steps} (CE), {args.restarts} restart(s)",
    }
    report = json.loads(out.read_text()) if out.is_file() else {}
    if report.get("settings") != settings:
        report = {"settings": settings, "epochs": {}}
    seconds = train_epochs(args.epochs, args.state)
    if seconds:
        report["train_seconds"] = round(seconds, 1)
    data = load_mnist("test").subset(args.limit)
    for epoch in range(1, args.epochs + 1):
        if str(epoch) in report["epochs"]:
            continue
        start = time.perf_counter()
        row = score(epoch_file(args.state, epoch), data, args.eps, args.steps, args.restarts)
        row["seconds"] = round(time.perf_counter() - start, 1)
        report["epochs"][str(epoch)] = row
        print(f"epoch {epoch}: {json.dumps(row)}", flush=True)
        atomic_write(out, json.dumps(report, indent=1) + "\n")
    write_figure(curve_figure(report), args.out / "madry_curve")
    return 0


def curve_figure(report: dict):
    """Clean and robust accuracy against epochs, with the issue's 80% aim and the epochs the
    shipped model was trained for."""
    import plotly.graph_objects as go

    epochs = sorted(report["epochs"], key=int)
    x = [int(e) for e in epochs]
    settings = report["settings"]
    fig = go.Figure()
    fig.add_scatter(x=x, y=[report["epochs"][e]["clean"] for e in epochs], name="clean")
    fig.add_scatter(
        x=x,
        y=[report["epochs"][e]["robust"] for e in epochs],
        name=f"{settings['attack']} at eps {settings['eps']}",
    )
    fig.add_hline(y=80, line_dash="dot", annotation_text="aim: 80%")
    shipped = read_manifest()["models"][NAME]["epochs"]
    fig.add_vline(x=shipped, line_dash="dash", annotation_text=f"shipped: {shipped} epochs")
    fig.update_layout(
        title=f"PGD training of {NAME} on {report['settings']['training_images']:,} digits: "
        f"accuracy (%) on {settings['test_images']:,} test digits after each epoch",
        xaxis_title="epoch",
        yaxis_title="accuracy (%)",
        yaxis_range=[0, 100],
    )
    return fig


if __name__ == "__main__":
    sys.exit(main())
