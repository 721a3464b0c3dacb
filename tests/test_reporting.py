"""Tables from per-sample outputs: pooling seeds, intervals, paired gains, path parsing."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from alignrl.analysis.tables import (
    CellSource,
    build_claims_table,
    build_table1,
    summarize_cell,
    to_markdown,
)
from alignrl.core.paths import parse_metrics_path, sources_from_metrics

KS = [1, 2, 4]
BOOT = {"n_boot": 200, "alpha": 0.05, "seed": 0}
ALIGN = {"k": 4, "strong_at_least": 0.8, "weak_at_most": 0.3, "ceiling_pass_at_k": 0.98, "ceiling_pass_at_1": 0.8}


def write_run(root, rel, correct_matrix, lenient_matrix=None, *, answers=None, lenient_answers=None,
              styles=None, formatted=None):
    """correct_matrix: problems x samples booleans -> samples.parquet + metrics.json under root/rel.

    The lenient verdicts default to the strict ones; the answers to "right" for a correct sample and None
    otherwise; the style to careful, and every sample is well formatted unless ``formatted`` says not."""
    d = root / rel
    d.mkdir(parents=True)
    lenient_matrix = correct_matrix if lenient_matrix is None else lenient_matrix

    def cell(matrix, i, j, default):
        return default if matrix is None else matrix[i][j]

    rows = [
        {"problem_id": f"p{i}", "sample_index": j, "text": "",
         "extracted_answer": cell(answers, i, j, "right" if c else None), "correct": bool(c),
         "well_formatted": bool(cell(formatted, i, j, True)),
         "lenient_answer": cell(lenient_answers, i, j, "right" if lenient_matrix[i][j] else None),
         "lenient_correct": bool(lenient_matrix[i][j]), "solution_style": cell(styles, i, j, "careful")}
        for i, r in enumerate(correct_matrix) for j, c in enumerate(r)
    ]
    pd.DataFrame(rows).to_parquet(d / "samples.parquet")
    (d / "metrics.json").write_text(json.dumps({"n": len(correct_matrix[0]), "temperature": 1.0, "top_p": 1.0}))
    return str(d / "metrics.json")


def test_parse_metrics_paths():
    assert parse_metrics_path("results/baseline/A/math/test/metrics.json")["claim"] == "base"
    info = parse_metrics_path("results/eval/random/B/logic/seed3/test/metrics.json")
    assert info == {"claim": "random", "model": "B", "task": "logic", "bench": "test", "seed": 3}
    with pytest.raises(ValueError, match="not a baseline"):
        parse_metrics_path("elsewhere/metrics.json")


def test_cell_value_is_mean_of_unbiased_estimates(tmp_path):
    m = write_run(tmp_path, "results/baseline/A/math/test", [[1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]])
    row = summarize_cell(CellSource("A", "math", "test", "base", [m]), KS, base=None, gain_ks=(),
                         n_boot=200, alpha=0.05, seed=0)
    assert row["pass@1"] == pytest.approx((0.25 + 1 + 0) / 3)
    assert row["pass@4"] == pytest.approx(2 / 3)
    assert row["pass@2"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert row["pass@1_ci_low"] <= row["pass@1"] <= row["pass@1_ci_high"]
    assert not any(c.endswith("_seed_se") for c in row)  # the seeds' spread is in the interval now


def test_gain_is_paired_and_seeds_pool(tmp_path):
    base = write_run(tmp_path, "results/baseline/A/math/test", [[0, 0, 0, 0]] * 10)
    s0 = write_run(tmp_path, "results/eval/gt/A/math/seed0/test", [[1, 1, 1, 1]] * 10)
    s1 = write_run(tmp_path, "results/eval/gt/A/math/seed1/test", [[1, 1, 0, 0]] * 10)
    sources = sources_from_metrics([base, s0, s1])
    assert [len(s.metrics_files) for s in sources] == [1, 2]
    df = build_claims_table({("A", "math", "test"): sources[0]}, [sources[1]], KS, ALIGN, BOOT,
                            {"k": 1, "min_gain": 0.02})
    gt = df[df.claim == "gt"].iloc[0]
    assert gt.n_seeds == 2
    assert gt["pass@1"] == pytest.approx(0.75)
    assert gt["gain@1"] == pytest.approx(0.75)
    # Within a seed every problem gains the same, so the whole width is the seeds': it spans seed 1's
    # gain (0.5) to seed 0's (1.0). A bootstrap over problems alone would collapse on 0.75.
    assert gt["gain@1_ci_low"] == pytest.approx(0.5) and gt["gain@1_ci_high"] == pytest.approx(1.0)
    assert gt["seed_verdicts"] == "0:holds;1:holds" and gt["seed_agreement"] == "2/2 hold"
    assert df.iloc[0].claim == "base" and df.iloc[0].alignment == "weak"
    assert "gt" in to_markdown(df, "t")


def test_mismatched_problems_are_an_error(tmp_path):
    base = write_run(tmp_path, "results/baseline/A/math/test", [[0, 1]] * 3)
    run = write_run(tmp_path, "results/eval/gt/A/math/seed0/test", [[0, 1]] * 4)
    src = sources_from_metrics([base, run])
    with pytest.raises(ValueError, match="different problems"):
        summarize_cell(src[1], [1, 2], base=src[0], gain_ks=[1], n_boot=10, alpha=0.05, seed=0)


def test_missing_samples_name_the_file(tmp_path):
    m = write_run(tmp_path, "results/baseline/A/math/test", [[0, 1]])
    (tmp_path / "results/baseline/A/math/test/samples.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="samples.parquet"):
        build_table1(sources_from_metrics([m]), [1, 2], {**ALIGN, "k": 2}, BOOT)


def test_alignment_class_is_decided_with_the_interval():
    from alignrl.analysis.decide import alignment_class

    assert alignment_class(0.8, 0.95, ALIGN) == "strong"
    assert alignment_class(0.1, 0.3, ALIGN) == "weak"
    assert alignment_class(0.79, 0.95, ALIGN) == "intermediate"  # straddles the strong threshold
    assert alignment_class(0.2, 0.31, ALIGN) == "intermediate"  # straddles the weak one


def test_claims_table_verdicts_and_sensitivity_flips(tmp_path):
    from alignrl.analysis.tables import build_sensitivity_table

    base = write_run(tmp_path, "results/baseline/A/math/test", [[0, 0, 0, 0]] * 20)
    good = write_run(tmp_path, "results/eval/gt/A/math/seed0/test", [[1, 1, 1, 0]] * 20)
    flat = write_run(tmp_path, "results/eval/gt__lr0.1/A/math/seed0/test", [[0, 0, 0, 0]] * 20)
    sources = sources_from_metrics([base, good, flat])
    table = build_claims_table({("A", "math", "test"): sources[0]}, [sources[1]], KS, ALIGN, BOOT,
                               {"k": 1, "min_gain": 0.02})
    assert list(table.verdict) == ["", "holds"]
    assert list(table.seed_agreement) == ["", "1/1 hold"]
    sweep = build_sensitivity_table(sources, [("gt", 0.01, "gt"), ("gt", 0.1, "gt__lr0.1")], KS, ALIGN, BOOT,
                                    {"k": 1, "min_gain": 0.02})
    assert list(sweep.verdict) == ["holds", "fails"]
    assert list(sweep.seed_verdicts) == ["0:holds", "0:fails"]
    assert list(sweep.seed_agreement) == ["1/1 hold", "1/1 fail"]
    assert sweep.flips.all()
