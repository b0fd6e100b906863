"""Training and the study's adversarial fine-tuning, reporting progress through callbacks.

Callbacks receive :class:`~vonedemo.progress.Progress` events (stages and metrics listed
there); the run's records (:class:`StepInfo`, :class:`EpochInfo`, :class:`RoundInfo`) come back
in the result.

Example::

    >>> model = create_model("basic-cnn")
    >>> history = train(model, load_mnist("train"), TrainConfig(epochs=1),
    ...                 test_data=load_mnist("test"), on_epoch=print)
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .attacks import GradientHealth, create_attack
from .attacks.base import check_eps
from .data import MNISTData
from .device import model_device
from .evaluation import accuracy, evaluate_attack
from .files import atomic_write
from .progress import Progress, ProgressCallback
from .vone import GradientMode, check_gradient_mode


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10  # the study: 10 epochs
    lr: float = 1e-3  # the study: Adam, 1e-3
    batch_size: int = 64  # the study: 64
    seed: int = 0  # weight init is the caller's; this seeds shuffling and noise
    limit: int | None = None  # training images to use (None: all)
    eval_limit: int | None = 1000  # test images scored after each epoch (None: all)
    adversarial: str | None = None  # "pgd": Madry-style adversarial training (None: clean)
    adv_eps: float = 0.3  # Madry et al.'s MNIST budget
    adv_steps: int = 10  # PGD steps per training batch
    adv_step_size: float = 0.05
    # Ramp eps (and the step size with it) linearly from 0 over this many epochs: from the
    # start, PGD at eps 0.3 keeps an untrained net at chance (loss stuck at ln 10).
    adv_warmup_epochs: float = 0.0

    def __post_init__(self) -> None:
        _check_positive(epochs=self.epochs, batch_size=self.batch_size, adv_steps=self.adv_steps)
        if not self.adv_warmup_epochs >= 0:
            raise ValueError(f"adv_warmup_epochs must be >= 0, got {self.adv_warmup_epochs}")
        if self.adversarial not in (None, "pgd", "fgsm"):
            raise ValueError(f"adversarial must be None, 'pgd' or 'fgsm', got {self.adversarial!r}")
        check_eps(self.adv_eps, "adv_eps")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")


@dataclass(frozen=True)
class FinetuneConfig:
    rounds: int = 5  # the study ran 30; the default is a short classroom run
    lr: float = 1e-4  # the study: Adam, 1e-4
    eps: float = 0.35  # FGSM budget of the training images, as the study
    batch_size: int = 64
    train_limit: int | None = 1000  # training images per round (None: all)
    eval_limit: int = 500  # test images scored after each round
    attack: str = "fgsm"  # attack that makes the training images
    # The VOne complex cell's backward for the training and the scoring attack: "raw" is the
    # study's (NaN at zero energy: its FGSM moves no VOne image), "repaired" defines it as 0.
    gradient: GradientMode = "raw"
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(rounds=self.rounds, batch_size=self.batch_size, eval_limit=self.eval_limit)
        check_eps(self.eps)
        check_gradient_mode(self.gradient)
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")


ROUND_STATE_FORMAT = "vonedemo-finetune-state-1"


def _load_round_state(path: Path) -> dict:
    """A fine-tuning state file, read without unpickling code; a damaged or foreign file is
    refused with its name."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged or foreign file: say which, never run from it
        raise ValueError(f"{path}: not a readable fine-tuning state ({type(e).__name__})") from e
    if not isinstance(state, dict) or state.get("format") != ROUND_STATE_FORMAT:
        raise ValueError(f"{path}: not a vonedemo fine-tuning state")
    return state


def read_round_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The model weights after the last finished round of a saved fine-tuning run."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no fine-tuning state; run `python -m vonedemo reproduce --full --resume` "
            "first, or point to its state folder"
        )
    return _load_round_state(path)["model"]


