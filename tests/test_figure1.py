"""Figure 1's data: each bar a claim's gain over the base model with the claim table's interval, an inset curve
per claim and cell, panels by the base rows' alignment class, and clear errors for bars with no rows."""
from __future__ import annotations

import pandas as pd
import pytest
from test_reporting import ALIGN, BOOT, KS, write_run

from alignrl.analysis.figure1 import GAIN, PASSK, figure1_data, plot_figure1
from alignrl.analysis.tables import build_claims_table
from alignrl.core.paths import sources_from_metrics, split_base

BARS = {"Before RL": "base", "Standard RL": "gt", "Spurious": "rnd"}


def _tables(tmp_path, cells):
    """Claim tables built by the table builder from synthetic samples: cells maps (model, task) to the
    correct-matrices of base, gt and rnd; gt goes to table2 and rnd to table3 (both carry the base rows)."""
    paths = []
    for (model, task), (base, gt, rnd) in cells.items():
        paths += [write_run(tmp_path, f"results/baseline/{model}/{task}/test", base),
                  write_run(tmp_path, f"results/eval/gt/{model}/{task}/seed0/test", gt),
                  write_run(tmp_path, f"results/eval/gt/{model}/{task}/seed1/test", gt[::-1]),
                  write_run(tmp_path, f"results/eval/rnd/{model}/{task}/seed0/test", rnd)]
    base, claims = split_base(sources_from_metrics(paths))
    return {
        f"results/{name}.csv": build_claims_table(base, [s for s in claims if s.claim == claim], KS, ALIGN, BOOT)
        for name, claim in (("table2", "gt"), ("table3", "rnd"))
    }


STRONG = [[1, 1, 1, 0]] * 6 + [[1, 1, 0, 0]] * 4   # pass@4 = 1: strong
WEAK = [[0, 0, 0, 0]] * 9 + [[1, 0, 0, 0]]         # pass@4 = 0.1: weak
MIDDLE = [[1, 0, 0, 0]] * 5 + [[0, 0, 0, 0]] * 5   # pass@4 = 0.5: intermediate
BETTER = [[1, 1, 1, 1]] * 7 + [[1, 1, 0, 0]] * 3
WORSE = [[1, 0, 0, 0]] * 10
LUCKY = [[0, 0, 0, 0]] * 8 + [[1, 1, 0, 0]] * 2


def test_bars_are_the_tables_gains_and_the_inset_their_levels(tmp_path):
    tables = _tables(tmp_path, {("A", "math"): (STRONG, BETTER, WORSE), ("A", "logic"): (WEAK, MIDDLE, LUCKY)})
    data = figure1_data(tables, BARS, KS)
    assert list(data.columns[:4]) == ["kind", "panel", "model", "task"]
    rows = pd.concat([df.assign(table=name) for name, df in tables.items()]).drop_duplicates(["task", "claim"])
    gains = data[data.kind == GAIN]
    # one row per bar: two cells x the two claims; "Before RL" is the zero line, not a bar
    assert sorted(zip(gains.task, gains.bar)) == [("logic", "Spurious"), ("logic", "Standard RL"),
                                                 ("math", "Spurious"), ("math", "Standard RL")]
    for r in gains.itertuples():
        claim_row = rows[(rows.task == r.task) & (rows.claim == r.claim)].iloc[0]
        base_row = rows[(rows.task == r.task) & (rows.claim == "base")].iloc[0]
        assert r.value == pytest.approx(claim_row["pass@1"] - base_row["pass@1"])
        assert (r.ci_low, r.ci_high) == (claim_row["gain@1_ci_low"], claim_row["gain@1_ci_high"])
        assert r.ci_low < r.value < r.ci_high  # two seeds and varied problems: a real interval
        assert r.table == claim_row["table"] and r.k == 1
    assert {r.claim: r.table for r in gains.itertuples()} == {"gt": "results/table2.csv", "rnd": "results/table3.csv"}
    math_gt = gains[(gains.task == "math") & (gains.claim == "gt")].iloc[0]
    assert math_gt.value == pytest.approx((7 * 1 + 3 * 0.5) / 10 - (6 * 0.75 + 4 * 0.5) / 10)
    assert gains[(gains.task == "math") & (gains.claim == "rnd")].value.iloc[0] < 0

    # one row per inset point: cells x (base + claims) x ks, the table's level and its interval
    curves = data[data.kind == PASSK]
    assert len(curves) == 2 * 3 * len(KS)
    assert sorted(set(curves.bar)) == ["Before RL", "Spurious", "Standard RL"]
    for r in curves.itertuples():
        source = rows[(rows.task == r.task) & (rows.claim == r.claim)].iloc[0]
        assert (r.value, r.ci_low, r.ci_high) == (source[f"pass@{r.k}"], source[f"pass@{r.k}_ci_low"],
                                                  source[f"pass@{r.k}_ci_high"])
    base_math = curves[(curves.task == "math") & (curves.claim == "base")].sort_values("k")
    assert list(base_math.value) == pytest.approx([0.65, 14 / 15, 1.0])

    out = tmp_path / "figs" / "figure1.png"
    plot_figure1(data, BARS, out)
    assert out.stat().st_size > 10_000


