"""Regime statistics: in which regime each RL run trained, read off its per-step log (issue 16, item 4).

The mechanisms behind the paper's tricks need a regime: the clip bias of a random reward acts only where
clipping binds, mode sharpening needs sampling entropy, a format reward needs a format deficit, and a
sharpened solution style helps only if it is the accurate one. Each run's ``train_log.csv`` measures these
per step; :func:`summarize_log` condenses them into the ``regime`` block of its ``run_info.json`` (written
by :func:`alignrl.trace.run_record.write_run_info` for either backend), and :func:`build_regime_table`
collects the blocks of every run the claim tables train into ``results/regime.csv`` (+ ``.md``).

Summary of one run, over the rows of its log in step order:

* :data:`MEAN_MAX` columns: mean and max over the steps where the column was measured (a step whose update
  was skipped measures no clipping and no KL; a backend that does not measure a column leaves it empty);
* :data:`FIRST_LAST` columns: mean over the first and over the last :data:`WINDOW` steps (the same steps when
  a run has fewer than ``2 * WINDOW``), so the table shows how training moved them.

A statistic with no measured step is None; a NaN cell (a diverged run) makes its mean and max NaN.
"""
from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from alignrl.core.runtime import read_json

__all__ = ["COLUMN_DOCS", "FIRST_LAST", "MEAN_MAX", "WINDOW", "build_regime_table", "regime_markdown",
           "summarize_log"]

#: Steps at each end of a run that the first/last means cover.
WINDOW = 10
#: Log columns summarised by their mean and max over steps.
MEAN_MAX: tuple[str, ...] = ("clip_fraction", "clip_fraction_low", "clip_fraction_high", "approx_kl", "entropy")
#: Log columns summarised by their mean over the first and over the last WINDOW steps.
FIRST_LAST: tuple[str, ...] = ("format_rate", "style_careful", "style_shortcut", "style_none", "accuracy",
                               "lenient_accuracy", "pseudo_label_accuracy")

_RUN_COLUMNS: dict[str, str] = {
    "claim": "the claim the run trains (a claim table's row)",
    "model": "the base model",
    "task": "the training task",
    "seed": "the run's seed",
    "steps": "rows (training steps) in the run's train_log.csv",
}
_STAT_DOCS: dict[str, str] = {
    "clip_fraction": "share of response tokens whose clipped surrogate was active (zero gradient), token-weighted "
                     "over the step's updates",
    "clip_fraction_low": "the part of clip_fraction clipped at the lower bound 1 - clip_low (negative advantage)",
    "clip_fraction_high": "the part of clip_fraction clipped at the upper bound 1 + clip_high (positive advantage)",
    "approx_kl": "mean of old_logp - logp over the step's update tokens (how far each update moved the policy)",
    "entropy": "token mean of the sampling distribution's entropy over the step's responses (nats)",
    "format_rate": "share of the step's samples in the requested answer format",
    "style_careful": "share of the step's samples reasoning in the careful style",
    "style_shortcut": "share of the step's samples reasoning in the shortcut style",
    "style_none": "share of the step's samples with no readable solution style",
    "accuracy": "strict accuracy of the step's samples (requested format and correct answer)",
    "lenient_accuracy": "accuracy of the step's samples with the answer read wherever it stands (lenient reader)",
    "pseudo_label_accuracy": "share of the step's groups whose majority answer is the ground truth",
}
#: Every column of the regime table -> what it is (the .md states them).
COLUMN_DOCS: dict[str, str] = {
    **_RUN_COLUMNS,
    **{f"{c}_{agg}": f"{_STAT_DOCS[c]}; {agg} over the run's steps" for c in MEAN_MAX for agg in ("mean", "max")},
    **{f"{c}_{end}": f"{_STAT_DOCS[c]}; mean over the {end} {WINDOW} steps" for c in FIRST_LAST
       for end in ("first", "last")},
    "run_info": "the run record the row was read from (CSV only)",
}


def _cell(value: str, path: Path, step: str, column: str) -> float | None:
    if value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{path}: step {step}, column {column!r}: {value!r} is not a number") from None


def _mean(xs: Sequence[float]) -> float | None:
    if not xs:
        return None
    return math.nan if any(math.isnan(x) for x in xs) else float(sum(xs) / len(xs))


def _max(xs: Sequence[float]) -> float | None:
    if not xs:
        return None
    return math.nan if any(math.isnan(x) for x in xs) else float(max(xs))


