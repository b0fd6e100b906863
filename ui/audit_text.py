"""The *Is it real?* page's words, built from the audit report's numbers: a verdict per model
and for all, what each sanity check found, the budgets in plain words, titles and captions. The
sentences come from the catalogs' ``[audit]`` table, in the session's language; the core's own
evidence sentences (``check["sentence"]``) are shown as the core wrote them."""

from vonedemo.crosscheck import AutoAttackConfig
from vonedemo.results import DOUBLING_CHECK, STUDY_STALLED_CHECK, check_key

from .i18n import t


def headline_caption(images: int) -> str:
    return t("audit.headline_caption", images=f"{images:,}")


def quick_audit_title(findings: list, images: int, saved_images: int | None) -> str:
    """The quick audit's heading: its model(s) and sample, and that it stands apart."""
    who = ", ".join(f.label for f in findings)
    apart = (
        t("audit.quick_apart", saved=f"{saved_images:,}")
        if saved_images
        else t("audit.quick_alone")
    )
    return t("audit.quick_title", who=who, images=f"{images:,}", apart=apart)


# Levels of a verdict, from the worst case at the study's eps: at most NOT_ROBUST_AT % left is
# what the core's "near chance" check allows at eps 0.5; within ROBUST_WITHIN points of clean
# accuracy the attacks took almost nothing.
NOT_ROBUST_AT = 20.0
ROBUST_WITHIN = 5.0
NOT_ROBUST, PARTLY_ROBUST, ROBUST = "not", "partly", "robust"  # the levels (catalog suffixes)


def _pct(value: float) -> str:
    return f"{value:.1f}%"


def _also(f, values: dict[float, float]) -> str:
    """ " (0.1: x%)": the other budgets' figures, for a sentence about the first."""
    rest = [f"{e:g}: {_pct(values[e])}" for e in f.eps[1:] if e in values]
    return f" ({', '.join(rest)})" if rest else ""


def level(f) -> str:
    """:data:`NOT_ROBUST`, :data:`PARTLY_ROBUST` or :data:`ROBUST`, from the worst case at the
    study's eps."""
    worst = f.worst_case[f.primary_eps]
    if worst <= NOT_ROBUST_AT:
        return NOT_ROBUST
    return ROBUST if worst >= f.clean - ROBUST_WITHIN else PARTLY_ROBUST


def verdict_level(f) -> str:
    """ "Not robust", "Partly robust" or "Robust" (in the session's language)."""
    return t(f"audit.level_{level(f)}")


def _study_stall(f, eps: float | None = None) -> tuple[str, str]:
    """(what the study's FGSM did at ``eps`` (default: the study's): "never moved its digits",
    why: "its gradient was NaN at every pixel")."""
    eps = f.primary_eps if eps is None else eps
    moved = f.study_moved.get(eps, 0.0)
    did = t("audit.never_moved") if moved == 0 else t("audit.moved_only", share=f"{moved:.0%}")
    nan = f.study_nan.get(eps, 0.0)
    if nan >= 0.9995:
        why = t("audit.nan_everywhere")
    elif nan > 0:
        why = t("audit.nan_share", share=f"{nan:.0%}")
    else:
        why = t("audit.no_step")
    return did, why


def _study_never_moved(f) -> str:
    did, why = _study_stall(f)
    return t("audit.study_did", did=did, why=why)


def _not_converged(f) -> str | None:
    """The caveat of a doubling check that failed because the doubled attack found more."""
    d = f.doubling
    if d is None or d.passed or (d.change is not None and d.change < 0):
        return None
    by = t("audit.by_points", points=f"{d.change:.1f}") if d.change is not None else None
    on = t("audit.on_digits", images=f"{d.images:,}") if d.images else ""
    return t("audit.not_converged", by=by or t("audit.by_a_point"), on=on)


def model_verdict(f) -> str:
    """One sentence on one model, from its :class:`~vonedemo.results.AuditFindings`."""
    eps, words = f.primary_eps, verdict_level(f)
    worst = f.worst_case[eps]
    also = _also(f, f.worst_case)
    if level(f) == NOT_ROBUST:
        if f.study_stalled:
            stall = _study_never_moved(f)
            worst = _pct(worst)
            text = t(
                "audit.not_stalled",
                level=words,
                stall=stall,
                worst=worst,
                eps=f"{eps:g}",
                also=also,
            )
        else:
            fgsm = _pct(f.study_fgsm[eps])
            worst = _pct(worst)
            text = t(
                "audit.not_fgsm", level=words, fgsm=fgsm, eps=f"{eps:g}", worst=worst, also=also
            )
    else:
        text = t("audit.survive", level=words, worst=_pct(worst), eps=f"{eps:g}", also=also)
        caveat = _not_converged(f)
        if caveat:
            text += t("audit.upper_bound", caveat=caveat)
        elif f.doubling is not None and f.doubling.passed:
            text += t("audit.doubling_ok")
        else:
            text += t("audit.period")
        if f.study_stalled:
            text += t("audit.note", stall=_study_never_moved(f))
    if f.failed_checks:
        n = len(f.failed_checks)
        text += t("audit.caution_many" if n > 1 else "audit.caution_one", n=n)
    return text


