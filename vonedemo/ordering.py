"""Tables keyed by model name, merged and listed in the registry's order.

Reports that gather models from several runs (the reproduction's summary, the audit) merge
their tables here, so every report lists the models in the same order however they were run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from .models import list_models

Row = TypeVar("Row")


def merge_in_registry_order(earlier: Mapping[str, Row], later: Mapping[str, Row]) -> dict[str, Row]:
    """``later``'s rows added to ``earlier``'s (replacing those of the same model), listed in
    registry order; names the registry does not know come last, in the order they came."""
    merged = {**earlier, **later}
    order = {name: i for i, name in enumerate(list_models())}
    return dict(sorted(merged.items(), key=lambda item: order.get(item[0], len(order))))
