"""Graders of hub datasets: tasks that only verify (no generator, no drills).

They live in :data:`GRADERS`, not in :data:`alignrl.claims.tasks.TASKS`, because every registered task adds its
sub-skill drills to the pretraining corpora of the embedded default; a grader must not change those.
:func:`alignrl.claims.tasks.get_task` finds both.

Each grader reads one answer format (:data:`alignrl.claims.answer.ANSWER_FORMATS`): ``math_verify`` and
``exact_match`` read only the box (``boxed``); ``math_verify_tag`` and ``exact_match_tag`` read the official
prompt's ``<answer> answer here </answer>`` too (``answer_tag``). A config picks one per task with
``tasks.<name>.generator``; every row, reward and evaluation of the task then grades the same way.
"""

from __future__ import annotations

from alignrl.claims.math_grader import MathGrader
from alignrl.claims.tasks.base import Task

__all__ = ["GRADERS", "ExactMatchGrader", "MathVerifyGrader"]


class MathVerifyGrader(Task):
    """Math answers compared with math-verify (symbolic), behind the strict extraction."""

    ability = "math"

    def __init__(self, name: str = "math_verify", answer_format: str = "boxed", timeout: float = 5.0):
        self.name = name
        self.answer_format = answer_format
        self._grader = MathGrader(timeout=timeout)

    def verify(self, predicted: str | None, ground_truth: str) -> bool:
        return self._grader.verify(predicted, ground_truth)


class ExactMatchGrader(Task):
    """Whitespace-normalised, case-insensitive string equality of the extracted answer (logic benchmarks)."""

    ability = "logic"

    def __init__(self, name: str = "exact_match", answer_format: str = "boxed"):
        self.name = name
        self.answer_format = answer_format

    def verify(self, predicted: str | None, ground_truth: str) -> bool:
        if predicted is None:
            return False
        return super().verify(predicted.lower(), ground_truth.lower())


GRADERS: dict[str, Task] = {
    g.name: g
    for g in (
        MathVerifyGrader(),
        ExactMatchGrader(),
        MathVerifyGrader("math_verify_tag", "answer_tag"),
        ExactMatchGrader("exact_match_tag", "answer_tag"),
    )
}
