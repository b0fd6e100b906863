"""What the audit can attack: the shipped models, and the study's baselines after its FGSM
fine-tuning (``alexnet+fgsm-ft`` …), whose round-30 weights the full reproduction kept.

A fine-tuned baseline's weights come from the reproduction's resumable state file, read
without unpickling code; its transfer source is the same baseline before fine-tuning.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..checkpoints import load_pretrained
from ..models import BASELINES, FINETUNED_SUFFIX, list_models
from ..training import read_round_weights

# Where `reproduce --full --resume` keeps the committed run's state (see the README).
DEFAULT_STATE_DIR = Path("results/full/finetune-state")
FINETUNED_MODELS: tuple[str, ...] = tuple(f"{name}{FINETUNED_SUFFIX}" for name in BASELINES)


def audit_targets() -> list[str]:
    """Every name the audit accepts, in report order: the registry, then the fine-tuned."""
    return [*list_models(), *FINETUNED_MODELS]


def finetuned_base(name: str) -> str | None:
    """The baseline a fine-tuned target started from (None for a shipped model)."""
    return name.removesuffix(FINETUNED_SUFFIX) if name in FINETUNED_MODELS else None


def target_loader(
    state_dir: str | Path | None = None, device: str | torch.device | None = None
) -> Callable[[str], nn.Module]:
    """``load(name)`` for :func:`~vonedemo.audit.audit_model`: a shipped model, or a fine-tuned
    baseline's last round from ``state_dir`` (default :data:`DEFAULT_STATE_DIR`); each loaded
    once."""
    state_dir = Path(state_dir) if state_dir is not None else DEFAULT_STATE_DIR
    cache: dict[str, nn.Module] = {}

    def load(name: str) -> nn.Module:
        if name not in cache:
            base = finetuned_base(name)
            model = load_pretrained(base or name, device=device)[0]
            if base is not None:
                path = state_dir / f"{base}-finetune.pt"
                model.load_state_dict(read_round_weights(path))  # stays frozen, in eval
            cache[name] = model
        return cache[name]

    return load
