"""A claim's verdict in a cell, from the interval of its gain over the base model (never a point estimate)."""
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
