"""Tables and figures, computed from per-sample outputs so every number has its samples behind it.

A cell (model x task x benchmark x claim) pools its seeds: for each problem, pass@k is estimated per seed
with the unbiased estimator; the cell's value is the mean over seeds and problems. Its interval is a
two-stage bootstrap over seeds and problems (alignrl.analysis.bootstrap), so it holds the seed-to-seed
variance of RL. The gain over the base model is bootstrapped on the claim-minus-base values, so it stays
paired: a drawn seed and the base use the same resampled problems. Beside the pooled verdict a claim row
carries each seed's own verdict (that seed alone, its interval a bootstrap over problems) and the verdicts
pooled over all seeds but one (leave one seed out).

Every gain is split: beside the strict gain (the paper's metric, column ``correct``) a row carries the gain
in lenient pass@k (column ``lenient_correct``: the answer read wherever it stands) and their difference,
the part of the strict gain that is format alone; the lenient gain is the part beyond format.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from alignrl.analysis.bootstrap import CellBootstrap
from alignrl.analysis.decide import alignment_class, headroom, seed_agreement, verdict
from alignrl.claims.passk import per_problem_pass_at_k
from alignrl.claims.scoring import read_samples
from alignrl.core.paths import BASE, CellSource, parse_metrics_path
from alignrl.core.runtime import read_json

#: The per-seed columns a claim row with a verdict gets; the claim tables show the first two.
SEED_COLUMNS = ("seed_verdicts", "seed_agreement", "loo_verdicts", "seed_gains")


#: Which per-sample verdict a pass@k reads: the strict one (the paper's) or the lenient one.
STRICT, LENIENT = "correct", "lenient_correct"


def problem_pass_at_k_frame(samples: pd.DataFrame, ks: Sequence[int], column: str = STRICT) -> pd.DataFrame:
    """Rows = problems (index problem_id), columns = k: the unbiased estimate from that problem's samples,
    correct meaning ``column`` (``correct``: strict; ``lenient_correct``: the lenient answer)."""
    grouped = samples.groupby("problem_id", sort=True)[column].agg(["size", "sum"])
    sizes = grouped["size"].unique()
    if len(sizes) != 1:
        raise ValueError(f"problems have different sample counts {sorted(sizes.tolist())}: pass@k needs one n")
    n = int(sizes[0])
    return pd.DataFrame({k: per_problem_pass_at_k(grouped["sum"].astype(int), n, k) for k in ks}, index=grouped.index)


def seed_samples(source: CellSource, columns: Sequence[str]) -> list[pd.DataFrame]:
    """The ``columns`` of each seed's samples.parquet; an error naming the file when it or a column is missing."""
    frames = []
    for path in source.samples_files():
        if not path.exists():
            raise FileNotFoundError(f"{path}: per-sample outputs behind {path.with_name('metrics.json')} are missing")
        frames.append(read_samples(path, ["problem_id", *columns]))
    return frames


def _seed_values(source: CellSource, ks: Sequence[int], column: str = STRICT) -> tuple[np.ndarray, pd.Index]:
    """seeds x problems x ks of pass@k by ``column``, every seed checked to be on the first seed's problems."""
    frames = [problem_pass_at_k_frame(f, ks, column) for f in seed_samples(source, [column])]
    problems = frames[0].index
    for frame, path in zip(frames[1:], source.metrics_files[1:]):
        if not frame.index.equals(problems):
            raise ValueError(f"{path}: evaluated on different problems than {source.metrics_files[0]}")
    return np.stack([f.to_numpy() for f in frames]), problems


def seed_labels(source: CellSource) -> list[str]:
    """Each metrics file's RL seed (from its seed<N> directory), else its position in the cell."""
    labels = []
    for i, path in enumerate(source.metrics_files):
        try:
            seed = parse_metrics_path(path)["seed"]
        except ValueError:
            seed = None
        labels.append(str(i if seed is None else seed))
    return labels


def _keyed(labels: Sequence[str], values: Sequence[str]) -> str:
    return ";".join(f"{s}:{v}" for s, v in zip(labels, values))


def _seed_verdicts(boot: CellBootstrap, diff: np.ndarray, labels: list[str], pooled: str, min_gain: float) -> dict:
    """The verdict of each seed alone and of every leave-one-seed-out pool, as ``seed:verdict`` lists."""
    n = diff.shape[0]
    per_seed, gains = [], []
    for s in range(n):
        one = boot.interval(diff, [s])
        per_seed.append(verdict(float(one.low[0]), float(one.high[0]), min_gain))
        gains.append(f"{float(one.mean[0]):+.4f}")
    loo = []
    if n > 1:
        for s in range(n):
            rest = boot.interval(diff, [i for i in range(n) if i != s])
            loo.append(verdict(float(rest.low[0]), float(rest.high[0]), min_gain))
    return {
        "seed_verdicts": _keyed(labels, per_seed),
        "seed_agreement": seed_agreement(pooled, per_seed),
        "loo_verdicts": _keyed(labels, loo),  # keyed by the seed left out; empty with one seed
        "seed_gains": _keyed(labels, gains),
    }


