"""The alignment dial: each claim's gain over its base model against the base model's alignment.

The paper bins alignment into strong and weak. The dial pretrains copies of one base model that differ
only in the corpus fraction of one task's worked examples, measures each copy's pass@k (its alignment)
and trains every claim on every copy, so a claim's gain can be read as a function of alignment: where
does a trick start to work? Each level is pretrained on several seeds (corpus and pretraining seeds
offset); its alignment is the mean over them with their spread, while the claims train on its first seed.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from alignrl.analysis.decide import HOLDS
from alignrl.analysis.tables import CellSource, build_claims_table

__all__ = ["build_dial_table", "onsets", "dial_markdown", "plot_dial"]


def _spread(values: Sequence[float]) -> dict:
    return {"mean": float(sum(values) / len(values)), "min": float(min(values)), "max": float(max(values))}


def build_dial_table(
    base_sources: dict[tuple[str, str, str], CellSource],
    claim_sources: Sequence[CellSource],
    levels: dict[str, float],
    ks: Sequence[int],
    alignment: dict,
    bootstrap: dict,
    verdict_cfg: dict,
    replicas: dict[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """One row per level x claim: the level's corpus fraction, its alignment over its pretraining
    replicas (mean, min, max and each replica's base pass@k), its own model's base pass@1 and pass@k (with
    intervals), the claim's pass@v and its paired gain over that base with interval and verdict
    (v = verdict.k). `levels` maps each level's model name to its corpus fraction; `replicas` maps it to
    its replicas' model names, itself first (default: itself only). Claims train on the level's own model."""
    replicas = {m: list(replicas[m]) if replicas and m in replicas else [m] for m in levels}
    for model, names in replicas.items():
        if not names or names[0] != model:
            raise ValueError(f"replicas of dial level '{model}' must start with the level itself; got {names}")
    replica_of = {n: m for m, names in replicas.items() for n in names}
    for key, source in base_sources.items():
        if key[0] not in replica_of:
            raise ValueError(f"{source.metrics_files[0]}: model '{key[0]}' is not a dial level or a replica of one; "
                             f"levels: {sorted(levels)}")
    table = build_claims_table(base_sources, claim_sources, ks, alignment, bootstrap, verdict_cfg)
    k, ak = verdict_cfg["k"], alignment["k"]
    base = table[table["claim"] == "base"].set_index(["model", "task", "bench"])
    rows = []
    for _, r in table[table["claim"] != "base"].iterrows():
        if r["model"] not in levels:
            raise ValueError(f"model '{r['model']}' is not a dial level; levels: {sorted(levels)}")
        b = base.loc[(r["model"], r["task"], r["bench"])]
        names = replicas[r["model"]]
        missing = [n for n in names if (n, r["task"], r["bench"]) not in base.index]
        if missing:
            raise ValueError(f"dial level '{r['model']}': no base evaluation of replica(s) {missing} on "
                             f"{r['task']}/{r['bench']}")
        per_seed = [float(base.loc[(n, r["task"], r["bench"])][f"pass@{ak}"]) for n in names]
        spread = _spread(per_seed)
        rows.append({
            "level": levels[r["model"]],
            "model": r["model"],
            "task": r["task"],
            "bench": r["bench"],
            "alignment": r["alignment"],
            f"alignment@{ak}": spread["mean"],
            f"alignment@{ak}_min": spread["min"],
            f"alignment@{ak}_max": spread["max"],
            "n_pretrain_seeds": len(names),
            f"base_pass@{ak}_per_seed": ";".join(f"{v:.6g}" for v in per_seed),
            "pretrain_models": ";".join(names),
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
    """Per claim: the lowest alignment (the level's mean base pass@k over its pretraining seeds) from which
    the claim holds at every more aligned level (NaN when it does not hold at the most aligned one), and at
    how many levels it holds at all."""
    col = f"alignment@{alignment_k}"
    out = []
    for claim, part in df.groupby("claim", sort=False):
        part = part.sort_values(col)
        holds = (part["verdict"] == HOLDS).tolist()
        onset = float("nan")
        for i in range(len(holds) - 1, -1, -1):
            if not holds[i]:
                break
            onset = float(part[col].iloc[i])
        out.append({"claim": claim, f"onset_alignment@{alignment_k}": onset,
                    "levels_holding": int(sum(holds)), "levels": len(holds)})
    return pd.DataFrame(out)


def dial_markdown(df: pd.DataFrame, alignment: dict, verdict_cfg: dict) -> str:
    """In words: at which alignment each claim starts to hold."""
    ak, k = alignment["k"], verdict_cfg["k"]
    lines = [
        "# The alignment dial",
        "",
        f"Base models differ only in their corpus fraction of the task's worked examples. A level's alignment "
        f"is the mean of its measured base pass@{ak} over its pretraining seeds (copies with other corpus and "
        "pretraining seeds), with their min-max spread. The RL claims run on each level's primary model "
        "(its first pretraining seed) only, and their gains are paired against that model's base. A claim "
        f"holds at a level when the 95% paired-bootstrap interval of its pass@{k} gain lies above 0. The onset "
        "is the lowest alignment from which the claim holds at every more aligned level.",
        "",
    ]
    if df.empty:
        return "\n".join(lines + ["No dial level was evaluated."]) + "\n"
    lines += [f"Alignment per level (pass@{ak}: mean [min, max] over pretraining seeds; each seed's value):", ""]
    for _, r in df.drop_duplicates(["model", "bench"]).sort_values("level").iterrows():
        lines.append(f"- level {r['level']:g} ({r['pretrain_models'].replace(';', ', ')}): "
                     f"{r[f'alignment@{ak}']:.3f} [{r[f'alignment@{ak}_min']:.3f}, {r[f'alignment@{ak}_max']:.3f}]; "
                     f"{r[f'base_pass@{ak}_per_seed'].replace(';', ', ')}")
    lines.append("")
    for _, o in onsets(df, ak).iterrows():
        onset = o[f"onset_alignment@{ak}"]
        where = ("never holds at the most aligned level" if pd.isna(onset)
                 else f"holds from alignment (mean pass@{ak}) = {onset:.3f} upwards")
        lines.append(f"- **{o['claim']}**: {where} (holds at {o['levels_holding']} of {o['levels']} levels).")
    return "\n".join(lines) + "\n"


def plot_dial(df: pd.DataFrame, alignment: dict, verdict_cfg: dict, out_path: str | Path) -> None:
    """Gain over base (with its interval) against base pass@k, one line per claim."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ak, k = alignment["k"], verdict_cfg["k"]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    col = f"alignment@{ak}"
    for claim, part in df.groupby("claim", sort=False):
        part = part.sort_values(col)
        x = part[col].to_numpy()
        y = part[f"gain@{k}"].to_numpy()
        yerr = [y - part[f"gain@{k}_ci_low"].to_numpy(), part[f"gain@{k}_ci_high"].to_numpy() - y]
        xerr = [x - part[f"{col}_min"].to_numpy(), part[f"{col}_max"].to_numpy() - x]  # spread over pretraining seeds
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, marker="o", capsize=3, label=claim)
    ax.axhline(0.0, color="black", lw=0.8, ls="--")
    for x, label in ((alignment["weak_at_most"], "weak"), (alignment["strong_at_least"], "strong")):
        ax.axvline(x, color="grey", lw=0.8, ls=":")
        ax.text(x, ax.get_ylim()[1], f" {label}", va="top", ha="left", fontsize=8, color="grey")
    levels = df.drop_duplicates("model").sort_values(col)
    for _, r in levels.iterrows():
        ax.annotate(f"{r['level']:g}", (r[col], ax.get_ylim()[0]), fontsize=7,
                    color="grey", ha="center", va="bottom")
    ax.set_xlabel(f"alignment: mean base pass@{ak} over pretraining seeds (bars: min-max); grey: corpus fraction",
                  fontsize=9)
    ax.set_ylabel(f"gain in pass@{k} over the base model")
    task = df["task"].iloc[0] if not df.empty else ""
    ax.set_title(f"Alignment dial on {task}: where does each claim start to work?")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
