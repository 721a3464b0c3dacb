"""Seeds in every interval: the two-stage bootstrap, per-seed and leave-one-seed-out verdicts, the stability
report, and the alignment class decided with its interval (with a headroom check for strong cells)."""
from __future__ import annotations

import time

import numpy as np
import pytest
from test_reporting import BOOT, KS, write_run

from alignrl.analysis.bootstrap import CellBootstrap
from alignrl.analysis.decide import alignment_class, headroom
from alignrl.analysis.robustness import SINGLE_SEED, build_robustness, robustness_markdown
from alignrl.analysis.tables import build_claims_table, build_table1
from alignrl.analysis.verdicts import build_verdicts, summary_markdown
from alignrl.claims.passk import bootstrap_ci
from alignrl.core.paths import sources_from_metrics, split_base

ALIGN = {"k": 4, "strong_at_least": 0.85, "weak_at_most": 0.25, "ceiling_pass_at_k": 0.98, "ceiling_pass_at_1": 0.8}
VERDICT = {"k": 1, "min_gain": 0.02}
TABLES = {"t2": ["gt"]}


def _width(interval, j=0):
    return float(interval.high[j] - interval.low[j])


def test_two_stage_interval_is_wider_when_seeds_disagree():
    rng = np.random.default_rng(1)
    noise = rng.random((1, 200, 1)) * 0.2
    values = np.concatenate([noise + 0.1, noise + 0.5, noise + 0.7])  # three seeds far apart
    boot = CellBootstrap(200, n_boot=1000, alpha=0.05, seed=3)
    two_stage = boot.interval(values)
    problems_only = bootstrap_ci(values.mean(axis=0)[:, 0], n_boot=1000, alpha=0.05, seed=3)
    assert _width(two_stage) > 5 * (problems_only[1] - problems_only[0])
    assert two_stage.low[0] < values.mean() < two_stage.high[0]


def test_identical_seed_copies_give_the_problem_only_interval():
    rng = np.random.default_rng(2)
    one = (rng.random((1, 150, 2)) < 0.4).astype(float)
    boot = CellBootstrap(150, n_boot=1000, alpha=0.05, seed=5)
    copies = boot.interval(np.repeat(one, 4, axis=0))
    alone = boot.interval(one)
    # the problem draw is shared by the drawn seeds, so copies add no information: exactly one seed's interval
    np.testing.assert_array_equal(copies.low, alone.low)
    np.testing.assert_array_equal(copies.high, alone.high)
    # and in distribution that is the plain bootstrap over problems (another random stream)
    low, high = bootstrap_ci(one[0, :, 0], n_boot=1000, alpha=0.05, seed=99)
    assert _width(copies) == pytest.approx(high - low, rel=0.2)


def test_bootstrap_is_deterministic_and_fast():
    values = np.random.default_rng(0).random((5, 200, 5))
    a = CellBootstrap(200, n_boot=1000, alpha=0.05, seed=7).interval(values)
    b = CellBootstrap(200, n_boot=1000, alpha=0.05, seed=7).interval(values)
    c = CellBootstrap(200, n_boot=1000, alpha=0.05, seed=8).interval(values)
    np.testing.assert_array_equal(a.low, b.low)
    assert not np.array_equal(a.low, c.low)
    start = time.perf_counter()
    boot = CellBootstrap(200, n_boot=1000, alpha=0.05, seed=7)
    boot.interval(values)
    for s in range(5):  # every per-seed and leave-one-out interval of a cell
        boot.interval(values, [s])
        boot.interval(values, [i for i in range(5) if i != s])
    assert time.perf_counter() - start < 3.0


def _cell(tmp_path, base, seeds, claim="gt", model="A", task="math"):
    paths = [write_run(tmp_path, f"results/baseline/{model}/{task}/test", base)]
    paths += [write_run(tmp_path, f"results/eval/{claim}/{model}/{task}/seed{s}/test", m) for s, m in seeds.items()]
    return split_base(sources_from_metrics(paths))