def _put(row: dict, names: Sequence[str], interval) -> None:
    """``name``, ``name_ci_low``, ``name_ci_high`` for every column of ``interval``."""
    for j, name in enumerate(names):
        row[name] = float(interval.mean[j])
        row[f"{name}_ci_low"], row[f"{name}_ci_high"] = float(interval.low[j]), float(interval.high[j])


def _base_values(base: CellSource, ks: Sequence[int], problems: pd.Index, source: CellSource, column: str):
    values, base_problems = _seed_values(base, ks, column)
    if not base_problems.equals(problems):
        raise ValueError(f"{source.metrics_files[0]}: evaluated on different problems than the base model")
    # the base model has one evaluation (RL seeds do not touch it); several would be pooled per problem
    return values.mean(axis=0)


def summarize_cell(
    source: CellSource,
    ks: Sequence[int],
    *,
    base: CellSource | None,
    gain_ks: Sequence[int],
    n_boot: int,
    alpha: float,
    seed: int,
    verdict_cfg: dict | None = None,
    split_ks: Sequence[int] = (),
) -> dict:
    """One table row: pass@k with two-stage (seeds, problems) bootstrap intervals and, with ``base``, the
    paired gain. With ``verdict_cfg`` too, the pooled verdict and the per-seed columns (SEED_COLUMNS).

    For every k of ``split_ks`` (a subset of ``ks``) also lenient pass@k and, with ``base``, the split of
    the gain: ``lenient_gain@k`` (beyond format) and ``format_part@k`` = gain@k - lenient_gain@k, each
    with its paired two-stage interval (the bootstrap of the per-problem differences, so all three share
    the resampling). The verdict stays on the strict gain."""
    if not set(split_ks) <= set(ks):
        raise ValueError(f"split_ks {list(split_ks)} must be among ks {list(ks)}")
    values, problems = _seed_values(source, ks)
    boot = CellBootstrap(len(problems), n_boot=n_boot, alpha=alpha, seed=seed)
    row: dict = {
        "model": source.model,
        "task": source.task,
        "bench": source.bench,
        "claim": source.claim,
        "n_seeds": values.shape[0],
        "n_problems": len(problems),
    }
    _put(row, [f"pass@{k}" for k in ks], boot.interval(values))
    split_ks = list(split_ks)
    if split_ks:
        lenient, lenient_problems = _seed_values(source, split_ks, LENIENT)
        if not lenient_problems.equals(problems):  # the same files: only a corrupt file gets here
            raise ValueError(f"{source.metrics_files[0]}: lenient and strict verdicts cover different problems")
        _put(row, [f"lenient_pass@{k}" for k in split_ks], boot.interval(lenient))
    if base is not None:
        gained = values - _base_values(base, ks, problems, source, STRICT)  # per seed and problem, every k
        cols = [list(ks).index(k) for k in gain_ks]
        diff = gained[:, :, cols]
        _put(row, [f"gain@{k}" for k in gain_ks], boot.interval(diff))
        if split_ks:
            strict = gained[:, :, [list(ks).index(k) for k in split_ks]]
            beyond = lenient - _base_values(base, split_ks, problems, source, LENIENT)
            _put(row, [f"lenient_gain@{k}" for k in split_ks], boot.interval(beyond))
            _put(row, [f"format_part@{k}" for k in split_ks], boot.interval(strict - beyond))
        if verdict_cfg is not None:
            k = verdict_cfg["k"]
            pooled = verdict(row[f"gain@{k}_ci_low"], row[f"gain@{k}_ci_high"], verdict_cfg["min_gain"])
            row["verdict"] = pooled
            vcol = diff[:, :, list(gain_ks).index(k)][:, :, None]
            row.update(_seed_verdicts(boot, vcol, seed_labels(source), pooled, verdict_cfg["min_gain"]))
    row["metrics_files"] = ";".join(source.metrics_files)
    return row


def classify(row: dict, alignment: dict) -> tuple[str, str]:
    """(alignment class, headroom) of a base row, from its pass@k interval at alignment.k and its pass@1."""
    k = alignment["k"]
    cls = alignment_class(row[f"pass@{k}_ci_low"], row[f"pass@{k}_ci_high"], alignment)
    return cls, headroom(cls, row[f"pass@{k}"], row["pass@1"], alignment)


