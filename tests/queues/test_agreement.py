"""Percent agreement and Cohen's kappa against worked examples from the literature."""

from __future__ import annotations

import pytest

from webapp.queues.agreement import agreement, cohen_kappa, percent_agreement


def table(yy: int, yn: int, ny: int, nn: int) -> list[tuple[str, str]]:
    """Pairs (rater A, rater B) of a 2x2 table: A yes & B yes, A yes & B no, ..."""
    return [("y", "y")] * yy + [("y", "n")] * yn + [("n", "y")] * ny + [("n", "n")] * nn


def test_the_wikipedia_grant_proposal_table() -> None:
    # Wikipedia, "Cohen's kappa", simple example: 50 proposals, 20/5/10/15.
    # p_o = 0.7, p_e = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = 0.4.
    pairs = table(20, 5, 10, 15)
    assert percent_agreement(pairs) == pytest.approx(0.7)
    assert cohen_kappa(pairs) == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("cells", "kappa"),
    [
        # Wikipedia's two tables with the same agreement (60%) and different kappas.
        ((45, 15, 25, 15), 0.1304),
        ((25, 35, 5, 35), 0.2593),
    ],
)
def test_same_agreement_different_kappa(cells: tuple[int, int, int, int], kappa: float) -> None:
    pairs = table(*cells)
    assert percent_agreement(pairs) == pytest.approx(0.6)
    assert cohen_kappa(pairs) == pytest.approx(kappa, abs=5e-5)


def test_three_categories() -> None:
    # A 3x3 table worked by hand (100 subjects, two raters): p_o = 0.70;
    # p_e = 0.50*0.60 + 0.30*0.30 + 0.20*0.10 = 0.41; kappa = 0.29 / 0.59 = 0.4915.
    cells = {
        ("psych", "psych"): 44, ("psych", "neuro"): 5, ("psych", "organic"): 1,
        ("neuro", "psych"): 7, ("neuro", "neuro"): 20, ("neuro", "organic"): 3,
        ("organic", "psych"): 9, ("organic", "neuro"): 5, ("organic", "organic"): 6,
    }  # fmt: skip
    pairs = [pair for pair, n in cells.items() for _ in range(n)]
    assert percent_agreement(pairs) == pytest.approx(0.70)
    # Rater A: psych 50, neuro 30, organic 20; rater B: psych 60, neuro 30, organic 10.
    expected = (50 * 60 + 30 * 30 + 20 * 10) / 100**2
    assert cohen_kappa(pairs) == pytest.approx((0.70 - expected) / (1 - expected))
    assert cohen_kappa(pairs) == pytest.approx(0.4915, abs=5e-5)


def test_perfect_and_chance_and_undefined() -> None:
    assert cohen_kappa(table(10, 0, 0, 10)) == pytest.approx(1.0)
    # Agreement exactly at chance: kappa 0.
    assert cohen_kappa(table(25, 25, 25, 25)) == pytest.approx(0.0)
    # Systematic disagreement: below zero.
    assert cohen_kappa(table(0, 10, 10, 0)) == pytest.approx(-1.0)
    # Both always "y": chance agreement is certain, kappa undefined, agreement 100%.
    assert cohen_kappa(table(7, 0, 0, 0)) is None
    assert percent_agreement(table(7, 0, 0, 0)) == 1.0
    assert cohen_kappa([]) is None
    result = agreement(table(20, 5, 10, 15))
    assert (result.items, result.percent) == (50, pytest.approx(0.7))
