"""The contamination flag's threshold comes from a null of two never-seen sets, declared before any probe."""
from __future__ import annotations

from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
import yaml

from alignrl.analysis.contamination import FIXED_THRESHOLD_KEY, null_gap_threshold, probe_table, summarize_probe
from alignrl.claims.contamination import (
    NULL,
    REFERENCE,
    TEST,
    check_disjoint,
    null_problems,
    reference_problems,
)
from alignrl.claims.tasks import make_splits
from alignrl.workflow.config import ConfigError, finalize_config

REPO = Path(__file__).resolve().parent.parent
BOOT = {"n_boot": 400, "alpha": 0.05, "seed": 0}


def _frame(test, ref, null):
    return pd.DataFrame([{"set": which, "exact_match": s == 1.0, "rouge_l": float(s)}
                         for which, scores in ((TEST, test), (REFERENCE, ref), (NULL, null)) for s in scores])


def _smoke():
    return yaml.safe_load((REPO / "configs/smoke.yaml").read_text())


# --- the fresh sets -------------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["logic", "math"])
def test_the_two_fresh_sets_are_disjoint_from_each_other_and_every_split(task):
    # logic's problem space is small, so collisions with the splits would show if they were not excluded
    splits = make_splits(task, {"train": 2000, "val": 32, "test": 200}, seed=202)
    seen = {p.question for part in splits.values() for p in part}
    ref = reference_problems(task, 100, seed=9001, exclude=seen)
    null = null_problems(task, 100, seed=9001, exclude=seen, reference=ref)
    ref_q, null_q = {p.question for p in ref}, {p.question for p in null}
    assert len(ref_q) == len(null_q) == 100
    assert not ref_q & null_q and not (ref_q | null_q) & seen
    assert not {p.uid for p in ref} & {p.uid for p in null}
    # the null set has its own stream: excluding the reference set is not what makes it differ
    alone = null_problems(task, 100, seed=9001, exclude=seen, reference=[])
    assert [p.question for p in alone[:20]] != [p.question for p in ref[:20]]
    check_disjoint({TEST: [p.question for p in splits["test"]], REFERENCE: ref_q, NULL: null_q})


def test_the_fresh_sets_draw_from_the_configured_generator():
    from alignrl.claims.tasks import get_task

    seen = {p.question for p in make_splits("math", {"test": 50}, seed=3)["test"]}
    default = reference_problems("math", 200, seed=9001, exclude=seen)
    assert reference_problems(get_task("math", {"hard_share": 0.03}), 200, seed=9001, exclude=seen) == default
    no_tail = reference_problems(get_task("math", {"hard_share": 0}), 200, seed=9001, exclude=seen)
    assert all(int(n) < 100 for p in no_tail for n in p.question.split() if n.isdigit())
    assert any(int(n) >= 100 for p in default for n in p.question.split() if n.isdigit())


def test_overlapping_sets_are_refused_naming_both():
    with pytest.raises(ValueError, match="the test and null problems share 1 question"):
        check_disjoint({TEST: ["q1", "q2"], REFERENCE: ["q3"], NULL: ["q2", "q4"]})


# --- the threshold --------------------------------------------------------------------------------
def test_the_threshold_is_the_declared_quantile_of_the_null_gap():
    rng = np.random.default_rng(1)
    fresh = rng.uniform(0.2, 0.8, 400)
    sd = fresh.std()
    for q in (0.9, 0.95, 0.99):
        got = null_gap_threshold(fresh, 200, 100, quantile=q, n_boot=20000, seed=3)
        # the gap of two means of 200 and 100 draws: normal with sd sigma * sqrt(1/200 + 1/100)
        assert got == pytest.approx(NormalDist().inv_cdf(q) * sd * np.sqrt(1 / 200 + 1 / 100), rel=0.06)
    ref, null = fresh[:100], fresh[100:200]
    summary = summarize_probe(_frame(rng.uniform(0.2, 0.8, 200), ref, null), null_quantile=0.95, **BOOT)
    assert summary["threshold"] == summary["null_threshold_rouge_l"] == null_gap_threshold(
        np.concatenate([ref, null]), 200, 100, quantile=0.95, n_boot=BOOT["n_boot"], seed=BOOT["seed"] + 21)
    assert summary["threshold_source"] == "null q0.95" and summary["fixed_threshold"] is None


def test_the_threshold_never_depends_on_the_test_scores_it_judges():
    rng = np.random.default_rng(2)
    ref, null = rng.uniform(0.2, 0.8, 100), rng.uniform(0.2, 0.8, 100)
    clean = summarize_probe(_frame(rng.uniform(0.2, 0.8, 200), ref, null), null_quantile=0.95, **BOOT)
    memorised = summarize_probe(_frame(np.ones(200), ref, null), null_quantile=0.95, **BOOT)
    assert clean["threshold"] == memorised["threshold"] > 0
    assert not clean["flagged"] and memorised["flagged"]


