"""Do the study's FGSM-fine-tuned baselines hold up? Label leaking and catastrophic overfitting.

    python3 scripts/finetuned_attacks.py --state results/full/finetune-state --out results

Loads each baseline as `reproduce --full --resume` left it after its last round (the weights
in ``<model>-finetune.pt``) and attacks the first ``--limit`` test images at eps 0.35:

* the study's FGSM with the true labels (what the fine-tuning trained on and scored with);
* FGSM with the model's *predicted* labels: the perturbation then cannot carry the true
  label (Kurakin et al. 2017's fix for label leaking);
* PGD (``--steps`` steps, ``--restarts`` random restarts): does single-step adversarial
  training survive an iterative attack (catastrophic overfitting, Wong et al. 2020)?

and the same for the shipped model before fine-tuning. Writes ``finetuned_attacks.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vonedemo.attacks import create_attack  # noqa: E402
from vonedemo.checkpoints import load_pretrained  # noqa: E402
from vonedemo.data import load_mnist  # noqa: E402
from vonedemo.evaluation import evaluate_attack, predict  # noqa: E402
from vonedemo.files import atomic_write  # noqa: E402
from vonedemo.models import BASELINES  # noqa: E402
from vonedemo.runtime import tune_allocator  # noqa: E402
from vonedemo.study import STUDY_EPS  # noqa: E402


def finetuned(name: str, state_dir: Path) -> tuple[torch.nn.Module, int]:
    """The baseline with the weights of its last finished fine-tuning round."""
    model, _ = load_pretrained(name)
    state = torch.load(state_dir / f"{name}-finetune.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    model.eval()
    return model, len(state["rounds"]) - 1


def attacks(model: torch.nn.Module, data, steps: int, restarts: int) -> dict[str, float]:
    torch.manual_seed(0)
    clean = float((predict(model, data.images).argmax(1) == data.labels).float().mean())
    fgsm = evaluate_attack(model, data, "fgsm", STUDY_EPS).accuracy
    predicted = predict(model, data.images).argmax(1)
    adv = create_attack("fgsm")(model, data.images, predicted, STUDY_EPS)
    fgsm_predicted = float((predict(model, adv).argmax(1) == data.labels).float().mean())
    options = {"steps": steps, "step_size": 2.5 * STUDY_EPS / steps, "restarts": restarts}
    pgd = evaluate_attack(model, data, "pgd", STUDY_EPS, attack_options=options).accuracy
    return {
        "clean": 100 * clean,
        "fgsm_true_labels": 100 * fgsm,
        "fgsm_predicted_labels": 100 * fgsm_predicted,
        f"pgd_{steps}x{restarts}": 100 * pgd,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=Path("results/full/finetune-state"))
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=list(BASELINES))
    args = parser.parse_args()
    tune_allocator()
    data = load_mnist("test").subset(args.limit)
    report = {
        "eps": STUDY_EPS,
        "test_images": len(data),
        "pgd": {"steps": args.steps, "restarts": args.restarts, "step_size": "2.5 eps / steps"},
        "models": {},
    }
    for name in args.models:
        start = time.perf_counter()
        model, rounds = finetuned(name, args.state)
        before, _ = load_pretrained(name)
        report["models"][name] = {
            "rounds": rounds,
            "before": attacks(before, data, args.steps, args.restarts),
            "after": attacks(model, data, args.steps, args.restarts),
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(name, json.dumps(report["models"][name]), flush=True)
        atomic_write(args.out / "finetuned_attacks.json", json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
