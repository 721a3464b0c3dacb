"""Every decision the tables make, in one place: a claim's verdict from the interval of its gain over the base
model (never a point estimate), a cell's alignment class from the interval of its base pass@k, whether a
strong cell has headroom, what the paper predicts for a cell, and how a set of seed verdicts agrees."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

HOLDS, FAILS, INCONCLUSIVE = "holds", "fails", "inconclusive"
STRONG, WEAK, INTERMEDIATE = "strong", "weak", "intermediate"
HEADROOM_OK = "ok"
NOT_STRONG = "n/a"


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


def alignment_class(ci_low: float, ci_high: float, alignment: Mapping) -> str:
    """The cell's class from the interval of its base pass@k (alignment.k): strong when even the interval's
    low end reaches ``strong_at_least``, weak when even its high end stays at or below ``weak_at_most``;
    an interval that reaches into the band between, or straddles a threshold, is intermediate, so a cell
    never changes class on noise the interval already admits."""
    if any(math.isnan(x) for x in (ci_low, ci_high)):
        return INTERMEDIATE
    if ci_low >= alignment["strong_at_least"]:
        return STRONG
    if ci_high <= alignment["weak_at_most"]:
        return WEAK
    return INTERMEDIATE


def headroom(cls: str, pass_at_k: float, pass_at_1: float, alignment: Mapping) -> str:
    """``ok`` for a strong cell whose base model leaves room to improve (pass@k below ``ceiling_pass_at_k``,
    pass@1 at most ``ceiling_pass_at_1``), else ``no headroom: ...`` naming the number at the ceiling;
    ``n/a`` for a cell that is not strong."""
    if cls != STRONG:
        return NOT_STRONG
    k, problems = alignment["k"], []
    if pass_at_k >= alignment["ceiling_pass_at_k"]:
        problems.append(f"pass@{k} {pass_at_k:.3f} >= {alignment['ceiling_pass_at_k']}")
    if pass_at_1 > alignment["ceiling_pass_at_1"]:
        problems.append(f"pass@1 {pass_at_1:.3f} > {alignment['ceiling_pass_at_1']}")
    return "no headroom: " + ", ".join(problems) if problems else HEADROOM_OK


def seed_agreement(pooled: str, per_seed: Sequence[str]) -> str:
    """How many seeds alone reach the pooled verdict, e.g. ``3/3 hold`` or ``2/3 fail``."""
    word = {HOLDS: "hold", FAILS: "fail"}.get(pooled, pooled)
    return f"{sum(v == pooled for v in per_seed)}/{len(per_seed)} {word}"


# What the paper's thesis predicts for a claim in a cell of a given alignment class.
_PREDICTION = {
    ("holds_everywhere", STRONG): HOLDS,
    ("holds_everywhere", WEAK): HOLDS,
    ("holds_everywhere", INTERMEDIATE): HOLDS,
    ("holds_if_strong", STRONG): HOLDS,
    ("holds_if_strong", WEAK): FAILS,
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
