"""The app's sentences built from numbers: gradient health in words, verdicts, readings of a
curve, the attack's settings. The words themselves live in the catalogs (``ui/locales``); these
functions choose among them and fill in the figures, in the session's language."""

from __future__ import annotations

import functools
from collections.abc import Callable

from vonedemo.vone_views import SORT_KEYS

from .i18n import language, t, tr

GLOSSARY_TERMS = ("eps", "linf", "fgsm", "pgd", "eot", "gradient", "nan", "health", "worst")
GLOSSARY_TERMS += ("repaired",)


def glossary() -> dict[str, str]:
    """{term: meaning}: the words a class meets on every page (the sidebar's glossary)."""
    return {t(f"glossary.{k}"): t(f"glossary.{k}_meaning") for k in GLOSSARY_TERMS}


def option(value: object, lang: str | None = None) -> str:
    """A fixed choice's label (``raw``, ``none``, ``neuronal`` …): the catalog's word for it,
    the value itself where it is a name or a number (``q0``, ``7``, ``fgsm`` in capitals)."""
    key = {"runner-up": "runner_up"}.get(str(value), str(value))
    if key in {"fgsm", "pgd"}:
        return key.upper()
    try:
        return tr(lang or language(), f"app.{key}")
    except KeyError:
        return str(value)


def option_label() -> Callable[[object], str]:
    """``option`` in this run's language, for a widget's ``format_func``: Streamlit formats a
    widget's options again later (a test's widget state), maybe away from this session."""
    return functools.partial(option, lang=language())


def sort_labels() -> dict[str, str]:
    """{sort key: its label} for the filter bank's "Sort by"."""
    return {key: t(f"sort.{key}") for key in SORT_KEYS}


def columns(rows: list[dict]) -> list[dict]:
    """A table's rows with their column names in the session's language (names the catalog
    does not know stay as they are)."""
    if not rows:
        return rows
    names = {}
    for name in rows[0]:
        try:
            names[name] = t(f"columns.{name}")
        except KeyError:
            names[name] = name
    return [{names[k]: v for k, v in row.items()} for row in rows]


def describe(settings) -> str:
    """An attack's settings in one line (the explorer's caption)."""
    from vonedemo.attack_view import pgd_step_size

    line = t("explorer.describe", attack=settings.attack.upper(), eps=f"{settings.eps:.2f}")
    if settings.attack == "pgd":
        size = pgd_step_size(settings.eps, settings.pgd_steps)
        line += t("explorer.describe_pgd", steps=settings.pgd_steps, size=f"{size:.3f}")
    if settings.eot_samples > 1:
        line += t("explorer.describe_eot", samples=settings.eot_samples)
    line += t("explorer.describe_gradient", gradient=option(settings.gradient))
    if settings.noise:
        line += t("explorer.describe_noise", noise=option(settings.noise))
    if settings.target is not None:
        line += t("explorer.describe_target", target=option(settings.target))
    return line


def training_plan(steps: int, size: int, *, slow: bool) -> str:
    """The Train page's plan: the steps a run takes, and how long to expect."""
    speed = t("text.train_slow_vone") if slow else t("text.train_fast_baseline")
    return t("train.plan", steps=steps, size=size) + speed


def noise_not_attack(changed: int, shown: int) -> str:
    """Why answers differ at eps 0 on a noisy model."""
    return t("health.noise_not_attack", changed=changed, shown=shown)


def health_words(health: dict, images: int, eps: float) -> str:
    """The gradient-health line in words a student reads: how many digits the attack moved, and
    why the others stayed (a ``GradientHealth.summary()`` over ``images`` digits)."""
    if eps == 0:
        return t("health.no_attack")
    moved = round(health["moved_fraction"] * images)
    nan = health["nonfinite_gradient_fraction"]
    zero = health["zero_sign_fraction"]
    if moved == images:
        return t("health.all_moved", images=images, linf=f"{health['linf']:.2f}")
    if nan >= 0.9995:
        why = t("health.nan_everywhere")
    elif nan > 0:
        why = t("health.nan_share", share=f"{nan:.0%}")
    elif zero > 0:
        why = t("health.zero_share", share=f"{zero:.0%}")
    else:
        why = t("health.at_edge")
    return t("health.some_moved", moved=moved, images=images, why=why)


def health_figures(health: dict, eps: float) -> str:
    """The measured figures beneath the health line (a ``GradientHealth.summary()``): the same
    figures as the core's ``GradientHealth.sentence()``, in the session's language."""
    if eps == 0:
        return t("health.figures_eps0")
    figures = t(
        "health.figures",
        nan=f"{health['nonfinite_gradient_fraction']:.1%}",
        zero=f"{health['zero_sign_fraction']:.1%}",
        linf=f"{health['linf']:.3f}",
        moved=f"{health['moved_fraction']:.0%}",
    )
    return figures + (t("health.figures_stalled") if health.get("stalled") else "")


def digit_health_words(health: dict, eps: float) -> str:
    """The health line for one attacked digit: did it move, and how much of its gradient was
    undefined (PGD's random start can move a digit whose gradient is mostly NaN)."""
    if eps == 0:
        return t("health.digit_no_attack")
    nan = health["nonfinite_gradient_fraction"]
    if health["moved_fraction"] == 0:
        moved = t("health.digit_not_moved")
    else:
        moved = t("health.digit_moved", linf=f"{health['linf']:.2f}")
    if nan >= 0.9995:
        return t("health.digit_nan_everywhere", moved=moved)
    if nan > 0:
        return t("health.digit_nan_share", moved=moved, share=f"{nan:.0%}")
    return t("health.digit_defined", moved=moved)


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
    text = t(
        "compare.verdict",
        n=len(stalled),
        fgsm=_span([r["fgsm"] for r in stalled]),
        nan=_span([100 * r["fgsm_nan"] for r in stalled]),
        moved=_span([100 * r["fgsm_moved"] for r in stalled]),
    )
    worst = [r["worst_case"] for r in stalled if r["worst_case"] is not None]
    if worst:
        text += t("compare.verdict_worst", worst=_span(worst))
    return text


def finetune_reading(rows: list[dict], stalled: bool) -> str:
    """One sentence under the fine-tuning chart: what its curves show."""
    if len(rows) < 2:
        return t("finetune.reading_start")
    first, last = rows[0], rows[-1]
    if stalled:
        return t(
            "finetune.reading_stalled",
            first=f"{first['adversarial']:.0f}",
            last=f"{last['adversarial']:.0f}",
        )
    return t(
        "finetune.reading_learned",
        first=f"{first['adversarial']:.0f}",
        last=f"{last['adversarial']:.0f}",
        round=last["round"],
        clean_first=f"{first['clean']:.0f}",
        clean_last=f"{last['clean']:.0f}",
    )
