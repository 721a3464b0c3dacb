"""Which training examples a claim trains on: the full split, a pool, or one example (RQ2 one-shot RL).

The historical-variance rule follows Wang et al. (arXiv 2504.20571): run ground-truth RL on a pool,
record each example's training accuracy every time it is sampled, and pick the example whose accuracy
history varies most. The random rule is a seeded pick per RL seed. Either way the chosen example is
written to its own parquet file and recorded with the reason it was chosen.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def training_rows(rows: Sequence[dict], data_cfg: dict) -> list[dict]:
    """The rows a claim trains on, for the selections that need no separate step (full, pool)."""
    selection = data_cfg.get("selection", "full")
    if selection == "full":
        return list(rows)
    if selection == "pool":
        size = int(data_cfg["pool_size"])
        if size > len(rows):
            raise ValueError(f"data.pool_size = {size} but the train split has only {len(rows)} rows")
        return list(rows[:size])
    raise ValueError(f"data.selection '{selection}' needs its own selection step (select_one_shot)")


def historical_variance_ranking(prompt_log: pd.DataFrame) -> pd.DataFrame:
    """Examples ranked by the variance of their per-step training accuracy (highest first).

    `prompt_log` has one row per (step, uid) with `samples` and `correct` (the trainer's prompt_log.csv).
    Examples seen fewer than twice have no variance and are ranked last; ties keep uid order.
    """
    missing = {"step", "uid", "samples", "correct"} - set(prompt_log.columns)
    if missing:
        raise ValueError(f"prompt log lacks columns {sorted(missing)}")
    log = prompt_log.assign(accuracy=prompt_log["correct"] / prompt_log["samples"])
    stats = log.groupby("uid", sort=True)["accuracy"].agg(
        observations="size", mean_accuracy="mean", variance=lambda a: float(np.var(a.to_numpy()))
    )
    stats.loc[stats["observations"] < 2, "variance"] = -1.0
    stats = stats.reset_index().sort_values(["variance", "uid"], ascending=[False, True], kind="stable")
    return stats.reset_index(drop=True)


def _seeded_index(n: int, *parts: object) -> int:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


def select_one_shot(
    rows: Sequence[dict],
    rule: str,
    *,
    seed: int,
    salt: str,
    prompt_log: pd.DataFrame | None = None,
) -> tuple[dict, dict[str, Any]]:
    """(the chosen row, a record of why) for one-shot RL."""
    if not rows:
        raise ValueError("one-shot selection needs a non-empty train split")
    by_uid = {r["extra_info"]["uid"]: r for r in rows}
    if rule == "random":
        index = _seeded_index(len(rows), "one-shot-random", salt, seed)
        row = rows[index]
        return row, {"rule": rule, "seed": seed, "index": index, "uid": row["extra_info"]["uid"],
                     "candidates": len(rows)}
    if rule == "historical_variance":
        if prompt_log is None or prompt_log.empty:
            raise ValueError("historical_variance needs the history run's prompt log")
        ranking = historical_variance_ranking(prompt_log)
        ranking = ranking[ranking["uid"].isin(by_uid)]
        if ranking.empty or ranking["variance"].iloc[0] < 0:
            raise ValueError("no example of the history run was seen twice: lengthen the history run")
        top = ranking.iloc[0]
        return by_uid[top["uid"]], {
            "rule": rule,
            "uid": top["uid"],
            "variance": float(top["variance"]),
            "mean_accuracy": float(top["mean_accuracy"]),
            "observations": int(top["observations"]),
            "top5": ranking.head(5).to_dict(orient="records"),
            "candidates": int(len(ranking)),
        }
    raise ValueError(f"unknown one_shot_rule '{rule}' (known: historical_variance, random)")
