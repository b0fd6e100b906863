"""The ladder of attacks every model meets, as data: one :class:`Rung` per attack."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from ..crosscheck import LIBRARY
from .config import AuditConfig, pgd_step, strongest_options

SURVIVORS = " (on survivors)"  # the label suffix of a rung that attacks only the survivors
AUTOATTACK = f"AutoAttack ({LIBRARY}, cross-check)"  # the cross-check rung's label


@dataclass(frozen=True)
class Rung:
    name: str  # the row's label in the reports
    attack: Literal["fgsm", "pgd", "apgd", "square", "autoattack"]
    options: Mapping[str, Any] = field(default_factory=dict)  # the attack's budget and options
    # Attack only the images every earlier rung failed to break (see cascade_from_eot): the
    # row then holds what is left after it and all before it, not an attack on its own.
    on_survivors: bool = False
    transfer_from: str | None = None  # craft on this model, evaluate on the audited one
    study: bool = False  # the study's own attack (one FGSM step, raw gradient)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @property
    def gradient_free(self) -> bool:
        """A score-based black-box attack: it reads only the model's outputs."""
        return self.attack == "square"

    @property
    def cross_check(self) -> bool:
        """Another library's attack (AutoAttack), run to check ours against it."""
        return self.attack == "autoattack"

    @property
    def white_box(self) -> bool:
        """One of our own gradient attacks on the model itself."""
        return self.transfer_from is None and not self.gradient_free and not self.cross_check

    @property
    def standalone(self) -> bool:
        """An attack measured on its own (every rung but the cascaded ones)."""
        return not self.on_survivors


def build_ladder(
    config: AuditConfig,
    stochastic: bool,
    eps: float,
    transfer_from: str | None = None,
    transfer_stochastic: bool = False,
    transfer_config: AuditConfig | None = None,
) -> tuple[Rung, ...]:
    """Every rung at ``eps``, in the order they run (and are reported): the standalone
    white-box rungs, Square, AutoAttack and the transfer from ``transfer_from`` (if any) when
    they run on all images, then the cascaded rungs, cheapest first, so the costly ones see the
    fewest images."""
    pgd = {
        "steps": config.pgd_steps,
        "step_size": pgd_step(config, eps, config.pgd_steps),
        "restarts": config.pgd_restarts,
        "seed": config.seed,
    }
    cascade = config.cascade_from_eot > 0
    ladder = [
        Rung("FGSM (study: raw gradient)", "fgsm", {"gradient": "raw"}, study=True),
        Rung("FGSM, repaired gradient", "fgsm", {"gradient": "repaired"}),
    ]
    late: list[Rung] = []
    if stochastic:
        for n in config.eot_samples:
            if n > 1:
                on_survivors = cascade and n >= config.cascade_from_eot
                rung = Rung(
                    f"FGSM, EOT {n}" + (SURVIVORS if on_survivors else ""),
                    "fgsm",
                    {"gradient": "repaired", "eot_samples": n},
                    on_survivors=on_survivors,
                )
                (late if on_survivors else ladder).append(rung)
        pgd_eot = Rung(
            f"PGD-{config.pgd_steps}, EOT {config.pgd_eot}"
            + (SURVIVORS if config.stochastic_pgd_on_survivors else ""),
            "pgd",
            {**pgd, "gradient": "repaired", "eot_samples": config.pgd_eot},
            on_survivors=config.stochastic_pgd_on_survivors,
        )
        if not pgd_eot.on_survivors:
            ladder.append(pgd_eot)
        tail = SURVIVORS if cascade else ""
        late[:0] = [
            Rung(
                f"PGD-{config.pgd_steps}, noise off{tail}",
                "pgd",
                {**pgd, "gradient": "repaired", "noise": "off"},
                on_survivors=cascade,
            ),
            Rung(
                f"PGD-{config.pgd_steps}, noise fixed{tail}",
                "pgd",
                {**pgd, "gradient": "repaired", "noise": "seeded"},
                on_survivors=cascade,
            ),
        ]
    else:
        ladder.append(Rung(f"PGD-{config.pgd_steps}", "pgd", {**pgd, "gradient": "repaired"}))
        if config.apgd_steps:
            for loss in ("ce", "dlr"):
                ladder.append(
                    Rung(
                        f"APGD-{config.apgd_steps} ({loss.upper()}), "
                        f"{config.apgd_restarts} restart(s)",
                        "apgd",
                        {
                            "steps": config.apgd_steps,
                            "restarts": config.apgd_restarts,
                            "loss": loss,
                            "gradient": "repaired",
                            "seed": config.seed,
                        },
                    )
                )
    ladder += [r for r in late if r.standalone]
    square = None
    if config.square_queries:
        # No gradient at all: no masking can hide from it (Carlini et al. 2019).
        square = Rung(
            f"Square, {config.square_queries} queries (gradient-free)"
            + (SURVIVORS if config.square_on_survivors else ""),
            "square",
            {"queries": config.square_queries, "seed": config.seed},
            on_survivors=config.square_on_survivors,
        )
        if square.standalone:
            ladder.append(square)
    if config.autoattack and not stochastic:
        budget = asdict(config.autoattack_budget)
        ladder.append(Rung(AUTOATTACK, "autoattack", {"seed": config.seed, **budget}))
    transfer = None
    if transfer_from is not None:
        transfer = Rung(
            f"transfer from {transfer_from}" + (SURVIVORS if config.transfer_on_survivors else ""),
            "pgd",
            # Crafted with the source's own budget: a noisy twin's gradient is dear.
            strongest_options(transfer_config or config, transfer_stochastic, eps=eps),
            on_survivors=config.transfer_on_survivors,
            transfer_from=transfer_from,
        )
        if transfer.standalone:
            ladder.append(transfer)
    # The cascade, cheapest first, so the costly rungs see the fewest images: the transfer
    # (one crafting on another model), PGD with EOT, then Square, which needs many queries
    # per image and asks whether anything was left that no gradient found.
    survivors = [r for r in late if r.on_survivors]
    if transfer is not None and transfer.on_survivors:
        survivors.append(transfer)
    if stochastic and config.stochastic_pgd_on_survivors:
        survivors.append(pgd_eot)
    if square is not None and square.on_survivors:
        survivors.append(square)
    return tuple(ladder + survivors)
