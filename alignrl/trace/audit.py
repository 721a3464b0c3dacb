"""Re-check every number against the config and the files it was computed from.

A table cell lists the ``metrics.json`` files behind it; each metrics file records the sha256 of its
per-sample outputs and of its inputs (the evaluated model directory, the benchmark data); a trained
model's ``run_info.json`` (the run record, :mod:`alignrl.trace.run_record`) records the hashes of the final
weights, of its logs and of its own inputs (base model, training and validation data); a base model's
``pretrain_info.json`` records the hashes of the held-out splits its corpus excluded. The audit takes a
*plan* (table name -> the input files and settings the config implies; :mod:`alignrl.workflow.plan` makes
it) and, for every table of the plan that was built:

* rebuilds the table with the pipeline's own builder (:mod:`alignrl.analysis.registry`) from the files the
  CONFIG names, and compares every output: each CSV row by row in order (a deleted, added or reordered row,
  a swapped label, a ``metrics_files`` cell naming another claim's file, a hand-edited number all fail) and
  the ``.md`` rendering byte for byte;
* recomputes each metrics file's summary (pass@k, its intervals, format rate, lengths) from its samples and
  checks the hash of the whole record (``record_sha256``: its provenance and settings);
* checks each run record's hash, its required fields, its ``regime`` summary (recomputed from its
  ``train_log.csv``) and, where the caller gives the expected training settings, that they are the config's;
* re-hashes every recorded file and directory (edited samples, a swapped checkpoint, a regenerated
  dataset or base model fail).

Every check is one line of ``results/audit.txt``; a failing audit raises :class:`AuditFailed` naming
the files. A file that cannot be read or parsed is a failed check naming it, never a traceback. Floats in
the CSV tables are written with 6 significant digits, so the CSV comparison tolerates a relative
difference of 1e-5 (the ``.md`` and metrics checks see any edit).
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from alignrl.analysis import registry
from alignrl.analysis.regime import summarize_log
from alignrl.trace.provenance import sha256_file, sha256_tree
from alignrl.trace.run_record import FILE_HASHES, REQUIRED_FIELDS, record_sha256

__all__ = ["AuditFailed", "Check", "audit", "audit_run", "run", "write_report"]

_REL_TOL = 1e-5
_ABS_TOL = 1e-6

Plan = Mapping[str, tuple[list[str], Mapping[str, Any]]]
Expected = Callable[[str], Mapping[str, Any]]  # claim -> the training settings its runs must record


class AuditFailed(RuntimeError):
    """At least one check failed; the message names every failing file."""


@dataclass(frozen=True)
class Check:
    ok: bool
    path: str
    what: str
    detail: str = ""

    def line(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{'OK  ' if self.ok else 'FAIL'} {self.path}: {self.what}{detail}"


def _plain(obj: Any) -> Any:
    """JSON's view of ``obj`` (int keys become strings, tuples lists), to compare with what a file holds."""
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


