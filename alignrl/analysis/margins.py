"""The margins check: is every base cell strong or weak by a margin that survives a change of pretraining seed?

Each pretrained table model has replicas that differ only in their corpus and pretraining seeds. Every
replica's base cell is classed with the bootstrap interval of its pass@k, never the point estimate: strong
when the whole interval is at or above ``strong_at_least``, weak when it is at or below ``weak_at_most``,
intermediate when it straddles a threshold. A strong cell also needs headroom, so that a gain can show:
pass@k below a ceiling and pass@1 at most a ceiling (point estimates). A cell (model x task x benchmark)
is stable when every replica gives it the same class, that class is strong or weak, and, if strong, every
replica has headroom.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from alignrl.analysis import decide
from alignrl.analysis.tables import summarize_cell
from alignrl.core.paths import CellSource

__all__ = ["build_margins", "has_headroom", "interval_class", "margins_markdown", "thresholds"]

STRONG, WEAK, INTERMEDIATE = decide.STRONG, decide.WEAK, decide.INTERMEDIATE


def thresholds(alignment: Mapping) -> dict[str, float]:
    """The class thresholds and headroom ceilings of the (finalized) ``alignment`` block."""
    return {
        "strong_at_least": float(alignment["strong_at_least"]),
        "weak_at_most": float(alignment["weak_at_most"]),
        "pass_at_k_below": float(alignment["ceiling_pass_at_k"]),
        "pass_at_1_at_most": float(alignment["ceiling_pass_at_1"]),
    }


def interval_class(ci_low: float, ci_high: float, strong_at_least: float, weak_at_most: float) -> str:
    """The tables' rule (:func:`alignrl.analysis.decide.alignment_class`) with the thresholds spelled out."""
    return decide.alignment_class(ci_low, ci_high, {"strong_at_least": strong_at_least, "weak_at_most": weak_at_most})


def has_headroom(pass_at_k: float, pass_at_1: float, pass_at_k_below: float, pass_at_1_at_most: float) -> bool:
    """The tables' headroom rule (:func:`alignrl.analysis.decide.headroom`) for a strong cell."""
    text = decide.headroom(STRONG, pass_at_k, pass_at_1, {"k": "k", "ceiling_pass_at_k": pass_at_k_below,
                                                          "ceiling_pass_at_1": pass_at_1_at_most})
    return text == decide.HEADROOM_OK


