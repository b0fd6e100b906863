"""The app's longer prose: page introductions, help texts and notes. Kept here so that pages
read as widgets → computation → rendering; the wording itself is the pages'."""

from vonedemo.results import DOUBLING_CHECK, STUDY_STALLED_CHECK, check_key

REGENERATE = "`python -m vonedemo train --all` regenerates them"
HOME_INTRO = (
    "A network that reads handwritten digits almost perfectly can be fooled by a carefully "
    "chosen pattern of pixel changes — an **adversarial example**. At the study's eps 0.35 the "
    "pattern is no secret: it covers the digit in plainly visible grey speckle, yet any person "
    "still reads the digit at once; at eps 0.1 it is faint. The fast gradient "
    "sign method (FGSM) nudges every pixel by ±eps in the direction that raises the network's "
    "error. A 2021 study reported that putting a fixed, brain-like front-end — the **VOneBlock**, "
    "a bank of V1-style Gabor filters with neuronal noise — before a small network made it "
    "resist FGSM at eps 0.35. Below: one test digit and its FGSM twin for a plain CNN and for "
    "its VOneNet twin."
)
HOME_NOISE_NOTE = (
    "VOne noise: one fixed draw for both pictures (the Attack explorer also "
    "shows the study's fresh noise on every pass)."
)
CAVEAT = (
    "**Honest caveat.** The study's VOneNets may look robust for a dull reason: the complex "
    "cell's square root has no derivative at zero energy (a blank background seen through a "
    "narrow filter), so the input gradient is NaN there, and `torch.sign(NaN) = 0` — FGSM then "
    "leaves those pixels alone. The *gradient health* line says how much of the gradient was "
    "NaN and how many pixels the attack really moved; choose the *repaired* gradient in the "
    "attack explorer to see the attack with a working gradient."
)
STALLED_WARNING = (
    "The attack did not move most digits, so the accuracy under attack is just clean "
    "accuracy — it says nothing about robustness. Try the *repaired* gradient, EOT or PGD."
)

# --- attack explorer ---------------------------------------------------------------------------
EXPLORER_INTRO = (
    "Each digit is shown three times: the **original**, the **adversarial** version the attack "
    "made, and the **perturbation** (red: pixel made brighter, blue: darker, white: untouched). "
    "Predictions are green when right and red when wrong. Move **eps** — the largest change "
    "allowed per pixel — and see when the model gives in."
)
PGD_STEPS_HELP = "Each step costs one more gradient."
ATTACK_HELP = "FGSM: one step of size eps (the study's). PGD: many small steps."
GRADIENT_HELP = (
    "raw: the study's backward pass — NaN where a complex cell sees no contrast, and "
    "sign(NaN) = 0 leaves those pixels alone. repaired: the same network, with the gradient "
    "defined as 0 there, so the attack can use every other pixel."
)
EOT_HELP = "Average the gradient over this many noisy passes (expectation over transformation)."
NOISE_HELP = (
    "neuronal: fresh random noise on every pass (the study's setting); off: no noise; seeded: "
    "one fixed noise pattern. Only VOne models have noise."
)
EXPLORER_EPS = "eps — the largest change per pixel (pixel values run from 0 to 1)"
EXPLORER_SCORING = "⏳ Scoring the larger sample at this eps in the background…"
EXPLORER_QUEUED = (
    "⏳ The larger sample at this eps is queued behind other people's: it appears here when "
    "it is scored. The grid above is already up to date."
)

