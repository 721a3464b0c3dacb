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
from dataclasses import replace
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alignrl.answer import build_prompt
from alignrl.tasks import Problem, get_task
from alignrl.tokenizer import render_chat_prompt

__all__ = [
    "split_question", "rouge_l", "reference_problems", "probe", "summarize_probe", "probe_table", "PROBE_COLUMNS",
]

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


def probe(
    model_dir: str | Path,
    problems: Sequence[tuple[str, str, str]],
    *,
    template: str,
    prefix_fraction: float,
    batch_size: int = 64,
    threads: int | None = None,
) -> pd.DataFrame:
    """Greedy completion of each question's prefix. `problems`: (problem_id, set, question).
    Returns one row per problem (PROBE_COLUMNS)."""
    import torch
    from transformers import AutoModelForCausalLM

    from alignrl.sampling import sample
    from alignrl.tokenizer import load_tokenizer

    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))
    tokenizer = load_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    eos_id = tokenizer.eos_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id
    prompts, parts, budget = [], [], 0
    for _, _, question in problems:
        prefix, remainder = split_question(question, prefix_fraction)
        chat = render_chat_prompt(build_prompt(question, template))
        at = chat.index(question)
        context = chat[:at] + prefix
        ids = [int(i) for i in tokenizer(context, add_special_tokens=False)["input_ids"]]
        prompts.append(ids)
        parts.append((prefix, remainder, tokenizer.decode(ids, skip_special_tokens=True)))
        budget = max(budget, len(tokenizer(" " + remainder, add_special_tokens=False)["input_ids"]) + 2)
    limit = int(getattr(model.config, "max_position_embeddings", 10**9))
    budget = max(1, min(budget, limit - max(len(p) for p in prompts)))
    completions = sample(
        model, prompts, n=1, max_new_tokens=budget, temperature=0.0, top_p=1.0, eos_id=eos_id,
        pad_id=pad_id, generator=torch.Generator().manual_seed(0), batch_size=batch_size,
    )
    rows: list[dict[str, Any]] = []
    for (problem_id, which, _), (prefix, remainder, context_text), comp, ids in zip(
        problems, parts, completions, prompts
    ):
        # Decode prompt and completion together: with implicit spacing, a completion decoded alone
        # would lose the space at the boundary. Special tokens (the chat markers, eos) are not words.
        full = tokenizer.decode(ids + list(comp.token_ids), skip_special_tokens=True)
        if not full.startswith(context_text):
            raise ValueError(f"problem {problem_id}: decoding the prompt with its completion changed the prompt")
        text = full[len(context_text):]
        expected = remainder.split()
        got = text.split()[: len(expected)]
        rows.append({
            "problem_id": problem_id, "set": which, "prefix": prefix, "remainder": remainder,
            "completion": " ".join(got), "exact_match": got == expected, "rouge_l": rouge_l(got, expected),
        })
    return pd.DataFrame(rows, columns=list(PROBE_COLUMNS))


def _bootstrap_gap(test: np.ndarray, ref: np.ndarray, n_boot: int, alpha: float, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    gaps = (rng.choice(test, size=(n_boot, len(test))).mean(axis=1)
            - rng.choice(ref, size=(n_boot, len(ref))).mean(axis=1))
    return float(np.quantile(gaps, alpha / 2)), float(np.quantile(gaps, 1 - alpha / 2))


def summarize_probe(frame: pd.DataFrame, *, min_gap: float, n_boot: int, alpha: float, seed: int) -> dict:
    """Means per set, the test-minus-reference gaps with bootstrap intervals, and the flag (ROUGE-L gap
    >= min_gap with its interval above 0)."""
    test = frame[frame["set"] == TEST]
    ref = frame[frame["set"] == REFERENCE]
    if test.empty or ref.empty:
        raise ValueError("the probe needs both test and reference problems")
    out: dict[str, Any] = {"test_problems": len(test), "reference_problems": len(ref)}
    for j, metric in enumerate(("exact_match", "rouge_l")):
        t, r = test[metric].to_numpy(dtype=float), ref[metric].to_numpy(dtype=float)
        out[f"test_{metric}"] = float(t.mean())
        out[f"reference_{metric}"] = float(r.mean())
        out[f"gap_{metric}"] = float(t.mean() - r.mean())
        out[f"gap_{metric}_ci_low"], out[f"gap_{metric}_ci_high"] = _bootstrap_gap(t, r, n_boot, alpha, seed + j)
    out["flagged"] = bool(out["gap_rouge_l"] >= min_gap and out["gap_rouge_l_ci_low"] > 0)
    return out


def probe_table(summaries: Sequence[dict]) -> tuple[pd.DataFrame, str]:
    """results/contamination.csv from the per-cell summaries (provenance dropped), and a markdown
    preamble that warns when the contaminated control was missed or a clean model was flagged."""
    df = pd.DataFrame([{k: v for k, v in s.items() if k != "provenance"} for s in summaries])
    front = ["model", "task", "bench", "known_contaminated", "flagged", "test_problems", "reference_problems"]
    for metric in ("rouge_l", "exact_match"):
        front += [f"test_{metric}", f"reference_{metric}", f"gap_{metric}", f"gap_{metric}_ci_low", f"gap_{metric}_ci_high"]
    df = df[front + [c for c in df.columns if c not in front]]
    lines = ["The probe flags a model when its ROUGE-L on test-question remainders beats never-seen problems "
             "by at least min_gap with a bootstrap interval above 0."]
    missed = df[df["known_contaminated"] & ~df["flagged"]]
    false_alarms = df[~df["known_contaminated"] & df["flagged"]]
    if len(missed):
        lines.append("WARNING: the contaminated control was NOT flagged on: "
                     + ", ".join(f"{r.model} x {r.task}" for r in missed.itertuples()) + ".")
    if len(false_alarms):
        lines.append("Flagged although its corpus excludes every test problem: "
                     + ", ".join(f"{r.model} x {r.task}" for r in false_alarms.itertuples()) + ".")
    return df, "\n".join(lines) + "\n\n"