def build_margins(
    base_sources: Mapping[tuple[str, str, str], CellSource],
    replicas: Mapping[str, Mapping],
    ks: Sequence[int],
    alignment: Mapping,
    bootstrap: Mapping,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per model x replica x task x bench, one row per model x task x bench).

    ``replicas`` maps every replica's model name to {model, replica, corpus_seed, pretrain_seed}; intervals
    are the tables' (same bootstrap, same seed per k column), so replica 0's row repeats table 1's numbers.
    """
    k = int(alignment["k"])
    if 1 not in ks or k not in ks:
        raise ValueError(f"the margins need pass@1 and pass@{k}; evaluation.ks is {list(ks)}")
    th = thresholds(alignment)
    rows = []
    for (name, task, bench), source in sorted(base_sources.items()):
        if name not in replicas:
            raise ValueError(f"{source.metrics_files[0]}: model '{name}' is not a pretraining replica of a table "
                             f"model; known: {sorted(replicas)}")
        cell = summarize_cell(source, ks, base=None, gain_ks=(), n_boot=bootstrap["n_boot"],
                              alpha=bootstrap["alpha"], seed=bootstrap["seed"])
        low, high = cell[f"pass@{k}_ci_low"], cell[f"pass@{k}_ci_high"]
        klass = interval_class(low, high, th["strong_at_least"], th["weak_at_most"])
        info = replicas[name]
        rows.append({
            "model": info["model"], "replica": int(info["replica"]), "replica_model": name,
            "corpus_seed": int(info["corpus_seed"]), "pretrain_seed": int(info["pretrain_seed"]),
            "task": task, "bench": bench, "n_problems": cell["n_problems"],
            "pass@1": cell["pass@1"], "pass@1_ci_low": cell["pass@1_ci_low"], "pass@1_ci_high": cell["pass@1_ci_high"],
            f"pass@{k}": cell[f"pass@{k}"], f"pass@{k}_ci_low": low, f"pass@{k}_ci_high": high,
            "class": klass,
            # headroom matters only where a strong class would let RL gains hide under the ceiling
            "headroom": (has_headroom(cell[f"pass@{k}"], cell["pass@1"], th["pass_at_k_below"], th["pass_at_1_at_most"])
                         if klass == STRONG else ""),
            "metrics_files": cell["metrics_files"],
        })
    df = pd.DataFrame(rows)
    if df.empty:
        return df, pd.DataFrame()
    df = df.sort_values(["model", "task", "bench", "replica"], kind="stable").reset_index(drop=True)
    return df, _cells(df, k, replicas)


def _cells(df: pd.DataFrame, k: int, replicas: Mapping[str, Mapping]) -> pd.DataFrame:
    expected = {}
    for info in replicas.values():
        expected[info["model"]] = expected.get(info["model"], 0) + 1
    out = []
    for (model, task, bench), part in df.groupby(["model", "task", "bench"], sort=True):
        classes = part["class"].tolist()
        reasons = []
        if len(part) != expected[model]:
            reasons.append(f"{len(part)} of {expected[model]} replicas evaluated")
        if len(set(classes)) > 1:
            reasons.append("the replicas disagree")
        if INTERMEDIATE in classes:
            reasons.append("an interval straddles a threshold")
        no_room = part[part["headroom"].map(lambda h: h is False)]  # "": not strong, headroom not asked
        if len(no_room):
            reasons.append(f"no headroom on replica(s) {', '.join(str(r) for r in no_room['replica'])}")
        out.append({
            "model": model, "task": task, "bench": bench, "n_replicas": len(part),
            "classes": ";".join(classes),
            f"pass@{k}_min": float(part[f"pass@{k}"].min()), f"pass@{k}_max": float(part[f"pass@{k}"].max()),
            f"pass@{k}_ci_low_min": float(part[f"pass@{k}_ci_low"].min()),
            f"pass@{k}_ci_high_max": float(part[f"pass@{k}_ci_high"].max()),
            "pass@1_max": float(part["pass@1"].max()),
            "class": classes[0] if len(set(classes)) == 1 else INTERMEDIATE,
            "stable": not reasons,
            "why_not": "; ".join(reasons),
        })
    return pd.DataFrame(out)


def margins_markdown(rows: pd.DataFrame, cells: pd.DataFrame, alignment: Mapping,
                     hub_models: Sequence[str] = ()) -> str:
    """In words: which cells keep their class by the margins on every pretraining seed, and which do not."""
    th, k = thresholds(alignment), alignment["k"]
    lines = [
        "# Margins across pretraining seeds",
        "",
        f"Each cell is classed with the 95% bootstrap interval of its base pass@{k}: strong when the whole "
        f"interval is at or above {th['strong_at_least']:g}, weak when it is at or below {th['weak_at_most']:g}, "
        f"intermediate otherwise. A strong cell has headroom when pass@{k} < {th['pass_at_k_below']:g} and "
        f"pass@1 <= {th['pass_at_1_at_most']:g}. A cell is stable when every pretraining replica (corpus and "
        "pretraining seeds offset, nothing else changed) gives it the same strong or weak class, with headroom "
        "where strong. The intervals are over problems of one evaluation; they hold no RL seed.",
        "",
    ]
    if hub_models:
        lines += [f"Not checked: {', '.join(hub_models)} (downloaded, not pretrained here: no replicas).", ""]
    if cells.empty:
        return "\n".join(lines + ["No pretrained table model was evaluated."]) + "\n"
    stable, unstable = cells[cells["stable"]], cells[~cells["stable"]]
    lines.append(f"**{len(stable)} of {len(cells)} cells pass.**")
    lines.append("")
    for _, c in cells.iterrows():
        where = f"{c['model']} x {c['task']}" + (f" ({c['bench']})" if c["bench"] != "test" else "")
        spread = (f"pass@{k} {c[f'pass@{k}_min']:.3f}-{c[f'pass@{k}_max']:.3f} over {c['n_replicas']} replicas, "
                  f"intervals within [{c[f'pass@{k}_ci_low_min']:.3f}, {c[f'pass@{k}_ci_high_max']:.3f}]")
        verdict = f"passes ({c['class']})" if c["stable"] else f"fails: {c['why_not']} (classes {c['classes']})"
        lines.append(f"- {where}: {verdict}; {spread}.")
    if not unstable.empty:
        lines += ["", "A failing cell's conclusions may depend on the pretraining seed, not only on alignment."]
    return "\n".join(lines) + "\n"
