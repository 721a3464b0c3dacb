"""The pipeline's path layout of metrics files, built and parsed back into (model, task, bench, claim, seed)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable
from dataclasses import dataclass, field

BASE = "base"


@dataclass
class CellSource:
    """Where one cell's numbers come from: one metrics.json (and its samples.parquet) per seed."""

    model: str
    task: str
    bench: str
    claim: str
    metrics_files: list[str] = field(default_factory=list)

    def samples_files(self) -> list[Path]:
        return [Path(m).with_name("samples.parquet") for m in self.metrics_files]


def baseline_metrics_path(model: str, task: str, bench: str) -> str:
    return f"results/baseline/{model}/{task}/{bench}/metrics.json"


def eval_metrics_path(claim: str, model: str, task: str, seed: int, bench: str) -> str:
    return f"results/eval/{claim}/{model}/{task}/seed{seed}/{bench}/metrics.json"


def parse_metrics_path(path: str | Path) -> dict:
    """results/baseline/{model}/{task}/{bench}/metrics.json or
    results/eval/{claim}/{model}/{task}/seed{seed}/{bench}/metrics.json."""
    parts = Path(path).parts
    try:
        i = parts.index("baseline")
        model, task, bench = parts[i + 1 : i + 4]
        return {"claim": BASE, "model": model, "task": task, "bench": bench, "seed": None}
    except ValueError:
        pass
    try:
        i = parts.index("eval")
        claim, model, task, seed, bench = parts[i + 1 : i + 6]
    except ValueError as exc:
        raise ValueError(f"{path}: not a baseline or evaluation metrics path of this pipeline") from exc
    if not seed.startswith("seed"):
        raise ValueError(f"{path}: expected a seed<N> directory, found '{seed}'")
    return {"claim": claim, "model": model, "task": task, "bench": bench, "seed": int(seed[4:])}


def sources_from_metrics(paths: Iterable[str | Path]) -> list[CellSource]:
    """Group metrics files into cells, seeds of the same cell together, in first-seen order."""
    cells: dict[tuple, CellSource] = {}
    for path in paths:
        info = parse_metrics_path(path)
        key = (info["model"], info["task"], info["bench"], info["claim"])
        cell = cells.setdefault(key, CellSource(*key))
        cell.metrics_files.append(str(path))
    return list(cells.values())


def split_base(sources: Iterable[CellSource]) -> tuple[dict[tuple[str, str, str], CellSource], list[CellSource]]:
    """The base models' cells by (model, task, bench), and every other cell in order."""
    sources = list(sources)
    base = {(s.model, s.task, s.bench): s for s in sources if s.claim == BASE}
    return base, [s for s in sources if s.claim != BASE]
