"""The *Is it real?* page's words, built from the audit report's numbers: a verdict per model
and for all, what each sanity check found, the budgets in plain words, titles and captions."""

from vonedemo.results import DOUBLING_CHECK, STUDY_STALLED_CHECK, check_key


def headline_caption(images: int) -> str:
    return (
        f"Accuracy (%) on the same {images:,} test digits for every attack. Worst case: a digit "
        "counts as correct only if it survives every attack."
    )


def quick_audit_title(findings: list, images: int, saved_images: int | None) -> str:
    """The quick audit's heading: its model(s) and sample, and that it stands apart."""
    who = ", ".join(f.label for f in findings)
    apart = (
        f"not merged into the {saved_images:,}-image results above"
        if saved_images
        else "shown on its own"
    )
    return f"Quick audit of {who} on {images:,} test digits — {apart}"


# Levels of a verdict, from the worst case at the study's eps: at most NOT_ROBUST_AT % left is
# what the core's "near chance" check allows at eps 0.5; within ROBUST_WITHIN points of clean
# accuracy the attacks took almost nothing.
NOT_ROBUST_AT = 20.0
ROBUST_WITHIN = 5.0


def _pct(value: float) -> str:
    return f"{value:.1f}%"


def _also(f, values: dict[float, float]) -> str:
    """ " (0.1: x%)": the other budgets' figures, for a sentence about the first."""
    rest = [f"{e:g}: {_pct(values[e])}" for e in f.eps[1:] if e in values]
    return f" ({', '.join(rest)})" if rest else ""


def verdict_level(f) -> str:
    """ "Not robust", "Partly robust" or "Robust", from the worst case at the study's eps."""
    worst = f.worst_case[f.primary_eps]
    if worst <= NOT_ROBUST_AT:
        return "Not robust"
    return "Robust" if worst >= f.clean - ROBUST_WITHIN else "Partly robust"


def _study_stall(f, eps: float | None = None) -> tuple[str, str]:
    """(what the study's FGSM did at ``eps`` (default: the study's): "never moved its digits",
    why: "its gradient was NaN at every pixel")."""
    eps = f.primary_eps if eps is None else eps
    moved = f.study_moved.get(eps, 0.0)
    did = "never moved its digits" if moved == 0 else f"moved only {moved:.0%} of its digits"
    nan = f.study_nan.get(eps, 0.0)
    if nan >= 0.9995:
        why = "its gradient was NaN at every pixel"
    elif nan > 0:
        why = f"its gradient was NaN at {nan:.0%} of the pixels"
    else:
        why = "its gradient gave no step"
    return did, why


def _study_never_moved(f) -> str:
    did, why = _study_stall(f)
    return f"the study's FGSM {did} ({why})"


def _not_converged(f) -> str | None:
    """The caveat of a doubling check that failed because the doubled attack found more."""
    d = f.doubling
    if d is None or d.passed or (d.change is not None and d.change < 0):
        return None
    by = f"by {d.change:.1f} points" if d.change is not None else "by a point or more"
    on = f" on {d.images:,} digits" if d.images else ""
    return f"doubling the attack's effort still lowered accuracy {by}{on} (it has not converged)"


def model_verdict(f) -> str:
    """One sentence on one model, from its :class:`~vonedemo.results.AuditFindings`."""
    eps, level = f.primary_eps, verdict_level(f)
    worst = f.worst_case[eps]
    if level == "Not robust":
        if f.study_stalled:
            text = (
                f"{level}: {_study_never_moved(f)}, and a working attack leaves {_pct(worst)} at "
                f"eps {eps:g}{_also(f, f.worst_case)}."
            )
        else:
            text = (
                f"{level}: the study's FGSM already leaves {_pct(f.study_fgsm[eps])} at eps "
                f"{eps:g}, and the strongest attacks leave {_pct(worst)}{_also(f, f.worst_case)}."
            )
    else:
        text = f"{level}: {_pct(worst)} survive every attack at eps {eps:g}{_also(f, f.worst_case)}"
        caveat = _not_converged(f)
        if caveat:
            text += f" — an upper bound: {caveat}."
        elif f.doubling is not None and f.doubling.passed:
            text += ", and doubling the attack's effort changes that by less than 1 point."
        else:
            text += "."
        if f.study_stalled:
            text += f" Note: {_study_never_moved(f)}."
    if f.failed_checks:
        n = len(f.failed_checks)
        text += f" Caution: {n} sanity check{'s' if n > 1 else ''} failed (see below)."
    return text


