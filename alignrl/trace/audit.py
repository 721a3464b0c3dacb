"""Re-check every number against the files it was computed from.

A table cell lists the ``metrics.json`` files behind it; each metrics file records the sha256 of its
per-sample outputs and of its inputs (the evaluated model directory, the benchmark data); a trained
model's ``run_info.json`` records the hashes of the final weights, of its logs and of its own inputs
(base model, training and validation data); a base model's ``pretrain_info.json`` records the hashes of
the held-out splits its corpus excluded. The audit walks that chain from every table it finds and:

* recomputes each table from the per-sample outputs its rows name and compares every number
  (a hand-edited cell fails);
* recomputes each metrics file's pass@k from its samples (a hand-edited metrics file fails);
* re-hashes every recorded file and directory (edited samples, a swapped checkpoint, a regenerated
  dataset or base model fail).

Every check is one line of ``results/audit.txt``; a failing audit raises :class:`AuditFailed` naming
the files. Floats in the CSV tables are written with 6 significant digits, so the table comparison
tolerates a relative difference of 1e-5: an edit below that is not seen (the metrics and hash checks
still see any edit of the files behind the table).
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from alignrl.trace.provenance import sha256_file, sha256_tree
from alignrl.analysis.tables import BASE, CellSource
from alignrl.core.runtime import read_json
from alignrl.core.paths import baseline_metrics_path

__all__ = ["AuditFailed", "Check", "audit", "table_paths", "write_report"]

_REL_TOL = 1e-5
_ABS_TOL = 1e-6


class AuditFailed(RuntimeError):
    """At least one check failed; the message names every failing file."""


@dataclass(frozen=True)
class Check:
    ok: bool
    path: str
    what: str
    detail: str = ""

    def line(self) -> str:
        return f"{'OK  ' if self.ok else 'FAIL'} {self.path}: {self.what}" + (f" ({self.detail})" if self.detail else "")


def table_paths(config: Mapping[str, Any], results: str | os.PathLike = "results") -> list[Path]:
    """Every table the config defines (table1, the claim tables, verdicts, the LR sweep) that exists."""
    root = Path(results)
    names = ["table1", *sorted(config["tables"]), "verdicts", "lr_sensitivity"]
    return [root / f"{n}.csv" for n in names if (root / f"{n}.csv").exists()]


class _Auditor:
    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.checks: list[Check] = []
        self._done: set[tuple[str, str]] = set()
        self._hashes: dict[str, str] = {}  # one read per file even when twenty records name it

    def hash_of(self, path: Path) -> str:
        key = os.path.normpath(str(path))
        if key not in self._hashes:
            self._hashes[key] = sha256_tree(path) if path.is_dir() else sha256_file(path)
        return self._hashes[key]

    def add(self, ok: bool, path: Any, what: str, detail: str = "") -> None:
        self.checks.append(Check(bool(ok), str(path), what, detail))

    def once(self, kind: str, path: Any) -> bool:
        key = (kind, os.path.normpath(str(path)))
        if key in self._done:
            return False
        self._done.add(key)
        return True

    # ---- hashes recorded by one file about others

    def recorded_hash(self, owner: Path, path: Path, expected: str | None, what: str) -> None:
        if expected is None:
            self.add(False, owner, f"records no sha256 for {what} {path}")
            return
        if not path.exists():
            self.add(False, path, f"{what} named by {owner} is missing")
            return
        found = self.hash_of(path)
        self.add(found == expected, path, f"sha256 of {what} as recorded in {owner}",
                 "" if found == expected else f"recorded {expected[:12]}, found {found[:12]}")

    def provenance_inputs(self, owner: Path, prov: Mapping[str, Any] | None) -> list[Path]:
        if not prov:
            self.add(False, owner, "has no provenance record")
            return []
        paths = []
        for name, value in prov.get("inputs", {}).items():
            for entry in value if isinstance(value, list) else [value]:
                path = Path(entry["path"])
                self.recorded_hash(owner, path, entry.get("sha256"), f"input '{name}'")
                paths.append(path)
        return paths

    # ---- the chain

    def metrics(self, path: Path) -> None:
        if not self.once("metrics", path):
            return
        if not path.exists():
            self.add(False, path, "metrics file named by a table is missing")
            return
        m = read_json(path)
        samples = path.with_name("samples.parquet")
        self.recorded_hash(path, samples, m.get("samples_sha256"), "per-sample outputs")
        if samples.exists():
            self.metrics_values(path, m, samples)
        for inp in self.provenance_inputs(path, m.get("provenance")):
            if inp.is_dir() and (inp.parent / "run_info.json").exists():
                self.run(inp.parent)
            elif inp.is_dir() and (inp / "pretrain_info.json").exists():
                self.base_model(inp)

    def metrics_values(self, path: Path, m: Mapping[str, Any], samples_path: Path) -> None:
        from alignrl.claims.scoring import summarize

        try:
            boot = m["bootstrap"]
            again = summarize(pd.read_parquet(samples_path), n=int(m["n"]), ks=[int(k) for k in m["ks"]],
                              n_boot=int(boot["n_boot"]), alpha=float(boot["alpha"]), boot_seed=int(boot["seed"]))
        except (KeyError, ValueError, TypeError) as exc:
            self.add(False, path, "pass@k cannot be recomputed from its samples", repr(exc))
            return
        bad = []
        for k, value in again["pass_at_k"].items():
            recorded = m.get("pass_at_k", {}).get(str(k))
            if recorded is None or not math.isclose(float(recorded), value, rel_tol=1e-12, abs_tol=1e-12):
                bad.append(f"pass@{k} recorded {recorded}, recomputed {value:.6g}")
        self.add(not bad, path, "pass@k recomputed from samples.parquet", "; ".join(bad))

    def run(self, run_dir: Path) -> None:
        if not self.once("run", run_dir):
            return
        info_path = run_dir / "run_info.json"
        info = read_json(info_path)
        self.recorded_hash(info_path, run_dir / "model", info.get("final_model_sha256"), "final model")
        self.recorded_hash(info_path, run_dir / "train_log.csv", info.get("train_log_sha256"), "training log")
        self.recorded_hash(info_path, run_dir / "prompt_log.csv", info.get("prompt_log_sha256"), "per-prompt log")
        for inp in self.provenance_inputs(info_path, info.get("provenance")):
            if inp.is_dir() and (inp / "pretrain_info.json").exists():
                self.base_model(inp)

    def base_model(self, model_dir: Path) -> None:
        if not self.once("base", model_dir):
            return
        info_path = model_dir / "pretrain_info.json"
        self.provenance_inputs(info_path, read_json(info_path).get("provenance"))

    # ---- tables

    def table(self, path: Path) -> None:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
        if "metrics_files" not in df.columns:
            self.add(False, path, "has no metrics_files column: its numbers cannot be traced")
            return
        files = [Path(f) for cell in df["metrics_files"].dropna() for f in str(cell).split(";") if f]
        for f in files:
            self.metrics(f)
        missing = [f for f in files if not f.exists() or not f.with_name("samples.parquet").exists()]
        if missing:
            self.add(False, path, "cannot be recomputed", f"missing {missing[0]}")
            return
        try:
            again = recompute_table(path, df, self.config)
        except Exception as exc:  # noqa: BLE001 - any failure to recompute is an audit failure, named
            self.add(False, path, "cannot be recomputed from its per-sample outputs", repr(exc))
            return
        self._compare(path, df, again)

    def _compare(self, path: Path, df: pd.DataFrame, again: pd.DataFrame) -> None:
        diffs = _table_differences(df, again)
        self.add(not diffs, path, f"{len(df)} rows recomputed from per-sample outputs",
                 "; ".join(diffs[:5]) + (f"; ... {len(diffs) - 5} more" if len(diffs) > 5 else ""))


def _key_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in ("model", "task", "bench", "claim", "run", "lr") if c in df.columns]


def _table_differences(df: pd.DataFrame, again: pd.DataFrame) -> list[str]:
    """Cells of ``df`` that differ from the recomputed table (numbers within the CSV's precision)."""
    keys = _key_columns(df)
    if len(df) != len(again):
        return [f"{len(df)} rows, recomputed {len(again)}"]
    left = df.set_index(keys, drop=False) if keys else df
    right = again.set_index(keys, drop=False) if keys else again
    out = []
    for idx in left.index:
        if idx not in right.index:
            out.append(f"row {idx} is not in the recomputed table")
            continue
        for col in left.columns:
            if col not in right.columns:
                continue
            a, b = left.at[idx, col], right.at[idx, col]
            if _same(a, b):
                continue
            out.append(f"row {idx}, column {col}: table has {a}, recomputed {b}")
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, (bool,)) or isinstance(a, (bool,)):
        return str(a).lower() == str(b).lower()
    try:
        fa, fb = float(a), float(b)
    except (TypeError, ValueError):
        return ("" if _isnan(a) else str(a)) == ("" if _isnan(b) else str(b))
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    return math.isclose(fa, fb, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)


