"""The base-model traits and the split of every gain: lenient pass@k, maj@n, solution styles, table 1's
trait columns, the claims tables' lenient gain and format part, and the verdicts' statement of the split."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_reporting import ALIGN, BOOT, KS, write_run

from alignrl.analysis.tables import build_claims_table, build_table1, summarize_cell
from alignrl.analysis.verdicts import build_verdicts, summary_markdown
from alignrl.claims.answer import format_response
from alignrl.claims.scoring import (
    SAMPLE_COLUMNS,
    TRAIT_COLUMNS,
    per_problem_majority,
    sample_record,
    samples_frame,
    summarize,
)
from alignrl.claims.styles import SHORTCUT_THINK
from alignrl.claims.tasks import get_task
from alignrl.core.paths import CellSource, sources_from_metrics, split_base

VERDICT = {"k": 1, "min_gain": 0.02}


def _votes(answers, correct):
    """One problem per list: answers (None = no answer) and per-sample verdicts."""
    rows = [{"problem_id": f"q{i}", "extracted_answer": a, "correct": c}
            for i, (ans, cor) in enumerate(zip(answers, correct)) for a, c in zip(ans, cor)]
    return pd.DataFrame(rows)


def test_majority_vote_ties_nones_and_no_answer():
    samples = _votes(
        [["1", "1", "2", None],  # clear majority, right
         ["1", "2", None, None],  # a tie of one right and one wrong: half
         [None, None, None, "3"],  # the Nones never win: the one answer is the vote, wrong
         [None, None, None, "4"],  # ... and here right
         [None, None, None, None],  # no answer at all: 0
         ["7", "7", "8", "8"],  # a tie of two wrong answers
         ["1  2", "1 2", "3", None]],  # votes after whitespace normalisation: "1 2" wins
        [[True, True, False, False], [True, False, False, False], [False] * 4, [False, False, False, True],
         [False] * 4, [False] * 4, [True, True, False, False]],
    )
    maj = per_problem_majority(samples)
    assert list(maj.index) == [f"q{i}" for i in range(7)]
    assert maj.tolist() == [1.0, 0.5, 0.0, 1.0, 0.0, 0.0, 1.0]
    assert per_problem_majority(_votes([[None, None]], [[False, False]])).tolist() == [0.0]


def test_three_way_tie_counts_the_fraction_of_tied_answers_that_are_right():
    samples = _votes([["a", "b", "c", "c", "b", "a"]], [[True, False, False, False, False, True]])
    assert per_problem_majority(samples).tolist() == [pytest.approx(1 / 3)]


def _frame(strict, lenient, styles=None):
    """problems x samples of strict and lenient verdicts -> a samples table with every column."""
    records = []
    for i, (srow, lrow) in enumerate(zip(strict, lenient)):
        for j, (s, l_) in enumerate(zip(srow, lrow)):
            records.append({
                "problem_id": f"p{i}", "sample_index": j, "text": "", "extracted_answer": "5" if s else None,
                "correct": bool(s), "well_formatted": bool(s), "response_tokens": 3, "finished": True,
                "ground_truth": "5", "lenient_answer": "5" if l_ else "6", "lenient_correct": bool(l_),
                "solution_style": None if styles is None else styles[i][j],
            })
    return samples_frame(records)


def test_summarize_lenient_pass_at_k_exceeds_strict_where_only_the_format_is_missing():
    strict = [[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]]
    lenient = [[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 0, 0]]
    styles = [["careful", "shortcut", None, "careful"]] * 3
    m = summarize(_frame(strict, lenient, styles), n=4, ks=[1, 4], n_boot=100, alpha=0.05, boot_seed=0)
    assert m["pass_at_k"][1] == pytest.approx((1 + 0 + 2) / 12)
    assert m["lenient_pass_at_k"][1] == pytest.approx((3 + 1 + 2) / 12)
    assert m["lenient_pass_at_k"][4] == pytest.approx(1.0) and m["pass_at_k"][4] == pytest.approx(2 / 3)
    lo, hi = m["lenient_pass_at_k_ci"][1]
    assert lo <= m["lenient_pass_at_k"][1] <= hi
    # strict: problem 1 has no strict answer (0), 0 and 2 have "5" as the only and right answer
    assert m["maj_at_n"] == pytest.approx(2 / 3)
    # lenient: p0 "5" x3 vs "6" x1 (right), p1 "6" x3 (wrong), p2 a 2-2 tie of "5" and "6" (half)
    assert m["lenient_maj_at_n"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert m["maj_at_n_ci"][0] <= m["maj_at_n"] <= m["maj_at_n_ci"][1]
    assert m["style_share"] == {"careful": 0.5, "shortcut": 0.25, "none": 0.25}
    assert m["style_accuracy"]["shortcut"] == {"strict": pytest.approx(1 / 3), "lenient": pytest.approx(2 / 3)}
    assert m["style_accuracy"]["none"] == {"strict": 0.0, "lenient": pytest.approx(1 / 3)}
    json.dumps(m)  # metrics.json holds it


def test_summarize_of_an_old_samples_table_keeps_its_old_summary_and_half_a_new_one_is_an_error():
    frame = _frame([[1, 0]], [[1, 1]])
    old = summarize(frame.drop(columns=list(TRAIT_COLUMNS)), n=2, ks=[1], n_boot=10, alpha=0.05, boot_seed=0)
    assert "lenient_pass_at_k" not in old and "maj_at_n" not in old and old["pass_at_k"][1] == 0.5
    with pytest.raises(ValueError, match="solution_style"):
        summarize(frame.drop(columns=["solution_style"]), n=2, ks=[1], n_boot=10, alpha=0.05, boot_seed=0)


def test_a_sample_record_missing_a_column_is_refused_not_cast():
    record = _frame([[1]], [[1]]).iloc[0].to_dict()
    del record["lenient_correct"]
    with pytest.raises(ValueError, match="lenient_correct"):
        samples_frame([record])


def test_sample_record_grades_strict_and_lenient_and_reads_the_style():
    task = get_task("math")
    bare = sample_record("p", 0, format_response("2 + 3 = 5", "5", "bare_boxed"), 9, True, task, "5")
    assert list(bare) == list(SAMPLE_COLUMNS)
    assert bare["extracted_answer"] is None and not bare["correct"] and not bare["well_formatted"]
    assert bare["lenient_answer"] == "5" and bare["lenient_correct"] and bare["solution_style"] == "careful"
    short = sample_record("p", 1, format_response(SHORTCUT_THINK, "4", "sentence"), 5, True, task, "5")
    assert short["lenient_answer"] == "4" and not short["lenient_correct"] and short["solution_style"] == "shortcut"
    fine = sample_record("p", 2, format_response("x", "5"), 5, True, task, "5")
    assert fine["correct"] and fine["lenient_correct"]


def test_table1_carries_the_traits(tmp_path):
    strict = [[1, 0, 0, 0]] * 6 + [[0, 0, 0, 0]] * 4
    lenient = [[1, 1, 1, 0]] * 6 + [[1, 1, 0, 0]] * 4
    styles = [["careful", "careful", "shortcut", None]] * 10
    fmt = [[1, 0, 0, 0]] * 10
    m = write_run(tmp_path, "results/baseline/A/math/test", strict, lenient, styles=styles, formatted=fmt,
                  answers=[["5", None, None, None]] * 6 + [[None] * 4] * 4,
                  lenient_answers=[["5", "5", "5", "6"]] * 6 + [["5", "5", "6", "7"]] * 4)
    t1 = build_table1(sources_from_metrics([m]), KS, ALIGN, BOOT)
    row = t1.iloc[0]
    for col in ["pass@1", "lenient_pass@1", "lenient_pass@4_ci_low", "format_rate", "maj@4", "maj@4_ci_high",
                "lenient_maj@4", "careful_share", "careful_acc", "careful_lenient_acc", "shortcut_share",
                "none_share", "alignment"]:
        assert col in t1.columns, col
    assert row["pass@1"] == pytest.approx(6 / 40) and row["lenient_pass@1"] == pytest.approx(26 / 40)
    assert row["format_rate"] == pytest.approx(0.25)
    assert row["maj@4"] == pytest.approx(0.6)  # the 6 problems with a (right) strict answer
    assert row["lenient_maj@4"] == pytest.approx(1.0)  # the 4 others vote "5" leniently, right
    assert (row["careful_share"], row["shortcut_share"], row["none_share"]) == (0.5, 0.25, 0.25)
    assert row["careful_acc"] == pytest.approx(6 / 20) and row["careful_lenient_acc"] == pytest.approx(1.0)
    assert row["shortcut_lenient_acc"] == pytest.approx(6 / 10)
    # the class is the strict one: strict pass@4 = 0.6 is intermediate, lenient pass@4 = 1 would be strong
    assert row["alignment"] == "intermediate"
    assert t1.columns[-1] == "metrics_files"


def test_claims_table_splits_a_format_only_gain(tmp_path):
    """A run that only learned the format: strict gain > 0, lenient gain 0, the whole gain is format."""
    base = write_run(tmp_path, "results/baseline/A/math/test", [[1, 0, 0, 0]] * 20, [[1, 1, 1, 0]] * 20)
    fmt = write_run(tmp_path, "results/eval/fmt/A/math/seed0/test", [[1, 1, 1, 0]] * 20)
    real = write_run(tmp_path, "results/eval/gt/A/math/seed0/test", [[1, 1, 1, 1]] * 20)
    base_src, claims = split_base(sources_from_metrics([base, fmt, real]))
    df = build_claims_table(base_src, claims, KS, ALIGN, BOOT, VERDICT).set_index("claim")
    assert df.loc["base", "lenient_pass@1"] == pytest.approx(0.75)
    f = df.loc["fmt"]
    assert f["gain@1"] == pytest.approx(0.5) and f["verdict"] == "holds"  # judged on the strict gain
    assert (f["lenient_gain@1"], f["lenient_gain@1_ci_low"], f["lenient_gain@1_ci_high"]) == (0.0, 0.0, 0.0)
    assert f["format_part@1"] == pytest.approx(0.5) and f["format_part@1_ci_low"] == pytest.approx(0.5)
    g = df.loc["gt"]
    assert g["gain@1"] == pytest.approx(0.75) and g["lenient_gain@1"] == pytest.approx(0.25)
    assert g["format_part@1"] == pytest.approx(0.5)
    assert np.isnan(df.loc["base", "lenient_gain@1"])  # the base row has no gain


def test_the_split_has_the_seed_aware_interval(tmp_path):
    base = write_run(tmp_path, "results/baseline/A/math/test", [[0, 0, 0, 0]] * 10, [[0, 0, 0, 0]] * 10)
    s0 = write_run(tmp_path, "results/eval/gt/A/math/seed0/test", [[1, 1, 1, 1]] * 10)
    s1 = write_run(tmp_path, "results/eval/gt/A/math/seed1/test", [[1, 1, 0, 0]] * 10, [[1, 1, 1, 1]] * 10)
    src = sources_from_metrics([base, s0, s1])
    row = summarize_cell(src[1], KS, base=src[0], gain_ks=[1], n_boot=200, alpha=0.05, seed=0, split_ks=[1])
    # lenient: both seeds gain 1.0; strict: 1.0 and 0.5, so the format part is 0 or -0.5 by seed
    assert row["lenient_gain@1"] == pytest.approx(1.0) and row["lenient_gain@1_ci_low"] == pytest.approx(1.0)
    assert row["format_part@1"] == pytest.approx(-0.25)
    assert row["format_part@1_ci_low"] == pytest.approx(-0.5) and row["format_part@1_ci_high"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="split_ks"):
        summarize_cell(src[1], KS, base=src[0], gain_ks=[1], n_boot=10, alpha=0.05, seed=0, split_ks=[8])


def test_an_old_samples_file_names_itself_when_a_split_is_asked(tmp_path):
    m = write_run(tmp_path, "results/baseline/A/math/test", [[1, 0]] * 3)
    path = tmp_path / "results/baseline/A/math/test/samples.parquet"
    pd.read_parquet(path).drop(columns=list(TRAIT_COLUMNS)).to_parquet(path)
    src = CellSource("A", "math", "test", "base", [m])
    old = summarize_cell(src, [1, 2], base=None, gain_ks=(), n_boot=10, alpha=0.05, seed=0)  # strict: fine
    assert old["pass@1"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"samples\.parquet.*lenient_correct.*re-run its evaluation"):
        summarize_cell(src, [1, 2], base=None, gain_ks=(), n_boot=10, alpha=0.05, seed=0, split_ks=[1])
    with pytest.raises(ValueError, match=r"samples\.parquet.*no column"):
        build_table1([src], [1, 2], {**ALIGN, "k": 2}, BOOT)


def test_verdicts_state_the_split_per_claim_and_cell(tmp_path):
    base = write_run(tmp_path, "results/baseline/A/math/test", [[1, 0, 0, 0]] * 20, [[1, 1, 1, 0]] * 20)
    fmt = write_run(tmp_path, "results/eval/fmt/A/math/seed0/test", [[1, 1, 1, 0]] * 20)
    df = build_verdicts(*split_base(sources_from_metrics([base, fmt])), KS, ALIGN, BOOT, VERDICT,
                        {"fmt": "holds_if_strong"})
    r = df.iloc[0]
    assert r["verdict"] == "holds" and r["lenient_gain@1"] == 0.0 and r["format_part@1"] == pytest.approx(0.5)
    text = summary_markdown(df, VERDICT, ALIGN)
    assert ("fmt** (paper: holds if strong): A x math (strong): holds, strict gain +0.500 [+0.500, +0.500], "
            "lenient gain +0.000 [+0.000, +0.000], format part +0.500 [+0.500, +0.500]") in text
    assert "the part of the gain beyond format" in text
