"""The contamination probe: can a model complete a test problem it has only seen the first part of?

Following the partial-prompt probe of arXiv 2507.10532: show the model the start of a question (in the
chat context it would see it in), let it complete greedily, and score the completion against the true
remainder by exact match and ROUGE-L. Templated problems are partly predictable from their first
words, so a raw score means little; the probe compares it with the same score on fresh problems from
the same generator that the model has never seen. A model is flagged on a task when the test problems
are completed clearly better than the fresh ones (gap >= min_gap with a bootstrap interval above 0).
"""
from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import replace

from alignrl.claims.tasks import Problem, get_task

__all__ = ["PROBE_COLUMNS", "REFERENCE", "TEST", "reference_problems", "rouge_l", "split_question"]

TEST, REFERENCE = "test", "reference"
PROBE_COLUMNS = ("problem_id", "set", "prefix", "remainder", "completion", "exact_match", "rouge_l")


def split_question(question: str, prefix_fraction: float) -> tuple[str, str]:
    """(prefix, remainder) at a word boundary; each keeps at least one word."""
    words = question.split()
    if len(words) < 2:
        raise ValueError(f"question {question!r} has fewer than 2 words: nothing to split")
    cut = min(len(words) - 1, max(1, round(len(words) * prefix_fraction)))
    return " ".join(words[:cut]), " ".join(words[cut:])


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(candidate: Sequence[str], reference: Sequence[str]) -> float:
    """ROUGE-L F1 over word sequences (longest common subsequence); 0 when either is empty."""
    if not candidate or not reference:
        return 0.0
    lcs = _lcs_length(candidate, reference)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(candidate), lcs / len(reference)
    return 2 * precision * recall / (precision + recall)


def reference_problems(task_name: str, n: int, seed: int, exclude: Iterable[str]) -> list[Problem]:
    """`n` fresh problems from the task's generator, none of whose questions is in `exclude` (the task's
    splits), drawn from their own seeded stream."""
    task = get_task(task_name)
    excluded = set(exclude)
    rng = random.Random(f"{seed}/{task.name}/contamination_reference")
    out: list[Problem] = []
    misses = 0
    while len(out) < n:
        p = task.sample(rng)
        if p.question in excluded:
            misses += 1
            if misses > 1000 + 50 * n:
                raise ValueError(f"task {task_name!r}: cannot find {n} problems outside its splits")
            continue
        excluded.add(p.question)
        out.append(replace(p, uid=f"{task.name}-reference-{len(out):06d}"))
    return out
