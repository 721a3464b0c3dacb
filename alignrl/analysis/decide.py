"""A claim's verdict in a cell, from the interval of its gain over the base model (never a point estimate),
and what the paper predicts for the cell."""
from __future__ import annotations

import math

HOLDS, FAILS, INCONCLUSIVE = "holds", "fails", "inconclusive"


def verdict(ci_low: float, ci_high: float, min_gain: float) -> str:
    """holds: the whole interval is above 0 (RL on this claim improved the model);
    fails: the interval excludes every gain of at least `min_gain` (no useful improvement, or harm);
    inconclusive: the interval admits both."""
    if any(math.isnan(x) for x in (ci_low, ci_high)):
        return INCONCLUSIVE
    if ci_low > 0:
        return HOLDS
    if ci_high < min_gain:
        return FAILS
    return INCONCLUSIVE


# What the paper's thesis predicts for a claim in a cell of a given alignment class.
_PREDICTION = {
    ("holds_everywhere", "strong"): HOLDS,
    ("holds_everywhere", "weak"): HOLDS,
    ("holds_everywhere", "intermediate"): HOLDS,
    ("holds_if_strong", "strong"): HOLDS,
    ("holds_if_strong", "weak"): FAILS,
}


def paper_prediction(expectation: str, alignment: str) -> str:
    """``holds`` / ``fails`` as the paper predicts, or ``""`` where it predicts nothing."""
    return _PREDICTION.get((expectation, alignment), "")


def agreement(predicted: str, measured: str) -> str:
    """``agrees`` / ``disagrees`` with the paper, ``inconclusive`` when the interval decides nothing,
    ``""`` when the paper predicts nothing for the cell."""
    if not predicted:
        return ""
    if measured == INCONCLUSIVE:
        return INCONCLUSIVE
    return "agrees" if predicted == measured else "disagrees"