def _isnan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _sources(df: pd.DataFrame) -> list[CellSource]:
    out = []
    for _, row in df.iterrows():
        files = [f for f in str(row["metrics_files"]).split(";") if f]
        out.append(CellSource(str(row["model"]), str(row["task"]), str(row["bench"]),
                              str(row.get("claim", BASE)), files))
    return out


def recompute_table(path: Path, df: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """The table at ``path`` rebuilt with the pipeline's own builders from the files its rows name."""
    from alignrl.analysis import tables as reporting
    ev, alignment = config["evaluation"], config["alignment"]
    name = path.stem
    if name == "table1":
        return reporting.build_table1(_sources(df.assign(claim=BASE)), ev["ks"], alignment, ev["bootstrap"])
    if name == "lr_sensitivity":
        runs = list(df[["claim", "lr", "run"]].drop_duplicates().itertuples(index=False, name=None))
        srcs = {}
        for s in _sources(df.assign(claim=df["run"])):
            srcs.setdefault((s.model, s.task, s.bench, s.claim), s)
        base = _base_sources(df)
        return reporting.build_sensitivity_table([*base.values(), *srcs.values()], runs, ev["ks"], alignment,
                                                 ev["bootstrap"], config["verdict"])
    if name == "verdicts":
        from alignrl.analysis.verdicts import build_verdicts

        expectations = {c: cfg.get("expectation", "none") for c, cfg in config["claims"].items()}
        return build_verdicts(_base_sources(df), _sources(df), ev["ks"], alignment, ev["bootstrap"],
                              config["verdict"], expectations)
    base_rows = df[df["claim"] == BASE]
    base = {(s.model, s.task, s.bench): s for s in _sources(base_rows)}
    claims = _sources(df[df["claim"] != BASE])
    return reporting.build_claims_table(base, claims, ev["ks"], alignment, ev["bootstrap"], config["verdict"])


def _base_sources(df: pd.DataFrame) -> dict[tuple[str, str, str], CellSource]:
    """The baseline metrics of every (model, task, bench) in ``df`` (pipeline layout)."""
    out = {}
    for model, task, bench in df[["model", "task", "bench"]].drop_duplicates().itertuples(index=False, name=None):
        out[(model, task, bench)] = CellSource(model, task, bench, BASE, [baseline_metrics_path(model, task, bench)])
    return out


def audit(config: Mapping[str, Any], tables: Iterable[str | os.PathLike]) -> list[Check]:
    """Every check of every table's chain, in order (tables first, then what they lead to)."""
    auditor = _Auditor(config)
    for path in tables:
        auditor.table(Path(path))
    return auditor.checks


def write_report(checks: list[Check], tables: list[Path], out_path: str | os.PathLike) -> None:
    """``audit.txt``: a summary, the failures, then every passed check; raises AuditFailed on failure."""
    failed = [c for c in checks if not c.ok]
    lines = [
        f"audit of {len(tables)} table(s): {', '.join(str(t) for t in tables)}",
        f"{len(checks)} checks, {len(failed)} failed",
        "",
    ]
    lines += [c.line() for c in failed] + ([""] if failed else []) + [c.line() for c in checks if c.ok]
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    if failed:
        names = sorted({c.path for c in failed})
        raise AuditFailed(f"audit failed ({len(failed)} of {len(checks)} checks); files: {', '.join(names)}; "
                          f"details in {out}")


def run(config: Mapping[str, Any], results: str | os.PathLike = "results",
        out_path: str | os.PathLike | None = None) -> list[Check]:
    """Audit every table under ``results`` and write ``audit.txt`` there; raises AuditFailed on failure."""
    tables = table_paths(config, results)
    if not tables:
        raise AuditFailed(f"no table to audit under {results}: build one first (e.g. results/table1.csv)")
    checks = audit(config, tables)
    write_report(checks, tables, out_path or Path(results) / "audit.txt")
    return checks
