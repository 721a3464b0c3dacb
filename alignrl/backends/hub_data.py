"""Hub datasets of the paper (DeepScaleR, SynLogic, MATH500, AIME24, AMC23, KOR-Bench) in our row format.

Each configured dataset names a ``loader`` (how its rows are shaped), a ``hub_id``, an optional ``subset``
(the ``datasets`` config name) and ``split``, or a ``local_path`` (a parquet / json / jsonl file or a
directory saved with ``save_to_disk``) that replaces the hub. :func:`load_records` reads it through the
``datasets`` library; :func:`convert` turns raw records into verl rows with the configured prompt template, so
hub data and synthetic data go through the same code afterwards. When the hub cannot be reached the error
names the dataset, the id and the two ways out (pre-download, or point ``local_path`` at a copy).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from alignrl.claims.answer import build_prompt

__all__ = ["LOADERS", "HubDataError", "convert", "load_records", "prepare_split"]


class HubDataError(RuntimeError):
    """A hub dataset could not be loaded or has rows we cannot convert; the message says which and how to fix it."""


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _number_text(value: Any) -> str:
    """AMC answers come as floats (``27.0``): write integral values as integers."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _text(value)


def _user_content(prompt: Any) -> str:
    """The question of a row whose ``prompt`` is a chat list (SynLogic ships verl-style rows) or a string."""
    if isinstance(prompt, str):
        return prompt.strip()
    if isinstance(prompt, Sequence):
        users = [m.get("content") for m in prompt if isinstance(m, Mapping) and m.get("role") == "user"]
        if users:
            return _text(users[-1])
    return ""


def _deepscaler(rec: Mapping[str, Any]) -> tuple[str, str]:
    return _text(rec.get("problem")), _text(rec.get("answer"))


def _math500(rec: Mapping[str, Any]) -> tuple[str, str]:
    return _text(rec.get("problem")), _text(rec.get("answer"))


def _aime24(rec: Mapping[str, Any]) -> tuple[str, str]:
    return _text(rec.get("problem")), _number_text(rec.get("answer"))


def _amc23(rec: Mapping[str, Any]) -> tuple[str, str]:
    return _text(rec.get("question") or rec.get("problem")), _number_text(rec.get("answer"))


def _synlogic(rec: Mapping[str, Any]) -> tuple[str, str]:
    question = _user_content(rec.get("prompt"))
    answer = ""
    reward = rec.get("reward_model")
    if isinstance(reward, Mapping):
        answer = _text(reward.get("ground_truth"))
    if not answer:
        # some SynLogic tasks keep the answer inside extra_info.game_data_str (a JSON object)
        extra = rec.get("extra_info") or {}
        raw = extra.get("game_data_str") if isinstance(extra, Mapping) else None
        if raw:
            try:
                answer = _text(json.loads(raw).get("answer"))
            except (ValueError, AttributeError):
                answer = ""
    return question, answer


def _kor_bench(rec: Mapping[str, Any]) -> tuple[str, str]:
    # KOR-Bench questions are only answerable with their rule, which must precede the question
    rule = _text(rec.get("rule_content") or rec.get("rule"))
    question = _text(rec.get("question"))
    answer = _text(rec.get("answer"))
    # the release writes answers as [[answer]] (its prompt's wrapping); the grader compares the bare answer
    if answer.startswith("[[") and answer.endswith("]]"):
        answer = answer[2:-2].strip()
    return (f"{rule}\n\n{question}" if rule else question), answer


def _kor_release(path: Path) -> list[dict[str, Any]] | None:
    """Records of KOR-Bench's released layout (``data/<subset>/sample.jsonl`` + ``rule.jsonl``), rules joined in.

    ``path`` is the subset directory or its ``sample.jsonl``; None when it is not that layout. A sample whose
    ``rule_id`` has no rule is an error: without its rule a KOR question cannot be answered.
    """
    sample = path / "sample.jsonl" if path.is_dir() else path
    rules_file = sample.parent / "rule.jsonl"
    if sample.name != "sample.jsonl" or not sample.is_file() or not rules_file.is_file():
        return None

    def read(f: Path) -> list[dict[str, Any]]:
        out = []
        for line_no, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError as exc:
                    raise HubDataError(f"{f}, line {line_no}: not JSON ({exc})") from exc
        return out

    rules = {str(r.get("idx")): r.get("rule_content") for r in read(rules_file)}
    records = []
    for i, rec in enumerate(read(sample)):
        rule = rules.get(str(rec.get("rule_id")))
        if not rule:
            raise HubDataError(f"{sample}, record {i}: rule_id {rec.get('rule_id')!r} has no rule in {rules_file}")
        records.append({**rec, "rule_content": rule})
    return records


LOADERS: dict[str, Callable[[Mapping[str, Any]], tuple[str, str]]] = {
    "deepscaler": _deepscaler,
    "synlogic": _synlogic,
    "math500": _math500,
    "aime24": _aime24,
    "amc23": _amc23,
    "kor_bench": _kor_bench,
}


