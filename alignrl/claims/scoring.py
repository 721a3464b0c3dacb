"""How an evaluation grades its samples and summarises them, identically for every sampling engine.

One row per sample (strict extraction, the task's verifier, the format check; the lenient answer and its
verdict; the solution style) and pass@k with its bootstrap interval over problems, strict and lenient,
majority vote (maj@n) and each solution style's share and accuracy.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from alignrl.claims.answer import (
    answer_format_of,
    extract_answer,
    extract_answer_lenient,
    is_well_formatted,
    normalize_answer,
)
from alignrl.claims.passk import bootstrap_ci, pass_at_k_table, per_problem_pass_at_k
from alignrl.claims.styles import SOLUTION_STYLES, solution_style

__all__ = [
    "NO_STYLE", "SAMPLE_COLUMNS", "STYLE_KEYS", "TRAIT_COLUMNS", "per_problem_majority", "read_samples",
    "require_columns", "sample_record", "samples_frame", "style_metrics", "summarize", "task_of_row",
]

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
    "lenient_answer",
    "lenient_correct",
    "solution_style",
)
#: The columns evaluations before the answer and solution styles did not write: the lenient metrics, maj@n
#: and the style metrics need them.
TRAIT_COLUMNS: tuple[str, ...] = ("lenient_answer", "lenient_correct", "solution_style")
#: The style key of a sample whose style cannot be read (no closed think block).
NO_STYLE = "none"
STYLE_KEYS: tuple[str, ...] = (*SOLUTION_STYLES, NO_STYLE)

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
    """One row of ``samples.parquet``: strict extraction, the task's verifier, the format check, the
    lenient answer (read wherever it stands) with the verifier's verdict on it, and the solution style.

    Shared by every sampling backend, so native and vLLM evaluations grade identically.
    """
    mode = answer_format_of(task)  # the grader says which answer format it reads
    answer = extract_answer(text, mode)
    lenient = extract_answer_lenient(text)
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
        "lenient_answer": lenient,
        "lenient_correct": bool(task.verify(lenient, truth)),
        "solution_style": solution_style(text),
    }


def samples_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The samples table of ``records`` (each with every key of :data:`SAMPLE_COLUMNS`)."""
    records = list(records)
    for i, record in enumerate(records):
        missing = [c for c in SAMPLE_COLUMNS if c not in record]
        if missing:  # a missing bool column would become NaN, and NaN casts to True
            raise ValueError(f"sample record {i} lacks {missing}")
    samples = pd.DataFrame.from_records(records, columns=list(SAMPLE_COLUMNS))
    return samples.astype({"sample_index": "int64", "response_tokens": "int64", "correct": "bool",
                           "well_formatted": "bool", "finished": "bool", "lenient_correct": "bool"})


