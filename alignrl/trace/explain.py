"""Print the whole chain behind one cell of a results table.

    python -m alignrl.trace.explain results/table2.csv --row model=A,task=math,claim=ground_truth --column pass@1

value -> metrics file(s) -> per-sample outputs -> checkpoint -> training config and log -> data files ->
base model (corpus, pretraining) -> code commit, with the hashes recorded at each link. ``--row`` takes
``key=value`` pairs matched against the table's columns, or a 0-based row number.
"""
from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from alignrl.core.runtime import read_json

__all__ = ["explain_cell", "main", "select_row"]


def select_row(df: pd.DataFrame, row: str, table: str = "table") -> pd.Series:
    """The one row ``row`` names (``k=v,k=v`` or an index); ValueError lists what would have matched."""
    if row.strip().isdigit():
        i = int(row)
        if not 0 <= i < len(df):
            raise ValueError(f"{table}: row {i} out of range (0..{len(df) - 1})")
        return df.iloc[i]
    mask = pd.Series(True, index=df.index)
    for pair in filter(None, (p.strip() for p in row.split(","))):
        if "=" not in pair:
            raise ValueError(f"--row: '{pair}' is not key=value")
        key, value = (x.strip() for x in pair.split("=", 1))
        if key not in df.columns:
            raise ValueError(f"{table}: no column '{key}'; columns: {list(df.columns)}")
        mask &= df[key].astype(str) == value
    hits = df[mask]
    if len(hits) != 1:
        keys = [c for c in ("model", "task", "bench", "claim", "lr") if c in df.columns]
        rows = df[keys].astype(str).agg(",".join, axis=1).tolist()
        raise ValueError(f"{table}: --row '{row}' matches {len(hits)} rows; rows ({','.join(keys)}): {rows}")
    return hits.iloc[0]


def _short(sha: str | None) -> str:
    return sha[:16] if sha else "none recorded"


def _git(prov: Mapping[str, Any] | None) -> str:
    git = (prov or {}).get("git") or {}
    commit = git.get("commit") or "unknown"
    return f"{commit[:12]}{' (dirty tree)' if git.get('dirty') else ''}"


def _inputs(prov: Mapping[str, Any] | None) -> list[tuple[str, str, str]]:
    out = []
    for name, value in ((prov or {}).get("inputs") or {}).items():
        for entry in value if isinstance(value, list) else [value]:
            out.append((name, entry["path"], entry.get("sha256")))
    return out


def _last_log_row(path: Path) -> dict[str, str]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return rows[-1] if rows else {}


def _base_model_lines(model_dir: Path, indent: str) -> list[str]:
    info_path = model_dir / "pretrain_info.json"
    if not info_path.exists():
        return [f"{indent}(no pretrain_info.json in {model_dir})"]
    info = read_json(info_path)
    prov = info.get("provenance")
    lines = [
        f"{indent}pretrain record: {info_path}",
        f"{indent}  {info.get('arch')} model, {info.get('parameters')} parameters, final loss "
        f"{info.get('final_loss', float('nan')):.4f}, {info.get('train_cfg', {}).get('steps')} steps",
        f"{indent}  corpus: {info.get('corpus_cfg')}",
        f"{indent}  code commit: {_git(prov)}",
    ]
    for _name, path, sha in _inputs(prov):
        lines.append(f"{indent}  excluded questions of {path} (sha256 {_short(sha)})")
    return lines


def explain_cell(table_path: str | Path, row: str, column: str) -> str:
    """The chain of one cell as text (see the module docstring)."""
    table_path = Path(table_path)
    df = pd.read_csv(table_path, keep_default_na=False, na_values=[""])
    if column not in df.columns:
        raise ValueError(f"{table_path}: no column '{column}'; columns: {list(df.columns)}")
    r = select_row(df, row, str(table_path))
    ident = ", ".join(f"{c}={r[c]}" for c in ("model", "task", "bench", "claim", "lr") if c in df.columns)
    out = [f"{table_path} [{ident}] {column} = {r[column]}"]
    for suffix in ("_ci_low", "_ci_high"):
        if f"{column}{suffix}" in df.columns:
            out.append(f"  {column}{suffix} = {r[column + suffix]}")
    for extra in ("seed_verdicts", "seed_agreement", "loo_verdicts"):  # the seed-by-seed view of a verdict
        if column == "verdict" and extra in df.columns and r[extra] != "":
            out.append(f"  {extra} = {r[extra]}")
    if "metrics_files" not in df.columns:
        out.append("  (this table records no metrics files)")
        return "\n".join(out) + "\n"
    files = [Path(f) for f in str(r["metrics_files"]).split(";") if f]
    out.append(f"  computed from {len(files)} metrics file(s) (one per seed; per-problem pass@k averaged "
               "over seeds, then over problems)")
    for metrics_path in files:
        out += _metrics_lines(metrics_path)
    return "\n".join(out) + "\n"


