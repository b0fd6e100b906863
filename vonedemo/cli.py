"""Command line: ``python -m vonedemo {train,finetune,evaluate,attack,reproduce} …``.

Progress goes to tqdm bars; bad input ends with one clear error line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

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
from .attacks import RUNNER_UP, target_classes
from .bars import Bar, StageBars, step_callback
from .checkpoints import CheckpointError, load_pretrained
from .cli_audit import add_audit_parser
from .cli_support import CLIError, add_device, add_ray, eps_argument
from .data import DataError, DataUnavailableError, load_mnist
from .device import resolve_device
from .evaluation import accuracy, predict
from .models import STUDY_MODELS, UnknownNameError
from .parallel import JobsFailed
from .runtime import tune_allocator
from .study import STUDY_EPS
from .training import FinetuneConfig, TrainConfig
from .vone import GRADIENT_MODES


def _add_model_source(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--checkpoint", type=Path, help="a checkpoint file (.pt)")
    g.add_argument("--model", help=f"a pretrained model: {', '.join(list_models())}")


def _load_model(args: argparse.Namespace, **options):
    if args.checkpoint is not None:
        return load_checkpoint(args.checkpoint, device=args.device, **options)
    return load_pretrained(args.model, device=args.device, **options)


def _target(text: str) -> int | str:
    if text == RUNNER_UP:
        return text
    if text.isdigit() and 0 <= int(text) <= 9:
        return int(text)
    raise argparse.ArgumentTypeError(f"target must be a class 0-9 or {RUNNER_UP}, got {text!r}")


def cmd_train(args: argparse.Namespace) -> int:
    config = TrainConfig(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        limit=args.limit,
        eval_limit=args.eval_limit,
        adversarial=args.adversarial,
        adv_eps=args.adv_eps,
        adv_steps=args.adv_steps,
        adv_step_size=args.adv_step_size,
        adv_warmup_epochs=args.adv_warmup_epochs,
    )
    if args.all or args.save_pretrained:
        from .pretrained import score_pretrained, train_pretrained

        names = list(STUDY_MODELS) if args.all else [args.model]
        if args.missing_only:
            from .checkpoints import pretrained_available

            names = [n for n in names if not pretrained_available(n, args.checkpoint_dir)]
        for name in names:
            if not args.score_only:
                with Bar(f"train {name}", unit="step") as bar:
                    entry = train_pretrained(
                        name,
                        directory=args.checkpoint_dir,
                        data_source=args.data,
                        config=config,
                        init_seed=args.seed,
                        on_step=step_callback(bar),
                        device=args.device,
                    )
                print(f"{name}: saved {entry['file']} ({entry['train_seconds']} s)")
            if not args.no_score:
                with Bar(f"score {name} (FGSM {STUDY_EPS})", unit="img") as bar:
                    entry = score_pretrained(
                        name, directory=args.checkpoint_dir, on_progress=bar, device=args.device
                    )
                print(
                    f"{name}: clean {entry['clean_accuracy']}%  FGSM {STUDY_EPS} {entry['fgsm_accuracy']}%"
                )
        return 0
    if not args.model:
        raise CLIError("train needs --model NAME or --all")
    if args.out is None:
        raise CLIError("train needs --out FILE.pt (or --save-pretrained / --all)")
    train_data = load_mnist("train", source=args.data)
    test_data = load_mnist("test")
    torch.manual_seed(args.seed)
    model = create_model(args.model, device=args.device)
    with Bar(f"train {args.model}", unit="step") as bar:
        history = train(
            model,
            train_data,
            config,
            test_data=test_data,
            on_step=step_callback(bar),
            on_epoch=lambda e: bar.postfix(
                epoch=e.done, test_acc=f"{e.metrics['test_accuracy']:.4f}"
            ),
        )
    test_acc = accuracy(model, test_data)
    save_checkpoint(
        args.out,
        model,
        {
            "data": f"{args.data}/train",
            "epochs": args.epochs,
            "train_config": history.config,
            "train_seconds": round(history.seconds, 1),
            "test_accuracy": test_acc,
        },
    )
    print(
        f"{args.model}: test accuracy {100 * test_acc:.2f}% ({len(test_data)} images), saved {args.out}"
    )
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    model, meta = _load_model(args)
    config = FinetuneConfig(
        rounds=args.rounds,
        lr=args.lr,
        eps=args.eps,
        batch_size=args.batch_size,
        train_limit=args.train_limit,
        eval_limit=args.eval_limit,
        seed=args.seed,
    )
    train_data, test_data = load_mnist("train"), load_mnist("test")
    with Bar("fine-tune", total=config.rounds, unit="round") as bar:
        result = adversarial_finetune(
            model,
            train_data,
            test_data,
            config,
            on_round=lambda r: (
                bar.update_to(r.done),
                bar.postfix(
                    clean=f"{r.metrics['clean_accuracy']:.3f}",
                    adv=f"{r.metrics['adversarial_accuracy']:.3f}",
                ),
            ),
        )
    print("round  clean%  adversarial%")
    for r in result.rounds:
        print(f"{r.round:5d}  {100 * r.clean_accuracy:6.2f}  {100 * r.adversarial_accuracy:6.2f}")
    if args.out:
        save_checkpoint(
            args.out, result.model, {**meta, "finetune": result.config, "curves": result.curves()}
        )
        print(f"saved {args.out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    model, _ = _load_model(args)
    test = load_mnist("test").subset(args.limit)
    options = {"gradient": args.gradient}
    if args.attack == "pgd":
        options.update(steps=args.steps, step_size=args.step_size)
    if args.eot > 1:
        options["eot_samples"] = args.eot
    torch.manual_seed(args.seed)
    rows = []
    clean = accuracy(model, test)
    for eps in args.eps:
        with Bar(f"{args.attack} eps={eps}", total=len(test), unit="img") as bar:
            res = evaluate_attack(
                model,
                test,
                args.attack,
                eps,
                attack_options=options,
                on_batch=bar.update_to,
                target=args.target,
            )
        rows.append(
            {
                "eps": eps,
                "accuracy": res.accuracy,
                "target_reached": res.target_reached,
                "health": res.health.summary(),
                "health_text": res.health.sentence(),
            }
        )
    print(f"clean accuracy: {100 * clean:.2f}% on {len(test)} test images")
    for r in rows:
        reached = (
            ""
            if r["target_reached"] is None
            else f", {100 * r['target_reached']:.2f}% read as their target ({args.target})"
        )
        print(
            f"{args.attack} eps={r['eps']:.3f}: {100 * r['accuracy']:.2f}%{reached}  "
            f"[{r['health_text']}]"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"clean": clean, "attacks": rows}, indent=1))
    return 0


def cmd_attack(args: argparse.Namespace) -> int:
    from .viz import attack_grid

    model, _ = _load_model(args)
    if args.image is not None:  # a picture of your own: one digit, labelled by the model
        from .digit import preprocess

        if not args.image.is_file():
            raise CLIError(f"{args.image}: no such file")
        images = preprocess(args.image.read_bytes())[None]
        torch.manual_seed(args.seed)
        labels = predict(model, images).argmax(1)
    else:
        test = load_mnist("test")
        g = torch.Generator().manual_seed(args.seed)
        idx = torch.randperm(len(test), generator=g)[: args.n]
        images, labels = test.images[idx], test.labels[idx]
    options = {"gradient": args.gradient}
    if args.attack == "pgd":
        options.update(steps=args.steps, step_size=args.step_size)
    from .attacks import GradientHealth

    health = GradientHealth()
    torch.manual_seed(args.seed)
    images, labels = images.to(args.device), labels.to(args.device)
    extra = {} if args.target is None else {"target": target_classes(model, images, args.target)}
    adv = create_attack(args.attack, **options)(
        model, images, labels, args.eps, health=health, **extra
    )
    clean_pred, adv_pred = predict(model, images).argmax(1), predict(model, adv).argmax(1)
    images, adv, labels = images.cpu(), adv.cpu(), labels.cpu()
    clean_pred, adv_pred = clean_pred.cpu(), adv_pred.cpu()
    grid = attack_grid(images, adv, labels, clean_pred, adv_pred, args.eps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out)
    aims = None if extra.get("target") is None else extra["target"].cpu()
    reached = "" if aims is None else f", {int((adv_pred == aims).sum())} read as their target"
    print(
        f"clean {int((clean_pred == labels).sum())}/{len(labels)} right, "
        f"adversarial {int((adv_pred == labels).sum())}/{len(labels)} right{reached}; "
        f"wrote {args.out}\ngradient health: {health.sentence()}"
    )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .digit import DigitImageError, preprocess

    names = args.models or list(STUDY_MODELS)
    loaded = {name: load_pretrained(name, device=args.device)[0] for name in names}
    failed = 0
    for path in args.images:
        try:
            if not path.is_file():
                raise DigitImageError(f"{path}: no such file")
            digit = preprocess(path.read_bytes())
        except (DigitImageError, OSError) as e:
            print(f"error: {path}: {e}", file=sys.stderr)
            failed += 1
            continue
        torch.manual_seed(args.seed)  # the VOneNets' noise: the same answer every time
        answers = {}
        for name, model in loaded.items():
            probs = torch.softmax(predict(model, digit[None]).float().cpu(), 1)[0]
            answers[name] = {"label": int(probs.argmax()), "confidence": float(probs.max())}
        if args.json:
            print(json.dumps({"file": str(path), "predictions": answers}))
        else:
            shown = ", ".join(
                f"{name} {a['label']} ({100 * a['confidence']:.0f}%)" for name, a in answers.items()
            )
            print(f"{path}: {shown}")
    return 2 if failed else 0


def _reproduce_report_only(args: argparse.Namespace) -> int:
    from .reproduce import Reproduction, update_readme, write_outputs

    saved = args.out / "summary.json"
    if not saved.is_file():
        raise CLIError(f"--report-only: no {saved} yet")
    report = Reproduction.from_dict(json.loads(saved.read_text()))
    written = write_outputs(report, args.out)
    if args.readme:
        command = (
            f"python -m vonedemo reproduce --report-only --out {args.out.as_posix()} "
            f"--readme {args.readme.as_posix()}"
        )
        update_readme(args.readme, report, args.out, command)
    print(f"wrote {len(written)} files to {args.out}")
    return 0


QUICK_REPRODUCE_OUT = Path("runs/reproduce")  # git-ignored: a quick run never overwrites
FULL_REPRODUCE_OUT = Path("results")  # the committed full run


def _check_merge(args: argparse.Namespace, config) -> None:
    """With --merge, refuse (before computing anything) a summary.json in --out made with
    other settings: its figures and these could not share one table."""
    from dataclasses import asdict

    from .reproduce import config_differences

    saved = args.out / "summary.json"
    if not (args.merge and saved.is_file()):
        return
    try:
        earlier = json.loads(saved.read_text()).get("config", {})
    except (OSError, ValueError, AttributeError) as e:
        raise CLIError(f"--merge: cannot read {saved}: {e}") from e
    differences = config_differences(earlier, asdict(config))
    if differences:
        raise CLIError(
            f"--merge: {saved} was made with other settings: {'; '.join(differences)} "
            "(run with the same settings, or choose another --out)"
        )


def cmd_reproduce(args: argparse.Namespace) -> int:
    from .reproduce import ReproduceConfig, reproduce, update_readme, write_outputs

    if args.out is None:
        args.out = FULL_REPRODUCE_OUT if args.full else QUICK_REPRODUCE_OUT
    options = {"limit": args.limit, "seed": args.seed, "skip_finetune": args.skip_finetune}
    options["finetune_gradient"] = args.finetune_gradient
    if args.models:
        options["models"] = tuple(args.models)
        # The manifest's figures are the full run's: a run of some models (a resumed piece,
        # another experiment) leaves them as that run wrote them.
        options["record_in_manifest"] = False
    if args.rounds is not None:
        options["rounds"] = args.rounds
    if args.sweep_limit is not None:
        options["sweep_limit"] = args.sweep_limit
    if args.finetune_train_limit is not None:
        options["finetune_train_limit"] = args.finetune_train_limit
    if args.finetune_eval_limit is not None:
        options["finetune_eval_limit"] = args.finetune_eval_limit
    config = ReproduceConfig.full(**options) if args.full else ReproduceConfig(**options)
    if args.report_only:
        return _reproduce_report_only(args)
    if args.state_dir is not None and not args.resume:
        raise CLIError("--state-dir needs --resume")
    _check_merge(args, config)
    state_dir = (args.state_dir or args.out / "finetune-state") if args.resume else None
    bars = StageBars(close_when_finished=True)
    failed = None
    try:
        report = reproduce(
            config,
            bars,
            state_dir=state_dir,
            device=args.device,
            ray=args.ray,
            ray_cpus=args.ray_cpus,
        )
    except JobsFailed as e:  # keep what finished; name what did not
        failed, report = e, e.report
    bars.close()
    previous = args.out / "summary.json"
    if args.merge and previous.is_file():
        from .reproduce import Reproduction

        _check_merge(args, config)  # unless another run wrote there meanwhile, it passes
        report = report.merged_into(Reproduction.from_dict(json.loads(previous.read_text())))
    written = write_outputs(report, args.out)
    if not any(p.suffix == ".png" for p in written):
        print("note: no image exporter (kaleido) installed — plots written as HTML only")
    if args.readme:
        command = "python -m vonedemo " + " ".join(
            sys.argv[1:] if sys.argv[1:2] == ["reproduce"] else ["reproduce"]
        )
        update_readme(args.readme, report, args.out, command)
    from .reproduce import tables_markdown

    print(tables_markdown(report))
    print("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in report.timings.items()))
    print(f"wrote {len(written)} files to {args.out}")
    if failed is not None:
        print(f"error: {failed}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vonedemo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model (or all the shipped ones)")
    p.add_argument("--model", choices=list_models())
    p.add_argument(
        "--all", action="store_true", help="train all eight study models into checkpoints/"
    )
    p.add_argument(
        "--save-pretrained", action="store_true", help="save into checkpoints/ + manifest"
    )
    p.add_argument(
        "--score-only", action="store_true", help="with --all: only re-score the shipped files"
    )
    p.add_argument(
        "--no-score", action="store_true", help="with --all: skip scoring on the test set"
    )
    p.add_argument(
        "--missing-only", action="store_true", help="with --all: only models without a checkpoint"
    )
    p.add_argument("--checkpoint-dir", type=Path, default=None)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit", type=int, default=None, help="training images to use")
    p.add_argument("--eval-limit", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", choices=["embedded", "full"], default="embedded")
    p.add_argument(
        "--adversarial", choices=["pgd", "fgsm"], help="adversarial training (Madry-style)"
    )
    p.add_argument("--adv-eps", type=eps_argument, default=0.3)
    p.add_argument("--adv-steps", type=int, default=10)
    p.add_argument("--adv-step-size", type=float, default=0.05)
    p.add_argument(
        "--adv-warmup-epochs",
        type=float,
        default=0.0,
        help="ramp the adversarial eps up from 0 over this many epochs",
    )
    p.add_argument("--out", type=Path, help="checkpoint file to write")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("finetune", help="the study's FGSM fine-tuning, round by round")
    _add_model_source(p)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--eps", type=eps_argument, default=0.35)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--train-limit", type=int, default=1000)
    p.add_argument("--eval-limit", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser(
        "reproduce", help="the study's tables and fine-tuning curves, ours beside theirs"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"where the reports go (default: {FULL_REPRODUCE_OUT} with --full, "
        f"else {QUICK_REPRODUCE_OUT})",
    )
    p.add_argument(
        "--limit", type=int, default=None, help="test images for the tables (default: all)"
    )
    p.add_argument("--models", nargs="+", choices=list(STUDY_MODELS))
    p.add_argument(
        "--rounds", type=int, default=None, help="fine-tuning rounds (default 3; --full: 30)"
    )
    p.add_argument(
        "--sweep-limit", type=int, default=None, help="test images per eps in the eps curves"
    )
    p.add_argument(
        "--finetune-train-limit",
        type=int,
        default=None,
        help="training images per fine-tuning round",
    )
    p.add_argument(
        "--finetune-eval-limit", type=int, default=None, help="test images scored after each round"
    )
    p.add_argument(
        "--full", action="store_true", help="the study's 30 rounds on all data (hours on a CPU)"
    )
    p.add_argument(
        "--finetune-gradient",
        choices=list(GRADIENT_MODES),
        default="raw",
        help="the fine-tuning attack's gradient: the study's raw, or repaired (a working attack)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep each model's fine-tuning state (and its finished table row) in --state-dir "
        "after every round, and continue a killed run from there",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where --resume keeps the fine-tuning states (default: --out/finetune-state)",
    )
    p.add_argument("--skip-finetune", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--readme", type=Path, help="also update this README's generated Results section"
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rewrite the reports (and --readme) from --out's summary.json",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep other models' results already in --out (refused, before computing, if "
        "they were made with other settings)",
    )
    add_ray(p)
    p.set_defaults(func=cmd_reproduce)

    add_audit_parser(sub)

    p = sub.add_parser(
        "predict", help="every model's answer on pictures of your own digits (PNG, JPEG, WebP)"
    )
    p.add_argument("images", type=Path, nargs="+", help="picture files, one digit each")
    p.add_argument(
        "--models", nargs="+", help=f"shipped models (default: {' '.join(STUDY_MODELS)})"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line and file")
    p.add_argument("--seed", type=int, default=0, help="seed of the VOneNets' noise")
    p.set_defaults(func=cmd_predict)

    for name, helptext, func in (
        ("evaluate", "accuracy, clean and under attack, with gradient health", cmd_evaluate),
        ("attack", "write a PNG grid: original | adversarial | perturbation", cmd_attack),
    ):
        p = sub.add_parser(name, help=helptext)
        _add_model_source(p)
        p.add_argument("--attack", choices=list_attacks(), default="fgsm")
        p.add_argument(
            "--gradient",
            choices=list(GRADIENT_MODES),
            default="raw",
            help="VOne complex-cell backward: the study's (raw) or repaired",
        )
        p.add_argument("--steps", type=int, default=40, help="PGD steps")
        p.add_argument("--step-size", type=float, default=0.01, help="PGD step size")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument(
            "--target",
            type=_target,
            help="a targeted attack: a class 0-9, or runner-up (each digit's second most likely)",
        )
        if name == "evaluate":
            p.add_argument("--eps", type=eps_argument, nargs="+", default=[0.35])
            p.add_argument("--eot", type=int, default=1, help="gradient samples averaged (EOT)")
            p.add_argument("--limit", type=int, default=1000, help="test images")
            p.add_argument("--json", type=Path, help="also write the numbers as JSON")
        else:
            p.add_argument("--eps", type=eps_argument, default=0.35)
            p.add_argument("--n", type=int, default=16, help="digits in the grid")
            p.add_argument("--out", type=Path, required=True, help="PNG file to write")
            p.add_argument("--image", type=Path, help="attack a picture of your own digit instead")

        p.set_defaults(func=func)
    for command in sub.choices.values():  # every command computes somewhere
        add_device(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    tune_allocator()  # large maps reused rather than page-faulted in again: see vonedemo.runtime
    start = time.perf_counter()
    try:
        args.device = resolve_device(args.device)  # DeviceError is a ValueError
        code = args.func(args)
    except (
        CLIError,
        CheckpointError,
        DataError,
        DataUnavailableError,
        UnknownNameError,
        FileNotFoundError,
        ValueError,
    ) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if code == 0 and args.command in ("train", "finetune"):
        print(f"done in {time.perf_counter() - start:.1f} s")
    return code
