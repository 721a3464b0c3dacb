"""How an evaluation grades its samples and summarises them, identically for every sampling engine.

One row per sample (strict extraction, the task's verifier, the format check) and pass@k with its
bootstrap interval over problems.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from alignrl.claims.answer import answer_format_of, extract_answer, is_well_formatted
from alignrl.claims.passk import bootstrap_ci, pass_at_k_table, per_problem_pass_at_k

__all__ = ["SAMPLE_COLUMNS", "sample_record", "samples_frame", "summarize", "task_of_row"]

SAMPLE_COLUMNS: tuple[str, ...] = (
    "problem_id",
    "sample_index",
    "text",
    "extracted_answer",
    "correct",
    "well_formatted",
    "response_tokens",
    "finished",
    "ground_truth",
)

_SOURCE_PREFIX = "synthetic/"


def task_of_row(row: Mapping[str, Any]) -> str:
    """Task name from ``data_source`` ("synthetic/<task>")."""
    source = str(row.get("data_source", ""))
    if not source.startswith(_SOURCE_PREFIX) or len(source) == len(_SOURCE_PREFIX):
        raise ValueError(f"cannot infer the task from data_source {source!r}; pass task= explicitly")
    return source[len(_SOURCE_PREFIX):]


def sample_record(
    problem_id: str, sample_index: int, text: str, response_tokens: int, finished: bool, task: Any, truth: str
) -> dict[str, Any]:
    """One row of ``samples.parquet``: strict extraction, the task's verifier, the format check.

    Shared by every sampling backend, so native and vLLM evaluations grade identically.
    """
    mode = answer_format_of(task)  # the grader says which answer format it reads
    answer = extract_answer(text, mode)
    return {
        "problem_id": problem_id,
        "sample_index": int(sample_index),
        "text": text,
        "extracted_answer": answer,
        "correct": bool(task.verify(answer, truth)),
        "well_formatted": bool(is_well_formatted(text, mode)),
        "response_tokens": int(response_tokens),
        "finished": bool(finished),
        "ground_truth": truth,
    }


def samples_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    samples = pd.DataFrame.from_records(list(records), columns=list(SAMPLE_COLUMNS))
    return samples.astype({"sample_index": "int64", "response_tokens": "int64", "correct": "bool",
                           "well_formatted": "bool", "finished": "bool"})


def summarize(
    samples: pd.DataFrame, *, n: int, ks: Sequence[int], n_boot: int, alpha: float, boot_seed: int
) -> dict[str, Any]:
    """pass@k (+ bootstrap CI over problems), mean response length and format rate of a samples table.

    Every problem must have exactly ``n`` samples: pass@k from fewer would silently be a different
    estimator.
    """
    per_problem = samples.groupby("problem_id", sort=False)["correct"].agg(["sum", "size"])
    wrong_size = per_problem[per_problem["size"] != n]
    if len(wrong_size):
        raise ValueError(f"problems without exactly n={n} samples: {list(wrong_size.index[:5])}")
    counts = [int(c) for c in per_problem["sum"]]
    table = pass_at_k_table(counts, n, ks)
    ci = {}
    for k in ks:
        low, high = bootstrap_ci(per_problem_pass_at_k(counts, n, k), n_boot=n_boot, alpha=alpha, seed=boot_seed)
        ci[int(k)] = [low, high]
    return {
        "n": int(n),
        "ks": [int(k) for k in ks],
        "num_problems": len(counts),
        "num_samples": int(len(samples)),
        "pass_at_k": {int(k): v for k, v in table.items()},
        "pass_at_k_ci": ci,
        "bootstrap": {"n_boot": int(n_boot), "alpha": float(alpha), "seed": int(boot_seed)},
        "mean_response_tokens": float(samples["response_tokens"].mean()),
        "format_rate": float(samples["well_formatted"].mean()),
        "finished_rate": float(samples["finished"].mean()) if "finished" in samples else None,
    }
