"""verdicts.csv and verdicts.md: every claim x cell, its verdict, the paper's prediction and the agreement."""
from __future__ import annotations

import pandas as pd

from alignrl.analysis.decide import FAILS, HOLDS, INCONCLUSIVE, agreement, paper_prediction, verdict
from alignrl.analysis.tables import build_claims_table

__all__ = [
    "FAILS", "HOLDS", "INCONCLUSIVE", "agreement", "build_verdicts", "paper_prediction", "summary_markdown", "verdict",
]


def build_verdicts(
    base_sources: dict,
    claim_sources: list,
    ks: list[int],
    alignment: dict,
    bootstrap: dict,
    verdict_cfg: dict,
    expectations: dict[str, str],
):
    """``verdicts.csv``: one row per claim x model x task x bench with the base pass@k (the alignment),
    the gain over the base with its paired bootstrap interval, the verdict from that interval, the
    paper's prediction for the cell and whether the measurement agrees with it."""
    table = build_claims_table(base_sources, claim_sources, ks, alignment, bootstrap, verdict_cfg)
    base = table[table["claim"] == "base"].set_index(["model", "task", "bench"])
    k, ak = verdict_cfg["k"], alignment["k"]
    rows = []
    for _, row in table[table["claim"] != "base"].iterrows():
        b = base.loc[(row["model"], row["task"], row["bench"])]
        expectation = expectations.get(row["claim"], "none")
        predicted = paper_prediction(expectation, row["alignment"])
        rows.append({
            "model": row["model"], "task": row["task"], "bench": row["bench"], "claim": row["claim"],
            "alignment": row["alignment"],
            f"base_pass@{ak}": b[f"pass@{ak}"],
            f"base_pass@{k}": b[f"pass@{k}"],
            f"pass@{k}": row[f"pass@{k}"],
            f"gain@{k}": row[f"gain@{k}"],
            f"gain@{k}_ci_low": row[f"gain@{k}_ci_low"],
            f"gain@{k}_ci_high": row[f"gain@{k}_ci_high"],
            f"pass@{k}_seed_se": row[f"pass@{k}_seed_se"],
            "n_seeds": row["n_seeds"],
            "verdict": row["verdict"],
            "expectation": expectation,
            "paper_predicts": predicted,
            "agreement": agreement(predicted, row["verdict"]),
            "metrics_files": row["metrics_files"],
        })
    columns = list(rows[0]) if rows else []
    return pd.DataFrame(rows, columns=columns)


def summary_markdown(df, verdict_cfg: dict, alignment: dict) -> str:
    """One page, in words: per claim, where the paper's thesis held in this run and where it did not."""
    k = verdict_cfg["k"]
    lines = [
        "# Verdicts: where the paper's thesis held in this run",
        "",
        f"A claim **holds** in a cell when the 95% paired-bootstrap interval of its pass@{k} gain over the base "
        f"model lies above 0; it **fails** when the interval lies below {verdict_cfg['min_gain']} (no useful "
        "gain, or harm); otherwise the run is **inconclusive**. Alignment is the base model's measured "
        f"pass@{alignment['k']} (strong >= {alignment['strong_at_least']}, weak <= {alignment['weak_at_most']}). "
        "The paper predicts that standard RL holds everywhere and that the tricks hold only under strong "
        "alignment.",
        "",
    ]
    if df.empty:
        return "\n".join(lines + ["No claim was evaluated."]) + "\n"
    counts = df["agreement"].value_counts()
    lines.append(
        f"Across {len(df)} claim x cell results: {counts.get('agrees', 0)} agree with the paper, "
        f"{counts.get('disagrees', 0)} disagree, {counts.get(INCONCLUSIVE, 0)} are inconclusive, "
        f"{int((df['agreement'] == '').sum())} have no prediction."
    )
    lines.append("")
    for claim, part in df.groupby("claim", sort=False):
        cells = []
        for _, r in part.iterrows():
            gain = f"{r[f'gain@{k}']:+.3f} [{r[f'gain@{k}_ci_low']:+.3f}, {r[f'gain@{k}_ci_high']:+.3f}]"
            note = f" ({r['agreement']} with the paper)" if r["agreement"] in ("agrees", "disagrees") else ""
            cells.append(f"{r['model']} x {r['task']} ({r['alignment']}): {r['verdict']} {gain}{note}")
        expectation = part["expectation"].iloc[0]
        lines.append(f"- **{claim}** (paper: {expectation.replace('_', ' ')}): " + "; ".join(cells) + ".")
    lines += ["", f"Gains are in pass@{k} on the test split; numbers in `results/verdicts.csv`."]
    return "\n".join(lines) + "\n"
