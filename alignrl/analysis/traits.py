"""The base-model traits of a table-1 cell, from its per-sample outputs: format rate, maj@n strict and
lenient, and each solution style's share and accuracy (lenient pass@k comes with the pass@k columns).

maj@n is :func:`alignrl.claims.scoring.per_problem_majority`, the estimator every evaluation's
``metrics.json`` records; here it is pooled over the cell's seeds with the same two-stage bootstrap as
pass@k. Shares and accuracies are plain means over all of the cell's samples, pooled over seeds.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from alignrl.analysis.bootstrap import CellBootstrap
from alignrl.claims.scoring import STYLE_KEYS, per_problem_majority, style_metrics
from alignrl.core.paths import CellSource

__all__ = ["TRAIT_READ", "trait_columns"]

#: The samples.parquet columns the traits read.
TRAIT_READ = ("extracted_answer", "correct", "well_formatted", "lenient_answer", "lenient_correct", "solution_style")


def _sample_count(frame: pd.DataFrame, path) -> int:
    sizes = frame.groupby("problem_id").size().unique()
    if len(sizes) != 1:
        raise ValueError(f"{path}: problems have different sample counts {sorted(sizes.tolist())}: maj@n needs one n")
    return int(sizes[0])


def trait_columns(source: CellSource, frames: list[pd.DataFrame], *, n_boot: int, alpha: float, seed: int) -> dict:
    """Table-1 trait columns of ``source`` from its seeds' samples (``frames``, with :data:`TRAIT_READ`)."""
    paths = source.samples_files()
    ns = {_sample_count(f, p) for f, p in zip(frames, paths)}
    if len(ns) != 1:
        raise ValueError(f"{source.metrics_files}: seeds with different sample counts {sorted(ns)}")
    n = ns.pop()
    row: dict = {"format_rate": float(pd.concat([f["well_formatted"] for f in frames]).astype(float).mean())}
    votes = {f"maj@{n}": ("extracted_answer", "correct"), f"lenient_maj@{n}": ("lenient_answer", "lenient_correct")}
    problems = None
    stacked = []
    for frame, path in zip(frames, paths):
        per = [per_problem_majority(frame, answer, correct) for answer, correct in votes.values()]
        if problems is None:
            problems = per[0].index
        elif not per[0].index.equals(problems):
            raise ValueError(f"{path}: evaluated on different problems than {paths[0]}")
        stacked.append(np.stack([p.to_numpy() for p in per], axis=1))
    values = np.stack(stacked)  # seeds x problems x (strict, lenient)
    interval = CellBootstrap(len(problems), n_boot=n_boot, alpha=alpha, seed=seed).interval(values)
    for j, name in enumerate(votes):
        row[name] = float(interval.mean[j])
        row[f"{name}_ci_low"], row[f"{name}_ci_high"] = float(interval.low[j]), float(interval.high[j])
    share, accuracy = style_metrics(pd.concat(frames, ignore_index=True))
    for style in STYLE_KEYS:
        row[f"{style}_share"] = share[style]
        # no sample of the style: no accuracy (NaN, an empty cell), not 0
        row[f"{style}_acc"] = accuracy[style]["strict"] if accuracy[style] else float("nan")
        row[f"{style}_lenient_acc"] = accuracy[style]["lenient"] if accuracy[style] else float("nan")
    return row