def test_a_gap_inside_the_null_is_not_flagged_and_a_clear_one_is():
    rng = np.random.default_rng(3)
    ref, null = rng.uniform(0.3, 0.7, 100), rng.uniform(0.3, 0.7, 100)
    # the median null gap and a gap just under the threshold: inside the null
    threshold = summarize_probe(_frame(ref, ref, null), null_quantile=0.95, **BOOT)["threshold"]
    for shift in (0.0, 0.9 * threshold):
        inside = summarize_probe(_frame(ref + shift, ref, null), null_quantile=0.95, **BOOT)
        assert inside["gap_rouge_l"] == pytest.approx(shift) and not inside["flagged"]
    contaminated = summarize_probe(_frame(np.clip(ref + 0.15, 0, 1), ref, null), null_quantile=0.95, **BOOT)
    assert contaminated["gap_rouge_l"] > contaminated["threshold"] and contaminated["flagged"]


def test_clean_cells_are_flagged_at_about_the_declared_rate():
    # Test sets drawn like the fresh ones: the share flagged is the null's tail, 1 - quantile.
    rng = np.random.default_rng(4)
    flagged = [summarize_probe(_frame(*(rng.beta(4, 4, n) for n in (100, 60, 60))), null_quantile=0.9,
                               n_boot=300, alpha=0.05, seed=i)["flagged"] for i in range(300)]
    assert 0.05 <= np.mean(flagged) <= 0.15  # 0.10 expected; binomial sd 0.017


def test_a_fixed_threshold_overrides_the_null_and_says_so():
    ref = np.linspace(0.3, 0.7, 50)
    summary = summarize_probe(_frame(ref + 0.05, ref, ref), null_quantile=0.95, fixed_threshold=0.1, **BOOT)
    assert summary["threshold"] == 0.1 and summary["threshold_source"] == FIXED_THRESHOLD_KEY
    assert not summary["flagged"] and summary["null_threshold_rouge_l"] < 0.05  # the null would flag it
    df, preamble = probe_table([{**summary, "model": "A", "task": "math", "bench": "test",
                                 "known_contaminated": False}])
    assert f"fixed by hand ({FIXED_THRESHOLD_KEY} = 0.1), NOT derived from the null" in preamble


@pytest.mark.parametrize("bad", [1.0, 1.5, 0.3, "0.95", True, None])
def test_a_bad_quantile_is_refused_naming_the_key(bad):
    ref = np.linspace(0.3, 0.7, 20)
    with pytest.raises(ValueError, match=r"'contamination\.null_quantile' must be a number in \[0\.5, 1\)"):
        summarize_probe(_frame(ref, ref, ref), null_quantile=bad, **BOOT)


@pytest.mark.parametrize(("key", "value"), [("null_quantile", 1.0), ("null_quantile", 0.2),
                                            ("min_gap", 0.02), ("fixed_threshold", "high")])
def test_the_config_refuses_a_bad_threshold_key_naming_it(key, value):
    config = _smoke()
    config["contamination"][key] = value
    with pytest.raises(ConfigError, match=key):
        finalize_config(config)


def test_the_default_config_uses_the_null():
    config = finalize_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    probe = config["contamination"]
    assert probe["null_quantile"] == 0.95 and probe["fixed_threshold"] is None and "min_gap" not in probe
    assert finalize_config(_smoke())["contamination"]["null_quantile"] == 0.95  # the schema's default


# --- the table ------------------------------------------------------------------------------------
def test_the_table_reports_the_threshold_its_derivation_and_every_cell():
    rng = np.random.default_rng(5)
    ref, null = rng.uniform(0.3, 0.7, 80), rng.uniform(0.3, 0.7, 80)
    rows = []
    for model, task, shift, control in (("A", "math", 0.0, False), ("B", "logic", 0.0, False),
                                        ("A-contaminated", "math", 0.2, True)):
        s = summarize_probe(_frame(np.clip(rng.uniform(0.3, 0.7, 80) + shift, 0, 1), ref, null),
                            null_quantile=0.95, **BOOT)
        rows.append({**s, "model": model, "task": task, "bench": "test", "known_contaminated": control,
                     "provenance": {}})
    df, preamble = probe_table(rows)
    assert list(df.columns[:7]) == ["model", "task", "bench", "known_contaminated", "flagged", "threshold",
                                    "threshold_source"]
    for col in ("gap_rouge_l_ci_low", "gap_rouge_l_ci_high", "null_gap_rouge_l", "null_threshold_rouge_l"):
        assert col in df
    assert "the 0.95 quantile of the null gap" in preamble and "400 draws" in preamble
    assert "Contaminated control: A-contaminated x math FLAGGED" in preamble
    assert "Clean models: A x math not flagged" in preamble and "B x logic not flagged" in preamble
    assert "WARNING" not in preamble
    with pytest.raises(ValueError, match="made before the null threshold"):
        probe_table([{k: v for k, v in rows[0].items() if k != "threshold"}])
