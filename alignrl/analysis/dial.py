"""The alignment dial: each claim's gain over its base model against the base model's alignment.

The paper bins alignment into strong and weak. The dial pretrains copies of one base model that differ
only in the corpus fraction of one task's worked examples, measures each copy's pass@k (its alignment)
and trains every claim on every copy, so a claim's gain can be read as a function of alignment: where
does a trick start to work?
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from alignrl.analysis.decide import HOLDS
from alignrl.analysis.tables import CellSource, build_claims_table

__all__ = ["build_dial_table", "onsets", "dial_markdown", "plot_dial"]


def build_dial_table(
    base_sources: dict[tuple[str, str, str], CellSource],
    claim_sources: Sequence[CellSource],
    levels: dict[str, float],
    ks: Sequence[int],
    alignment: dict,
    bootstrap: dict,
    verdict_cfg: dict,
) -> pd.DataFrame:
    """One row per level x claim: the level's corpus fraction, its base pass@1 and pass@k (with
    intervals), the claim's pass@v and its paired gain over the base with interval and verdict
    (v = verdict.k). `levels` maps each level's model name to its corpus fraction."""
    table = build_claims_table(base_sources, claim_sources, ks, alignment, bootstrap, verdict_cfg)
    k, ak = verdict_cfg["k"], alignment["k"]
    base = table[table["claim"] == "base"].set_index(["model", "task", "bench"])
    rows = []
    for _, r in table[table["claim"] != "base"].iterrows():
        if r["model"] not in levels:
            raise ValueError(f"model '{r['model']}' is not a dial level; levels: {sorted(levels)}")
        b = base.loc[(r["model"], r["task"], r["bench"])]
        rows.append({
            "level": levels[r["model"]],
            "model": r["model"],
            "task": r["task"],
            "bench": r["bench"],
            "alignment": r["alignment"],
            "base_pass@1": b["pass@1"],
            f"base_pass@{ak}": b[f"pass@{ak}"],
            f"base_pass@{ak}_ci_low": b[f"pass@{ak}_ci_low"],
            f"base_pass@{ak}_ci_high": b[f"pass@{ak}_ci_high"],
            "claim": r["claim"],
            "n_seeds": r["n_seeds"],
            f"pass@{k}": r[f"pass@{k}"],
            f"gain@{k}": r[f"gain@{k}"],
            f"gain@{k}_ci_low": r[f"gain@{k}_ci_low"],
            f"gain@{k}_ci_high": r[f"gain@{k}_ci_high"],
            "verdict": r["verdict"],
            "seed_verdicts": r["seed_verdicts"],
            "seed_agreement": r["seed_agreement"],
            "metrics_files": r["metrics_files"],
            "base_metrics_files": b["metrics_files"],
        })
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    return df.sort_values(["claim", "level", "bench"], kind="stable").reset_index(drop=True)


def onsets(df: pd.DataFrame, alignment_k: int) -> pd.DataFrame:
    """Per claim: the lowest base pass@k from which the claim holds at every more aligned level
    (NaN when it does not hold at the most aligned one), and at how many levels it holds at all."""
    col = f"base_pass@{alignment_k}"
    out = []
    for claim, part in df.groupby("claim", sort=False):
        part = part.sort_values(col)
        holds = (part["verdict"] == HOLDS).tolist()
        onset = float("nan")
        for i in range(len(holds) - 1, -1, -1):
            if not holds[i]:
                break
            onset = float(part[col].iloc[i])
        out.append({"claim": claim, f"onset_base_pass@{alignment_k}": onset,
                    "levels_holding": int(sum(holds)), "levels": len(holds)})
    return pd.DataFrame(out)


def dial_markdown(df: pd.DataFrame, alignment: dict, verdict_cfg: dict) -> str:
    """In words: at which alignment each claim starts to hold."""
    ak, k = alignment["k"], verdict_cfg["k"]
    lines = [
        "# The alignment dial",
        "",
        f"Base models differ only in their corpus fraction of the task's worked examples; alignment is "
        f"their measured pass@{ak}. A claim holds at a level when the 95% paired-bootstrap interval of its "
        f"pass@{k} gain lies above 0. The onset is the lowest alignment from which the claim holds at every "
        "more aligned level.",
        "",
    ]
    if df.empty:
        return "\n".join(lines + ["No dial level was evaluated."]) + "\n"
    for _, o in onsets(df, ak).iterrows():
        onset = o[f"onset_base_pass@{ak}"]
        where = ("never holds at the most aligned level" if pd.isna(onset)
                 else f"holds from base pass@{ak} = {onset:.3f} upwards")
        lines.append(f"- **{o['claim']}**: {where} (holds at {o['levels_holding']} of {o['levels']} levels).")
    return "\n".join(lines) + "\n"


def plot_dial(df: pd.DataFrame, alignment: dict, verdict_cfg: dict, out_path: str | Path) -> None:
    """Gain over base (with its interval) against base pass@k, one line per claim."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ak, k = alignment["k"], verdict_cfg["k"]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for claim, part in df.groupby("claim", sort=False):
        part = part.sort_values(f"base_pass@{ak}")
        x = part[f"base_pass@{ak}"].to_numpy()
        y = part[f"gain@{k}"].to_numpy()
        err = [y - part[f"gain@{k}_ci_low"].to_numpy(), part[f"gain@{k}_ci_high"].to_numpy() - y]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=claim)
    ax.axhline(0.0, color="black", lw=0.8, ls="--")
    for x, label in ((alignment["weak_at_most"], "weak"), (alignment["strong_at_least"], "strong")):
        ax.axvline(x, color="grey", lw=0.8, ls=":")
        ax.text(x, ax.get_ylim()[1], f" {label}", va="top", ha="left", fontsize=8, color="grey")
    levels = df.drop_duplicates("model").sort_values(f"base_pass@{ak}")
    for _, r in levels.iterrows():
        ax.annotate(f"{r['level']:g}", (r[f"base_pass@{ak}"], ax.get_ylim()[0]), fontsize=7,
                    color="grey", ha="center", va="bottom")
    ax.set_xlabel(f"base model pass@{ak} (alignment); grey numbers: corpus fraction")
    ax.set_ylabel(f"gain in pass@{k} over the base model")
    task = df["task"].iloc[0] if not df.empty else ""
    ax.set_title(f"Alignment dial on {task}: where does each claim start to work?")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
