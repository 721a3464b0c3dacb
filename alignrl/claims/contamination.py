"""The contamination probe: can a model complete a test problem it has only seen the first part of?

Following the partial-prompt probe of arXiv 2507.10532: show the model the start of a question (in the
chat context it would see it in), let it complete greedily, and score the completion against the true
remainder by exact match and ROUGE-L. Templated problems are partly predictable from their first
words, so a raw score means little; the probe compares it with the same score on fresh problems from
the same generator that the model has never seen (the reference set). The flag's threshold comes from
a null fixed before any probe runs: a second fresh set (the null set), disjoint from the reference set
and every split, shows how far the gap between two never-seen sets moves by chance
(alignrl.analysis.contamination.summarize_probe).
"""
from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import replace

from alignrl.claims.tasks import Problem, Task, get_task

__all__ = [
    "NULL", "NULL_QUANTILE_KEY", "PROBE_COLUMNS", "PROBE_SETS", "REFERENCE", "TEST", "check_disjoint",
    "check_null_quantile", "null_problems", "reference_problems", "rouge_l", "split_question",
]

TEST, REFERENCE, NULL = "test", "reference", "null"
PROBE_SETS = (TEST, REFERENCE, NULL)
NULL_QUANTILE_KEY = "contamination.null_quantile"
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


def _fresh_problems(task: Task | str, n: int, seed: int, exclude: Iterable[str], which: str) -> list[Problem]:
    task = get_task(task) if isinstance(task, str) else task
    excluded = set(exclude)
    # The stream is keyed by the set's name, so the two fresh sets never share a stream with each other,
    # a split ("{seed}/{task}/{split}") or a corpus ("{seed}/corpus/{kind}").
    rng = random.Random(f"{seed}/{task.name}/contamination_{which}")
    out: list[Problem] = []
    misses = 0
    while len(out) < n:
        p = task.sample(rng)
        if p.question in excluded:
            misses += 1
            if misses > 1000 + 50 * n:
                raise ValueError(f"task {task.name!r}: cannot find {n} {which} problems outside its splits")
            continue
        excluded.add(p.question)
        out.append(replace(p, uid=f"{task.name}-{which}-{len(out):06d}"))
    return out


def reference_problems(task: Task | str, n: int, seed: int, exclude: Iterable[str]) -> list[Problem]:
    """`n` fresh problems from the task's generator (a name, or a task configured with its generator options
    as its splits were), none of whose questions is in `exclude` (the task's splits), drawn from their own
    seeded stream."""
    return _fresh_problems(task, n, seed, exclude, REFERENCE)


def null_problems(task: Task | str, n: int, seed: int, exclude: Iterable[str],
                  reference: Sequence[Problem]) -> list[Problem]:
    """The second fresh set, made like the reference set from another stream: `n` problems outside
    `exclude` (the splits) and outside `reference`. Its gap to the reference set is a gap between two
    never-seen sets, the null the flag's threshold is read from."""
    return _fresh_problems(task, n, seed, [*exclude, *(p.question for p in reference)], NULL)


def check_disjoint(named: dict[str, Iterable[str]]) -> None:
    """Refuse overlapping question sets (e.g. a stale reference file against a regenerated test split),
    naming the two sets and one shared question."""
    sets = {name: set(questions) for name, questions in named.items()}
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = sets[a] & sets[b]
            if shared:
                raise ValueError(f"the {a} and {b} problems share {len(shared)} question(s), "
                                 f"e.g. {min(shared)!r}; the probe needs disjoint sets")


def check_null_quantile(quantile: object) -> float:
    """The declared quantile of the null the threshold is read at: a number in [0.5, 1)."""
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not 0.5 <= quantile < 1:
        raise ValueError(f"config key '{NULL_QUANTILE_KEY}' must be a number in [0.5, 1) (the share of "
                         f"never-seen gaps the threshold lies above), got {quantile!r}")
    return float(quantile)
