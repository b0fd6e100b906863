"""The app's longer prose: page introductions, help texts and notes. Kept here so that pages
read as widgets → computation → rendering; the wording itself is the pages'."""

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
    "⏳ The larger sample at this eps waits for the ones asked for before it (one is scored at a "
    "time): it appears here when it is scored. The grid above is already up to date."
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


def digit_health_words(health: dict, eps: float) -> str:
    """The health line for one attacked digit: did it move, and how much of its gradient was
    undefined (PGD's random start can move a digit whose gradient is mostly NaN)."""
    if eps == 0:
        return "eps is 0, so there is no attack: the attacked digit is the original."
    nan = health["nonfinite_gradient_fraction"]
    if health["moved_fraction"] == 0:
        moved = "The attack did not change the digit"
    else:
        moved = f"The attack changed the digit, each pixel by at most {health['linf']:.2f}"
    if nan >= 0.9995:
        return f"{moved}: its gradient was undefined (NaN) at every pixel, and sign(NaN) = 0."
    if nan > 0:
        return f"{moved}; its gradient was undefined (NaN) at {nan:.0%} of the pixels it looked at."
    return f"{moved}; its gradient was defined everywhere."


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


# --- your digit --------------------------------------------------------------------------------
DIGIT_INTRO = (
    "Draw a digit with the mouse or a finger, or upload a photo of one written on paper. The lab "
    "turns it into the 28x28 picture the models know — greyscale, light ink on black, fitted "
    "into 20x20 and centred by its centre of mass, as MNIST was made — and shows every model's "
    "answer. Then attack it: make the models misread it, or read it as a digit of your choice."
)
DIGIT_UPLOAD = "A picture of one digit (PNG, JPEG or WebP; a phone photo of paper works)"
DIGIT_EMPTY = "Draw a digit on the canvas, or upload a picture of one."
DIGIT_SEEN = "what the models see (28x28)"
DIGIT_SPREAD = (
    "A VOneNet's bar shows the spread (±1 standard deviation) of its confidence over {passes} "
    "passes with different noise."
)
DIGIT_TARGET_HELP = (
    "none: any wrong answer will do. A digit: make the attacked model read exactly that. "
    "runner-up: the class it already finds second most likely (the easiest target)."
)
DIGIT_NOT_MOVED = (
    "The attack did not change the picture by its gradient: with the study's raw gradient a "
    "VOneNet's gradient is undefined (NaN) at every pixel and sign(NaN) = 0, so it takes no "
    "step (whatever moved came from PGD's random start). Choose the *repaired* gradient."
)
DIGIT_TRANSFER = (
    "**The same attacked picture, shown to every model** (an attack made for one model often "
    "fools the others too — *transfer*):"
)
