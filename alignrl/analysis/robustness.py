"""robustness.csv and robustness.md: does each verdict of tables 2-4 survive the choice of RL seeds?

For every claim x cell of the claim tables: the verdict of each seed alone, the pooled verdict (two-stage
interval over all seeds), the verdict pooled over all seeds but one for each seed left out, and `unstable`
when any of them differs from the pooled verdict. A cell with one seed says so: nothing can be left out,
so its stability is unknown, not established.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from alignrl.analysis.decide import seed_agreement
from alignrl.analysis.tables import SEED_COLUMNS, build_claims_table
from alignrl.core.paths import BASE, CellSource

__all__ = ["SINGLE_SEED", "build_robustness", "robustness_markdown"]

SINGLE_SEED = "single seed: leave-one-seed-out impossible, stability unknown"


def _pairs(text: str) -> list[tuple[str, str]]:
    return [tuple(p.split(":", 1)) for p in text.split(";") if p]


def _disagreements(pooled: str, seed_verdicts: str, loo_verdicts: str) -> str:
    """The verdicts that differ from the pooled one, in words."""
    out = [f"seed {s} alone {v}" for s, v in _pairs(seed_verdicts) if v != pooled]
    out += [f"without seed {s} {v}" for s, v in _pairs(loo_verdicts) if v != pooled]
    return "; ".join(out)


def build_robustness(
    base_sources: dict[tuple[str, str, str], CellSource],
    claim_sources: Sequence[CellSource],
    tables: Mapping[str, Sequence[str]],
    ks: Sequence[int],
    alignment: dict,
    bootstrap: dict,
    verdict_cfg: dict,
) -> pd.DataFrame:
    """One row per claim x model x task x bench of the claim tables (``tables``: name -> its claims)."""
    k = verdict_cfg["k"]
    in_tables: dict[str, list[str]] = {}
    for name in sorted(tables):
        for claim in tables[name]:
            in_tables.setdefault(claim, []).append(name)
    unknown = sorted({s.claim for s in claim_sources} - set(in_tables))
    if unknown:
        raise ValueError(f"metrics of claim(s) {unknown}, which no claim table lists")
    claim_sources = sorted(claim_sources, key=lambda s: list(in_tables).index(s.claim))
    table = build_claims_table(base_sources, claim_sources, ks, alignment, bootstrap, verdict_cfg,
                               seed_columns=SEED_COLUMNS)
    rows = []
    for _, r in table[table["claim"] != BASE].iterrows():
        single = r["n_seeds"] <= 1
        loo = [v for _, v in _pairs(r["loo_verdicts"])]
        differs = _disagreements(r["verdict"], r["seed_verdicts"], r["loo_verdicts"])
        rows.append({
            "model": r["model"], "task": r["task"], "bench": r["bench"], "claim": r["claim"],
            "tables": ";".join(in_tables[r["claim"]]),
            "alignment": r["alignment"],
            "headroom": r["headroom"],
            "n_seeds": r["n_seeds"],
            "seeds": ";".join(s for s, _ in _pairs(r["seed_verdicts"])),
            f"gain@{k}": r[f"gain@{k}"],
            f"gain@{k}_ci_low": r[f"gain@{k}_ci_low"],
            f"gain@{k}_ci_high": r[f"gain@{k}_ci_high"],
            "verdict": r["verdict"],
            "seed_gains": r["seed_gains"],
            "seed_verdicts": r["seed_verdicts"],
            "seed_agreement": r["seed_agreement"],
            "loo_verdicts": r["loo_verdicts"],
            "loo_agreement": "" if single else seed_agreement(r["verdict"], loo),
            # unknown (empty), not stable, when there is only one seed to go on
            "unstable": "" if single else bool(differs),
            "stability": SINGLE_SEED if single else (f"unstable: {differs}" if differs else "stable"),
            "metrics_files": r["metrics_files"],
        })
    columns = list(rows[0]) if rows else []
    return pd.DataFrame(rows, columns=columns)


def robustness_markdown(df: pd.DataFrame, verdict_cfg: dict) -> str:
    """In words: how many verdicts are stable, which are not and which rest on a single seed."""
    k = verdict_cfg["k"]
    lines = [
        "# Stability of the verdicts across RL seeds",
        "",
        f"Each verdict is decided from the interval of the pass@{k} gain over the base model. `verdict` pools "
        "all seeds (a two-stage bootstrap: seeds, then problems); `seed_verdicts` is each seed alone (a "
        "bootstrap over problems); `loo_verdicts` pools all seeds but one, keyed by the seed left out. A row "
        "is `unstable` when any of these differs from the pooled verdict. With one seed nothing can be left "
        "out: such a row is marked as a single seed and its stability is unknown.",
        "",
    ]
    if df.empty:
        return "\n".join(lines + ["No claim was evaluated."]) + "\n"
    single = df[df["n_seeds"] <= 1]
    multi = df[df["n_seeds"] > 1]
    unstable = multi[multi["unstable"].astype(bool)]
    lines.append(f"{len(df)} claim x cell verdicts: {len(multi) - len(unstable)} stable, {len(unstable)} unstable, "
                 f"{len(single)} from a single seed.")
    lines.append("")
    if not single.empty and multi.empty:
        lines += ["**Every verdict rests on a single seed**: run more seeds (e.g. `--config 'seeds=[0,1,2]'`) "
                  "to learn whether they hold.", ""]
    for _, r in unstable.iterrows():
        lines.append(f"- **{r['claim']}** on {r['model']} x {r['task']} ({r['bench']}): pooled {r['verdict']}, "
                     f"{r['stability'].removeprefix('unstable: ')}.")
    if not unstable.empty:
        lines.append("")
    return "\n".join(lines) + "\n"
