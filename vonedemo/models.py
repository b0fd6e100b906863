"""The study's four MNIST classifiers and their VOneNet twins, behind one registry.

Every model takes ``[B, 1, 28, 28]`` images in ``[0, 1]`` (no hidden normalisation) and returns
logits ``[B, 10]``.

Example::

    >>> model = create_model("vone-basic-cnn", noise_mode="off")
    >>> model(torch.rand(4, 1, 28, 28)).shape
    torch.Size([4, 10])
    >>> list_models()[:2]
    ['alexnet', 'convnet']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .vone import VOneBlock, VOneConfig, nan_shortcut

IMAGE_SHAPE = (1, 28, 28)
NUM_CLASSES = 10


class UnknownNameError(KeyError, ValueError):
    """An unknown registry name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def check_images(images: torch.Tensor) -> None:
    """Raise ValueError unless ``images`` is a float batch [B, 1, 28, 28]."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"images must have shape [B, 1, 28, 28], got {list(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point in [0, 1], got dtype {images.dtype}")


class MNISTClassifier(nn.Module):
    """Base class: checks the input shape, then runs ``features``."""

    registry_name: str = ""
    builder_args: dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x)
        return self.classify(x)

    def classify(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


# --- back-ends: each takes [B, in_channels, 28, 28] ------------------------------------------
class BasicCNN(nn.Module):
    """conv3x3(32)+ReLU+maxpool2, conv3x3(64)+ReLU+maxpool2, linear 7·7·64 → 10."""

    def __init__(self, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(7 * 7 * 64, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class ConvNet(nn.Module):
    """conv3x3(32)+ReLU+maxpool3, conv3x3(64)+ReLU+maxpool3, conv3x3/2(128) → 2·2·128 = 512,
    then 512 → 512 → 512 → 10 with ReLU."""

    def __init__(self, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3),
            nn.Conv2d(64, 128, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, NUM_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class AlexNetMNIST(nn.Module):
    """AlexNet's conv stack at MNIST scale: 64@5x5/2, 192@5x5/2, maxpool, 384, 256, 256 @3x3,
    maxpool → 256 features, then 256 → 512 → 512 → 10.

    Deviation from the study: its head was 12544 → 4096 → 4096 → 10 (about 70 M parameters,
    270 MB). This head keeps AlexNet's shape (two wide ReLU layers) at 2.9 M parameters in all,
    so eight models fit a laptop and the repository. No dropout: predictions do not depend on
    train/eval mode, so attacks behave the same in either.
    """

    def __init__(self, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, 5, stride=2, padding=2),
            nn.ReLU(),  # 28 → 14
            nn.Conv2d(64, 192, 5, stride=2, padding=2),
            nn.ReLU(),  # 14 → 7
            nn.MaxPool2d(2),  # 7 → 3
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 3 → 1
        )
        self.classifier = nn.Sequential(
            nn.Linear(256, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, NUM_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class MLP(nn.Module):
    """The study's "linear regression": flatten → 784 (ReLU) → 10.

    ``pool`` average-pools the input first: the VOne twin feeds it 32x28x28 bottleneck maps,
    and 2x2 pooling (6272 inputs) keeps the model under 5 M parameters where the study's
    25088 → 784 connector alone had 20 M.
    """

    def __init__(self, in_channels: int = 1, pool: int = 1, hidden: int = 784):
        super().__init__()
        self.pool = nn.AvgPool2d(pool) if pool > 1 else nn.Identity()
        side = 28 // pool
        self.classifier = nn.Sequential(
            nn.Linear(in_channels * side * side, hidden), nn.ReLU(), nn.Linear(hidden, NUM_CLASSES)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(x).flatten(1))


class MadryCNN(nn.Module):
    """The MNIST network of Madry et al. (2018): conv5x5(32)+ReLU+maxpool2, conv5x5(64)+ReLU+
    maxpool2, 3136 → 1024 (ReLU) → 10. Capacity matters for adversarial training."""

    def __init__(self, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(7 * 7 * 64, 1024), nn.ReLU(), nn.Linear(1024, NUM_CLASSES)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


# --- whole models ------------------------------------------------------------------------------
class BaselineNet(MNISTClassifier):
    def __init__(self, backend: nn.Module):
        super().__init__()
        self.backend = backend

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.backend(x)


class VOneNet(MNISTClassifier):
    """VOneBlock → learned 1x1 bottleneck → back-end."""

    def __init__(self, config: VOneConfig, backend_factory: Callable[[int], nn.Module]):
        super().__init__()
        self.vone = VOneBlock(config)
        self.bottleneck = nn.Conv2d(config.out_channels, config.bottleneck_channels, 1, bias=False)
        self.backend = backend_factory(config.bottleneck_channels)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        # The block leaves its channels grouped by kernel size; permuting the bottleneck's
        # 512 input weights instead of the 512 activation maps saves a full memory pass.
        # The block and the bottleneck run a chunk of images at a time (same values).
        weight = self.bottleneck.weight.index_select(1, self.vone.channel_order)

        def block_and_downstream(images: torch.Tensor) -> torch.Tensor:
            return self.backend(_backend_input(self.vone.project(images, weight)))

        # In an attack's gradient pass on images whose study gradient is provably NaN, the
        # package skips the backward passes below the block (vonedemo.vone.shortcut).
        return nan_shortcut(self.vone, x, block_and_downstream, NUM_CLASSES)


def _backend_input(features: torch.Tensor) -> torch.Tensor:
    """The bottleneck's maps in channels-last layout, which oneDNN's convolutions prefer
    (faster for the convolutional back-ends; a copy of 32 small maps, same values)."""
    return features.contiguous(memory_format=torch.channels_last)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    label: str  # the study's display name
    backend: Callable[[int], nn.Module]  # in_channels → back-end
    vone: bool
    description: str
    vone_defaults: dict = dataclasses.field(default_factory=dict)  # VOneConfig overrides


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def list_models() -> list[str]:
    return list(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown model {name!r}; known models: {', '.join(_REGISTRY)}"
        ) from None


# A study baseline after the study's 30 rounds of FGSM fine-tuning (an audit target):
# "alexnet" + FINETUNED_SUFFIX.
FINETUNED_SUFFIX = "+fgsm-ft"


def model_label(name: str) -> str:
    if name.endswith(FINETUNED_SUFFIX):
        return f"{get_spec(name.removesuffix(FINETUNED_SUFFIX)).label}, FGSM-fine-tuned"
    return get_spec(name).label


def build_model(name: str, **overrides) -> MNISTClassifier:
    """A freshly initialised model (no weights loaded). For VOne models, ``overrides`` are
    :class:`VOneConfig` fields (or ``vone_config=`` a whole config)."""
    spec = get_spec(name)
    if not spec.vone:
        if overrides:
            raise ValueError(f"model {name!r} takes no options, got {sorted(overrides)}")
        model: MNISTClassifier = BaselineNet(spec.backend(1))
        args: dict = {}
    else:
        config = overrides.pop("vone_config", None)
        if isinstance(config, dict):
            config = VOneConfig(**config)
        fields = {f.name for f in dataclasses.fields(VOneConfig)}
        unknown = set(overrides) - fields
        if unknown:
            raise ValueError(
                f"unknown option(s) {sorted(unknown)} for {name!r}; VOneConfig fields: {sorted(fields)}"
            )
        base = config or VOneConfig(**spec.vone_defaults)
        config = dataclasses.replace(base, **overrides)
        model = VOneNet(config, spec.backend)
        args = {"vone_config": config.to_dict()}
    _init_weights(model)
    model.registry_name = name
    model.builder_args = args
    return model


# How a fresh model's weights start; the shipped checkpoints' manifest records it. Every file
# in checkpoints/ to date was trained from the earlier "he" (the VOne heads at full He scale).
WEIGHT_INIT = "he, VOne head / k_exc"


def _init_weights(model: nn.Module) -> None:
    """He (Kaiming) initialisation for the ReLU layers, zero biases: it trains faster in one
    epoch than PyTorch's default (README, "Models").

    A VOne model's classifier head starts at 1/k_exc of that scale. He assumes inputs of unit
    scale, but the block multiplies its responses by k_exc = 25. With zero biases, ReLU and
    max-pooling the fresh back-end is positively homogeneous, so its logits grow with that gain
    and the starting loss is far above ln 10; divided by k_exc, the head starts near ln 10 and
    learns visibly faster (``python scripts/init_experiment.py``). A zero head did about as well
    but leaves a fresh model's input gradient zero. The baselines start near ln 10 anyway and
    keep plain He: a smaller or zero head cost most of them accuracy."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    if isinstance(model, VOneNet):
        with torch.no_grad():
            classifier_head(model).weight /= model.vone.config.k_exc