def _spread(values: list[float]) -> str:
    low, high = min(values), max(values)
    return _pct(low) if round(low, 1) == round(high, 1) else f"{low:.1f}–{high:.1f}%"


def overall_verdict(findings: list) -> str:
    """The page's verdict over every audited model, from their findings."""
    if not findings:
        return ""
    eps = findings[0].primary_eps
    weak = [f for f in findings if level(f) == NOT_ROBUST]
    others = [f for f in findings if f not in weak]
    if weak:
        spread = _spread([f.worst_case[eps] for f in weak])
        text = t(
            "audit.overall_weak", weak=len(weak), n=len(findings), eps=f"{eps:g}", spread=spread
        )
    else:
        text = t("audit.overall_none", n=len(findings), eps=f"{eps:g}")
    stalled = [f for f in findings if f.study_stalled]
    if stalled:
        vone = [f for f in findings if f.vone]
        if vone and set(map(id, vone)) == set(map(id, stalled)):
            who = t("audit.the_vonenet") if len(vone) == 1 else t("audit.all_vonenets", n=len(vone))
        else:
            who = ", ".join(f.label for f in stalled)
        spread = _spread([f.study_fgsm[eps] for f in stalled])
        text += t("audit.overall_stalled", who=who, spread=spread)
    for f in others:
        caveat = t("audit.keeps_upper") if _not_converged(f) else ""
        text += t("audit.keeps", label=f.label, worst=_pct(f.worst_case[eps]), caveat=caveat)
    return text


def worst_case_title(f) -> str:
    """An expander's title: "MODEL — LEVEL: worst case x% at eps 0.35 · y% at 0.1"."""
    eps = f.primary_eps
    parts = [t("audit.title_at_eps", worst=_pct(f.worst_case[eps]), eps=f"{eps:g}")]
    parts += [
        t("audit.title_at", worst=_pct(f.worst_case[e]), eps=f"{e:g}")
        for e in f.eps[1:]
        if e in f.worst_case
    ]
    lower = t(f"audit.level_{level(f)}_lower")
    return t("audit.worst_title", label=f.label, level=lower, parts=" · ".join(parts))


# Each check the core emits (by name, its eps suffix aside) as the catalog keys of (what passing
# means, what failing means); {eps} is the check's budget. The study's stalled FGSM and the
# doubling check have sentences of their own (``check_line``): their numbers are the finding.
CHECK_WORDS = {
    "eps 0 equals clean": ("audit.eps0_pass", "audit.eps0_fail"),
    "accuracy falls as eps grows": ("audit.falls_pass", "audit.falls_fail"),
    "iterative ≤ single-step": ("audit.iterative_pass", "audit.iterative_fail"),
    "white-box ≤ transfer": ("audit.whitebox_pass", "audit.whitebox_fail"),
    "near chance at eps 0.5": ("audit.chance_pass", "audit.chance_fail"),
}
CHECK_SHORT = {"finding": "audit.short_finding", "caveat": "audit.short_caveat"}


def check_line(check: dict, f) -> tuple[str, str]:
    """(its kind — "pass", "finding", "caveat" or "fail" —, the sentence the page shows) for
    one check of the model ``f``: what was checked and what was found, then the core's own
    figures."""
    key, eps = check_key(check["check"])
    evidence = check["sentence"]
    if key == STUDY_STALLED_CHECK and not check["passed"]:
        eps = f.primary_eps if eps is None else eps
        did, why = _study_stall(f, eps)
        fgsm = _pct(f.study_fgsm.get(eps, f.clean))
        return "finding", t("audit.finding", did=did, eps=f"{eps:g}", why=why, fgsm=fgsm)
    if key == DOUBLING_CHECK:
        d = f.doubling
        if check["passed"]:
            return "pass", t("audit.converged", evidence=evidence)
        if d is not None and d.change is not None and d.change < 0:
            images = d.images or t("audit.a_few")
            points = f"{-d.change:.1f}"
            return "caveat", t("audit.raised", points=points, images=images, evidence=evidence)
        by = (
            t("audit.by_points", points=f"{d.change:.1f}")
            if d and d.change is not None
            else t("audit.by_a_point")
        )
        worst = _pct(f.worst_case[f.primary_eps])
        return "caveat", t("audit.not_converged_line", by=by, worst=worst, evidence=evidence)
    kind = "pass" if check["passed"] else "fail"
    if key in CHECK_WORDS:
        words = t(CHECK_WORDS[key][0 if check["passed"] else 1], eps=f"{eps:g}" if eps else "")
        return kind, t("audit.check_words", words=words, evidence=evidence)
    verdict = t("audit.passed") if check["passed"] else t("audit.failed")
    return kind, t("audit.check_other", check=check["check"], verdict=verdict, evidence=evidence)


