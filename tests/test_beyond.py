"""Beyond the paper: the alignment dial, large-k crossings and the contamination probe."""
from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_reporting import write_run

from alignrl.analysis.contamination import summarize_probe
from alignrl.analysis.dial import build_dial_table, dial_markdown, onsets, plot_dial
from alignrl.analysis.large_k import build_curves, crossings, plot_curves
from alignrl.claims.contamination import (
    NULL,
    REFERENCE,
    TEST,
    null_problems,
    reference_problems,
    rouge_l,
    split_question,
)
from alignrl.claims.tasks import get_task, make_splits
from alignrl.core.paths import sources_from_metrics, split_base
from alignrl.native.corpus import Document, build_documents
from alignrl.workflow.config import ConfigError, all_models, derived_models, dial_levels, finalize_config

REPO = Path(__file__).resolve().parent.parent
BOOT = {"n_boot": 200, "alpha": 0.05, "seed": 0}
ALIGN = {"k": 4, "strong_at_least": 0.8, "weak_at_most": 0.3, "ceiling_pass_at_k": 0.98, "ceiling_pass_at_1": 0.8}
VERDICT = {"k": 1, "min_gain": 0.02}


def smoke_config() -> dict:
    return yaml.safe_load((REPO / "configs/smoke.yaml").read_text())


# --- config --------------------------------------------------------------------------------------
def test_dial_levels_copy_the_model_and_change_only_the_dialled_fraction():
    config = finalize_config(smoke_config())
    levels = dial_levels(config)
    assert levels == [(0.0, "A-math0"), (0.5, "A")]  # 0.5 is A's own fraction: A itself
    derived = derived_models(config)
    dial_model = derived["A-math0"]
    original = config["models"]["A"]
    assert dial_model["corpus"]["task_fractions"] == {**original["corpus"]["task_fractions"], "math": 0.0}
    for key in ("arch", "size", "pretrain"):
        assert dial_model[key] == original[key]
    assert dial_model["corpus"]["seed"] == original["corpus"]["seed"]
    assert "A" not in derived  # the shared level is not a second model


def test_control_model_is_derived_only_when_enabled():
    config = finalize_config(smoke_config())
    assert derived_models(config)["A-contaminated"]["contaminate"] == {"copies": 4}
    off = smoke_config()
    off["contamination"]["control"]["enabled"] = False
    assert "A-contaminated" not in all_models(finalize_config(off))
    for name in config["models"]:
        assert "contaminate" not in config["models"][name]  # table models stay clean


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda c: c["dial"].update(model="Z"), "dial.model"),
        (lambda c: c["dial"].update(task="chess"), "dial.task"),
        (lambda c: c["dial"].update(claims=["nope"]), "dial.claims"),
        (lambda c: c["dial"].update(levels=[0.1]), "dial.levels"),
        (lambda c: c["dial"].update(levels=[0.0, 0.9]), "dial.levels"),  # 0.9 + logic + subskill > 1
        (lambda c: c["large_k"].update(ks=[1, 16]), "large_k.ks"),
        (lambda c: c["large_k"].update(claims=["nope"]), "large_k.claims"),
        (lambda c: c["contamination"].update(models=["Z"]), "contamination.models"),
        (lambda c: c["contamination"]["control"].update(model="Z"), "contamination.control.model"),
        (lambda c: c["models"].update({"A-math0": copy.deepcopy(c["models"]["B"])}), "models"),
    ],
)
def test_bad_beyond_config_names_the_key(edit, key):
    config = smoke_config()
    edit(config)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        finalize_config(config)


# --- corpus of the contaminated control ----------------------------------------------------------
def test_extra_documents_join_the_corpus_and_none_leaves_it_unchanged():
    args = dict(task_fractions={"math": 0.3}, subskill_fraction=0.2, num_documents=60, seed=3)
    plain = build_documents(**args)
    assert build_documents(**args, extra_documents=[]) == plain
    extra = [Document("contamination:math", "the planted test problem")] * 3
    mixed = build_documents(**args, extra_documents=extra)
    assert len(mixed) == len(plain) + 3
    assert sum(d.text == "the planted test problem" for d in mixed) == 3
    assert sorted(mixed, key=lambda d: (d.kind, d.text)) == sorted(plain + extra, key=lambda d: (d.kind, d.text))


