"""``python -m vonedemo audit``: the command that runs the audit and writes its reports."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .audit import (
    AuditConfig,
    CraftedImages,
    audit_job,
    audit_model,
    audit_to_dict,
    headline_markdown,
    locked,
    merge_reports,
    refresh_derived_checks,
    write_audit,
)
from .audit.resume import AuditResume, progress_path
from .audit.targets import DEFAULT_STATE_DIR, audit_targets, finetuned_base, target_loader
from .bars import StageBars
from .cli_support import CLIError, add_ray, eps_argument
from .data import load_mnist
from .models import STUDY_MODELS, is_stochastic
from .parallel import Job, JobsFailed, run_jobs
from .training import read_round_weights

RESUME_DIR = "in-progress"  # where --resume keeps unfinished models' pieces, inside --out

AUDIT_INTRO = (
    "The study measured its VOneNets with one FGSM step through the raw complex-cell gradient. "
    "Here every model meets a ladder of attacks on the same images — the study's FGSM, FGSM with "
    "the repaired gradient, FGSM averaged over noise draws (EOT), PGD with EOT, PGD with the noise "
    "off or fixed, APGD (adaptive steps) on deterministic models, transfer from a twin, the "
    "gradient-free Square attack and, on deterministic models, AutoAttack from a library as a "
    "cross-check — and counts an image as robust only if "
    "it survives all of them. The last column tests the NaN hypothesis: the share of the study's "
    "input-gradient entries that are NaN or infinite, and of images its FGSM moved at all.\n\n"
)


def cmd_audit(args: argparse.Namespace) -> int:
    overrides = {
        k: v
        for k, v in {
            "limit": args.limit,
            "pgd_steps": args.pgd_steps,
            "pgd_restarts": args.pgd_restarts,
            "cascade_from_eot": args.cascade_from_eot,
            "pgd_eot": args.pgd_eot,
            "curve_limit": args.curve_limit,
            "curve_repeats": args.curve_repeats,
            "doubling_limit": args.doubling_limit,
            "curve_pgd_steps": args.curve_pgd_steps,
            "eot_samples": tuple(args.eot) if args.eot else None,
            "eps": tuple(args.eps) if args.eps else None,
        }.items()
        if v is not None
    }
    if args.pgd_step_size is not None:
        overrides["pgd_step_size"] = (
            None if args.pgd_step_size == "auto" else eps_argument(args.pgd_step_size)
        )
    if args.square_queries is not None:
        overrides["square_queries"] = args.square_queries
    if args.autoattack is not None:
        overrides["autoattack"] = args.autoattack
    config = AuditConfig.converged(**overrides) if args.converged else AuditConfig(**overrides)
    for name in args.models:  # a missing fine-tuning state ends here, before any work
        if finetuned_base(name) is not None:
            read_round_weights(args.finetune_state / f"{finetuned_base(name)}-finetune.pt")
    load = target_loader(args.finetune_state, args.device)
    saved = args.out / "audit.json"
    if args.merge and saved.is_file() and not args.report_only:
        # Same settings, for the kinds of model about to run? Refused before any work.
        planned = {n: {"stochastic": is_stochastic(load(n))} for n in args.models}
        merge_reports(
            json.loads(saved.read_text()), {**audit_to_dict([], config), "models": planned}
        )
    resume_dir = args.out / RESUME_DIR if args.resume else None
    resumes = {
        name: AuditResume(progress_path(resume_dir, name), name, config)
        for name in ([] if resume_dir is None or args.report_only else args.models)
    }  # a piece file made with other settings is refused here, before any work
    test = load_mnist("test")

    bars = StageBars()
    crafted = CraftedImages()  # one run: a twin's PGD crafting serves its partner's transfer
    report = None
    if args.report_only:
        saved = args.out / "audit.json"
        if not saved.is_file():
            raise CLIError(f"--report-only: no {saved} yet")
        report = refresh_derived_checks(json.loads(saved.read_text()))
        written = write_audit(report, args.out)

    def keep(finished: dict) -> None:
        # Written after every model: a long audit keeps what it has.
        nonlocal report, written
        report = audit_to_dict([finished[n] for n in args.models if n in finished], config)
        with locked(args.out):
            saved = args.out / "audit.json"
            if args.merge and saved.is_file():
                report = merge_reports(json.loads(saved.read_text()), report)
            written = write_audit(report, args.out)
        for name in finished:  # in the report now: its pieces are no longer needed
            if name in resumes:
                resumes[name].finished()

    finished: dict = {}
    failed = None
    if args.ray and not args.report_only:
        device = str(args.device)
        jobs = [
            Job(
                name,
                audit_job,
                # workers start elsewhere: absolute paths
                (
                    name,
                    config,
                    device,
                    args.finetune_state.resolve(),
                    resume_dir.resolve() if resume_dir is not None else None,
                ),
                gpu=device.startswith("cuda"),
            )
            for name in args.models
        ]

        def done(name: str, result, count: int, total: int) -> None:
            finished[name] = result
            keep(finished)
            print(f"audit {name}: done ({count}/{total})", file=sys.stderr)

        try:
            run_jobs(jobs, ray=args.ray, num_cpus=args.ray_cpus, on_done=done)
        except JobsFailed as e:
            failed = e
    for name in [] if args.report_only or args.ray else args.models:
        finished[name] = audit_model(
            name, load, test, config, bars, crafted=crafted, resume=resumes.get(name)
        )
        bars.close()
        keep(finished)
    if report is None:
        raise CLIError(f"no model finished: {failed}")
    print(headline_markdown(report))
    print(f"wrote {len(written)} files to {args.out}")
    if args.readme:
        from .reproduce import update_readme_block

        update_readme_block(
            args.readme,
            "audit",
            AUDIT_INTRO
            + headline_markdown(report)
            + f"\nEvery attack, check and curve: `{args.out.as_posix()}/audit.md`, `audit.json`, "
            f"`strongest_curves.html`. Generated by `python -m vonedemo audit` "
            f"(settings in `{args.out.as_posix()}/audit.json`).\n",
            heading="Is VOneNet's robustness real?",
        )
    if failed is not None:
        print(f"error: {failed}", file=sys.stderr)
        return 1
    return 0


def add_audit_parser(sub: argparse._SubParsersAction) -> None:
    defaults = AuditConfig()
    p = sub.add_parser(
        "audit", help='"is it real?": adaptive attacks, worst case per image, sanity checks'
    )
    p.add_argument(
        "--models",
        nargs="+",
        choices=audit_targets(),
        default=list(STUDY_MODELS),
        help="shipped models, and study baselines after the FGSM fine-tuning (NAME+fgsm-ft)",
    )
    p.add_argument(
        "--finetune-state",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="the fine-tuning state of `reproduce --full --resume`, for the NAME+fgsm-ft models "
        f"(default {DEFAULT_STATE_DIR.as_posix()})",
    )
    p.add_argument("--limit", type=int, help=f"test images (default {defaults.limit})")
    p.add_argument("--out", type=Path, default=Path("results/audit"))
    p.add_argument(
        "--eps", type=eps_argument, nargs="+", help=f"headline eps values (default {defaults.eps})"
    )
    p.add_argument(
        "--eot",
        type=int,
        nargs="+",
        help=f"FGSM EOT sample counts (default {defaults.eot_samples})",
    )
    p.add_argument("--pgd-steps", type=int)
    p.add_argument(
        "--pgd-step-size",
        help=f"PGD step size, or 'auto' for 2.5·eps/steps (default {defaults.pgd_step_size})",
    )
    p.add_argument("--pgd-restarts", type=int)
    p.add_argument(
        "--cascade-from-eot",
        type=int,
        help="EOT count from which the costliest rungs attack only the survivors (0: off)",
    )
    p.add_argument("--pgd-eot", type=int)
    p.add_argument("--curve-limit", type=int)
    p.add_argument("--curve-repeats", type=int)
    p.add_argument("--curve-pgd-steps", type=int)
    p.add_argument("--doubling-limit", type=int)
    p.add_argument(
        "--square-queries",
        type=int,
        help="the gradient-free rung: Square attack queries per image (default 0: none)",
    )
    p.add_argument(
        "--autoattack",
        action=argparse.BooleanOptionalAction,
        help="cross-check with AutoAttack (ART) on the deterministic models (on with --converged)",
    )
    p.add_argument(
        "--converged",
        action="store_true",
        help="budgets that converge: PGD-100 x 5 restarts (deterministic models), PGD-20 EOT-8 "
        "on survivors (noisy ones), Square with 1,000 queries, AutoAttack; options given "
        "override them",
    )
    p.add_argument("--readme", type=Path, help="also update this README's generated audit section")
    p.add_argument(
        "--resume",
        action="store_true",
        help=f"keep each model's finished rungs, curve points and checks in --out/{RESUME_DIR} "
        "as they finish, and continue a killed audit from there (same settings)",
    )
    add_ray(p)
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rewrite the reports (and --readme) from --out's audit.json, "
        "re-deriving the checks that need only its curves",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep other models already in --out (same settings; parallel runs merge safely)",
    )
    p.set_defaults(func=cmd_audit)