def test_claim_identical_to_base_gains_exactly_zero(tmp_path):
    rng = np.random.default_rng(4)
    base = (rng.random((30, 4)) < 0.5).astype(int).tolist()
    table = build_claims_table(*_cell(tmp_path, base, {0: base, 1: base}), KS, ALIGN, BOOT, VERDICT)
    gt = table[table.claim == "gt"].iloc[0]
    assert (gt["gain@1"], gt["gain@1_ci_low"], gt["gain@1_ci_high"]) == (0.0, 0.0, 0.0)
    assert gt["verdict"] == "fails" and gt["seed_agreement"] == "2/2 fail"


def test_gain_stays_paired_with_the_base(tmp_path):
    # problems differ wildly in difficulty, but RL adds exactly one correct sample to every problem
    base = [[1] * c + [0] * (4 - c) for c in [0, 1, 2, 3] * 8]
    claim = [[1] * (sum(r) + 1) + [0] * (3 - sum(r)) for r in base]
    table = build_claims_table(*_cell(tmp_path, base, {0: claim}), KS, ALIGN, BOOT, VERDICT)
    gt = table[table.claim == "gt"].iloc[0]
    assert gt["gain@1_ci_low"] == pytest.approx(0.25) and gt["gain@1_ci_high"] == pytest.approx(0.25)
    assert gt["pass@1_ci_high"] - gt["pass@1_ci_low"] > 0.1  # while pass@1 alone is uncertain


def _three_seeds(tmp_path):
    base = [[0, 0, 0, 0]] * 20
    gains = {0: [[1, 1, 0, 0]] * 20, 1: [[1, 1, 0, 0]] * 20, 2: base}  # seed 2 learned nothing
    return _cell(tmp_path, base, gains)


def test_leave_one_seed_out_with_three_seeds(tmp_path):
    base, claims = _three_seeds(tmp_path)
    df = build_robustness(base, claims, TABLES, KS, ALIGN, BOOT, VERDICT)
    row = df.iloc[0]
    assert row["n_seeds"] == 3 and row["seeds"] == "0;1;2"
    assert row["seed_verdicts"] == "0:holds;1:holds;2:fails"
    loo = row["loo_verdicts"].split(";")
    assert len(loo) == 3 and loo[2] == "2:holds"  # without the seed that learned nothing: holds
    # 1 draw in 27 takes seed 2 three times (a gain of 0): the pooled interval reaches 0
    assert row["verdict"] == "inconclusive"
    assert row["unstable"] == True and "seed 2 alone fails"  # noqa: E712 - a numpy bool in row["stability"]
    assert row["seed_agreement"] == "0/3 inconclusive"
    assert "1 unstable" in robustness_markdown(df, VERDICT)
    verdicts = build_verdicts(base, claims, KS, ALIGN, BOOT, VERDICT, {"gt": "holds_everywhere"})
    assert bool(verdicts.iloc[0]["rests_on_one_seed"])
    assert "pooled verdicts change when one seed is left out" in summary_markdown(verdicts, VERDICT, ALIGN)


def test_stable_verdict_over_two_seeds(tmp_path):
    base = [[0, 0, 0, 0]] * 20
    df = build_robustness(*_cell(tmp_path, base, {0: [[1, 1, 0, 0]] * 20, 1: [[1, 1, 1, 0]] * 20}),
                          TABLES, KS, ALIGN, BOOT, VERDICT)
    row = df.iloc[0]
    assert (row["verdict"], row["unstable"], row["stability"]) == ("holds", False, "stable")
    assert row["loo_agreement"] == "2/2 hold" and row["tables"] == "t2"


