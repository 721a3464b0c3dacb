"""A claim's verdict in a cell, from the interval of its gain over the base model (never a point estimate)."""
from __future__ import annotations

import math

HOLDS, FAILS, INCONCLUSIVE = "holds", "fails", "inconclusive"


def verdict(ci_low: float, ci_high: float, min_gain: float) -> str:
    """holds: the whole interval is above 0 (RL on this claim improved the model);
    fails: the interval excludes every gain of at least `min_gain` (no useful improvement, or harm);
    inconclusive: the interval admits both."""
    if any(math.isnan(x) for x in (ci_low, ci_high)):
        return INCONCLUSIVE
    if ci_low > 0:
        return HOLDS
    if ci_high < min_gain:
        return FAILS
    return INCONCLUSIVE


# What the paper's thesis predicts for a claim in a cell of a given alignment class.
_PREDICTION = {
    ("holds_everywhere", "strong"): HOLDS,
    ("holds_everywhere", "weak"): HOLDS,
    ("holds_everywhere", "intermediate"): HOLDS,
    ("holds_if_strong", "strong"): HOLDS,
    ("holds_if_strong", "weak"): FAILS,
}


def paper_prediction(expectation: str, alignment: str) -> str:
    """``holds`` / ``fails`` as the paper predicts, or ``""`` where it predicts nothing."""
    return _PREDICTION.get((expectation, alignment), "")


def agreement(predicted: str, measured: str) -> str:
    """``agrees`` / ``disagrees`` with the paper, ``inconclusive`` when the interval decides nothing,
    ``""`` when the paper predicts nothing for the cell."""
    if not predicted:
        return ""
    if measured == INCONCLUSIVE:
        return INCONCLUSIVE
    return "agrees" if predicted == measured else "disagrees"


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
    import pandas as pd

    from alignrl.reporting import build_claims_table

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
    lines += ["", "Gains are in pass@%d on the test split; numbers in `results/verdicts.csv`." % k]
    return "\n".join(lines) + "\n"
