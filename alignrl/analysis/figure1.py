"""Figure 1: one panel per alignment class, the cells of the class decided from the base rows of the claim
tables (strong, intermediate only where a cell is, weak).

Each bar is a claim's gain in pass@k over the base model in one cell (k = 1), with the interval the claim
tables carry for that gain: the paired two-stage bootstrap over seeds and problems
(:func:`alignrl.analysis.tables.summarize_cell`). Each panel has its own y scale, so a weak panel whose gains
are a few points is as readable as a strong one. The inset of each panel is pass@k against k (log2 axis,
the evaluation's ks) for the base model and every claim of the panel's cells, read from the same tables.

Nothing is computed here that the tables do not hold: :func:`figure1_data` only selects, and
:func:`plot_figure1` draws only the rows of that frame, which is written as figure1.csv.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from alignrl.analysis.decide import INTERMEDIATE, STRONG, WEAK
from alignrl.core.paths import BASE

__all__ = ["COLUMNS", "GAIN", "PASSK", "figure1_data", "plot_figure1"]

GAIN, PASSK = "gain", "pass@k"  # the two kinds of rows: a bar, a point of an inset curve
COLUMNS = ["kind", "panel", "model", "task", "bench", "bar", "claim", "k", "value", "ci_low", "ci_high", "table"]
_TITLES = {STRONG: "Strong model-task alignment", INTERMEDIATE: "Intermediate alignment",
           WEAK: "Weak model-task alignment"}
_CELL = ["model", "task", "bench"]


def _panels(base_rows: pd.DataFrame) -> list[str]:
    panels = [STRONG, WEAK]
    if (base_rows.alignment == INTERMEDIATE).any():  # never drop a cell silently
        panels.insert(1, INTERMEDIATE)
    unknown = sorted(set(base_rows.alignment) - set(panels))
    if unknown:
        raise ValueError(f"figure 1: base rows of alignment class {unknown}, which no panel shows")
    return panels


def _point(row: pd.Series, column: str) -> dict:
    """A plotted value with its interval, read from ``row`` (one claim-table row), naming its table."""
    missing = [c for c in (column, f"{column}_ci_low", f"{column}_ci_high") if c not in row.index]
    if missing:
        raise ValueError(f"{row['table']}: no column(s) {missing}, which figure 1 draws")
    return {"value": float(row[column]), "ci_low": float(row[f"{column}_ci_low"]),
            "ci_high": float(row[f"{column}_ci_high"]), "table": row["table"]}


def figure1_data(tables: Mapping[str, pd.DataFrame], bars: Mapping[str, str], ks: Sequence[int],
                 k: int = 1) -> pd.DataFrame:
    """The figure's every number, one row per bar (kind ``gain``: claim minus base in pass@k, the table's
    gain interval) and per inset point (kind ``pass@k``: the level at each of ``ks``, with its interval),
    each naming the table it was read from. ``tables`` maps a claim table's path to its frame; a cell and
    claim in several tables is read from the first. ``bars`` maps a bar label to a claim (``base``: before
    RL, drawn as the zero line and the inset's base curve)."""
    if not tables:
        raise ValueError("figure 1: no claim table holds any of its bars")
    frames = []
    for name, df in tables.items():
        missing = sorted({"claim", "alignment", *_CELL} - set(df.columns))
        if missing:
            raise ValueError(f"{name}: no column(s) {missing}, which figure 1 reads")
        frames.append(df.assign(table=name))
    rows = pd.concat(frames, ignore_index=True).drop_duplicates(subset=[*_CELL, "claim"])
    claims = set(rows.claim)
    for label, claim in bars.items():
        if claim not in claims:
            raise ValueError(f"figure 1 bar '{label}': claim '{claim}' is in none of the tables {list(tables)}")
    base_label = next((label for label, claim in bars.items() if claim == BASE), "Before RL")
    curves = [(base_label, BASE)] + [(label, claim) for label, claim in bars.items() if claim != BASE]
    base_rows = rows[rows.claim == BASE]
    out = []
    for panel in _panels(base_rows):
        for cell in base_rows[base_rows.alignment == panel][_CELL].itertuples(index=False):
            sel = rows[(rows.model == cell.model) & (rows.task == cell.task) & (rows.bench == cell.bench)]
            where = dict(panel=panel, model=cell.model, task=cell.task, bench=cell.bench)
            found = {}
            for label, claim in curves:
                hit = sel[sel.claim == claim]
                if hit.empty:
                    raise ValueError(f"figure 1 bar '{label}': claim '{claim}' has no row for cell "
                                     f"{cell.model} x {cell.task} ({cell.bench}) in {list(tables)}")
                found[claim] = hit.iloc[0]
            for label, claim in curves[1:]:
                out.append({"kind": GAIN, **where, "bar": label, "claim": claim, "k": k,
                            **_point(found[claim], f"gain@{k}")})
            for label, claim in curves:
                for kk in ks:
                    out.append({"kind": PASSK, **where, "bar": label, "claim": claim, "k": int(kk),
                                **_point(found[claim], f"pass@{kk}")})
    return pd.DataFrame(out, columns=COLUMNS)


def _cell_label(model: str, task: str, bench: str) -> str:
    return f"{model} x {task}" + (f" ({bench})" if bench != "test" else "")


def plot_figure1(data: pd.DataFrame, bars: Mapping[str, str], out_path: str | Path) -> None:
    """Draw :func:`figure1_data`'s rows: per panel, grouped gain bars with their intervals, the zero line
    (the base model), its own y scale, and the pass@k inset above the bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    panels = list(dict.fromkeys(data.panel)) or [STRONG, WEAK]
    base_label = next((label for label, claim in bars.items() if claim == BASE), "Before RL")
    labels = [label for label, claim in bars.items() if claim != BASE]
    color = {label: f"C{i}" for i, label in enumerate(labels)}
    color[base_label] = "black"
    styles = ["-", "--", ":", "-."]
    k = int(data[data.kind == GAIN].k.iloc[0]) if (data.kind == GAIN).any() else 1

    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 5.4), squeeze=False)
    width = 0.8 / max(1, len(labels))
    for ax, panel in zip(axes[0], panels):
        gains = data[(data.kind == GAIN) & (data.panel == panel)]
        curves = data[(data.kind == PASSK) & (data.panel == panel)]
        cells = list(dict.fromkeys(zip(curves.model, curves.task, curves.bench)))
        ticks = []
        for ci, cell in enumerate(cells):
            in_cell = gains[(gains.model == cell[0]) & (gains.task == cell[1]) & (gains.bench == cell[2])]
            for bi, label in enumerate(labels):
                hit = in_cell[in_cell.bar == label]
                if hit.empty:
                    continue
                r = hit.iloc[0]
                ax.bar(ci - 0.4 + width * (bi + 0.5), r.value, width, color=color[label],
                       yerr=[[r.value - r.ci_low], [r.ci_high - r.value]], capsize=2, ecolor="0.25")
            base = curves[(curves.model == cell[0]) & (curves.task == cell[1]) & (curves.bench == cell[2])
                          & (curves.claim == BASE) & (curves.k == k)]
            ticks.append(_cell_label(*cell) + (f"\nbase pass@{k} {base.value.iloc[0]:.3f}" if len(base) else ""))
        ax.axhline(0, color="black", linewidth=1)
        ax.set_xticks(range(len(cells)))
        ax.set_xticklabels(ticks, fontsize=9)
        ax.set_xlim(-0.6, max(len(cells), 1) - 0.4)
        ax.set_title(_TITLES.get(panel, panel) + ("" if cells else "\n(no cell in this class)"), fontsize=11)
        ax.set_ylabel(f"gain in pass@{k} over the base model")
        ax.grid(axis="y", alpha=0.3)
        # the top half of the axes is kept free of bars for the inset and its tick labels
        lo = min([0.0, *gains.ci_low.dropna(), *gains.value.dropna()])
        hi = max([0.0, *gains.ci_high.dropna(), *gains.value.dropna()])
        span = max(hi - lo, 0.01)
        ax.set_ylim(lo - 0.08 * span, hi + 1.3 * span)
        if not cells:
            continue
        inset = ax.inset_axes([0.12, 0.63, 0.5, 0.33])
        for ci, cell in enumerate(cells):
            in_cell = curves[(curves.model == cell[0]) & (curves.task == cell[1]) & (curves.bench == cell[2])]
            for label in [base_label, *labels]:
                line = in_cell[in_cell.bar == label].sort_values("k")
                if not line.empty:
                    inset.plot(line.k, line.value, styles[ci % len(styles)], color=color[label], marker=".",
                               markersize=3, linewidth=1.8 if label == base_label else 0.9,
                               zorder=3 if label == base_label else 2)
        ks = sorted(set(curves.k))
        inset.set_xscale("log", base=2)
        inset.set_xticks(ks)
        inset.set_xticklabels([str(x) for x in ks], fontsize=7)
        inset.tick_params(axis="y", labelsize=7)
        inset.set_xlabel("k", fontsize=7, labelpad=1)
        inset.set_ylabel("pass@k", fontsize=7, labelpad=1)
        inset.grid(alpha=0.3)
        if len(cells) > 1:
            handles = [Line2D([], [], color="0.3", linestyle=styles[ci % len(styles)]) for ci in range(len(cells))]
            inset.legend(handles, [_cell_label(*c) for c in cells], fontsize=7, loc="upper left",
                         bbox_to_anchor=(1.02, 1.0), frameon=False, handlelength=2.2)
    handles = [Line2D([], [], color="black")] + [Patch(color=color[label]) for label in labels]
    names = [f"{base_label} (zero line; black inset curve)"] + labels
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 4 if len(panels) < 3 else 6),
               fontsize=9, frameon=False)
    fig.suptitle(f"Gain in pass@{k} over the base model after RL (95% two-stage bootstrap over seeds and "
                 "problems);\ninset: pass@k against k, the base model and each claim", fontsize=11)
    rows_of_legend = -(-len(names) // min(len(names), 4 if len(panels) < 3 else 6))
    fig.tight_layout(rect=(0, 0.04 + 0.035 * rows_of_legend, 1, 1))
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=130)
    plt.close(fig)