# --- the probe's parts ---------------------------------------------------------------------------
def test_rouge_l_is_the_lcs_f1_over_words():
    assert rouge_l("a b c".split(), "a b c".split()) == 1.0
    assert rouge_l("x y".split(), "a b".split()) == 0.0
    assert rouge_l("a b c d".split(), "a c d e".split()) == pytest.approx(0.75)  # LCS a c d
    assert rouge_l("b a".split(), "a b".split()) == pytest.approx(0.5)  # order matters
    assert rouge_l([], ["a"]) == 0.0
    p, r = 2 / 2, 2 / 4  # candidate "a b" inside reference "a x b y"
    assert rouge_l("a b".split(), "a x b y".split()) == pytest.approx(2 * p * r / (p + r))


def test_split_question_keeps_a_word_on_each_side():
    assert split_question("one two three four", 0.5) == ("one two", "three four")
    assert split_question("one two", 0.99) == ("one", "two")
    assert split_question("one two", 0.01) == ("one", "two")
    with pytest.raises(ValueError, match="fewer than 2 words"):
        split_question("single", 0.5)


def test_reference_problems_are_fresh_seeded_and_distinct():
    splits = make_splits(get_task("math"), {"train": 50, "test": 20}, seed=1)
    seen = {p.question for part in splits.values() for p in part}
    refs = reference_problems("math", 30, seed=9, exclude=seen)
    assert len({p.question for p in refs}) == 30
    assert not seen & {p.question for p in refs}
    assert len({p.uid for p in refs}) == 30
    assert [p.question for p in reference_problems("math", 30, seed=9, exclude=seen)] == [p.question for p in refs]
    assert [p.question for p in reference_problems("math", 30, seed=10, exclude=seen)] != [p.question for p in refs]


def _probe_frame(test_scores, ref_scores, null_scores=None):
    null_scores = ref_scores if null_scores is None else null_scores
    return pd.DataFrame([{"set": which, "exact_match": s == 1.0, "rouge_l": s}
                         for which, scores in ((TEST, test_scores), (REFERENCE, ref_scores), (NULL, null_scores))
                         for s in scores])


def test_probe_flags_a_memorised_test_set_and_needs_every_set():
    rng = np.random.default_rng(0)
    memorised = summarize_probe(_probe_frame([1.0] * 50, rng.uniform(0.3, 0.6, 50), rng.uniform(0.3, 0.6, 50)),
                                null_quantile=0.95, **BOOT)
    assert memorised["flagged"] and memorised["gap_exact_match"] == 1.0
    with pytest.raises(ValueError, match="test, reference and null.*none of: reference, null"):
        summarize_probe(_probe_frame([1.0], [], []), null_quantile=0.95, **BOOT)


@pytest.fixture(scope="module")
def memorised_model(tmp_path_factory):
    """A tiny model pretrained on a corpus that holds six test problems twenty times each.

    300 steps memorise them (ROUGE-L 1.0 on their second halves); at 150 steps the memorisation was partial,
    and whether the probe saw it depended on which problems the split drew.
    """
    import torch

    from alignrl.native.pretrain import pretrain

    torch.set_num_threads(1)
    test = make_splits(get_task("math"), {"test": 6}, seed=5)["test"]
    refs = reference_problems("math", 6, seed=1, exclude=[p.question for p in test])
    nulls = null_problems("math", 6, seed=1, exclude=[p.question for p in test], reference=refs)
    out = tmp_path_factory.mktemp("contaminated") / "model"
    pretrain(
        out_dir=out, arch="qwen2",
        model_sizes=dict(hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=4, intermediate_size=128,
                         max_position_embeddings=256),
        corpus_cfg={"task_fractions": {"math": 0.5}, "subskill_fraction": 0.2, "num_documents": 200, "seed": 1},
        train_cfg={"steps": 300, "batch_size": 16, "seq_len": 128, "lr": 3e-3, "warmup_steps": 10,
                   "weight_decay": 0.0, "seed": 0},
        exclude_questions=[p.question for p in test + refs + nulls],
        contaminate_with=[("math", p.question, p.solution, p.answer) for p in test], contaminate_copies=20,
        threads=1,
    )
    problems = [(p.uid, which, p.question) for which, part in ((TEST, test), (REFERENCE, refs), (NULL, nulls))
                for p in part]
    return out, problems


