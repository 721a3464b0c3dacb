"""Every path the pipeline reads or writes, in one place, and the metrics layout parsed back by position.

The templates are Snakemake patterns: ``{model}``, ``{task}``, ``{bench}``, ``{claim}``, ``{seed}``,
``{split}`` and ``{table}`` are wildcards in the rules, and :func:`fill` (``str.format``) turns them into
concrete paths for the target lists, the scripts and the audit. Nothing else spells a path.

A metrics path is parsed relative to its results root (``results`` or ``results/large_k``): the first
component names the layout (``baseline`` or ``eval``) and every other field is read at its fixed position.
A claim, model or task called ``baseline`` therefore cannot pass for a base-model cell; names that would
make a path ambiguous are refused by the configuration (:data:`RESERVED_NAMES`, :data:`NAME_PATTERN`).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePath

BASE = "base"  # the claim name of a base model's cells in every table

# ---- roots
RESULTS = "results"
DATA = "data"
MODELS = "models"
LOGS = "logs"
LARGE_K = f"{RESULTS}/large_k"  # a second evaluation root: the same layout, large-k settings
BENCHMARKS = f"{RESULTS}/benchmarks"
FIGURES = f"{RESULTS}/figures"

# The layout markers directly under an evaluation root.
BASELINE_DIR = "baseline"
EVAL_DIR = "eval"

# Names that would collide with a path component or with the base model's claim name. A claim, model,
# task, benchmark or table with one of these names (or outside NAME_PATTERN) must be refused by the config.
RESERVED_NAMES = frozenset({BASE, BASELINE_DIR, EVAL_DIR, "runs", "checkpoints", "large_k", "contamination",
                            "benchmarks", "figures", "one_shot", RESULTS, DATA, MODELS, LOGS, "train", "val"})
# One path component: letters, digits, '_', '.', '+', '-', starting with a letter or digit (no '/', no
# leading dot, no braces, no whitespace). Names of the form seed<N> are refused as well (config_checks).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$"

# Keys shared by several templates: one run, one cell.
RUN_KEY = "{claim}/{model}/{task}/seed{seed}"
CELL_KEY = "{model}/{task}/{bench}"

# ---- data and models
SPLIT = f"{DATA}/{{task}}/{{split}}.parquet"
BENCH_DATA = f"{DATA}/{{task}}/{{bench}}.parquet"
ONE_SHOT = f"{DATA}/one_shot/{RUN_KEY}"
ONE_SHOT_DATA = f"{ONE_SHOT}.parquet"  # the one example a one-shot claim trains on
ONE_SHOT_RECORD = f"{ONE_SHOT}.json"  # and why it was chosen
CONTAMINATION_REFERENCE = f"{DATA}/{{task}}/contamination_reference.parquet"
CONTAMINATION_NULL = f"{DATA}/{{task}}/contamination_null.parquet"  # the second fresh set: the null
MODEL_DIR = f"{MODELS}/{{model}}"

# ---- runs
RUN_DIR = f"{RESULTS}/runs/{RUN_KEY}"
CHECKPOINT_DIR = f"{RESULTS}/checkpoints/{RUN_KEY}"
RUN_MODEL = f"{RUN_DIR}/model"
TRAIN_LOG = f"{RUN_DIR}/train_log.csv"
PROMPT_LOG = f"{RUN_DIR}/prompt_log.csv"
RUN_INFO = f"{RUN_DIR}/run_info.json"

# ---- evaluations: cells relative to an evaluation root (RESULTS or LARGE_K)
BASELINE_CELL = f"{BASELINE_DIR}/{CELL_KEY}"
EVAL_CELL = f"{EVAL_DIR}/{RUN_KEY}/{{bench}}"
METRICS = "metrics.json"
SAMPLES = "samples.parquet"

# ---- contamination probe
CONTAMINATION_CELL = f"{RESULTS}/contamination/{CELL_KEY}"
CONTAMINATION_PROBE = f"{CONTAMINATION_CELL}/probe.parquet"
CONTAMINATION_SUMMARY = f"{CONTAMINATION_CELL}/summary.json"

# ---- tables and figures
TABLE = f"{RESULTS}/{{table}}"  # .csv and .md
FIGURE1_DATA = f"{FIGURES}/figure1.csv"
FIGURE = f"{FIGURES}/{{name}}.png"
CONFIG_USED = f"{RESULTS}/config_used.yaml"
AUDIT_REPORT = f"{RESULTS}/audit.txt"
JOB_SERVER_LOG = f"{LOGS}/job_server.log"


def fill(template: str, **values) -> str:
    """A concrete path from a template; a missing value is an error naming it."""
    try:
        return template.format(**values)
    except KeyError as exc:
        raise KeyError(f"path template {template!r} needs a value for {exc.args[0]!r}") from None


def split_data(split: str) -> str:
    """data/{task}/<split>.parquet with {task} left a wildcard."""
    return fill(SPLIT, task="{task}", split=split)


def log(*parts: str) -> str:
    """logs/<parts>.log, e.g. log("train", RUN_KEY)."""
    return f"{LOGS}/{'/'.join(parts)}.log"


def benchmark(*parts: str) -> str:
    """results/benchmarks/<parts>.tsv: Snakemake's per-job time and memory."""
    return f"{BENCHMARKS}/{'/'.join(parts)}.tsv"