class _Auditor:
    def __init__(self, config: Mapping[str, Any], expected_settings: Expected | None = None) -> None:
        self.config = config
        self.expected_settings = expected_settings
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

    def read_record(self, path: Path, what: str) -> dict | None:
        """The JSON object at ``path``, or None after a failed check naming the file."""
        try:
            with open(path) as fh:
                record = json.load(fh)
        except FileNotFoundError:
            self.add(False, path, f"{what} is missing")
            return None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.add(False, path, f"{what} cannot be read", f"{type(exc).__name__}: {exc}")
            return None
        if not isinstance(record, dict):
            self.add(False, path, f"{what} is not a JSON object")
            return None
        return record

    def record_hash(self, path: Path, record: Mapping[str, Any]) -> None:
        recorded = record.get("record_sha256")
        found = record_sha256(record)
        self.add(recorded == found, path, "sha256 of every recorded field (record_sha256)",
                 "" if recorded == found else ("records none" if recorded is None else
                                               f"recorded {str(recorded)[:12]}, found {found[:12]}"))

    # ---- hashes recorded by one file about others

    def recorded_hash(self, owner: Path, path: Path, expected: str | None, what: str) -> None:
        if expected is None:
            self.add(False, owner, f"records no sha256 for {what} {path}")
            return
        if not path.exists():
            self.add(False, path, f"{what} named by {owner} is missing")
            return
        try:
            found = self.hash_of(path)
        except OSError as exc:
            self.add(False, path, f"{what} named by {owner} cannot be read", str(exc))
            return
        self.add(found == expected, path, f"sha256 of {what} as recorded in {owner}",
                 "" if found == expected else f"recorded {expected[:12]}, found {found[:12]}")

    def provenance_inputs(self, owner: Path, prov: Mapping[str, Any] | None) -> list[Path]:
        if not prov or not isinstance(prov, Mapping):
            self.add(False, owner, "has no provenance record")
            return []
        paths = []
        for name, value in (prov.get("inputs") or {}).items():
            for entry in value if isinstance(value, list) else [value]:
                if not isinstance(entry, Mapping) or "path" not in entry:
                    self.add(False, owner, f"provenance input '{name}' names no path")
                    continue
                path = Path(entry["path"])
                self.recorded_hash(owner, path, entry.get("sha256"), f"input '{name}'")
                paths.append(path)
        return paths

    # ---- the chain

    def metrics(self, path: Path) -> None:
        if not self.once("metrics", path):
            return
        m = self.read_record(path, "metrics file named by the config")
        if m is None:
            return
        self.record_hash(path, m)
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
        except Exception as exc:  # noqa: BLE001 - a summary that cannot be recomputed is a failed check, named
            self.add(False, path, "summary cannot be recomputed from its samples", repr(exc))
            return
        again = _plain(again)
        bad = [f"{key} recorded {m.get(key)!r}, recomputed {value!r}" for key, value in again.items()
               if not _same_value(m.get(key), value)]
        self.add(not bad, path, f"every summary field ({', '.join(again)}) recomputed from samples.parquet",
                 "; ".join(bad[:3]))

    def run(self, run_dir: Path) -> None:
        if not self.once("run", run_dir):
            return
        info_path = run_dir / "run_info.json"
        info = self.read_record(info_path, "run record")
        if info is None:
            return
        self.record_hash(info_path, info)
        missing = [k for k in REQUIRED_FIELDS if k not in info]
        self.add(not missing, info_path, "has every field of the run record", f"missing {missing}" if missing else "")
        for key, name in FILE_HASHES.items():
            self.recorded_hash(info_path, run_dir / name, info.get(key), name)
        if "regime" in info:  # records written before regime statistics have none (the regime table refuses them)
            self.regime(info_path, run_dir / FILE_HASHES["train_log_sha256"], info["regime"])
        self.run_matches_config(info_path, run_dir, info)
        for inp in self.provenance_inputs(info_path, info.get("provenance")):
            if inp.is_dir() and (inp / "pretrain_info.json").exists():
                self.base_model(inp)

    def regime(self, info_path: Path, log: Path, recorded: Any) -> None:
        try:
            again = _plain(summarize_log(log))
        except (OSError, ValueError) as exc:
            self.add(False, log, f"regime summary of {info_path} cannot be recomputed", f"{type(exc).__name__}: {exc}")
            return
        bad = [k for k in sorted(set(again) | set(recorded if isinstance(recorded, dict) else {}))
               if not isinstance(recorded, dict) or not _same_value(recorded.get(k), again.get(k))]
        self.add(not bad, info_path, f"regime summary recomputed from {log.name}",
                 f"differs in {bad[:4]}" if bad else "")

    def run_matches_config(self, info_path: Path, run_dir: Path, info: Mapping[str, Any]) -> None:
        """results/runs/{claim}/{model}/{task}/seed{seed}: the record must be of that run, with the config's
        settings."""
        parts = run_dir.parts
        if len(parts) < 4 or not parts[-1].startswith("seed") or self.expected_settings is None:
            return
        claim, task, seed = parts[-4], parts[-2], parts[-1][len("seed"):]
        bad = []
        if str(info.get("seed")) != seed:
            bad.append(f"seed {info.get('seed')!r}, path says {seed}")
        if info.get("task") != task:
            bad.append(f"task {info.get('task')!r}, path says {task!r}")
        try:
            expected = _plain(self.expected_settings(claim))
        except Exception as exc:  # noqa: BLE001 - a claim the config does not define
            self.add(False, info_path, f"claim '{claim}' has no settings in the config", repr(exc))
            return
        recorded = info.get("config") if isinstance(info.get("config"), Mapping) else {}
        bad += [f"config.{k} recorded {recorded.get(k)!r}, config says {v!r}" for k, v in expected.items()
                if not _same_value(recorded.get(k), v)]
        if "steps" in expected and info.get("steps_done") != expected["steps"]:
            bad.append(f"steps_done {info.get('steps_done')!r}, config says {expected['steps']}")
        self.add(not bad, info_path, f"is the run of claim '{claim}' with the config's settings", "; ".join(bad[:4]))

    def base_model(self, model_dir: Path) -> None:
        if not self.once("base", model_dir):
            return
        info_path = model_dir / "pretrain_info.json"
        info = self.read_record(info_path, "pretraining record")
        if info is not None:
            self.provenance_inputs(info_path, info.get("provenance"))

    def summary(self, path: Path) -> None:
        """A contamination summary: re-summarised from the probe.parquet beside it."""
        from alignrl.analysis.contamination import summarize_probe

        s = self.read_record(path, "contamination summary named by the config")
        if s is None:
            return
        self.provenance_inputs(path, s.get("provenance"))
        probe = path.with_name("probe.parquet")
        cfg, boot = self.config["contamination"], self.config["evaluation"]["bootstrap"]
        try:
            again = _plain(summarize_probe(pd.read_parquet(probe), null_quantile=cfg["null_quantile"],
                                           fixed_threshold=cfg["fixed_threshold"], n_boot=boot["n_boot"],
                                           alpha=boot["alpha"], seed=boot["seed"]))
        except Exception as exc:  # noqa: BLE001
            self.add(False, path, "cannot be recomputed from probe.parquet", repr(exc))
            return
        bad = [f"{k} recorded {s.get(k)!r}, recomputed {v!r}" for k, v in again.items() if not _same_value(s.get(k), v)]
        self.add(not bad, path, "recomputed from probe.parquet", "; ".join(bad[:3]))

    # ---- tables

    def table(self, name: str, inputs: list[str], params: Mapping[str, Any]) -> None:
        spec = registry.spec(name)
        outputs = registry.output_paths(name)
        for f in inputs:
            {"metrics": lambda p: self.metrics(Path(p)), "summaries": lambda p: self.summary(Path(p)),
             "runs": lambda p: self.run(Path(p).parent), "tables": lambda p: None}[spec.inputs](f)
        missing = [f for f in inputs if not Path(f).exists()]
        if missing:
            self.add(False, outputs["csv"], "cannot be rebuilt from the files the config names",
                     f"missing {missing[0]}")
            return
        try:
            built = registry.build(name, inputs, params)
        except Exception as exc:  # noqa: BLE001 - any failure to rebuild is an audit failure, named
            self.add(False, outputs["csv"], "cannot be rebuilt from the files the config names", repr(exc))
            return
        for key, frame in built.frames.items():
            self.compare_csv(outputs[key], frame)
        if built.markdown is not None:
            self.compare_text(outputs["md"], built.markdown)

    def compare_csv(self, path: Path, again: pd.DataFrame) -> None:
        try:
            df = pd.read_csv(path, keep_default_na=False, na_values=[""])
        except FileNotFoundError:
            self.add(False, path, "is missing")
            return
        except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            self.add(False, path, "cannot be read as CSV", f"{type(exc).__name__}: {exc}")
            return
        diffs = _table_differences(df, again)
        self.add(not diffs, path, f"{len(df)} rows equal to the table rebuilt from the config's files",
                 "; ".join(diffs[:5]) + (f"; ... {len(diffs) - 5} more" if len(diffs) > 5 else ""))

    def compare_text(self, path: Path, text: str) -> None:
        try:
            found = path.read_text()
        except FileNotFoundError:
            self.add(False, path, "is missing")
            return
        except (OSError, UnicodeDecodeError) as exc:
            self.add(False, path, "cannot be read", f"{type(exc).__name__}: {exc}")
            return
        diff = next((i for i, (a, b) in enumerate(zip(found.splitlines(), text.splitlines())) if a != b), None)
        if diff is None and len(found.splitlines()) != len(text.splitlines()):
            diff = min(len(found.splitlines()), len(text.splitlines()))
        self.add(found == text, path, "rendering equal to the rebuilt table's",
                 "" if found == text else f"first difference at line {(diff or 0) + 1}")