# --- training and fine-tuning ------------------------------------------------------------------
TRAIN_INTRO = (
    "Train one of the study's eight networks from scratch on MNIST digits (Adam and "
    "cross-entropy, as the study). The loss and accuracy curves grow while it learns; the result "
    "is saved under a name of your choice and appears in the model lists of the other pages."
)
TRAIN_NAME_HELP = "Letters, digits, - _ and . only; a taken name gets a -2, -3 … suffix."
TRAIN_SLOW_VONE = (
    "VOne models are slow on a CPU — each step runs 512 Gabor filters — so start small."
)
TRAIN_FAST_BASELINE = "Baselines train in seconds to a minute on a laptop CPU."
FINETUNE_INTRO = (
    "The study's second experiment: keep training a model, but on FGSM versions of the training "
    "digits, made from the current weights at every step (Adam, learning rate 1e-4). After each "
    "round the model is scored on clean and on FGSM test digits. The study's curves for the same "
    "model are dashed. The model you start from is never changed — fine-tuning works on a copy."
)
FINETUNE_SLOW_VONE = (
    "VOne models are slow on a CPU: each step runs an FGSM attack and a training step "
    "through 512 Gabor filters. Start with a few rounds and a few hundred images."
)

# --- compare -----------------------------------------------------------------------------------
COMPARE_INTRO = (
    "The 2021 study reported clean accuracy and accuracy under FGSM at eps 0.35 for four "
    "baselines and their VOneNet twins. Here are its numbers beside ours, measured on the same "
    "MNIST test digits with the same attack."
)
COMPARE_NOTHING_MEASURED = (
    "No measured numbers yet: `results/summary.json` and the checkpoint manifest have none. "
    "Press **Measure now** below for a quick estimate on a few test digits."
)

# --- inside the VOneBlock ----------------------------------------------------------------------
VONE_INTRO = (
    "The VOneBlock is a fixed model of primary visual cortex (V1): 512 Gabor filters whose "
    "spatial frequency, orientation, phase and size follow measurements in monkeys. **Simple "
    "cells** respond to a filter's match with the image (ReLU); **complex cells** combine a "
    "quadrature pair into a phase-free energy. Then comes random, Poisson-like **neuronal "
    "noise**. Nothing here is learned; the network after it is."
)
NO_TRAINED_VONE = (
    f"No trained VOne model is available ({REGENERATE}); the filter bank, "
    "cells and noise do not need one."
)
STUDY_BLOCK_LABEL = "the study's VOneBlock on its own (no trained network)"
SORT_LABELS = {
    "index": "channel number",
    "sf": "spatial frequency",
    "ori": "orientation",
    "phase": "phase",
    "nx": "envelope width nx",
    "ny": "envelope height ny",
}
V1_GRADIENT_HELP = "raw: the study's (NaN at zero energy); repaired: 0 there."
Q_HELP = "q0: each cell's own filter. q1: the complex cell's quadrature partner (phase + 90°)."
NOISE_CAPTION = (
    "left: the response before noise; then the same digit through the block with "
    "noise seeds 0, 1, 2, … (one brightness scale)"
)
VONE_NO_MODEL = (
    "Choose a trained VOne model above to attack it; the study's block on its own "
    "has no network to fool."
)

# --- is it real? -------------------------------------------------------------------------------
REAL_INTRO = (
    "The study attacked its VOneNets with one FGSM step through a noisy network — and its complex "
    "cells have a NaN gradient wherever they see no contrast, and `sign(NaN) = 0`. Here every "
    "model faces a ladder of attacks: the study's FGSM, the same with a **repaired** gradient, "
    "gradients averaged over noise (EOT), PGD, noise switched off or fixed, and transfer from the "
    "twin model. An image counts as robust only if it survives **all** of them."
)
REAL_NO_AUDIT = (
    "No precomputed audit yet (`python -m vonedemo audit --out results/audit` makes one). "
    "Run a quick one below."
)


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


def noise_not_attack(changed: int, shown: int) -> str:
    """Why answers differ at eps 0 on a noisy model."""
    return (
        f"eps is 0, so the digits were not changed: the {changed} of {shown} answers that "
        "differ come from the VOneBlock's random noise, drawn afresh on every pass, not from "
        "an attack."
    )


