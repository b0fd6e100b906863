"""The public API: ``import vonedemo`` and build, attack, train and measure models by name.

Every name here is also reachable from ``vonedemo`` itself::

    >>> import vonedemo
    >>> vonedemo.list_models()[:2]
    ['alexnet', 'convnet']
    >>> model = vonedemo.create_model("vone-basic-cnn", pretrained=True)
    >>> fgsm = vonedemo.create_attack("fgsm", gradient="repaired")
    >>> adversarial = fgsm(model, images, labels, 0.35)

Registries raise :class:`~vonedemo.models.UnknownNameError` (a ``KeyError`` and a
``ValueError``) for an unknown name, with the list of known ones. This module sits above the
model registry and the checkpoint files, so neither needs the other to build a pretrained model.
"""

from __future__ import annotations

from . import attacks, models
from .attacks import Attack
from .checkpoints import load_checkpoint, load_pretrained, save_checkpoint
from .device import resolve_device
from .evaluation import evaluate_attack
from .models import MNISTClassifier
from .training import adversarial_finetune, train


def create_model(
    name: str, *, pretrained: bool = False, device: str | None = None, **overrides
) -> MNISTClassifier:
    """``create_model(name, *, pretrained=False, device=None, **overrides) -> MNISTClassifier``

    The registered model ``name``: freshly initialised (seed torch first for repeatable
    weights) or, with ``pretrained=True``, the shipped checkpoint, checked against its sha256
    and in eval mode. For VOne models ``overrides`` are :class:`~vonedemo.vone.VOneConfig`
    fields; on a pretrained one only ``noise_mode``/``noise_seed`` may change. ``device``:
    ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (``None``: the CPU).
    Training, attacks and evaluation run wherever the model is: batches follow it.

    Example::

        >>> model = create_model("vone-basic-cnn", pretrained=True, noise_mode="off")
        >>> model(images).shape  # images: [B, 1, 28, 28] in [0, 1]
        torch.Size([B, 10])
    """
    if pretrained:
        models.get_spec(name)  # an unknown name says so, with the known ones
        model, _ = load_pretrained(name, device=device, **overrides)
        return model
    model = models.build_model(name, **overrides)
    return model if device is None else model.to(resolve_device(device))


def list_models() -> list[str]:
    """``list_models() -> list[str]``

    The registry's model names in registry order: the study's four baselines, their VOne twins,
    then the audit's reference models.

    Example::

        >>> "vone-basic-cnn" in list_models()
        True
    """
    return models.list_models()


def create_attack(name: str, **options) -> Attack:
    """``create_attack(name, **options) -> attack``

    The attack ``name`` (see :func:`list_attacks`) with ``options`` bound; the result is called
    as ``attack(model, images, labels, eps, ...)`` and returns adversarial images within ``eps``
    (L∞) of ``images``, in [0, 1]. It never changes the model.

    Example::

        >>> pgd = create_attack("pgd", steps=40, step_size=0.01, gradient="repaired")
        >>> adversarial = pgd(model, images, labels, 0.1)
    """
    return attacks.create_attack(name, **options)


def list_attacks() -> list[str]:
    """``list_attacks() -> list[str]``

    The attack registry's names.

    Example::

        >>> list_attacks()
        ['fgsm', 'pgd']
    """
    return attacks.list_attacks()


__all__ = [
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