def test_one_seed_says_single_seed(tmp_path):
    base = [[0, 0, 0, 0]] * 20
    cells = _cell(tmp_path, base, {0: [[1, 1, 0, 0]] * 20})
    df = build_robustness(*cells, TABLES, KS, ALIGN, BOOT, VERDICT)
    row = df.iloc[0]
    assert row["stability"] == SINGLE_SEED and row["unstable"] == "" and row["loo_verdicts"] == ""
    assert "Every verdict rests on a single seed" in robustness_markdown(df, VERDICT)
    verdicts = build_verdicts(*cells, KS, ALIGN, BOOT, VERDICT, {"gt": "holds_everywhere"})
    assert bool(verdicts.iloc[0]["rests_on_one_seed"])
    assert "1 of 1 verdicts come from one seed only" in summary_markdown(verdicts, VERDICT, ALIGN)


def test_robustness_refuses_a_claim_no_table_lists(tmp_path):
    cells = _cell(tmp_path, [[0, 0]] * 3, {0: [[1, 0]] * 3}, claim="other")
    with pytest.raises(ValueError, match="other"):
        build_robustness(*cells, TABLES, [1, 2], {**ALIGN, "k": 2}, BOOT, VERDICT)


def test_class_by_interval_point_strong_but_interval_straddles():
    assert alignment_class(0.84, 0.95, ALIGN) == "intermediate"  # point 0.9 would have been strong
    assert alignment_class(0.85, 0.95, ALIGN) == "strong"
    assert alignment_class(0.1, 0.26, ALIGN) == "intermediate"
    assert alignment_class(0.1, 0.25, ALIGN) == "weak"


def test_table1_class_and_headroom(tmp_path):
    straddles = [[1, 1, 1, 1]] * 18 + [[0, 0, 0, 0]] * 2  # pass@4 0.9, interval below 0.85
    ceiling = [[1, 1, 1, 1]] * 40  # pass@4 = pass@1 = 1: strong, nothing left to gain
    roomy = [[1, 1, 0, 0]] * 40  # pass@4 1.0 too, but at the ceiling of pass@k only
    paths = [write_run(tmp_path, f"results/baseline/A/{t}/test", m)
             for t, m in (("straddles", straddles), ("ceiling", ceiling), ("roomy", roomy))]
    df = build_table1(sources_from_metrics(paths), KS, ALIGN, BOOT).set_index("task")
    assert df.loc["straddles", "pass@4"] == pytest.approx(0.9)
    assert df.loc["straddles", "alignment"] == "intermediate" and df.loc["straddles", "headroom"] == "n/a"
    assert df.loc["ceiling", "alignment"] == "strong"
    assert df.loc["ceiling", "headroom"] == "no headroom: pass@4 1.000 >= 0.98, pass@1 1.000 > 0.8"
    assert df.loc["roomy", "headroom"] == "no headroom: pass@4 1.000 >= 0.98"


def test_headroom_text():
    cfg = {**ALIGN, "k": 16}
    assert headroom("strong", 0.99, 0.5, cfg) == "no headroom: pass@16 0.990 >= 0.98"
    assert headroom("strong", 0.95, 0.81, cfg) == "no headroom: pass@1 0.810 > 0.8"
    assert headroom("strong", 0.95, 0.8, cfg) == "ok"  # pass@1 AT MOST the ceiling is fine
    assert headroom("weak", 0.99, 0.99, cfg) == "n/a"


def test_verdicts_md_flags_a_cell_without_headroom(tmp_path):
    base = [[1, 1, 1, 1]] * 20  # strong, at the ceiling
    cells = _cell(tmp_path, base, {0: base, 1: base})
    df = build_verdicts(*cells, KS, ALIGN, BOOT, VERDICT, {"gt": "holds_everywhere"})
    assert df.iloc[0]["headroom"].startswith("no headroom")
    text = summary_markdown(df, VERDICT, ALIGN)
    assert "- A x math (test), no headroom: pass@4 1.000 >= 0.98, pass@1 1.000 > 0.8: gt fails." in text