def _offline_help(name: str, spec: Mapping[str, Any]) -> str:
    subset = f" --config {spec['subset']}" if spec.get("subset") else ""
    return (
        f"dataset '{name}' (hub id '{spec['hub_id']}', subset {spec.get('subset')!r}, split '{spec['split']}') "
        f"could not be loaded from the Hugging Face hub. Either pre-download it on a machine with internet "
        f"(python -c \"import datasets; datasets.load_dataset('{spec['hub_id']}'"
        + (f", '{spec['subset']}'" if spec.get("subset") else "")
        + f", split='{spec['split']}')\", then copy ~/.cache/huggingface here and set HF_HUB_OFFLINE=1; "
        f"or: huggingface-cli download {spec['hub_id']} --repo-type dataset{subset}), or set "
        f"tasks.<task>.datasets.{name}.local_path to a local copy (parquet, json, jsonl or a save_to_disk directory)"
    )


def load_records(name: str, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Raw records of one configured dataset (hub id or ``local_path``); HubDataError explains a failure."""
    import datasets

    local = spec.get("local_path")
    try:
        if local:
            path = Path(local)
            if not path.exists():
                raise HubDataError(f"dataset '{name}': local_path {path} does not exist")
            released = _kor_release(path) if spec.get("loader") == "kor_bench" else None
            if released is not None:
                return released
            if path.is_dir():
                ds = datasets.load_from_disk(str(path))
                if isinstance(ds, datasets.DatasetDict):
                    ds = ds[spec["split"]]
            else:
                kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(path.suffix)
                if kind is None:
                    raise HubDataError(f"dataset '{name}': local_path {path} is not .parquet, .json or .jsonl")
                ds = datasets.load_dataset(kind, data_files=str(path), split="train")
        else:
            ds = datasets.load_dataset(spec["hub_id"], spec.get("subset"), split=spec["split"],
                                       revision=spec.get("revision"))
    except HubDataError:
        raise
    except Exception as exc:  # connection, offline mode, missing repo or config: all mean "not reachable here"
        if local:
            raise HubDataError(f"dataset '{name}': cannot read local_path {local}: {exc}") from exc
        raise HubDataError(f"{_offline_help(name, spec)}. Cause: {type(exc).__name__}: {exc}") from exc
    return [dict(r) for r in ds]


def convert(
    records: Sequence[Mapping[str, Any]],
    *,
    name: str,
    spec: Mapping[str, Any],
    task: str,
    ability: str,
    split: str,
    template: str,
) -> list[dict[str, Any]]:
    """verl rows from raw records; a record without question or answer is an error naming it."""
    try:
        loader = LOADERS[spec["loader"]]
    except KeyError:
        raise HubDataError(f"dataset '{name}': unknown loader {spec['loader']!r}; known: {sorted(LOADERS)}") from None
    rows = []
    for i, rec in enumerate(records):
        question, answer = loader(rec)
        if not question or not answer:
            missing = "question" if not question else "answer"
            raise HubDataError(
                f"dataset '{name}' ({spec.get('local_path') or spec['hub_id']}), record {i}: no {missing} found by "
                f"loader '{spec['loader']}' (record keys: {sorted(rec)})"
            )
        rows.append(
            {
                "data_source": f"hub/{task}/{name}",
                "prompt": [{"role": "user", "content": build_prompt(question, template)}],
                "ability": ability,
                "reward_model": {"style": "rule", "ground_truth": answer},
                "extra_info": {"split": split, "index": i, "uid": f"{task}-{name}-{i:06d}", "question": question},
            }
        )
    return rows


def prepare_split(
    task: str, split: str, task_cfg: Mapping[str, Any], ability: str, template: str,
    loader: Callable[[str, Mapping[str, Any]], list[dict[str, Any]]] = load_records,
) -> list[dict[str, Any]]:
    """Rows of one split of a hub task.

    ``train`` and ``val`` both come from the ``train`` dataset: a seeded shuffle sets aside ``val_size``
    records for validation, and training never sees them. Any other split is the benchmark of that name.
    """
    specs = task_cfg["datasets"]
    source = "train" if split in ("train", "val") else split
    if source not in specs:
        raise HubDataError(
            f"config key 'tasks.{task}.datasets': no dataset named '{source}' (needed for split '{split}')"
        )
    spec = specs[source]
    records = loader(source, spec)
    if split in ("train", "val"):
        order = list(range(len(records)))
        random.Random(f"{task_cfg['seed']}/{task}/val").shuffle(order)
        n_val = int(task_cfg["val_size"])
        if n_val >= len(order):
            raise HubDataError(
                f"config key 'tasks.{task}.val_size': {n_val} leaves no training records of {len(order)}"
            )
        chosen = sorted(order[:n_val]) if split == "val" else sorted(order[n_val:])
        # uids stay those of the full train dataset, so train and val can never share one
        rows = convert(records, name=source, spec=spec, task=task, ability=ability, split=split, template=template)
        rows = [rows[i] for i in chosen]
    else:
        rows = convert(records, name=source, spec=spec, task=task, ability=ability, split=split, template=template)
    limit = spec.get("limit")
    if limit is not None and split != "val":
        rows = rows[: int(limit)]
    for i, row in enumerate(rows):
        row["extra_info"]["index"] = i
    return rows
