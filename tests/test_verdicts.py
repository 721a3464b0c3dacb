import pytest

from alignrl.analysis.verdicts import FAILS, HOLDS, INCONCLUSIVE, verdict


def test_verdict_comes_from_the_interval():
    assert verdict(0.01, 0.2, 0.02) == HOLDS
    assert verdict(-0.05, 0.01, 0.02) == FAILS          # no gain of 0.02 is compatible
    assert verdict(-0.3, -0.1, 0.02) == FAILS           # harm
    assert verdict(-0.01, 0.1, 0.02) == INCONCLUSIVE    # straddles: could be either
    assert verdict(float("nan"), 0.1, 0.02) == INCONCLUSIVE


def test_paper_prediction_and_agreement():
    from alignrl.analysis.verdicts import agreement, paper_prediction

    assert paper_prediction("holds_everywhere", "weak") == HOLDS
    assert paper_prediction("holds_if_strong", "strong") == HOLDS
    assert paper_prediction("holds_if_strong", "weak") == FAILS
    assert paper_prediction("holds_if_strong", "intermediate") == ""  # the paper says nothing there
    assert paper_prediction("none", "strong") == ""
    assert agreement(HOLDS, HOLDS) == "agrees"
    assert agreement(FAILS, HOLDS) == "disagrees"    # a trick that worked on a weak cell
    assert agreement(HOLDS, FAILS) == "disagrees"    # standard RL that did not work
    assert agreement(HOLDS, INCONCLUSIVE) == INCONCLUSIVE
    assert agreement("", HOLDS) == ""


def test_verdicts_table_and_summary(tmp_path):
    from test_reporting import ALIGN, BOOT, KS, write_run

    from alignrl.analysis.verdicts import build_verdicts, summary_markdown
    from alignrl.core.paths import sources_from_metrics, split_base

    strong = [[1, 1, 0, 0]] * 20  # pass@4 = 1 -> strong
    weak = [[0, 0, 0, 0]] * 19 + [[1, 0, 0, 0]]  # pass@4 = 0.05 -> weak
    paths = [
        write_run(tmp_path, "results/baseline/A/math/test", strong),
        write_run(tmp_path, "results/baseline/A/logic/test", weak),
        write_run(tmp_path, "results/eval/gt/A/math/seed0/test", [[1, 1, 1, 1]] * 20),
        write_run(tmp_path, "results/eval/gt/A/logic/seed0/test", [[1, 1, 0, 0]] * 20),
        write_run(tmp_path, "results/eval/rand/A/math/seed0/test", [[1, 1, 1, 0]] * 20),
        write_run(tmp_path, "results/eval/rand/A/logic/seed0/test", [[1, 1, 1, 0]] * 20),
    ]
    sources = sources_from_metrics(paths)
    df = build_verdicts(*split_base(sources), KS, ALIGN, BOOT,
                        {"k": 1, "min_gain": 0.02}, {"gt": "holds_everywhere", "rand": "holds_if_strong"})
    got = {(r.claim, r.task): (r.alignment, r.verdict, r.paper_predicts, r.agreement) for r in df.itertuples()}
    assert got[("gt", "math")] == ("strong", HOLDS, HOLDS, "agrees")
    assert got[("gt", "logic")] == ("weak", HOLDS, HOLDS, "agrees")
    assert got[("rand", "math")] == ("strong", HOLDS, HOLDS, "agrees")
    assert got[("rand", "logic")] == ("weak", HOLDS, FAILS, "disagrees")  # a trick gaining on a weak cell
    assert df.loc[(df.claim == "gt") & (df.task == "logic"), "base_pass@4"].item() == pytest.approx(0.05)
    text = summary_markdown(df, {"k": 1, "min_gain": 0.02}, ALIGN)
    assert "3 agree with the paper, 1 disagree" in text
    assert "**rand** (paper: holds if strong)" in text