def _metrics_lines(metrics_path: Path) -> list[str]:
    if not metrics_path.exists():
        return [f"  - {metrics_path}: MISSING"]
    m = read_json(metrics_path)
    prov = m.get("provenance") or {}
    samples = metrics_path.with_name("samples.parquet")
    lines = [
        f"  - metrics: {metrics_path}",
        "      pass@k: " + ", ".join(f"@{k} {v:.4f}" for k, v in m.get("pass_at_k", {}).items()),
        f"      n = {m.get('n')} samples per problem on {m.get('num_problems')} problems, evaluation config "
        f"hash {_short(prov.get('config_hash'))}, seeds {prov.get('seeds')}",
        f"      evaluated {prov.get('started_at')} -> {prov.get('finished_at')} with code {_git(prov)}",
    ]
    if samples.exists():
        s = pd.read_parquet(samples, columns=["problem_id", "correct"])
        lines.append(f"      per-sample outputs: {samples} ({len(s)} samples, {int(s['correct'].sum())} correct; "
                     f"sha256 recorded {_short(m.get('samples_sha256'))})")
    else:
        lines.append(f"      per-sample outputs: {samples} MISSING")
    for name, path, sha in _inputs(prov):
        p = Path(path)
        lines.append(f"      input {name}: {path} (sha256 {_short(sha)})")
        if name == "model" and (p.parent / "run_info.json").exists():
            lines += _run_lines(p.parent)
        elif name == "model":
            lines.append("      base model, before RL:")
            lines += _base_model_lines(p, "        ")
    return lines


def _run_lines(run_dir: Path) -> list[str]:
    info = read_json(run_dir / "run_info.json")
    prov = info.get("provenance") or {}
    cfg = info.get("config", {})
    lines = [
        f"      checkpoint: {run_dir / 'model'} = the final step ({info.get('steps_done')}) of the run; no "
        "checkpoint selection (every claim is evaluated at its last step)",
        f"      training record: {run_dir / 'run_info.json'} (seed {info.get('seed')}, {info.get('train_rows')} "
        f"training rows, wall {info.get('wall_time_s', 0):.0f} s, code {_git(prov)})",
        f"      training config: reward {cfg.get('reward')}, advantage {cfg.get('advantage')} "
        f"{cfg.get('advantage_kwargs') or ''}, lr {cfg.get('lr')}, {cfg.get('steps')} steps x "
        f"{cfg.get('prompts_per_step')} prompts x {cfg.get('samples_per_prompt')} samples; config hash "
        f"{_short(prov.get('config_hash'))}",
    ]
    log = run_dir / "train_log.csv"
    if log.exists():
        last = _last_log_row(log)
        lines.append(f"      training log: {log} (last step {last.get('step')}: accuracy {last.get('accuracy')}, "
                     f"reward {last.get('reward_mean')}, val accuracy {last.get('val_accuracy') or '-'}; sha256 "
                     f"recorded {_short(info.get('train_log_sha256'))})")
    for example in info.get("train_examples", []):
        lines.append(f"      trained on the single example {example.get('uid')}: {example.get('prompt')!r}")
    for name, path, sha in _inputs(prov):
        lines.append(f"      training input {name}: {path} (sha256 {_short(sha)})")
        if name == "model":
            lines += _base_model_lines(Path(path), "        ")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m alignrl.trace.explain", description=__doc__.split("\n\n")[0])
    ap.add_argument("table", help="a results table CSV, e.g. results/table2.csv")
    ap.add_argument("--row", required=True,
                    help="key=value pairs (model=A,task=math,claim=ground_truth) or a row number")
    ap.add_argument("--column", required=True, help="e.g. pass@1, gain@1")
    args = ap.parse_args(argv)
    try:
        sys.stdout.write(explain_cell(args.table, args.row, args.column))
    except (OSError, ValueError) as exc:
        print(f"explain: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
