"""What a task is: a problem generator with a verifier and sub-skill drills, registered by name."""
from __future__ import annotations

import random
from dataclasses import dataclass

from alignrl.claims.answer import normalize_answer

__all__ = ["Problem", "Task", "TASKS", "register"]


@dataclass(frozen=True)
class Problem:
    """One generated problem."""

    uid: str  # "math-000123"; assigned by make_splits ("" straight from Task.sample)
    question: str  # the problem statement, no instruction
    solution: str  # worked reasoning, one step per line, no tags
    answer: str  # canonical final answer


class Task:
    """Base class: one instance per task name, registered in ``TASKS``."""

    name: str = ""
    ability: str = ""

    def sample(self, rng: random.Random) -> Problem:
        """Draw one problem using only ``rng`` (never the global random state)."""
        raise NotImplementedError

    def verify(self, predicted: str | None, ground_truth: str) -> bool:
        """Whether an extracted answer is correct; None (nothing extracted) is wrong."""
        if predicted is None:
            return False
        return normalize_answer(predicted) == normalize_answer(ground_truth)

    def subskill_text(self, rng: random.Random) -> str:
        """One line of drill text teaching a sub-skill, not itself a task example."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, ability={self.ability!r})"


TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add ``task`` to ``TASKS`` under its name (names must be unique)."""
    if not task.name:
        raise ValueError(f"{task!r} has no name")
    if task.name in TASKS:
        raise ValueError(f"task {task.name!r} is already registered")
    TASKS[task.name] = task
    return task
