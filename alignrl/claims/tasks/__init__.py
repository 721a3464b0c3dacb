"""Synthetic tasks: problem generators, verifiers and sub-skill drills.

Every task writes text with tokens separated by single spaces (punctuation included) so the
word-level tokenizer sees one token per word, and keeps prompts and solutions short because
sequence length is the main cost of the whole pipeline.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace

from alignrl.claims.tasks.base import TASKS, Problem, Task, register

__all__ = ["Problem", "Task", "TASKS", "register", "get_task", "make_splits"]


def get_task(name: str, options: Mapping[str, object] | None = None) -> Task:
    """Look a task (or a hub grader) up by name; the KeyError lists the known names.

    With ``options`` (a generator's ``tasks.<name>.generator_options``), a copy configured with them
    (``Task.with_options``); without, the registered instance with the defaults.
    """
    if name in TASKS:
        task = TASKS[name]
    else:
        from alignrl.claims.tasks.graders import GRADERS  # verify-only tasks of hub datasets

        if name not in GRADERS:
            raise KeyError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}, graders: {sorted(GRADERS)}")
        task = GRADERS[name]
    return task.with_options(**options) if options else task


def make_splits(
    task: Task | str, sizes: Mapping[str, int], seed: int
) -> dict[str, list[Problem]]:
    """Generate named splits of distinct problems, disjoint by question text.

    Each split draws from its own ``random.Random`` stream keyed by (seed, task, split), and
    splits are filled smallest first (ties by name): evaluation splits are then unchanged when
    only the training size changes, and the training split skips their questions. uids number
    problems in that fill order, so they are unique within the task and stable for a seed.
    The result keeps the key order of ``sizes``.
    """
    task = get_task(task) if isinstance(task, str) else task
    for split, n in sizes.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"size of split {split!r} must be a non-negative int, got {n!r}")
    seen: set[str] = set()
    out: dict[str, list[Problem]] = {}
    counter = 0
    for split in sorted(sizes, key=lambda s: (sizes[s], s)):
        # A str seed is hashed with SHA-512 by random.Random: stable across runs and platforms.
        rng = random.Random(f"{seed}/{task.name}/{split}")
        problems: list[Problem] = []
        misses = 0
        max_misses = 1000 + 50 * sizes[split]
        while len(problems) < sizes[split]:
            p = task.sample(rng)
            if p.question in seen:
                misses += 1
                if misses > max_misses:
                    raise ValueError(
                        f"task {task.name!r}: could not draw {sizes[split]} distinct problems "
                        f"for split {split!r} ({len(problems)} found); the sizes are too large"
                    )
                continue
            seen.add(p.question)
            problems.append(replace(p, uid=f"{task.name}-{counter:06d}"))
            counter += 1
        out[split] = problems
    return {split: out[split] for split in sizes}


# The task modules register themselves in TASKS on import, so ``import alignrl.claims.tasks`` makes it complete.
from alignrl.claims.tasks import logic_puzzles as _logic_puzzles  # noqa: E402,F401
from alignrl.claims.tasks import math_problems as _math_problems  # noqa: E402,F401