def build_table1(sources: Sequence[CellSource], ks: Sequence[int], alignment: dict, bootstrap: dict) -> pd.DataFrame:
    """The alignment table: base-model pass@k per model x task with intervals, the alignment class decided
    with the strict pass@k interval and, for a strong cell, whether the base model leaves headroom; then
    the base model's traits: lenient pass@k, format rate, maj@n strict and lenient (with intervals), and
    each solution style's share and accuracy (:mod:`alignrl.analysis.traits`)."""
    from alignrl.analysis.traits import TRAIT_READ, trait_columns

    rows = []
    for source in sources:
        row = summarize_cell(source, ks, base=None, gain_ks=(), n_boot=bootstrap["n_boot"],
                             alpha=bootstrap["alpha"], seed=bootstrap["seed"], split_ks=ks)
        files = row.pop("metrics_files")
        row.update(trait_columns(source, seed_samples(source, TRAIT_READ), n_boot=bootstrap["n_boot"],
                                 alpha=bootstrap["alpha"], seed=bootstrap["seed"]))
        row["metrics_files"] = files
        metrics = read_json(source.metrics_files[0])
        row["n_samples"] = metrics["n"]
        row["temperature"] = metrics["temperature"]
        row["top_p"] = metrics["top_p"]
        row["alignment"], row["headroom"] = classify(row, alignment)
        rows.append(row)
    df = pd.DataFrame(rows).drop(columns=["claim", "n_seeds"])
    front = ["model", "task", "bench", "alignment", "headroom", "n_problems", "n_samples", "temperature", "top_p"]
    return df[front + [c for c in df.columns if c not in front]]


def build_claims_table(
    base_sources: dict[tuple[str, str, str], CellSource],
    claim_sources: Sequence[CellSource],
    ks: Sequence[int],
    alignment: dict,
    bootstrap: dict,
    verdict_cfg: dict | None = None,
    seed_columns: Sequence[str] = SEED_COLUMNS[:2],
) -> pd.DataFrame:
    """Rows = model x task x bench x claim, the base model first; gains are paired against the base.
    With `verdict_cfg`, each claim row gets a verdict from its gain interval and the per-seed columns named
    in `seed_columns` (by default each seed's verdict and the agreement text).

    Every row carries lenient pass@k at the split k (the verdict's k, else 1), and every claim row the split
    of its gain there: `lenient_gain@k` (beyond format) and `format_part@k` (strict minus lenient gain), each
    with its interval. Generic in the claims: any list of claim cells gets the same columns."""
    gain_ks = sorted({1, alignment["k"]} & set(ks))
    if verdict_cfg is not None and verdict_cfg["k"] not in gain_ks:
        gain_ks = sorted({*gain_ks, verdict_cfg["k"]})
    split_ks = [k for k in [verdict_cfg["k"] if verdict_cfg is not None else 1] if k in ks]
    rows = []
    for key, base in base_sources.items():
        base_row = summarize_cell(base, ks, base=None, gain_ks=(), n_boot=bootstrap["n_boot"],
                                  alpha=bootstrap["alpha"], seed=bootstrap["seed"], split_ks=split_ks)
        base_row["alignment"], base_row["headroom"] = classify(base_row, alignment)
        rows.append(base_row)
        for source in claim_sources:
            if (source.model, source.task, source.bench) != key:
                continue
            row = summarize_cell(source, ks, base=base, gain_ks=gain_ks, n_boot=bootstrap["n_boot"],
                                 alpha=bootstrap["alpha"], seed=bootstrap["seed"], verdict_cfg=verdict_cfg,
                                 split_ks=split_ks)
            for col in set(SEED_COLUMNS) - set(seed_columns):
                row.pop(col, None)
            row["alignment"], row["headroom"] = base_row["alignment"], base_row["headroom"]
            rows.append(row)
    df = pd.DataFrame(rows)
    front = ["model", "task", "bench", "alignment", "headroom", "claim", "n_seeds", "n_problems"]
    if "verdict" in df.columns:
        extra = ["verdict", *seed_columns]
        front += extra
        df[extra] = df[extra].fillna("")
    return df[front + [c for c in df.columns if c not in front]]


