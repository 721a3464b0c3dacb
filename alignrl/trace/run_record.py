"""The run record: what every RL run leaves in its directory, whichever backend trained it.

A run directory ``results/runs/{claim}/{model}/{task}/seed{seed}/`` holds

* ``model/``: the final Hugging Face directory (the weights the evaluation reads);
* ``train_log.csv``: one row per step, columns :data:`LOG_COLUMNS` (a backend that does not measure a
  column leaves it empty);
* ``prompt_log.csv``: one row per step x sampled prompt, columns :data:`PROMPT_LOG_COLUMNS`;
* ``run_info.json``: the run's summary, always with :data:`REQUIRED_FIELDS`, the sha256 of the three files
  above (:data:`FILE_HASHES`), ``regime``, the run's regime statistics summarised from ``train_log.csv``
  (:func:`alignrl.analysis.regime.summarize_log`), and ``record_sha256``, the hash of every other field of the
  record, so an edit of any recorded value (``config.lr``, ``steps_done``) is seen by the audit.

:func:`write_run_info` is the one writer of ``run_info.json`` for the native trainer
(:mod:`alignrl.native.trainer`) and the verl backend (:mod:`alignrl.backends.verl`);
:func:`verl_train_log` maps verl's logged metrics onto :data:`LOG_COLUMNS`.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alignrl.analysis.regime import summarize_log
from alignrl.core.runtime import write_json_atomic
from alignrl.trace.provenance import sha256_file, sha256_tree

__all__ = [
    "FILE_HASHES", "LOG_COLUMNS", "PROMPT_LOG_COLUMNS", "REQUIRED_FIELDS", "VERL_LOG_MAP", "format_cell",
    "record_sha256", "verl_train_log", "write_run_info",
]

LOG_COLUMNS: tuple[str, ...] = (
    "step",
    "reward_mean",
    "accuracy",
    "format_rate",
    "kept_groups",
    "generation_batches",
    "entropy",
    "response_length",
    "clip_fraction",
    "dual_clip_fraction",
    "approx_kl",
    "loss",
    "grad_norm",
    "lr",
    "val_accuracy",
    "seconds",
    # Extras after the documented columns: fraction of groups whose majority answer is the ground
    # truth (how good a TTRL pseudo-label would be), and optimizer updates made in the step.
    "pseudo_label_accuracy",
    "updates",
    # The regime of the run (issue 16), appended so older logs are a prefix of this header: clip_fraction split
    # into tokens clipped at the lower bound (A < 0) and at the upper bound (A > 0), the solution-style shares
    # of the step's samples (none: no readable style) and their accuracy under the lenient answer reader.
    "clip_fraction_low",
    "clip_fraction_high",
    "style_careful",
    "style_shortcut",
    "style_none",
    "lenient_accuracy",
)

PROMPT_LOG_COLUMNS: tuple[str, ...] = ("step", "uid", "samples", "correct", "reward_mean")

#: run_info.json key -> the file of the run directory it hashes (a directory is hashed as a tree).
FILE_HASHES: dict[str, str] = {
    "final_model_sha256": "model",
    "train_log_sha256": "train_log.csv",
    "prompt_log_sha256": "prompt_log.csv",
}

#: Fields every run record has, whichever backend wrote it.
REQUIRED_FIELDS: tuple[str, ...] = (
    "backend", "config", "seed", "task", "generator", "steps_done", "provenance", *FILE_HASHES, "record_sha256",
)

#: Our log column -> the verl metric that measures the same thing (verl 0.9's metric names). Columns
#: with no verl counterpart (accuracy, format_rate, pseudo_label_accuracy, the style shares, ...) stay empty
#: in a verl run. verl's own ``pg_clipfrac_lower`` is the DUAL-clip fraction (A < 0, loss capped at
#: clip_ratio_c), not the lower bound of the band; the low/high split is logged by our policy loss
#: (:mod:`alignrl.backends.verl_plugin`) under the ``actor/alignrl_*`` names.
VERL_LOG_MAP: dict[str, str] = {
    "reward_mean": "critic/score/mean",
    "entropy": "actor/entropy",
    "response_length": "response_length/mean",
    "clip_fraction": "actor/pg_clipfrac",
    "dual_clip_fraction": "actor/pg_clipfrac_lower",
    "approx_kl": "actor/ppo_kl",
    "loss": "actor/pg_loss",
    "grad_norm": "actor/grad_norm",
    "lr": "actor/lr",
    "val_accuracy": "val-core/acc/mean@1",
    "seconds": "timing_s/step",
    "generation_batches": "train/num_gen_batches",
    "clip_fraction_low": "actor/alignrl_clipfrac_low",
    "clip_fraction_high": "actor/alignrl_clipfrac_high",
}


def format_cell(v: Any) -> str:
    """One CSV cell of the logs: empty for None, 8 significant digits for floats."""
    if v is None:
        return ""
    if isinstance(v, float):
        return format(v, ".8g")
    return str(v)


def record_sha256(info: Mapping[str, Any]) -> str:
    """sha256 of the record's canonical JSON without ``record_sha256`` itself (run and metrics records)."""
    body = {k: v for k, v in info.items() if k != "record_sha256"}
    # through JSON first: int keys become strings and sort as the file's keys do, tuples become lists
    body = json.loads(json.dumps(body, default=_plain))
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _plain(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def write_run_info(run_dir: str | os.PathLike, info: Mapping[str, Any]) -> dict[str, Any]:
    """Add the file hashes, the ``regime`` summary and ``record_sha256`` to ``info``; write ``run_dir/run_info.json``.

    Refuses (ValueError naming the field) a record without a required field, and (FileNotFoundError) a run
    directory without one of the files the record vouches for.
    """
    run_dir = Path(run_dir)
    out = dict(info)
    for key, name in FILE_HASHES.items():
        path = run_dir / name
        if not path.exists():
            raise FileNotFoundError(f"{path}: a run record vouches for it, but the run did not write it")
        out[key] = sha256_tree(path) if path.is_dir() else sha256_file(path)
    # from the log the record vouches for, so it covers every step of a resumed run too
    out["regime"] = summarize_log(run_dir / FILE_HASHES["train_log_sha256"])
    missing = [k for k in REQUIRED_FIELDS if k != "record_sha256" and k not in out]
    if missing:
        raise ValueError(f"run record for {run_dir} lacks field(s) {missing}")
    # round-trip first so the hash is of exactly what the file will hold (tuples become lists)
    out = json.loads(json.dumps(out, allow_nan=True, default=_plain))
    out["record_sha256"] = record_sha256(out)
    write_json_atomic(out, run_dir / "run_info.json")
    return out


def verl_train_log(records: Sequence[Mapping[str, Any]], out_csv: str | os.PathLike) -> int:
    """verl's per-step file-logger records (``{"step": s, "data": {metric: value}}``) as ``train_log.csv``.

    Returns the number of rows. Raises RuntimeError when there is no step.
    """
    rows = []
    for rec in records:
        data = rec.get("data", {})
        row: dict[str, Any] = {c: None for c in LOG_COLUMNS}
        row["step"] = int(rec["step"])
        for col, metric in VERL_LOG_MAP.items():
            value = data.get(metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
                row[col] = float(value)
        if row["generation_batches"] is not None:
            row["generation_batches"] = int(row["generation_batches"])
        rows.append(row)
    if not rows:
        raise RuntimeError(f"verl logged no training step (for {out_csv})")
    with open(out_csv, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(LOG_COLUMNS)
        w.writerows([format_cell(r[c]) for c in LOG_COLUMNS] for r in rows)
    return len(rows)