def _below_results(root: str) -> list[str]:
    """[] for RESULTS, ["large_k"] for LARGE_K: where a root's logs and benchmarks go."""
    rel = PurePath(root).relative_to(RESULTS)
    return [] if str(rel) == "." else [rel.as_posix()]


def cell_file(root: str, cell: str, name: str) -> str:
    """{root}/{cell}/{name}: an evaluation job's samples or metrics."""
    return f"{root}/{cell}/{name}"


def cell_log(root: str, cell: str) -> str:
    return log(*_below_results(root), cell)


def cell_benchmark(root: str, cell: str) -> str:
    return benchmark(*_below_results(root), cell)


def baseline_metrics_path(model: str, task: str, bench: str, root: str = RESULTS) -> str:
    return fill(cell_file(root, BASELINE_CELL, METRICS), model=model, task=task, bench=bench)


def eval_metrics_path(claim: str, model: str, task: str, seed: int, bench: str, root: str = RESULTS) -> str:
    return fill(cell_file(root, EVAL_CELL, METRICS), claim=claim, model=model, task=task, seed=seed, bench=bench)


def run_dir(claim: str, model: str, task: str, seed: int) -> str:
    return fill(RUN_DIR, claim=claim, model=model, task=task, seed=seed)


@dataclass
class CellSource:
    """Where one cell's numbers come from: one metrics.json (and its samples.parquet) per seed."""

    model: str
    task: str
    bench: str
    claim: str
    metrics_files: list[str] = field(default_factory=list)

    def samples_files(self) -> list[Path]:
        return [Path(m).with_name(SAMPLES) for m in self.metrics_files]


_SEED = re.compile(r"^seed(\d+)$")


def _parse_layout(parts: tuple[str, ...], path) -> dict | None:
    """The fields of an evaluation-root-relative layout, or None when ``parts`` is not one."""
    if not parts or parts[-1] != METRICS:
        return None
    if len(parts) == 5 and parts[0] == BASELINE_DIR:
        _, model, task, bench, _ = parts
        return {"claim": BASE, "model": model, "task": task, "bench": bench, "seed": None}
    if len(parts) == 7 and parts[0] == EVAL_DIR:
        _, claim, model, task, seed, bench, _ = parts
        m = _SEED.match(seed)
        if not m:
            raise ValueError(f"{path}: expected a seed<N> directory, found '{seed}'")
        return {"claim": claim, "model": model, "task": task, "bench": bench, "seed": int(m.group(1))}
    return None


def parse_metrics_path(path: str | Path, root: str | Path | None = None) -> dict:
    """(claim, model, task, bench, seed) of {root}/baseline/{model}/{task}/{bench}/metrics.json or
    {root}/eval/{claim}/{model}/{task}/seed{seed}/{bench}/metrics.json.

    With ``root`` the path must lie under it and is read from there (what the scripts do). Without, the
    layout is the path's last five or seven components; a path that fits both (a model named ``baseline``,
    or a directory named ``eval`` above the root with a task named like ``seed<N>``) is refused.
    """
    if root is not None:
        try:
            rel = PurePath(path).relative_to(root)
        except ValueError:
            raise ValueError(f"{path}: not under the results root {root}") from None
        info = _parse_layout(rel.parts, path)
        if info is None:
            raise ValueError(f"{path}: not a baseline or evaluation metrics path of this pipeline under {root}")
        return info
    parts = PurePath(path).parts
    base = _parse_layout(parts[-5:], path) if len(parts) >= 5 else None
    try:
        run = _parse_layout(parts[-7:], path) if len(parts) >= 7 else None
    except ValueError:  # a malformed seed matters only when nothing else reads the path
        if base is None:
            raise
        run = None
    found = [info for info in (base, run) if info is not None]
    if not found:
        raise ValueError(f"{path}: not a baseline or evaluation metrics path of this pipeline")
    if len(found) > 1:
        raise ValueError(f"{path}: reads as both a baseline and an evaluation path; name its results root")
    return found[0]


def sources_from_metrics(paths: Iterable[str | Path], root: str | Path | None = None) -> list[CellSource]:
    """Group metrics files into cells, seeds of the same cell together, in first-seen order."""
    cells: dict[tuple, CellSource] = {}
    for path in paths:
        info = parse_metrics_path(path, root)
        key = (info["model"], info["task"], info["bench"], info["claim"])
        cell = cells.setdefault(key, CellSource(*key))
        cell.metrics_files.append(str(path))
    return list(cells.values())


def split_base(sources: Iterable[CellSource]) -> tuple[dict[tuple[str, str, str], CellSource], list[CellSource]]:
    """The base models' cells by (model, task, bench), and every other cell in order."""
    sources = list(sources)
    base = {(s.model, s.task, s.bench): s for s in sources if s.claim == BASE}
    return base, [s for s in sources if s.claim != BASE]