def to_markdown(df: pd.DataFrame, title: str = "", digits: int = 3) -> str:
    """A plain GitHub-markdown rendering (intervals folded into 'value [low, high]')."""
    cols = [c for c in df.columns if not c.endswith(("_ci_low", "_ci_high")) and c != "metrics_files"]
    lines = []
    if title:
        lines += [f"## {title}", ""]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for _, row in df.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if isinstance(v, float):
                if np.isnan(v):
                    cells.append("")
                    continue
                fmt = f".{digits}g" if 0 < abs(v) < 10 ** -digits else f".{digits}f"  # learning rates
                text = f"{v:{fmt}}"
                if f"{c}_ci_low" in df.columns:
                    text += f" [{row[c + '_ci_low']:.{digits}f}, {row[c + '_ci_high']:.{digits}f}]"
                cells.append(text)
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, csv_path: str | Path, md_path: str | Path, title: str, preamble: str = "") -> None:
    """The CSV (6 significant digits) and its markdown rendering, ``preamble`` (markdown) above the table."""
    csv_path, md_path = Path(csv_path), Path(md_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = csv_path.with_suffix(".csv.tmp")
    df.to_csv(tmp, index=False, float_format="%.6g")
    tmp.replace(csv_path)
    md_path.write_text(preamble + to_markdown(df, title))


def plot_passk_curves(table1: pd.DataFrame, ks: Sequence[int], out_path: str | Path) -> None:
    """pass@k against k (log2 axis), one line per model x task, with the bootstrap band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for _, row in table1.iterrows():
        ys = [row[f"pass@{k}"] for k in ks]
        lo = [row[f"pass@{k}_ci_low"] for k in ks]
        hi = [row[f"pass@{k}_ci_high"] for k in ks]
        label = f"{row['model']} x {row['task']}" + (f" ({row['bench']})" if row["bench"] != "test" else "")
        label += f" [{row['alignment']}]"
        style = "-" if row["alignment"] == "strong" else "--"
        (line,) = ax.plot(ks, ys, style, marker="o", label=label)
        ax.fill_between(ks, lo, hi, color=line.get_color(), alpha=0.15)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(ks))
    ax.set_xticklabels([str(k) for k in ks])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("k")
    ax.set_ylabel("pass@k (unbiased, 95% bootstrap band)")
    ax.set_title("Base-model pass@k: model-task alignment")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=130)
    plt.close(fig)


def build_sensitivity_table(
    sources: Sequence[CellSource],
    runs: Sequence[tuple[str, float, str]],
    ks: Sequence[int],
    alignment: dict,
    bootstrap: dict,
    verdict_cfg: dict,
) -> pd.DataFrame:
    """One row per claim x lr x model x task x bench: the gain, its interval and verdict, and whether the
    verdict differs from the one at any other learning rate of the sweep (`flips`)."""
    k = verdict_cfg["k"]
    base = {(s.model, s.task, s.bench): s for s in sources if s.claim == BASE}
    by_claim = {(s.claim, s.model, s.task, s.bench): s for s in sources if s.claim != BASE}
    alignments: dict[tuple, str] = {}  # one class per base cell, whatever the run
    rows = []
    for claim, lr, run_name in runs:
        for key, base_source in base.items():
            source = by_claim.get((run_name, *key))
            if source is None:
                raise ValueError(f"no evaluation of {run_name} for {key}")
            row = summarize_cell(source, ks, base=base_source, gain_ks=[k], n_boot=bootstrap["n_boot"],
                                 alpha=bootstrap["alpha"], seed=bootstrap["seed"], verdict_cfg=verdict_cfg)
            cls = alignments.get(key)
            if cls is None:
                base_row = summarize_cell(base_source, sorted({1, alignment["k"]}), base=None, gain_ks=(),
                                          n_boot=bootstrap["n_boot"], alpha=bootstrap["alpha"],
                                          seed=bootstrap["seed"])
                cls = alignments[key] = classify(base_row, alignment)[0]
            rows.append({
                "claim": claim, "lr": lr, "run": run_name, "model": key[0], "task": key[1], "bench": key[2],
                "alignment": cls,
                "n_seeds": row["n_seeds"],
                f"pass@{k}": row[f"pass@{k}"],
                f"gain@{k}": row[f"gain@{k}"],
                f"gain@{k}_ci_low": row[f"gain@{k}_ci_low"],
                f"gain@{k}_ci_high": row[f"gain@{k}_ci_high"],
                "verdict": row["verdict"],
                "seed_verdicts": row["seed_verdicts"],
                "seed_agreement": row["seed_agreement"],
                "metrics_files": row["metrics_files"],
            })
    df = pd.DataFrame(rows)
    group = ["claim", "model", "task", "bench"]
    df["flips"] = df.groupby(group)["verdict"].transform(lambda v: v.nunique() > 1)
    return df.sort_values(group + ["lr"], kind="stable").reset_index(drop=True)