def require_columns(samples: pd.DataFrame, columns: Sequence[str], where: object) -> None:
    """Raise naming ``where`` (a file) when ``samples`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in samples.columns]
    if missing:
        raise ValueError(f"{where}: the samples table has no column(s) {missing}"
                         + (" (written before the lenient answer and solution styles: re-run its evaluation)"
                            if set(missing) & set(TRAIT_COLUMNS) else ""))


def read_samples(path: str | os.PathLike[str], columns: Sequence[str]) -> pd.DataFrame:
    """The ``columns`` of a ``samples.parquet``; an error naming the file when one is missing."""
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    require_columns(pd.DataFrame(columns=names), columns, path)
    return pd.read_parquet(path, columns=list(dict.fromkeys(columns)))


def per_problem_majority(samples: pd.DataFrame, answer: str = "extracted_answer",
                         correct: str = "correct") -> pd.Series:
    """maj@n of every problem (index problem_id, sorted): is the most common answer among its samples right?

    Answers are compared after :func:`normalize_answer`; a sample without an answer (None) never votes. A
    tie counts as the fraction of the tied answers that are right (the expected accuracy of a uniform tie
    break); an answer's rightness is the mean verdict of its samples (one verdict, as the verifier sees
    the same answer). A problem where no sample has an answer scores 0.
    """
    require_columns(samples, ["problem_id", answer, correct], "maj@n")
    problems = pd.Index(sorted(samples["problem_id"].unique()), name="problem_id")
    voted = samples.loc[samples[answer].notna(), ["problem_id", answer, correct]]
    if voted.empty:
        return pd.Series(0.0, index=problems)
    voted = voted.assign(_vote=voted[answer].astype(str).map(normalize_answer),
                         _right=voted[correct].astype(float))
    tally = voted.groupby(["problem_id", "_vote"], sort=False).agg(votes=("_right", "size"),
                                                                    right=("_right", "mean"))
    top = tally["votes"].groupby(level="problem_id").transform("max")
    value = tally.loc[tally["votes"] == top, "right"].groupby(level="problem_id").mean()
    return value.reindex(problems, fill_value=0.0).astype(np.float64)


def style_metrics(samples: pd.DataFrame) -> tuple[dict[str, float], dict[str, dict[str, float] | None]]:
    """Each solution style's share of the samples (:data:`STYLE_KEYS`, ``none`` where no style can be read)
    and its strict and lenient accuracy (None for a style no sample has)."""
    styles = samples["solution_style"].where(samples["solution_style"].notna(), NO_STYLE)
    unknown = sorted(set(styles) - set(STYLE_KEYS))
    if unknown:
        raise ValueError(f"unknown solution style(s) {unknown}; known: {list(STYLE_KEYS)}")
    share, accuracy = {}, {}
    for style in STYLE_KEYS:
        mine = samples[styles == style]
        share[style] = float(len(mine) / len(samples))
        accuracy[style] = None if mine.empty else {"strict": float(mine["correct"].mean()),
                                                   "lenient": float(mine["lenient_correct"].mean())}
    return share, accuracy


def _pass_at_k(counts: list[int], n: int, ks: Sequence[int], boot: dict) -> tuple[dict, dict]:
    table = pass_at_k_table(counts, n, ks)
    ci = {int(k): list(bootstrap_ci(per_problem_pass_at_k(counts, n, k), **boot)) for k in ks}
    return {int(k): v for k, v in table.items()}, ci


def _mean_ci(values: pd.Series, boot: dict) -> tuple[float, list[float]]:
    return float(values.mean()), list(bootstrap_ci(values.to_numpy(), **boot))


def summarize(
    samples: pd.DataFrame, *, n: int, ks: Sequence[int], n_boot: int, alpha: float, boot_seed: int
) -> dict[str, Any]:
    """pass@k (+ bootstrap CI over problems), mean response length and format rate of a samples table.

    With the trait columns (:data:`TRAIT_COLUMNS`) also lenient pass@k, maj@n strict and lenient (each with
    the same bootstrap over problems) and each solution style's share and accuracy; a table written before
    them (an old ``samples.parquet``) gets the metrics it can back, so its recorded summary still recomputes.
    Every problem must have exactly ``n`` samples: pass@k from fewer would silently be a different
    estimator.
    """
    present = [c for c in TRAIT_COLUMNS if c in samples.columns]
    if present and len(present) != len(TRAIT_COLUMNS):
        require_columns(samples, TRAIT_COLUMNS, "summarize")
    per_problem = samples.groupby("problem_id", sort=False)["correct"].agg(["sum", "size"])
    wrong_size = per_problem[per_problem["size"] != n]
    if len(wrong_size):
        raise ValueError(f"problems without exactly n={n} samples: {list(wrong_size.index[:5])}")
    boot = {"n_boot": n_boot, "alpha": alpha, "seed": boot_seed}
    counts = [int(c) for c in per_problem["sum"]]
    table, ci = _pass_at_k(counts, n, ks, boot)
    out = {
        "n": int(n),
        "ks": [int(k) for k in ks],
        "num_problems": len(counts),
        "num_samples": int(len(samples)),
        "pass_at_k": table,
        "pass_at_k_ci": ci,
        "bootstrap": {"n_boot": int(n_boot), "alpha": float(alpha), "seed": int(boot_seed)},
        "mean_response_tokens": float(samples["response_tokens"].mean()),
        "format_rate": float(samples["well_formatted"].mean()),
        "finished_rate": float(samples["finished"].mean()) if "finished" in samples else None,
    }
    if not present:
        return out
    lenient = samples.groupby("problem_id", sort=False)["lenient_correct"].sum()
    out["lenient_pass_at_k"], out["lenient_pass_at_k_ci"] = _pass_at_k([int(c) for c in lenient], n, ks, boot)
    out["maj_at_n"], out["maj_at_n_ci"] = _mean_ci(per_problem_majority(samples), boot)
    out["lenient_maj_at_n"], out["lenient_maj_at_n_ci"] = _mean_ci(
        per_problem_majority(samples, "lenient_answer", "lenient_correct"), boot)
    out["style_share"], out["style_accuracy"] = style_metrics(samples)
    return out