def classifier_head(model: nn.Module) -> nn.Linear:
    """The layer that produces the logits: every back-end ends in a Linear to NUM_CLASSES."""
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    assert head.out_features == NUM_CLASSES, "the last linear layer is the classifier head"
    return head


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def vone_blocks(model: nn.Module) -> list[VOneBlock]:
    return [m for m in model.modules() if isinstance(m, VOneBlock)]


def is_stochastic(model: nn.Module) -> bool:
    """True if any VOneBlock in the model adds noise by default."""
    return any(b.noise_mode != "off" for b in vone_blocks(model))


def _mlp(in_channels: int) -> nn.Module:
    return MLP(in_channels, pool=1 if in_channels == 1 else 2)


for _name, _label, _backend, _desc in (
    ("alexnet", "AlexNet", AlexNetMNIST, "AlexNet-style CNN, MNIST-scale head"),
    ("convnet", "ConvNet", ConvNet, "three conv layers and a 3-layer MLP head"),
    ("basic-cnn", "Basic-CNN", BasicCNN, "two conv layers and a linear read-out"),
    ("mlp", "Linear-Regression", _mlp, 'one-hidden-layer MLP (the study\'s "linear regression")'),
):
    register_model(ModelSpec(_name, _label, _backend, False, _desc))
for _name, _label, _backend, _desc in (
    ("vone-alexnet", "VOneAlexNet", AlexNetMNIST, "VOneBlock + AlexNet back-end"),
    ("vone-convnet", "VOneConvNet", ConvNet, "VOneBlock + ConvNet back-end"),
    ("vone-basic-cnn", "VOne-CNN", BasicCNN, "VOneBlock + Basic-CNN back-end"),
    ("vone-mlp", "VOne-Linear-Regression", _mlp, "VOneBlock + MLP back-end (2x2 pooled)"),
):
    register_model(ModelSpec(_name, _label, _backend, True, _desc))

# Reference models for the robustness audit (not in the study).
register_model(
    ModelSpec(
        "madry-cnn",
        "Madry-CNN (PGD-trained)",
        MadryCNN,
        False,
        "yardstick of real robustness: Madry et al.'s MNIST CNN, PGD adversarial training at eps 0.3",
    )
)
register_model(
    ModelSpec(
        "vone-basic-cnn-2.5deg",
        "VOne-CNN (2.5°, resolvable)",
        BasicCNN,
        True,
        "VOne-CNN whose image spans 2.5 degrees: 11.2 px/deg keeps every Gabor (≤ 5.6 cycles/deg) "
        "below the Nyquist limit of 0.5 cycles/px",
        vone_defaults={"visual_degrees": 2.5},
    )
)

BASELINES = ("alexnet", "convnet", "basic-cnn", "mlp")
STUDY_MODELS = BASELINES + tuple(f"vone-{n}" for n in BASELINES)


def twin_of(name: str) -> str | None:
    """The baseline ↔ VOne twin of a study model, if any."""
    if name.startswith("vone-") and name[5:] in BASELINES:
        return name[5:]
    if name in BASELINES:
        return f"vone-{name}"
    return None
