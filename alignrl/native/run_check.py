"""The end-of-run check that an RL run trained at all.

A run whose every group was dropped (uniform rewards under dynamic sampling) or whose updates had zero
gradient leaves its "trained" model equal to the base: its table cells silently repeat the base row.
`check_run_trained` reads what the trainer wrote (``train_log.csv``, the final model) and refuses that.
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path

__all__ = ["RunDidNotTrain", "check_run_trained"]


class RunDidNotTrain(RuntimeError):
    """An RL run that made no optimizer update, or whose final weights equal the base model's."""


def _weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise RunDidNotTrain(f"{model_dir}: no *.safetensors weights to compare")
    tensors: dict = {}
    for f in files:
        tensors.update(load_file(str(f)))
    return tensors


def _number(cell: str | None) -> float:
    try:
        return float(cell) if cell else math.nan
    except ValueError:
        return math.nan


def check_run_trained(run_dir: str | os.PathLike, base_model_dir: str | os.PathLike) -> dict:
    """Raise RunDidNotTrain unless ``run_dir`` logged an update with a nonzero gradient and its
    ``model/`` differs from ``base_model_dir``; returns the counts it checked."""
    run_dir, base_model_dir = Path(run_dir), Path(base_model_dir)
    log = run_dir / "train_log.csv"
    with open(log, newline="") as fh:
        rows = list(csv.DictReader(fh))
    updates = sum(int(r["updates"] or 0) for r in rows)
    grads = [_number(r.get("grad_norm")) for r in rows]
    if updates == 0:
        raise RunDidNotTrain(
            f"{log}: {len(rows)} steps and no optimizer update (every group dropped: rewards uniform within "
            "groups, e.g. a base model that never answers correctly); the trained model would equal the base. "
            "(require_training_updates: true makes this an error)"
        )
    if not any(g > 0 and math.isfinite(g) for g in grads):
        raise RunDidNotTrain(f"{log}: {updates} updates, all with zero (or no finite) gradient norm")
    trained, base = _weights(run_dir / "model"), _weights(base_model_dir)
    if trained.keys() == base.keys() and all(trained[k].equal(base[k]) for k in trained):
        raise RunDidNotTrain(f"{run_dir / 'model'}: weights identical to the base model {base_model_dir}")
    return {"steps": len(rows), "updates": updates}
