"""vonedemo: see adversarial examples happen, and whether a VOneNet front-end stops them.

The public API (see :mod:`vonedemo.api`)::

    >>> import vonedemo
    >>> model = vonedemo.create_model("vone-basic-cnn", pretrained=True)
    >>> result = vonedemo.evaluate_attack(model, load_mnist("test"), "fgsm", 0.35)
"""

from .api import (
    adversarial_finetune,
    create_attack,
    create_model,
    evaluate_attack,
    list_attacks,
    list_models,
    load_checkpoint,
    save_checkpoint,
    train,
)
from .version import __version__

__all__ = [
    "__version__",
    "adversarial_finetune",
    "create_attack",
    "create_model",
    "evaluate_attack",
    "list_attacks",
    "list_models",
    "load_checkpoint",
    "save_checkpoint",
    "train",
]