def test_probe_detects_a_model_that_saw_the_test_problems(memorised_model):
    from alignrl.native.probe import probe

    model_dir, problems = memorised_model
    frame = probe(model_dir, problems, template="{question}", prefix_fraction=0.5)
    assert list(frame["set"]) == [TEST] * 6 + [REFERENCE] * 6 + [NULL] * 6
    assert all(r.remainder.split()[0] != "" for r in frame.itertuples())
    summary = summarize_probe(frame, null_quantile=0.95, **BOOT)
    assert summary["test_rouge_l"] > summary["reference_rouge_l"]
    assert summary["gap_rouge_l"] > summary["threshold"] == summary["null_threshold_rouge_l"]
    assert summary["flagged"], summary


# --- the dial ------------------------------------------------------------------------------------
def _dial_sources(tmp_path):
    """Three levels, weak to strong; 'trick' helps only at the strongest, 'gt' at every level."""
    weak = [[0, 0, 0, 0]] * 18 + [[1, 0, 0, 0]] * 2
    mid = [[1, 0, 0, 0]] * 10 + [[0, 0, 0, 0]] * 10
    strong = [[1, 1, 0, 0]] * 20
    paths = [
        write_run(tmp_path, "results/baseline/A-math0/math/test", weak),
        write_run(tmp_path, "results/baseline/A-math0.1/math/test", mid),
        write_run(tmp_path, "results/baseline/A/math/test", strong),
        write_run(tmp_path, "results/eval/gt/A-math0/math/seed0/test", [[1, 1, 0, 0]] * 20),
        write_run(tmp_path, "results/eval/gt/A-math0.1/math/seed0/test", [[1, 1, 1, 0]] * 20),
        write_run(tmp_path, "results/eval/gt/A/math/seed0/test", [[1, 1, 1, 1]] * 20),
        write_run(tmp_path, "results/eval/trick/A-math0/math/seed0/test", weak),
        write_run(tmp_path, "results/eval/trick/A-math0.1/math/seed0/test", mid),
        write_run(tmp_path, "results/eval/trick/A/math/seed0/test", [[1, 1, 1, 1]] * 20),
    ]
    sources = sources_from_metrics(paths)
    return split_base(sources)


def test_dial_table_rows_gains_and_onsets(tmp_path):
    base, claims = _dial_sources(tmp_path)
    levels = {"A-math0": 0.0, "A-math0.1": 0.1, "A": 0.55}
    df = build_dial_table(base, claims, levels, [1, 2, 4], ALIGN, BOOT, VERDICT)
    assert len(df) == 6 and set(df["claim"]) == {"gt", "trick"}
    gt = df[df["claim"] == "gt"].sort_values("level")
    assert list(gt["level"]) == [0.0, 0.1, 0.55]
    assert list(gt["verdict"]) == ["holds"] * 3
    assert list(gt["seed_agreement"]) == ["1/1 hold"] * 3
    assert gt["gain@1"].tolist() == pytest.approx([0.5 - 0.025, 0.75 - 0.125, 0.5])
    trick = df[df["claim"] == "trick"].sort_values("level")
    assert list(trick["verdict"]) == ["fails", "fails", "holds"]
    assert (df["base_pass@4"] >= df["base_pass@1"]).all()
    on = onsets(df, 4).set_index("claim")
    assert on.loc["gt", "onset_alignment@4"] == pytest.approx(df[df.model == "A-math0"]["base_pass@4"].iloc[0])
    assert on.loc["trick", "onset_alignment@4"] == pytest.approx(1.0)
    assert on.loc["trick", "levels_holding"] == 1
    text = dial_markdown(df, ALIGN, VERDICT)
    assert "**trick**: holds from alignment (mean pass@4) = 1.000" in text
    plot_dial(df, ALIGN, VERDICT, tmp_path / "dial.png")
    assert (tmp_path / "dial.png").stat().st_size > 1000