def _read_round_state(path: str | Path, config: FinetuneConfig) -> dict | None:
    """A fine-tuning run's saved state, or None when there is none yet. A file of another run
    (other settings) or of another kind is refused."""
    path = Path(path)
    if not path.is_file():
        return None
    state = _load_round_state(path)
    if state.get("config") != asdict(config):
        raise ValueError(
            f"{path}: holds a run with other settings; remove it or use the same settings"
        )
    if "optimizer" not in state and len(state.get("rounds", ())) <= config.rounds:
        raise ValueError(f"{path}: an unfinished run without its optimizer state cannot resume")
    return state


def trim_finished_state(path: str | Path) -> bool:
    """Drop the optimizer from the state of a run whose every round has finished, as runs now
    save it (a third of the file for Adam); True when the file was rewritten."""
    path = Path(path)
    state = _load_round_state(path)
    finished = len(state.get("rounds", ())) > state["config"]["rounds"]
    if not finished or "optimizer" not in state:
        return False
    del state["optimizer"]
    atomic_write(path, lambda f: torch.save(state, f))
    return True


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


# --- records of a run (the callbacks get Progress events with the same figures) -------------
@dataclass
class StepInfo:
    epoch: int  # 1-based (the round, in fine-tuning)
    step: int  # 1-based, within the whole run
    total_steps: int
    loss: float
    batch_accuracy: float


@dataclass
class EpochInfo:
    epoch: int
    epochs: int
    train_loss: float
    train_accuracy: float
    test_accuracy: float | None
    seconds: float


@dataclass
class TrainHistory:
    config: dict
    steps: list[StepInfo] = field(default_factory=list)
    epochs: list[EpochInfo] = field(default_factory=list)
    seconds: float = 0.0
    stopped_early: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RoundInfo:
    round: int  # 0 = before fine-tuning
    rounds: int
    clean_accuracy: float
    adversarial_accuracy: float
    train_loss: float | None
    seconds: float
    # GradientHealth summaries: of the attack that made this round's training images (None
    # for round 0), and of the attack that scored the test images.
    train_health: dict | None = None
    test_health: dict | None = None


@dataclass
class FinetuneResult:
    model: nn.Module  # the fine-tuned copy; the model passed in is untouched
    rounds: list[RoundInfo]
    config: dict
    seconds: float
    stopped_early: bool = False

    def curves(self) -> dict[str, list[float]]:
        return {
            "clean": [r.clean_accuracy for r in self.rounds],
            "adversarial": [r.adversarial_accuracy for r in self.rounds],
        }