def summarize_log(path: str | os.PathLike) -> dict[str, Any]:
    """The ``regime`` block of a run record from its ``train_log.csv`` (see the module docstring).

    A column the log lacks is unmeasured (None); a log without a ``step`` column, or a cell that is not a
    number, is a ValueError naming the file (and the step and column).
    """
    path = Path(path)
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if "step" not in (reader.fieldnames or []):
            raise ValueError(f"{path}: not a training log (no 'step' column; header {reader.fieldnames})")
        rows = list(reader)
    steps = []
    for r in rows:
        try:
            steps.append(int(r["step"]))
        except (TypeError, ValueError):
            raise ValueError(f"{path}: step {r['step']!r} is not an integer") from None
    rows = [r for _, r in sorted(zip(steps, rows), key=lambda pair: pair[0])]

    def values(column: str, part: Sequence[Mapping[str, str]]) -> list[float]:
        cells = [_cell(r.get(column) or "", path, r["step"], column) for r in part]
        return [v for v in cells if v is not None]

    summary: dict[str, Any] = {"steps": len(rows), "window": WINDOW}
    for column in MEAN_MAX:
        xs = values(column, rows)
        summary[column] = {"mean": _mean(xs), "max": _max(xs)}
    for column in FIRST_LAST:
        summary[column] = {"first": _mean(values(column, rows[:WINDOW])),
                           "last": _mean(values(column, rows[-WINDOW:]))}
    return summary


def _run_key(path: Path) -> dict[str, Any]:
    """claim, model, task, seed of results/runs/{claim}/{model}/{task}/seed{seed}/run_info.json."""
    parts = path.parts
    if path.name != "run_info.json" or len(parts) < 6 or parts[-6] != "runs" or not parts[-2].startswith("seed") \
            or not parts[-2][len("seed"):].isdigit():
        raise ValueError(f"{path}: not a run record of the layout runs/<claim>/<model>/<task>/seed<N>/run_info.json")
    return {"claim": parts[-5], "model": parts[-4], "task": parts[-3], "seed": int(parts[-2][len("seed"):])}


def _stat(regime: Mapping[str, Any], column: str, agg: str, path: Path) -> float | None:
    block = regime.get(column)
    if not isinstance(block, Mapping) or agg not in block:
        raise ValueError(f"{path}: regime summary lacks '{column}.{agg}'")
    value = block[agg]
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError(f"{path}: regime summary '{column}.{agg}' = {value!r} is not a number")
    return None if value is None else float(value)


def build_regime_table(run_infos: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """One row per run record, in the given order, with the columns of :data:`COLUMN_DOCS`.

    A record without a ``regime`` summary (written before regime statistics existed) or with a malformed one
    is a ValueError naming the file.
    """
    if not run_infos:
        raise ValueError("the regime table needs at least one run record")
    rows = []
    for p in run_infos:
        path = Path(p)
        key = _run_key(path)
        info = read_json(path)
        regime = info.get("regime") if isinstance(info, Mapping) else None
        if not isinstance(regime, Mapping):
            raise ValueError(f"{path}: the run record has no 'regime' summary (recorded before regime statistics "
                             "existed, or not by alignrl.trace.run_record.write_run_info); rerun the run")
        row: dict[str, Any] = {**key, "steps": regime.get("steps")}
        for column in MEAN_MAX:
            for agg in ("mean", "max"):
                row[f"{column}_{agg}"] = _stat(regime, column, agg, path)
        for column in FIRST_LAST:
            for end in ("first", "last"):
                row[f"{column}_{end}"] = _stat(regime, column, end, path)
        row["run_info"] = str(p)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMN_DOCS))


def regime_markdown(df: pd.DataFrame) -> str:
    """The table in markdown, below a statement of what each column is."""
    from alignrl.analysis.tables import to_markdown

    lines = ["# Regime statistics", "",
             "One row per run that the claim tables train, read from the `regime` summary of its `run_info.json` "
             "(alignrl.analysis.regime). Means and maxima are over the steps where the column was measured; "
             f"first and last are means over the first and the last {WINDOW} steps. An empty cell was not "
             "measured (no update in any step, or a backend that does not log it).", "", "Columns:", ""]
    lines += [f"- `{c}`: {doc}" for c, doc in COLUMN_DOCS.items()]
    return "\n".join(lines) + "\n\n" + to_markdown(df.drop(columns=["run_info"]), "Every run", digits=4)