def health_words(health: dict, images: int, eps: float) -> str:
    """The gradient-health line in words a student reads: how many digits the attack moved, and
    why the others stayed (a ``GradientHealth.summary()`` over ``images`` digits)."""
    if eps == 0:
        return "eps is 0, so there is no attack: the attacked digits are the originals."
    moved = round(health["moved_fraction"] * images)
    nan = health["nonfinite_gradient_fraction"]
    zero = health["zero_sign_fraction"]
    said = f"the attack changed {moved} of {images} digits"
    if moved == images:
        return (
            f"The attack changed all {images} digits, each pixel by at most {health['linf']:.2f}."
        )
    if nan >= 0.9995:
        why = "its gradient was undefined (NaN) at every pixel, and sign(NaN) = 0 is no step"
    elif nan > 0:
        why = f"its gradient was undefined (NaN) at {nan:.0%} of the pixels, where it takes no step"
    elif zero > 0:
        why = f"its gradient was exactly 0 at {zero:.0%} of the pixels, where it takes no step"
    else:
        why = "some digits were already at the edge of the allowed range"
    return f"{said[0].upper()}{said[1:]}: {why}."


# The words a class meets on every page, explained once (the sidebar's glossary).
GLOSSARY = {
    "eps (ε)": "The attack's budget: the most any one pixel may change. Pixels run from 0 "
    "(black) to 1 (white), so eps 0.35 lets a pixel move by about a third of that range.",
    "L∞ (L-infinity)": "The size of a change measured by its largest pixel change. An "
    "L∞ attack with eps 0.35 may change every pixel, none by more than 0.35.",
    "FGSM": "Fast Gradient Sign Method: one step of size eps in the direction that raises the "
    "model's error fastest (the sign of the gradient at each pixel). The study's attack.",
    "PGD": "Projected Gradient Descent: many small FGSM-like steps, each pulled back inside the "
    "eps limit. Stronger than FGSM; the standard test of robustness.",
    "EOT": "Expectation over Transformation: average the gradient over several noisy passes, "
    "so that random noise inside the model cannot hide the right direction.",
    "Gradient": "For each pixel, how much and in which direction a small change moves the "
    "model's error. Attacks follow it.",
    "NaN": "Not a Number: the result of an undefined calculation such as 0/0. The study's "
    "complex cell has a NaN gradient where it sees no contrast, and sign(NaN) = 0: no step.",
    "Gradient health": "Whether the attack's gradient worked: how many of its entries were "
    "NaN, how many steps were 0, and how many digits the attack actually changed.",
    "Worst case": "An image counts as robust only if it survives every attack tried; the "
    "worst-case accuracy is the share of such images.",
    "Repaired gradient": "The same network with the complex cell's gradient defined as 0 where "
    "the study's is NaN, so the attack can use every other pixel.",
}


def nyquist_sentence(pixels: int, degrees: float, too_fine: int, filters: int) -> str:
    """Why most of the study's filters look like dots on a 28-pixel digit."""
    per_degree = pixels / degrees
    return (
        f"The block sees the {pixels}-pixel digit as {degrees:g} degrees of visual field, "
        f"{per_degree:.1f} pixels per degree. A pixel grid shows gratings up to half a cycle "
        f"per pixel — {per_degree / 2:.2f} cycles per degree, the *Nyquist limit* — and "
        f"**{too_fine} of these {filters} filters are finer than that**: on this grid they "
        "cannot show their stripes and become dots or aliasing patterns (the column "
        "*sf / Nyquist* is above 1)."
    )


TOTAL_CHANGE_HELP = (
    "The sum, over every cell and pixel of the block, of |response to the attacked digit − "
    "response to the original|, as a share of the sum of |response to the original|. 0% "
    "means the attack changed nothing the block sees; 100% means it changed the responses "
    "by as much as they were in all."
)
NOTHING_CHANGED = "The attack changed no channel of the block: there is nothing to list."


def _span(values: list[float], unit: str = "%") -> str:
    low, high = min(values), max(values)
    return f"{low:.1f}{unit}" if round(low, 1) == round(high, 1) else f"{low:.1f}–{high:.1f}{unit}"


