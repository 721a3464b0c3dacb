"""Graders of hub datasets: tasks that only verify (no generator, no drills).

They live in :data:`GRADERS`, not in :data:`alignrl.claims.tasks.TASKS`, because every registered task adds its
sub-skill drills to the pretraining corpora of the embedded default; a grader must not change those.
:func:`alignrl.claims.tasks.get_task` finds both.
"""

from __future__ import annotations

from alignrl.claims.math_grader import MathGrader
from alignrl.claims.tasks.base import Task

__all__ = ["GRADERS", "ExactMatchGrader", "MathVerifyGrader"]


class MathVerifyGrader(Task):
    """Math answers compared with math-verify (symbolic), behind the strict boxed extraction."""

    name = "math_verify"
    ability = "math"

    def __init__(self, timeout: float = 5.0):
        self._grader = MathGrader(timeout=timeout)

    def verify(self, predicted: str | None, ground_truth: str) -> bool:
        return self._grader.verify(predicted, ground_truth)


class ExactMatchGrader(Task):
    """Whitespace-normalised, case-insensitive string equality of the boxed answer (logic benchmarks)."""

    name = "exact_match"
    ability = "logic"

    def verify(self, predicted: str | None, ground_truth: str) -> bool:
        if predicted is None:
            return False
        return super().verify(predicted.lower(), ground_truth.lower())


GRADERS: dict[str, Task] = {g.name: g for g in (MathVerifyGrader(), ExactMatchGrader())}