def _spread(values: list[float]) -> str:
    low, high = min(values), max(values)
    return _pct(low) if round(low, 1) == round(high, 1) else f"{low:.1f}–{high:.1f}%"


def overall_verdict(findings: list) -> str:
    """The page's verdict over every audited model, from their findings."""
    if not findings:
        return ""
    eps = findings[0].primary_eps
    weak = [f for f in findings if verdict_level(f) == "Not robust"]
    others = [f for f in findings if f not in weak]
    if weak:
        text = (
            f"**Verdict: {len(weak)} of {len(findings)} models are not robust at eps {eps:g}**: "
            f"attacks that work leave them {_spread([f.worst_case[eps] for f in weak])}."
        )
    else:
        text = f"**Verdict: none of the {len(findings)} models falls to chance at eps {eps:g}.**"
    stalled = [f for f in findings if f.study_stalled]
    if stalled:
        vone = [f for f in findings if f.vone]
        if vone and set(map(id, vone)) == set(map(id, stalled)):
            who = "the VOneNet" if len(vone) == 1 else f"all {len(vone)} VOneNets"
        else:
            who = ", ".join(f.label for f in stalled)
        text += (
            f" On {who} the study's FGSM moved no digit, so their "
            f"{_spread([f.study_fgsm[eps] for f in stalled])} under it is clean accuracy, not "
            "robustness."
        )
    for f in others:
        caveat = " — an upper bound (the attack has not converged)" if _not_converged(f) else ""
        text += f" {f.label} keeps {_pct(f.worst_case[eps])}{caveat}."
    return text


def worst_case_title(f) -> str:
    """An expander's title: "MODEL — LEVEL: worst case x% at eps 0.35 · y% at 0.1"."""
    parts = [f"{_pct(f.worst_case[f.primary_eps])} at eps {f.primary_eps:g}"]
    parts += [f"{_pct(f.worst_case[e])} at {e:g}" for e in f.eps[1:] if e in f.worst_case]
    return f"{f.label} — {verdict_level(f).lower()}: worst case {' · '.join(parts)}"


# Each check the core emits (by name, its eps suffix aside) as (what passing means, what failing
# means); {eps} is the check's budget. The study's stalled FGSM and the doubling check have
# sentences of their own (``check_line``): their numbers are the finding.
CHECK_WORDS = {
    "eps 0 equals clean": (
        "No attack, no change: at eps 0 the attack scores clean accuracy",
        "At eps 0 the attack does not score clean accuracy — something besides the attack "
        "changes the answers",
    ),
    "accuracy falls as eps grows": (
        "Accuracy falls as eps grows, as it should",
        "Accuracy rises with eps somewhere beyond sampling noise — a sign that the gradient "
        "misleads the attack (gradient masking)",
    ),
    "iterative ≤ single-step": (
        "Many small steps (PGD) beat one step (FGSM) at eps {eps}, as they should",
        "At eps {eps} one FGSM step beats many PGD steps — a sign that the gradient misleads "
        "the attack",
    ),
    "white-box ≤ transfer": (
        "Attacking the model itself beats borrowing another model's attack at eps {eps}, as it "
        "should",
        "At eps {eps} an attack made on another model beats one made on this model — a sign "
        "that its own gradient misleads",
    ),
    "near chance at eps 0.5": (
        "At eps 0.5 (half the pixel range) the strongest attack leaves about chance, as it should",
        "At eps 0.5 the strongest attack still leaves more than 20% — at that budget it should "
        "erase any digit, so it is not working fully",
    ),
}
CHECK_SHORT = {"finding": "finding: the study's FGSM moved nothing", "caveat": "not converged"}