def compare_verdict(rows: list[dict]) -> str | None:
    """The compare page's verdict, from its rows: whether the VOneNets' FGSM figures measure
    robustness or an attack that never moved the images (None when nothing says either)."""
    vone = [r for r in rows if r["label"].startswith("VOne") and r["fgsm"] is not None]
    stalled = [r for r in vone if r["fgsm_nan"] is not None and r["fgsm_moved"] is not None]
    stalled = [r for r in stalled if r["fgsm_nan"] >= 0.99 and r["fgsm_moved"] <= 0.01]
    if not stalled:
        return None
    text = (
        f"**Verdict: the study's VOneNet figures do not show robustness.** Run as the study ran "
        f"it, FGSM leaves {len(stalled)} VOneNets at {_span([r['fgsm'] for r in stalled])} — but "
        f"its gradient was undefined (NaN) at {_span([100 * r['fgsm_nan'] for r in stalled])} of "
        f"the pixels and it moved {_span([100 * r['fgsm_moved'] for r in stalled])} of the "
        "images, so these numbers are the models' clean accuracy."
    )
    worst = [r["worst_case"] for r in stalled if r["worst_case"] is not None]
    if worst:
        text += (
            f" With attacks that work (the audit, *Is it real?*), they keep "
            f"{_span(worst)} at eps 0.35."
        )
    return text


COMPARE_FRESH = (
    "Measured just now on the first {limit} test digits per model — a small sample, shown "
    "apart: it never replaces the numbers above, which come from the results files."
)

COMPARE_COLUMNS = (
    "*FGSM gradient NaN %*: the share of the study's FGSM gradient that was undefined (NaN); "
    "*images FGSM moved %*: the share of test images the attack changed at all; *worst case*: "
    "the share of images that survive every attack of the audit. — means not measured, or no "
    "figure in the study."
)


# --- background runs (training, fine-tuning) ---------------------------------------------------
RUN_GOES_ON = (
    "The run goes on in the background: changing a control, visiting another page or "
    "reloading does not stop it, and this page finds it again."
)
RUN_GONE = (
    "The run this link points to is not in the app any more (the app was restarted, or the "
    "link is old). Start a new one below."
)
RUN_QUEUED = "⏳ Queued: other people's runs go first; this one starts when a slot is free."
FINETUNE_GRADIENT_HELP = (
    "For the attack that makes the training digits and the one that scores the test digits. "
    "raw: the study's — on a VOne model its gradient is NaN and FGSM moves nothing; "
    "repaired: defined as 0 there, so the attack works."
)
FINETUNE_STALLED = (
    "The attack that made the training digits moved none of them — its gradient was undefined "
    '(NaN) — so this model was fine-tuned on clean digits, and its "FGSM accuracy" is clean '
    "accuracy. Choose the *repaired* gradient to fine-tune on real adversarial digits."
)


def finetune_reading(rows: list[dict], stalled: bool) -> str:
    """One sentence under the fine-tuning chart: what its curves show."""
    if len(rows) < 2:
        return "Round 0 is the model before fine-tuning; the curves grow round by round."
    first, last = rows[0], rows[-1]
    if stalled:
        return (
            f"Both curves stay near where they started (FGSM {first['adversarial']:.0f}% → "
            f"{last['adversarial']:.0f}%): the model never saw an adversarial digit. The study's "
            "VOneNet curves (dashed) are flat for the same reason."
        )
    return (
        f"FGSM accuracy went from {first['adversarial']:.0f}% before fine-tuning to "
        f"{last['adversarial']:.0f}% after round {last['round']}, clean accuracy from "
        f"{first['clean']:.0f}% to {last['clean']:.0f}%: the model learns to resist the FGSM "
        "digits it trains on, as the study's baselines did (dashed). Whether that survives a "
        "stronger attack than FGSM is the audit's question (*Is it real?*)."
    )