def _table_differences(df: pd.DataFrame, again: pd.DataFrame) -> list[str]:
    """Where ``df`` (read from a CSV) differs from the rebuilt table, row by row in order: a missing, added,
    reordered or relabelled row and any differing cell (numbers within the CSV's precision)."""
    out = []
    if list(df.columns) != list(again.columns):
        out.append(f"columns {list(df.columns)}, rebuilt {list(again.columns)}")
    if len(df) != len(again):
        out.append(f"{len(df)} rows, recomputed {len(again)}")
    keys = [c for c in ("model", "task", "bench", "claim", "run", "lr", "k") if c in again.columns]
    for i in range(min(len(df), len(again))):
        label = ", ".join(f"{k}={again.iloc[i][k]}" for k in keys) or str(i)
        for col in again.columns:
            if col not in df.columns:
                continue
            a, b = df.iloc[i][col], again.iloc[i][col]
            if not _same(a, b):
                out.append(f"row {i + 1} ({label}), column {col}: table has {a}, recomputed {b}")
    return out


def _same_value(a: Any, b: Any) -> bool:
    """Equality of two JSON values, floats to 1e-12 (the same computation gives the same bits)."""
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in b)
    if isinstance(b, list):
        return isinstance(a, list) and len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(b, bool) or isinstance(a, bool) or b is None or a is None or isinstance(b, str):
        return a == b
    try:
        fa, fb = float(a), float(b)
    except (TypeError, ValueError):
        return False
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    return math.isclose(fa, fb, rel_tol=1e-12, abs_tol=1e-12)