def test_panels_follow_the_base_alignment_and_intermediate_only_when_present(tmp_path):
    two = _tables(tmp_path / "two", {("A", "math"): (STRONG, BETTER, WORSE), ("B", "logic"): (WEAK, MIDDLE, WEAK)})
    data = figure1_data(two, BARS, KS)
    assert list(dict.fromkeys(data.panel)) == ["strong", "weak"]
    assert dict(zip(data.model, data.panel)) == {"A": "strong", "B": "weak"}

    three = _tables(tmp_path / "three", {("A", "math"): (STRONG, BETTER, WORSE), ("B", "logic"): (WEAK, MIDDLE, WEAK),
                                         ("A", "logic"): (MIDDLE, BETTER, WORSE)})
    data = figure1_data(three, BARS, KS)
    assert list(dict.fromkeys(data.panel)) == ["strong", "intermediate", "weak"]
    assert set(data[data.panel == "intermediate"].task) == {"logic"}
    assert set(data[data.panel == "intermediate"].model) == {"A"}
    plot_figure1(data, BARS, tmp_path / "three.png")  # three panels draw
    assert (tmp_path / "three.png").stat().st_size > 10_000


def test_a_bar_whose_claim_no_table_holds_is_an_error_naming_it(tmp_path):
    tables = _tables(tmp_path, {("A", "math"): (STRONG, BETTER, WORSE), ("A", "logic"): (WEAK, MIDDLE, LUCKY)})
    with pytest.raises(ValueError, match=r"bar 'One-shot RL': claim 'one_shot' is in none of the tables "
                                         r"\['results/table2.csv', 'results/table3.csv'\]"):
        figure1_data(tables, {**BARS, "One-shot RL": "one_shot"}, KS)
    # a claim that some table holds but not for every cell names the cell it lacks
    t2 = tables["results/table2.csv"]
    holed = {**tables, "results/table2.csv": t2[~((t2.claim == "gt") & (t2.task == "math"))]}
    with pytest.raises(ValueError, match=r"claim 'gt' has no row for cell A x math \(test\)"):
        figure1_data(holed, BARS, KS)


def test_a_table_without_the_drawn_columns_is_an_error_naming_it(tmp_path):
    tables = _tables(tmp_path, {("A", "math"): (STRONG, BETTER, WORSE)})
    with pytest.raises(ValueError, match=r"results/table2.csv: no column\(s\) \['pass@8'"):
        figure1_data(tables, BARS, [*KS, 8])
    dropped = {name: df.drop(columns=["gain@1_ci_low"]) for name, df in tables.items()}
    with pytest.raises(ValueError, match=r"results/table2.csv: no column\(s\) \['gain@1_ci_low'\]"):
        figure1_data(dropped, BARS, KS)


def test_the_registry_builds_the_figure_from_the_table_files_and_the_evaluation_ks(tmp_path):
    from alignrl.analysis import registry

    tables = _tables(tmp_path, {("A", "math"): (STRONG, BETTER, WORSE), ("A", "logic"): (WEAK, MIDDLE, LUCKY)})
    paths = []
    for name, df in tables.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(tmp_path / name, index=False)
        paths.append(str(tmp_path / name))
    params = {"bars": BARS, "evaluation": {"ks": [1, 4]}}
    built = registry.build(registry.FIGURE1, paths, params, png=str(tmp_path / "f.png"))
    data = built.frames["csv"]
    assert sorted(set(data[data.kind == PASSK].k)) == [1, 4]
    assert set(data.table) == set(paths)
    expected = figure1_data({p: pd.read_csv(p) for p in paths}, BARS, [1, 4])
    pd.testing.assert_frame_equal(data, expected)
    assert (tmp_path / "f.png").stat().st_size > 10_000
    # the audit builds without a png: the same data
    pd.testing.assert_frame_equal(registry.build(registry.FIGURE1, paths, params).frames["csv"], data)
