"""pass@k up to large k, and where the base model catches up with a trained one.

At k = 1 RL usually wins; at large k the base model, which spreads its probability over more answers,
often catches up (Yue et al. 2504.13837). Curves come from the same unbiased estimator and per-sample
outputs as every table; the crossing is read from the paired gain per k.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from alignrl.analysis.tables import BASE, CellSource, summarize_cell

__all__ = ["build_curves", "crossings", "plot_curves"]


def build_curves(
    base_sources: dict[tuple[str, str, str], CellSource],
    claim_sources: Sequence[CellSource],
    ks: Sequence[int],
    bootstrap: dict,
) -> pd.DataFrame:
    """Long format: one row per model x task x bench x claim x k with pass@k and its interval; trained
    rows also carry the paired gain over the base model and its interval."""
    rows = []
    boot = {"n_boot": bootstrap["n_boot"], "alpha": bootstrap["alpha"], "seed": bootstrap["seed"]}
    cells = [(s, None) for s in base_sources.values()]
    for source in claim_sources:
        key = (source.model, source.task, source.bench)
        if key not in base_sources:
            raise ValueError(f"{source.metrics_files[0]}: no large-k base-model evaluation for {key}")
        cells.append((source, base_sources[key]))
    for source, base in cells:
        summary = summarize_cell(source, ks, base=base, gain_ks=ks if base is not None else (), **boot)
        for k in ks:
            row = {
                "model": source.model, "task": source.task, "bench": source.bench, "claim": source.claim,
                "n_seeds": summary["n_seeds"], "n_problems": summary["n_problems"], "k": int(k),
                "pass@k": summary[f"pass@{k}"],
                "ci_low": summary[f"pass@{k}_ci_low"], "ci_high": summary[f"pass@{k}_ci_high"],
            }
            if base is not None:
                row["gain"] = summary[f"gain@{k}"]
                row["gain_ci_low"] = summary[f"gain@{k}_ci_low"]
                row["gain_ci_high"] = summary[f"gain@{k}_ci_high"]
            row["metrics_files"] = summary["metrics_files"]
            rows.append(row)
    df = pd.DataFrame(rows)
    for col in ("gain", "gain_ci_low", "gain_ci_high"):
        if col not in df.columns:
            df[col] = float("nan")
    return df


def crossings(curves: pd.DataFrame) -> pd.DataFrame:
    """Per trained cell: is it ahead of the base at k = 1; the first k at which the base model's pass@k
    reaches the trained model's (point estimates); the first k from which the base is ahead with its
    whole interval (paired gain interval below 0)."""
    out = []
    trained = curves[curves["claim"] != BASE]
    for (model, task, bench, claim), part in trained.groupby(["model", "task", "bench", "claim"], sort=False):
        part = part.sort_values("k")
        first = part.iloc[0]
        caught = part[part["gain"] <= 0]
        significant = part[part["gain_ci_high"] < 0]
        out.append({
            "model": model, "task": task, "bench": bench, "claim": claim,
            "gain_at_k1": float(first["gain"]),
            "trained_ahead_at_k1": bool(first["gain_ci_low"] > 0),
            "crossing_k": int(caught["k"].iloc[0]) if len(caught) else None,
            "base_ahead_significant_from_k": int(significant["k"].iloc[0]) if len(significant) else None,
            "max_k": int(part["k"].max()),
        })
    return pd.DataFrame(out, columns=["model", "task", "bench", "claim", "gain_at_k1", "trained_ahead_at_k1",
                                      "crossing_k", "base_ahead_significant_from_k", "max_k"])


def plot_curves(curves: pd.DataFrame, crossing: pd.DataFrame, out_path: str | Path) -> None:
    """One panel per model x task x bench: pass@k against k (log scale) for the base and trained models,
    with a dotted line at each crossing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(curves.groupby(["model", "task", "bench"], sort=True))
    cols = min(2, max(1, len(panels)))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.8 * rows), squeeze=False)
    for ax, ((model, task, bench), part) in zip(axes.flat, panels):
        for claim, line in part.groupby("claim", sort=False):
            line = line.sort_values("k")
            style = {"color": "black", "lw": 2.0} if claim == BASE else {}
            h = ax.plot(line["k"], line["pass@k"], marker="o", ms=3, label=claim, **style)[0]
            ax.fill_between(line["k"], line["ci_low"], line["ci_high"], alpha=0.15, color=h.get_color())
            hit = crossing[(crossing["model"] == model) & (crossing["task"] == task)
                           & (crossing["bench"] == bench) & (crossing["claim"] == claim)]
            if len(hit) and pd.notna(hit["crossing_k"].iloc[0]):
                ax.axvline(hit["crossing_k"].iloc[0], color=h.get_color(), ls=":", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("k")
        ax.set_ylabel("pass@k")
        ax.set_title(f"{model} x {task} ({bench})")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