def _same(a: Any, b: Any) -> bool:
    if _missing(a) or _missing(b):  # a CSV writes None, NaN and "" alike: an empty cell
        return _missing(a) and _missing(b)
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


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, str) and x == "") or _isnan(x)




def audit(config: Mapping[str, Any], plan: Plan, expected_settings: Expected | None = None) -> list[Check]:
    """Every check of every built table of ``plan`` and of the chain behind it, in order."""
    auditor = _Auditor(config, expected_settings)
    for name, (inputs, params) in plan.items():
        outputs = registry.output_paths(name)
        if outputs["csv"].exists():
            auditor.table(name, list(inputs), params)
        elif any(p.exists() for p in outputs.values()):  # a table deleted from beside its rendering
            present = sorted(str(p) for p in outputs.values() if p.exists())
            auditor.add(False, outputs["csv"], "is missing, but its other outputs exist", ", ".join(present))
    return auditor.checks


def audit_run(run_dir: str | os.PathLike, config: Mapping[str, Any] | None = None,
              expected_settings: Expected | None = None) -> list[Check]:
    """The checks of one run directory's record (either backend): its hashes, fields and settings."""
    auditor = _Auditor(config or {}, expected_settings)
    auditor.run(Path(run_dir))
    return auditor.checks


def built_tables(plan: Plan) -> list[Path]:
    return [registry.output_paths(name)["csv"] for name in plan if registry.output_paths(name)["csv"].exists()]


def write_report(checks: list[Check], tables: list[Path], out_path: str | os.PathLike,
                 not_built: list[str] = ()) -> None:
    """``audit.txt``: a summary, the failures, then every passed check; raises AuditFailed on failure.

    A report that cannot be written (a read-only results/) raises AuditFailed naming the path.
    """
    failed = [c for c in checks if not c.ok]
    lines = [
        f"audit of {len(tables)} table(s): {', '.join(str(t) for t in tables)}"
        + (f"; not built: {', '.join(not_built)}" if not_built else ""),
        f"{len(checks)} checks, {len(failed)} failed",
        "",
    ]
    lines += [c.line() for c in failed] + ([""] if failed else []) + [c.line() for c in checks if c.ok]
    out = Path(out_path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + "\n")
    except OSError as exc:
        raise AuditFailed(f"cannot write the audit report {out}: {exc.strerror or exc} "
                          f"({len(failed)} of {len(checks)} checks failed)") from None
    if failed:
        names = sorted({c.path for c in failed})
        raise AuditFailed(f"audit failed ({len(failed)} of {len(checks)} checks); files: {', '.join(names)}; "
                          f"details in {out}")


def run(config: Mapping[str, Any], plan: Plan, results: str | os.PathLike = "results",
        out_path: str | os.PathLike | None = None, expected_settings: Expected | None = None) -> list[Check]:
    """Audit every built table of ``plan`` and write ``audit.txt`` under ``results``; raises AuditFailed."""
    tables = built_tables(plan)
    if not tables:
        raise AuditFailed(f"no table to audit under {results}: build one first (e.g. results/table1.csv)")
    checks = audit(config, plan, expected_settings)
    not_built = [name for name in plan if not registry.output_paths(name)["csv"].exists()]
    write_report(checks, tables, out_path or Path(results) / "audit.txt", not_built)
    return checks
