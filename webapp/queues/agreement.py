"""Agreement between two raters on categorical answers: pure functions.

``pairs`` is a list of ``(a, b)``: what rater A and rater B answered for the same
item. Percent agreement is the share of items they answered alike; Cohen's kappa
(Cohen 1960) corrects it for the agreement chance alone gives:
``kappa = (p_o - p_e) / (1 - p_e)``, where ``p_e`` sums, over the categories, the
product of the two raters' own shares of that category.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Agreement:
    """Two raters' agreement over ``items`` items answered by both."""

    items: int
    percent: float
    #: None when it is undefined: no items, or chance agreement is certain (both
    #: raters always gave one and the same category).
    kappa: float | None


def percent_agreement(pairs: Sequence[tuple[Hashable, Hashable]]) -> float:
    """The share of pairs answered alike, 0 to 1 (0 for no pairs)."""
    if not pairs:
        return 0.0
    return sum(1 for a, b in pairs if a == b) / len(pairs)


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa of two raters over ``pairs``; None when it is undefined."""
    n = len(pairs)
    if not n:
        return None
    observed = percent_agreement(pairs)
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(first[c] * second[c] for c in first) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def agreement(pairs: Sequence[tuple[Hashable, Hashable]]) -> Agreement:
    """Percent agreement and kappa together."""
    return Agreement(len(pairs), percent_agreement(pairs), cohen_kappa(pairs))