def checks_summary(model: dict, f) -> str:
    """The headline table's checks cell: "all pass", or what stands out, in short."""
    kinds = [check_line(c, f)[0] for c in model["checks"]]
    if all(k == "pass" for k in kinds):
        return t("audit.short_all")
    parts = [t(CHECK_SHORT[k]) for k in ("finding", "caveat") if k in kinds]
    failed = kinds.count("fail")
    if failed:
        parts.append(t("audit.short_failed", n=failed))
    return "; ".join(parts)


def budget_words(config: dict) -> str:
    """How hard the audit tried, in plain words, from a report's config."""
    n, steps = config["limit"], config["pgd_steps"]
    eot = [k for k in config["eot_samples"] if k > 1]
    step = config.get("pgd_step_size")
    step_text = (
        t("audit.step_at_most", step=f"{step:g}")
        if step is not None
        else t("audit.step_default", steps=steps, example=f"{min(0.35, 2.5 * 0.35 / steps):.3f}")
    )
    restarts = config["pgd_restarts"]
    tries = t("audit.one_start") if restarts == 1 else t("audit.best_of", restarts=restarts)
    lines = [
        t("audit.budget_intro", n=f"{n:,}"),
        "",
        t("audit.budget_study"),
        t("audit.budget_repaired"),
    ]
    if eot:
        passes = t("audit.and").join(str(k) for k in eot)
        lines.append(t("audit.budget_eot", passes=passes))
    lines += [
        t("audit.budget_pgd", steps=steps, step_text=step_text, tries=tries, eot=config["pgd_eot"]),
        t("audit.budget_transfer"),
        t(
            "audit.budget_curves",
            curve_limit=f"{config['curve_limit']:,}",
            curve_steps=config["curve_pgd_steps"],
            repeats=config["curve_repeats"],
        ),
    ]
    if not (config.get("apgd_steps") and config.get("doubling_on_survivors")):
        # Otherwise each kind of model has its own convergence check, described below.
        lines.append(t("audit.budget_doubling", doubling=f"{config['doubling_limit']:,}"))
    if config.get("deterministic_pgd_steps") or config.get("deterministic_pgd_restarts"):
        lines.append(
            t(
                "audit.budget_deterministic",
                steps=config.get("deterministic_pgd_steps") or steps,
                restarts=config.get("deterministic_pgd_restarts") or restarts,
            )
        )
    if config.get("apgd_steps"):
        lines.append(
            t("audit.budget_apgd", steps=config["apgd_steps"], restarts=config["apgd_restarts"])
        )
        lines.append(
            t(
                "audit.budget_apgd_doubling",
                double=2 * config["apgd_steps"],
                restarts=config["apgd_restarts"],
                eps=f"{config['eps'][0]:g}",
            )
        )
    if config.get("square_queries"):
        key = (
            "audit.budget_square_last"
            if config.get("square_on_survivors")
            else "audit.budget_square"
        )
        lines.append(t(key, queries=f"{config['square_queries']:,}"))
    if config.get("autoattack"):
        budget = AutoAttackConfig(**config.get("autoattack_budget", {}))
        lines.append(
            t(
                "audit.budget_autoattack",
                apgd_steps=budget.apgd_steps,
                apgd_restarts=budget.apgd_restarts,
                square_queries=f"{budget.square_queries:,}",
                square_runs=budget.square_restarts,
            )
        )
    if config.get("stochastic_pgd_on_survivors"):
        lines.append(t("audit.budget_survivors"))
    if config.get("noisy_curve_limit"):
        lines.append(t("audit.budget_noisy_curves", n=f"{config['noisy_curve_limit']:,}"))
    if config.get("doubling_on_survivors"):
        lines.append(t("audit.budget_noisy_doubling", eps=f"{config['eps'][0]:g}"))
    cascade = config.get("cascade_from_eot", 0)
    if cascade:
        lines.append(t("audit.budget_cascade", cascade=cascade))
    return "\n".join(lines)