def test_dial_onset_is_nan_when_the_most_aligned_level_fails(tmp_path):
    df = pd.DataFrame({"claim": ["c"] * 3, "alignment@4": [0.1, 0.5, 0.9], "verdict": ["holds", "holds", "fails"]})
    on = onsets(df, 4)
    assert math.isnan(on["onset_alignment@4"].iloc[0]) and on["levels_holding"].iloc[0] == 2


def test_dial_rejects_a_model_that_is_not_a_level(tmp_path):
    base, claims = _dial_sources(tmp_path)
    with pytest.raises(ValueError, match="not a dial level"):
        build_dial_table(base, claims, {"A": 0.55}, [1, 2, 4], ALIGN, BOOT, VERDICT)


# --- large k -------------------------------------------------------------------------------------
def test_crossing_is_where_the_base_model_catches_up(tmp_path):
    # base: each problem solved by 2 of 8 samples (pass@8 = 1); trained: half the problems always,
    # the other half never (pass@1 = 0.5 = pass@8).
    base_m = [[1, 1, 0, 0, 0, 0, 0, 0]] * 20
    trained_m = [[1] * 8] * 10 + [[0] * 8] * 10
    paths = [write_run(tmp_path, "results/large_k/baseline/A/math/test", base_m),
             write_run(tmp_path, "results/large_k/eval/gt/A/math/seed0/test", trained_m)]
    sources = sources_from_metrics(paths)
    curves = build_curves(*split_base(sources), [1, 2, 4, 8], BOOT)
    assert len(curves) == 8
    trained = curves[curves.claim == "gt"].set_index("k")
    assert trained.loc[1, "gain"] == pytest.approx(0.5 - 0.25)
    assert trained.loc[8, "gain"] == pytest.approx(0.5 - 1.0)
    cross = crossings(curves).iloc[0]
    # base pass@2 = 1 - C(6,2)/C(8,2) = 13/28 < 0.5; pass@4 = 1 - C(6,4)/C(8,4) = 55/70 > 0.5
    assert cross["crossing_k"] == 4
    assert cross["trained_ahead_at_k1"]
    assert cross["base_ahead_significant_from_k"] in (4, 8)
    plot_curves(curves, crossings(curves), tmp_path / "large.png")
    assert (tmp_path / "large.png").stat().st_size > 1000


def test_no_crossing_when_the_trained_model_stays_ahead(tmp_path):
    paths = [write_run(tmp_path, "results/large_k/baseline/A/math/test", [[0, 0, 0, 0]] * 10),
             write_run(tmp_path, "results/large_k/eval/gt/A/math/seed0/test", [[1, 0, 0, 0]] * 10)]
    sources = sources_from_metrics(paths)
    cross = crossings(build_curves(*split_base(sources), [1, 2, 4], BOOT)).iloc[0]
    assert cross["crossing_k"] is None or pd.isna(cross["crossing_k"])


def test_large_k_needs_the_base_model_of_each_trained_cell(tmp_path):
    paths = [write_run(tmp_path, "results/large_k/eval/gt/A/math/seed0/test", [[1, 0]] * 4)]
    with pytest.raises(ValueError, match="no large-k base-model evaluation"):
        build_curves({}, sources_from_metrics(paths), [1, 2], BOOT)


def test_probe_table_warns_about_a_missed_control_and_a_false_alarm():
    from alignrl.analysis.contamination import probe_table

    base = summarize_probe(_probe_frame([0.5] * 10, [0.5] * 10), null_quantile=0.95, **BOOT)
    rows = [{**base, "model": "A", "task": "math", "bench": "test", "known_contaminated": False, "provenance": {}},
            {**base, "model": "C", "task": "math", "bench": "test", "known_contaminated": True, "provenance": {}}]
    df, preamble = probe_table(rows)
    assert list(df.columns[:5]) == ["model", "task", "bench", "known_contaminated", "flagged"]
    assert "provenance" not in df.columns
    assert "NOT flagged on: C x math" in preamble and "excludes every test problem" not in preamble
    rows[0]["flagged"] = True
    assert "Flagged although its corpus excludes every test problem: A x math" in probe_table(rows)[1]
