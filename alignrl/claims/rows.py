"""Problems as verl-format parquet rows: build, write atomically, read back validated."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from alignrl.claims.answer import build_prompt
from alignrl.claims.tasks import Problem, Task

__all__ = ["DataError", "problems_to_rows", "write_rows", "read_rows", "validate_row"]

REQUIRED_KEYS = ("data_source", "prompt", "ability", "reward_model", "extra_info")


class DataError(ValueError):
    """A data file or row is malformed; the message names the file and row."""


def problems_to_rows(
    problems: Sequence[Problem],
    task_name: str | Task,
    ability: str,
    split: str,
    template: str,
) -> list[dict[str, Any]]:
    """Convert problems to verl rows with ``data_source`` "synthetic/<task_name>".

    ``task_name`` is the configured dataset name, which need not be a registered generator
    (one generator can back several configured tasks); a ``Task`` stands for its own name.
    """
    if isinstance(task_name, Task):
        task_name = task_name.name
    rows = []
    for index, p in enumerate(problems):
        rows.append(
            {
                "data_source": f"synthetic/{task_name}",
                "prompt": [{"role": "user", "content": build_prompt(p.question, template)}],
                "ability": ability,
                "reward_model": {"style": "rule", "ground_truth": p.answer},
                "extra_info": {
                    "split": split,
                    "index": index,
                    "uid": p.uid,
                    "question": p.question,
                    "solution": p.solution,
                },
            }
        )
    return rows


def write_rows(rows: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write rows to parquet atomically (temp file in the same directory, then rename).

    A crash mid-write leaves at most a stray temp file, never a truncated ``path`` that a
    workflow would take as complete output.
    """
    path = Path(path)
    rows = list(rows)
    for i, row in enumerate(rows):
        validate_row(row, i, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Columns from the union of keys: from_pylist would take only the first row's keys.
    columns: dict[str, list[Any]] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, [])
    for key, values in columns.items():
        values.extend(row.get(key) for row in rows)
    table = pa.Table.from_pydict(columns)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read and validate rows; plain Python types (lists and dicts, no numpy)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        # pyarrow's to_pylist yields plain lists/dicts directly, where pandas would hand back
        # numpy arrays for list columns.
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: cannot read parquet: {exc}") from exc
    for i, row in enumerate(rows):
        validate_row(row, i, path)
    return rows


def _nonempty_str(x: Any) -> bool:
    return isinstance(x, str) and bool(x.strip())


def validate_row(row: Any, index: int, path: str | os.PathLike[str] = "<rows>") -> None:
    """Raise DataError naming ``path``, the row index and the problem if ``row`` is malformed."""

    def fail(problem: str) -> None:
        uid = None
        if isinstance(row, dict) and isinstance(row.get("extra_info"), dict):
            uid = row["extra_info"].get("uid")
        where = f"row {index}" + (f" (uid {uid})" if uid else "")
        raise DataError(f"{path}: {where}: {problem}")

    if not isinstance(row, dict):
        fail(f"expected a dict, got {type(row).__name__}")
    missing = [k for k in REQUIRED_KEYS if row.get(k) is None]
    if missing:
        fail(f"missing keys {missing}")
    if not _nonempty_str(row["data_source"]):
        fail("data_source must be a non-empty string")
    if not isinstance(row["ability"], str):
        fail("ability must be a string")

    prompt = row["prompt"]
    if not isinstance(prompt, list) or not prompt:
        fail("prompt must be a non-empty list of messages")
    for j, msg in enumerate(prompt):
        if not isinstance(msg, dict):
            fail(f"prompt[{j}] must be a dict with role and content")
        if not _nonempty_str(msg.get("role")):
            fail(f"prompt[{j}] has no role")
        if not _nonempty_str(msg.get("content")):
            fail(f"prompt[{j}] has empty content")

    reward = row["reward_model"]
    if not isinstance(reward, dict):
        fail("reward_model must be a dict")
    if not _nonempty_str(reward.get("style")):
        fail("reward_model.style must be a non-empty string")
    if not _nonempty_str(reward.get("ground_truth")):
        fail("reward_model.ground_truth must be a non-empty string")

    extra = row["extra_info"]
    if not isinstance(extra, dict):
        fail("extra_info must be a dict")
    if not _nonempty_str(extra.get("uid")):
        fail("extra_info.uid must be a non-empty string")
    if not isinstance(extra.get("split"), str):
        fail("extra_info.split must be a string")
    if not isinstance(extra.get("index"), int) or isinstance(extra.get("index"), bool):
        fail("extra_info.index must be an int")
    for key in ("question", "solution"):
        if key in extra and extra[key] is not None and not isinstance(extra[key], str):
            fail(f"extra_info.{key} must be a string")
