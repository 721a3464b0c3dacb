"""What a task is: a problem generator with a verifier and sub-skill drills, registered by name."""
from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

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
    """Base class: one instance per task name, registered in ``TASKS``.

    ``options`` are the generator's settings (name -> value) and their defaults, which the registered
    instance holds; ``with_options`` returns a configured copy (config key ``tasks.<name>.generator_options``).
    They shape only what ``sample`` draws, never ``verify``.
    """

    name: str = ""
    ability: str = ""
    options: Mapping[str, object] = MappingProxyType({})

    def check_option(self, key: str, value: object) -> object:
        """The value of option ``key`` to use; raises ValueError naming the key if ``value`` is not allowed."""
        return value

    def with_options(self, **options: object) -> Task:
        """A copy of this task with some options set (the others keep this task's values); ``self`` is unchanged.

        Unknown option names and values the task does not allow raise ValueError naming the task and the key.
        """
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ValueError(f"task {self.name!r}: unknown generator option(s) {unknown}; "
                             f"known: {sorted(self.options) or 'none'}")
        task = copy.copy(self)
        task.options = MappingProxyType({**self.options, **{k: self.check_option(k, v) for k, v in options.items()}})
        return task

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
        changed = {k: v for k, v in self.options.items() if v != type(self).options.get(k)}
        extra = f", options={changed!r}" if changed else ""
        return f"{type(self).__name__}(name={self.name!r}, ability={self.ability!r}{extra})"


TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add ``task`` to ``TASKS`` under its name (names must be unique)."""
    if not task.name:
        raise ValueError(f"{task!r} has no name")
    if task.name in TASKS:
        raise ValueError(f"task {task.name!r} is already registered")
    TASKS[task.name] = task
    return task