def check_line(check: dict, f) -> tuple[str, str]:
    """(its kind — "pass", "finding", "caveat" or "fail" —, the sentence the page shows) for
    one check of the model ``f``: what was checked and what was found, then the core's own
    figures."""
    key, eps = check_key(check["check"])
    evidence = check["sentence"]
    if key == STUDY_STALLED_CHECK and not check["passed"]:
        eps = f.primary_eps if eps is None else eps
        did, why = _study_stall(f, eps)
        return "finding", (
            f"**Finding: the study's FGSM {did} at eps {eps:g} ({why}):** its "
            f"{_pct(f.study_fgsm.get(eps, f.clean))} is clean accuracy, not robustness — this is "
            "the finding, not a fault of the audit."
        )
    if key == DOUBLING_CHECK:
        d = f.doubling
        if check["passed"]:
            return "pass", (
                f"**Converged: doubling the attack's effort changes accuracy by less than 1 "
                f"point.** {evidence}"
            )
        if d is not None and d.change is not None and d.change < 0:
            return "caveat", (
                f"**Doubling the attack's effort raised accuracy by {-d.change:.1f} points** — "
                f"sampling noise on {d.images or 'a few'} images, not a stronger attack. {evidence}"
            )
        by = f"by {d.change:.1f} points" if d and d.change is not None else "by a point or more"
        return "caveat", (
            f"**Not converged: doubling the attack's effort lowered accuracy {by}, so read "
            f"{_pct(f.worst_case[f.primary_eps])} as an upper bound.** {evidence}"
        )
    if key in CHECK_WORDS:
        words = CHECK_WORDS[key][0 if check["passed"] else 1].format(eps=f"{eps:g}" if eps else "")
        return ("pass" if check["passed"] else "fail"), f"**{words}.** {evidence}"
    verdict = "passed" if check["passed"] else "failed"
    return ("pass" if check["passed"] else "fail"), f"**{check['check']}: {verdict}.** {evidence}"


def checks_summary(model: dict, f) -> str:
    """The headline table's checks cell: "all pass", or what stands out, in short."""
    kinds = [check_line(c, f)[0] for c in model["checks"]]
    if all(k == "pass" for k in kinds):
        return "all pass"
    parts = [CHECK_SHORT[k] for k in ("finding", "caveat") if k in kinds]
    failed = kinds.count("fail")
    if failed:
        parts.append(f"{failed} failed")
    return "; ".join(parts)


def budget_words(config: dict) -> str:
    """How hard the audit tried, in plain words, from a report's config."""
    n, steps = config["limit"], config["pgd_steps"]
    eot = [k for k in config["eot_samples"] if k > 1]
    step = config.get("pgd_step_size")
    step_text = (
        f"each at most {step:g} per pixel"
        if step is not None
        else f"each 2.5 × eps ÷ {steps} (at eps 0.35: {min(0.35, 2.5 * 0.35 / steps):.3f})"
    )
    restarts = config["pgd_restarts"]
    tries = "one random start" if restarts == 1 else f"the best of {restarts} random starts"
    lines = [
        f"**How hard the audit tried.** Every attack meets the same first {n:,} test digits; a "
        "digit counts as robust only if it survives every one. The words *FGSM*, *PGD*, *EOT* "
        "and *gradient* are explained in the sidebar's 📖 Glossary.",
        "",
        "- **The study's FGSM**: one step of size eps along the sign of the gradient, with the "
        "study's backward pass (NaN where a complex cell sees no contrast).",
        "- **FGSM, repaired gradient**: the same single step, with the gradient defined as 0 "
        "where the study's is NaN, so every other pixel can move.",
    ]
    if eot:
        lines.append(
            "- **FGSM, EOT** (noisy models): the same step, with the gradient averaged over "
            f"{' and '.join(str(k) for k in eot)} passes with fresh noise, so the noise cannot "
            "hide the right direction."
        )
    lines += [
        f"- **PGD-{steps}**: {steps} small FGSM-like steps, {step_text}, each pulled back "
        f"within eps, from {tries}; on noisy models each step averages {config['pgd_eot']} "
        "noisy passes, and PGD runs again with the noise switched off and with it fixed.",
        "- **Transfer**: digits attacked with PGD on a twin model (or the Basic-CNN), shown to "
        "this one.",
        f"- **Curves** (accuracy against eps): {config['curve_limit']:,} digits, PGD-"
        f"{config['curve_pgd_steps']}, noisy models scored {config['curve_repeats']} times per "
        "point. **Convergence check**: PGD with twice the steps (and twice the noisy passes) on "
        f"{config['doubling_limit']:,} digits should change accuracy by less than 1 point.",
    ]
    cascade = config.get("cascade_from_eot", 0)
    if cascade:
        lines.append(
            f"- Rows marked *on survivors* (FGSM with EOT {cascade} or more, PGD with the noise "
            "off or fixed) are the costliest: they attack only the digits every earlier attack "
            "missed, so their rows show what is left after all of them; the worst case is the "
            "same as if each had attacked every digit."
        )
    return "\n".join(lines)
