"""verdicts.csv and verdicts.md: every claim x cell, its verdict, the paper's prediction and the agreement."""
from __future__ import annotations

import pandas as pd

from alignrl.analysis.decide import (
    FAILS,
    HEADROOM_OK,
    HOLDS,
    INCONCLUSIVE,
    NOT_STRONG,
    agreement,
    paper_prediction,
    verdict,
)
from alignrl.analysis.tables import SEED_COLUMNS, build_claims_table

__all__ = [
    "FAILS", "HOLDS", "INCONCLUSIVE", "agreement", "build_verdicts", "paper_prediction", "rests_on_one_seed",
    "summary_markdown", "verdict",
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
    """``verdicts.csv``: one row per claim x model x task x bench with the base pass@k (the alignment) and
    the cell's headroom, the gain over the base with its paired two-stage bootstrap interval, the verdict
    from that interval, the split of the gain (the lenient gain, beyond format, and the format part, strict
    minus lenient, each with its interval; the verdict judges the strict gain, the paper's metric), each
    seed's verdict and every leave-one-seed-out verdict, whether the conclusion rests on one seed, the
    paper's prediction for the cell and whether the measurement agrees with it."""
    table = build_claims_table(base_sources, claim_sources, ks, alignment, bootstrap, verdict_cfg,
                               seed_columns=SEED_COLUMNS)
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
            "headroom": row["headroom"],
            f"base_pass@{ak}": b[f"pass@{ak}"],
            f"base_pass@{k}": b[f"pass@{k}"],
            f"pass@{k}": row[f"pass@{k}"],
            f"gain@{k}": row[f"gain@{k}"],
            f"gain@{k}_ci_low": row[f"gain@{k}_ci_low"],
            f"gain@{k}_ci_high": row[f"gain@{k}_ci_high"],
            **{f"{part}@{k}{end}": row[f"{part}@{k}{end}"] for part in ("lenient_gain", "format_part")
               for end in ("", "_ci_low", "_ci_high")},
            "n_seeds": row["n_seeds"],
            "verdict": row["verdict"],
            "seed_verdicts": row["seed_verdicts"],
            "seed_agreement": row["seed_agreement"],
            "loo_verdicts": row["loo_verdicts"],
            "rests_on_one_seed": rests_on_one_seed(row["n_seeds"], row["verdict"], row["loo_verdicts"]),
            "expectation": expectation,
            "paper_predicts": predicted,
            "agreement": agreement(predicted, row["verdict"]),
            "metrics_files": row["metrics_files"],
        })
    columns = list(rows[0]) if rows else []
    return pd.DataFrame(rows, columns=columns)


def rests_on_one_seed(n_seeds: int, pooled: str, loo_verdicts: str) -> bool:
    """True when the conclusion has one seed behind it, or the pooled verdict changes when any one seed is
    left out (``loo_verdicts``: ``seed:verdict`` pairs keyed by the seed left out)."""
    if n_seeds <= 1:
        return True
    return any(pair.split(":", 1)[1] != pooled for pair in loo_verdicts.split(";") if pair)


def summary_markdown(df, verdict_cfg: dict, alignment: dict) -> str:
    """One page, in words: per claim, where the paper's thesis held in this run and where it did not, which
    conclusions rest on a single seed and which were judged in a strong cell without headroom."""
    k = verdict_cfg["k"]
    lines = [
        "# Verdicts: where the paper's thesis held in this run",
        "",
        f"A claim **holds** in a cell when the 95% paired-bootstrap interval of its pass@{k} gain over the base "
        f"model lies above 0; it **fails** when the interval lies below {verdict_cfg['min_gain']} (no useful "
        "gain, or harm); otherwise the run is **inconclusive**. The interval resamples the RL seeds, then the "
        "problems, so it holds the seed-to-seed variance. Alignment is decided with the interval of the base "
        f"model's pass@{alignment['k']}: strong when its low end is >= {alignment['strong_at_least']}, weak when "
        f"its high end is <= {alignment['weak_at_most']}, intermediate otherwise. A strong cell has headroom "
        f"when its base pass@{alignment['k']} is below {alignment['ceiling_pass_at_k']} and its pass@1 at most "
        f"{alignment['ceiling_pass_at_1']}. The paper predicts that standard RL holds everywhere and that the "
        "tricks hold only under strong alignment.",
        "",
        f"Every gain is split. The verdict judges the strict gain (the paper's metric: the answer must stand in "
        f"the requested format). The lenient gain is the gain in lenient pass@{k}, the answer read wherever it "
        "stands: the part of the gain beyond format. The format part is the strict gain minus the lenient gain: "
        "what the run gained by answering in the requested format alone. Each comes with its paired interval.",
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
            note = f" ({r['agreement']} with the paper)" if r["agreement"] in ("agrees", "disagrees") else ""
            cells.append(f"{r['model']} x {r['task']} ({r['alignment']}): {r['verdict']}, strict gain "
                         f"{_gain(r, f'gain@{k}')}, lenient gain {_gain(r, f'lenient_gain@{k}')}, format part "
                         f"{_gain(r, f'format_part@{k}')}, seeds {r['seed_agreement']}{note}")
        expectation = part["expectation"].iloc[0]
        lines.append(f"- **{claim}** (paper: {expectation.replace('_', ' ')}): " + "; ".join(cells) + ".")
    lines += ["", "## Conclusions that rest on a single seed", ""]
    single = df[df["n_seeds"] <= 1]
    fragile = df[(df["n_seeds"] > 1) & df["rests_on_one_seed"].astype(bool)]
    if single.empty and fragile.empty:
        lines.append("None: every verdict had at least 2 seeds and none changes when one seed is left out "
                     "(`results/robustness.md`).")
    if not single.empty:
        lines.append(f"- {len(single)} of {len(df)} verdicts come from one seed only (n_seeds = 1): " +
                     "; ".join(_cell(r) for _, r in single.iterrows()) + ".")
    if not fragile.empty:
        lines.append(f"- {len(fragile)} pooled verdicts change when one seed is left out: " +
                     "; ".join(f"{_cell(r)} (without seed -> {r['loo_verdicts']})" for _, r in fragile.iterrows())
                     + ".")
    lines += ["", "## Claims judged in a strong cell without headroom", ""]
    ceiling = df[~df["headroom"].isin([HEADROOM_OK, NOT_STRONG])]
    if ceiling.empty:
        lines.append("None: no strong cell is at the ceiling.")
    for cell, part in ceiling.groupby(["model", "task", "bench"], sort=False):
        lines.append(f"- {cell[0]} x {cell[1]} ({cell[2]}), {part['headroom'].iloc[0]}: "
                     + ", ".join(f"{r['claim']} {r['verdict']}" for _, r in part.iterrows()) + ".")
    lines += ["", f"Gains are in pass@{k} on the test split; numbers in `results/verdicts.csv`."]
    return "\n".join(lines) + "\n"


def _gain(r, name: str) -> str:
    return f"{r[name]:+.3f} [{r[name + '_ci_low']:+.3f}, {r[name + '_ci_high']:+.3f}]"


def _cell(r) -> str:
    return f"{r['claim']} on {r['model']} x {r['task']}: {r['verdict']}"
