""" "Is it real?" — an adaptive-attack audit of a model's robustness.

For each model, on the same test images: the study's FGSM; FGSM with the repaired gradient;
FGSM averaged over noise samples (EOT); PGD with EOT and restarts; PGD computed with the noise
switched off or fixed; transfer from the twin model; and the **worst case per image** across all
of them — the headline robust accuracy. Sanity checks flag possible gradient masking. Every
attack result carries its gradient health, so a stalled attack is never mistaken for robustness.

The modules: :mod:`.config` (settings), :mod:`.ladder` (the attacks as data, one
:class:`Rung` each), :mod:`.attacking` (running one rung), :mod:`.checks` (the sanity checks),
:mod:`.run` (auditing a model, the report dictionary), :mod:`.report` (Markdown, CSV, plots).
Nothing prints; progress goes to ``on_progress`` as :class:`~vonedemo.progress.Progress`.

Example::

    >>> crafted = CraftedImages()  # one per audit run: twins share their craftings
    >>> audits = [audit_model(n, load, test, AuditConfig(limit=100), crafted=crafted)
    ...           for n in ("basic-cnn", "vone-basic-cnn")]
    >>> write_audit(audit_to_dict(audits, AuditConfig(limit=100)), "results/audit")
"""

from .attacking import AttackOutcome, CraftedImages, run_attack, wilson_interval
from .checks import FALLS_WITH_EPS, falls_with_eps_check, refresh_derived_checks, sanity_checks
from .config import CURVE_EPS, TRANSFER_SOURCE, AuditConfig, pgd_step, strongest_options
from .ladder import SURVIVORS, Rung, build_ladder
from .report import (
    budget_sentence,
    headline_markdown,
    ladder_markdown,
    nothing_attacked,
    write_audit,
)
from .run import (
    ModelAudit,
    accuracy_curves,
    audit_job,
    audit_model,
    audit_to_dict,
    locked,
    merge_reports,
)

__all__ = [
    "CURVE_EPS",
    "FALLS_WITH_EPS",
    "SURVIVORS",
    "TRANSFER_SOURCE",
    "AttackOutcome",
    "AuditConfig",
    "CraftedImages",
    "ModelAudit",
    "Rung",
    "accuracy_curves",
    "audit_job",
    "audit_model",
    "audit_to_dict",
    "budget_sentence",
    "build_ladder",
    "falls_with_eps_check",
    "headline_markdown",
    "ladder_markdown",
    "locked",
    "merge_reports",
    "nothing_attacked",
    "pgd_step",
    "refresh_derived_checks",
    "run_attack",
    "sanity_checks",
    "strongest_options",
    "wilson_interval",
    "write_audit",
]
