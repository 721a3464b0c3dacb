"""The records an evaluation leaves behind: samples.parquet and the metrics.json that vouches for it."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from alignrl.core.runtime import write_json_atomic
from alignrl.trace.provenance import sha256_file
from alignrl.trace.run_record import record_sha256

__all__ = ["write_evaluation"]


def _replace_atomically(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``, so readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_evaluation(
    samples: pd.DataFrame, metrics: Mapping[str, Any], out_dir: str | os.PathLike[str]
) -> tuple[Path, Path]:
    """Write ``samples.parquet`` then ``metrics.json`` (last: its presence means the evaluation is complete).

    ``metrics.json`` also gets ``samples_sha256``, the hash of the samples file written beside it, and
    ``record_sha256``, the hash of every other field (:func:`alignrl.trace.run_record.record_sha256`).

    Returns the two paths. JSON keys that are ints (the k of pass@k) become strings, as JSON requires.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples_path, metrics_path = out / "samples.parquet", out / "metrics.json"
    # A stale metrics.json from an earlier run must not vouch for the new samples while they are written.
    if metrics_path.exists():
        metrics_path.unlink()
    _replace_atomically(samples_path, lambda tmp: samples.to_parquet(tmp, index=False))
    # the audit re-hashes the samples against this: a metrics file vouches for exactly these bytes
    record = {**metrics, "samples_sha256": sha256_file(samples_path)}
    # and the hash of every field, so an edit of any recorded setting or number is seen
    record["record_sha256"] = record_sha256(record)
    write_json_atomic(record, metrics_path)
    return samples_path, metrics_path