def train(
    model: nn.Module,
    data: MNISTData,
    config: TrainConfig | None = None,
    *,
    test_data: MNISTData | None = None,
    on_step: ProgressCallback | None = None,
    on_epoch: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainHistory:
    """``train(model, data, config=None, *, test_data=None, on_step=None, on_epoch=None,
    should_stop=None) -> TrainHistory``

    Train ``model`` in place with Adam and cross-entropy (noise stays on, as in the study)
    and return its :class:`TrainHistory`: every step's loss, every epoch's accuracies.

    After each epoch, ``eval_limit`` images of ``test_data`` (if given) are scored.
    ``on_step``/``on_epoch`` get :class:`~vonedemo.progress.Progress` events (stages
    ``"train"``/``"epoch"``); ``should_stop()`` true ends the run after the current step.

    Example::

        >>> history = train(create_model("basic-cnn"), load_mnist("train"), TrainConfig(epochs=1))
        >>> history.epochs[-1].train_accuracy  # a fraction in [0, 1]
    """
    config = config or TrainConfig()
    data = data.subset(config.limit)
    history = TrainHistory(config=asdict(config))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    total = config.epochs * data.num_batches(config.batch_size)
    warmup_steps = config.adv_warmup_epochs * data.num_batches(config.batch_size)
    step = 0
    start = time.perf_counter()
    was_training = model.training
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        model.train()
        try:
            for epoch in range(1, config.epochs + 1):
                epoch_start = time.perf_counter()
                loss_sum, correct, seen = 0.0, 0, 0
                batches = data.batches(
                    config.batch_size,
                    shuffle=True,
                    seed=config.seed + epoch,
                    device=model_device(model),
                )
                for images, labels in batches:
                    if config.adversarial:
                        ramp = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
                        images = _adversarial_batch(model, images, labels, config, step, ramp)
                    logits = model(images)
                    loss = F.cross_entropy(logits, labels)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    step += 1
                    n = labels.shape[0]
                    hits = int((logits.argmax(1) == labels).sum())
                    loss_value = loss.item()
                    loss_sum, correct, seen = loss_sum + loss_value * n, correct + hits, seen + n
                    info = StepInfo(epoch, step, total, loss_value, hits / n)
                    history.steps.append(info)
                    if on_step:
                        on_step(_step_progress("train", info, "epoch"))
                    if should_stop and should_stop():
                        history.stopped_early = True
                        break
                model.eval()
                test_acc = (
                    accuracy(model, test_data, limit=config.eval_limit)
                    if test_data is not None
                    else None
                )
                model.train()
                info_e = EpochInfo(
                    epoch,
                    config.epochs,
                    loss_sum / max(seen, 1),
                    correct / max(seen, 1),
                    test_acc,
                    time.perf_counter() - epoch_start,
                )
                history.epochs.append(info_e)
                if on_epoch:
                    on_epoch(
                        Progress(
                            "epoch",
                            info_e.epoch,
                            info_e.epochs,
                            {
                                "train_loss": info_e.train_loss,
                                "train_accuracy": info_e.train_accuracy,
                                "test_accuracy": info_e.test_accuracy,
                                "seconds": info_e.seconds,
                            },
                        )
                    )
                if history.stopped_early:
                    break
        finally:
            model.train(was_training)
            optimizer.zero_grad(set_to_none=True)  # leave no parameter grads behind
    history.seconds = time.perf_counter() - start
    return history


def _step_progress(stage: str, info: StepInfo, epoch_key: str) -> Progress:
    return Progress(
        stage,
        info.step,
        info.total_steps,
        {epoch_key: info.epoch, "loss": info.loss, "batch_accuracy": info.batch_accuracy},
    )


def _adversarial_batch(
    model, images, labels, config: TrainConfig, step: int, ramp: float = 1.0
) -> torch.Tensor:
    eps = config.adv_eps * ramp
    if config.adversarial == "fgsm":
        return create_attack("fgsm")(model, images, labels, eps)
    return create_attack("pgd")(
        model,
        images,
        labels,
        eps,
        steps=config.adv_steps,
        step_size=config.adv_step_size * ramp,
        seed=config.seed * 1_000_003 + step,
    )


def adversarial_finetune(
    model: nn.Module,
    data: MNISTData,
    test_data: MNISTData,
    config: FinetuneConfig | None = None,
    *,
    on_round: ProgressCallback | None = None,
    on_step: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    state_file: str | Path | None = None,
) -> FinetuneResult:
    """``adversarial_finetune(model, data, test_data, config=None, *, on_round=None,
    on_step=None, should_stop=None, state_file=None) -> FinetuneResult``

    The study's experiment: fine-tune a *copy* of ``model`` with Adam on FGSM images made
    from the copy's current weights at every step; return a :class:`FinetuneResult` (the tuned
    copy, one :class:`RoundInfo` per round). ``model`` itself is untouched.

    After each round (one pass over ``train_limit`` images) clean and adversarial accuracy on
    ``eval_limit`` test images go to ``on_round`` (stage ``"round"``; round 0 is the model
    before fine-tuning); ``on_step`` gets every step (stage ``"fine-tune"``).

    ``state_file``: after every round the run's state (weights, optimizer, the curve so far,
    the random generator) is written there atomically; a run given the same file continues
    after its last finished round — a killed run resumes to the same curve as one that never
    stopped. The file must hold a run of the same settings.

    Example::

        >>> result = adversarial_finetune(create_model("basic-cnn", pretrained=True),
        ...                               load_mnist("train"), load_mnist("test"),
        ...                               FinetuneConfig(rounds=2))
        >>> result.curves()["adversarial"]  # before, after round 1, after round 2
    """
    config = config or FinetuneConfig()
    tuned = copy.deepcopy(model)
    for p in tuned.parameters():
        p.requires_grad_(True)
    attack = create_attack(config.attack, gradient=config.gradient)
    train_data = data.subset(config.train_limit)
    test = test_data.subset(config.eval_limit)
    optimizer = torch.optim.Adam(tuned.parameters(), lr=config.lr)
    per_round = train_data.num_batches(config.batch_size)
    rounds: list[RoundInfo] = []
    start = time.perf_counter()
    stopped = False

    def report(info: RoundInfo) -> None:
        if on_round:
            on_round(
                Progress(
                    "round",
                    info.round,
                    info.rounds,
                    {
                        "clean_accuracy": info.clean_accuracy,
                        "adversarial_accuracy": info.adversarial_accuracy,
                        "train_loss": info.train_loss,
                        "seconds": info.seconds,
                        "train_health": info.train_health,
                        "test_health": info.test_health,
                    },
                )
            )

    def score(round_index: int, loss: float | None, t0: float, made: GradientHealth | None):
        tuned.eval()
        clean = accuracy(tuned, test)
        scored = evaluate_attack(
            tuned, test, config.attack, config.eps, attack_options={"gradient": config.gradient}
        )
        tuned.train()
        info = RoundInfo(
            round_index,
            config.rounds,
            clean,
            scored.accuracy,
            loss,
            time.perf_counter() - t0,
            made.summary() if made is not None else None,
            scored.health.summary(),
        )
        rounds.append(info)

    def save(step: int) -> None:
        state = {
            "format": ROUND_STATE_FORMAT,
            "config": asdict(config),
            "model": tuned.state_dict(),
            "rounds": [asdict(r) for r in rounds],
            "step": step,
            "rng": torch.get_rng_state(),
        }
        if len(rounds) <= config.rounds:  # a finished run has nothing left to resume
            state["optimizer"] = optimizer.state_dict()
        if model_device(tuned).type == "cuda":  # the GPU's own stream (PGD starts, dropout)
            state["cuda_rng"] = torch.cuda.get_rng_state(model_device(tuned))
        atomic_write(state_file, lambda f: torch.save(state, f))

    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        step = 0
        saved = _read_round_state(state_file, config) if state_file is not None else None
        if saved is None:
            score(0, None, start, None)
            if state_file is not None:
                save(0)
            report(rounds[0])
        else:  # resume after the last finished round
            tuned.load_state_dict(saved["model"])
            if "optimizer" in saved:  # a finished run's state keeps only its weights and curve
                optimizer.load_state_dict(saved["optimizer"])
            rounds.extend(RoundInfo(**r) for r in saved["rounds"])
            step = int(saved["step"])
            torch.set_rng_state(saved["rng"])
            if "cuda_rng" in saved and model_device(tuned).type == "cuda":
                torch.cuda.set_rng_state(saved["cuda_rng"], model_device(tuned))
            for info in rounds:
                report(info)
        tuned.train()
        for r in range(len(rounds), config.rounds + 1):
            t0 = time.perf_counter()
            loss_sum, seen = 0.0, 0
            made = GradientHealth()
            for images, labels in train_data.batches(
                config.batch_size, shuffle=True, seed=config.seed + r, device=model_device(tuned)
            ):
                adv = attack(tuned, images, labels, config.eps, health=made)
                logits = tuned(adv)
                loss = F.cross_entropy(logits, labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                loss_sum, seen = loss_sum + loss.item() * len(labels), seen + len(labels)
                if on_step:
                    acc = float((logits.argmax(1) == labels).float().mean())
                    info = StepInfo(r, step, per_round * config.rounds, loss.item(), acc)
                    on_step(_step_progress("fine-tune", info, "round"))
                if should_stop and should_stop():
                    stopped = True
                    break
            score(r, loss_sum / max(seen, 1), t0, made)
            if state_file is not None and not stopped:  # only finished rounds are kept
                save(step)
            report(rounds[-1])
            if stopped:
                break
        optimizer.zero_grad(set_to_none=True)
    tuned.eval()
    return FinetuneResult(tuned, rounds, asdict(config), time.perf_counter() - start, stopped)
