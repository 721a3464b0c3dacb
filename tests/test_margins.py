"""Pretraining-seed replicas: the margins check of the table models and the dial's spread over seeds."""
from __future__ import annotations

import copy
import math
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from test_reporting import write_run

from alignrl.analysis import registry
from alignrl.analysis.dial import build_dial_table, dial_markdown, onsets, plot_dial
from alignrl.analysis.margins import build_margins, interval_class, margins_markdown
from alignrl.core.paths import NAME_PATTERN, sources_from_metrics, split_base
from alignrl.workflow.config import (
    ConfigError,
    all_models,
    derived_models,
    dial_replicas,
    finalize_config,
    margin_replicas,
    replica_model_name,
)
from alignrl.workflow.plan import report_plan

REPO = Path(__file__).resolve().parent.parent
BOOT = {"n_boot": 200, "alpha": 0.05, "seed": 0}
ALIGN = {"k": 4, "strong_at_least": 0.85, "weak_at_most": 0.25, "ceiling_pass_at_k": 0.98, "ceiling_pass_at_1": 0.8}
VERDICT = {"k": 1, "min_gain": 0.02}


def smoke() -> dict:
    return yaml.safe_load((REPO / "configs/smoke.yaml").read_text())


# --- config ----------------------------------------------------------------------------------------
def test_replicas_offset_both_seeds_exactly_and_change_nothing_else():
    cfg = smoke()
    cfg["margins"] = {"pretrain_seeds": 3, "seed_offset": 7}
    config = finalize_config(cfg)
    models = all_models(config)
    assert margin_replicas(config) == {"A": ["A", "A.p1", "A.p2"], "B": ["B", "B.p1", "B.p2"]}
    for name in ("A", "B"):
        original = config["models"][name]
        for i in (1, 2):
            replica = models[replica_model_name(name, i)]
            assert replica["corpus"]["seed"] == original["corpus"]["seed"] + 7 * i
            assert replica["pretrain"]["seed"] == original["pretrain"]["seed"] + 7 * i
            rest = copy.deepcopy(replica)
            rest["corpus"]["seed"], rest["pretrain"]["seed"] = original["corpus"]["seed"], original["pretrain"]["seed"]
            assert {k: v for k, v in rest.items() if k != "description"} == \
                   {k: v for k, v in original.items() if k != "description"}
    # the table models themselves are untouched: their jobs do not change
    assert config["models"] == finalize_config(smoke())["models"]


def test_default_offset_is_the_model_selection_experiments_plus_ten():
    config = finalize_config(smoke())
    assert config["margins"] == {"pretrain_seeds": 2, "seed_offset": 10}
    assert config["dial"]["pretrain_seeds"] == 2
    replica = all_models(config)["A.p1"]
    assert (replica["corpus"]["seed"], replica["pretrain"]["seed"]) == (301 + 10, 401 + 10)


def test_dial_levels_get_replicas_and_the_table_models_level_shares_the_margins_ones():
    config = finalize_config(smoke())
    assert dial_replicas(config) == {"A-math0": ["A-math0", "A-math0.p1"], "A": ["A", "A.p1"]}
    derived = derived_models(config)
    level = derived["A-math0.p1"]
    assert level["corpus"]["task_fractions"]["math"] == 0.0
    assert (level["corpus"]["seed"], level["pretrain"]["seed"]) == (311, 411)
    assert "A.p1" in derived and "A.p1.p1" not in derived
    names = set(derived)
    assert all(re.match(NAME_PATTERN, n) for n in names)
    assert not names & set(config["models"])


def test_one_pretraining_seed_means_no_replicas():
    cfg = smoke()
    cfg["margins"] = {"pretrain_seeds": 1}
    cfg["dial"]["pretrain_seeds"] = 1
    config = finalize_config(cfg)
    assert not [n for n in derived_models(config) if ".p" in n]
    assert report_plan(config)["margins"][1]["replicas"].keys() == {"A", "B"}


def test_hub_models_get_no_replicas_and_no_margins_target():
    cfg = smoke()
    for name in ("A", "B"):
        cfg["models"][name] = {"source": "hub", "hub_id": f"org/{name}"}
    cfg["dial"], cfg["contamination"] = {}, {}
    config = finalize_config(cfg)
    assert margin_replicas(config) == {}
    assert not derived_models(config)
    assert "margins" not in report_plan(config)


def test_paper_config_downloads_its_models_so_nothing_is_replicated():
    from alignrl.workflow.config import load_config

    config = load_config(REPO / "configs/paper.yaml")
    assert margin_replicas(config) == {} and not [n for n in derived_models(config) if ".p" in n]
    assert "margins" not in report_plan(config)


@pytest.mark.parametrize("edit,key", [
    (lambda c: c.update(margins={"seed_offset": 0}), "margins.seed_offset"),
    (lambda c: c.update(margins={"pretrain_seeds": 0}), "margins.pretrain_seeds"),
    (lambda c: c.update(margins={"pretrain_seeds": 1.5}), "margins.pretrain_seeds"),
    (lambda c: c["dial"].update(pretrain_seeds=0), "dial.pretrain_seeds"),
    (lambda c: c["dial"].update(pretrain_seeds="two"), "dial.pretrain_seeds"),
    (lambda c: c["models"].update({"A.p1": copy.deepcopy(c["models"]["B"])}), "models"),
])
def test_bad_replica_config_names_the_key(edit, key):
    cfg = smoke()
    edit(cfg)
    with pytest.raises(ConfigError, match=re.escape(f"'{key}'")):
        finalize_config(cfg)


def test_plan_evaluates_every_replica_but_trains_the_dial_claims_on_the_primary_only():
    config = finalize_config(smoke())
    plan = report_plan(config)
    inputs, params = plan["margins"]
    assert sorted(inputs) == sorted(f"results/baseline/{m}/{t}/test/metrics.json"
                                    for m in ("A", "A.p1", "B", "B.p1") for t in ("logic", "math"))
    assert params["replicas"]["B.p1"] == {"model": "B", "replica": 1, "corpus_seed": 312, "pretrain_seed": 412}
    assert params["hub_models"] == []
    dial_inputs, dial_params = plan["dial"]
    assert {p for p in dial_inputs if "/baseline/" in p} == {
        f"results/baseline/{m}/math/test/metrics.json" for m in ("A", "A.p1", "A-math0", "A-math0.p1")}
    trained = {p.split("/")[3] for p in dial_inputs if "/eval/" in p}
    assert trained == {"A", "A-math0"}
    assert dial_params["replicas"] == dial_replicas(config)


# --- the class by interval ------------------------------------------------------------------------
def test_interval_class_uses_the_whole_interval():
    assert interval_class(0.85, 0.99, 0.85, 0.25) == "strong"
    assert interval_class(0.84, 0.99, 0.85, 0.25) == "intermediate"  # point estimate may be strong
    assert interval_class(0.0, 0.25, 0.85, 0.25) == "weak"
    assert interval_class(0.1, 0.26, 0.85, 0.25) == "intermediate"
    assert interval_class(math.nan, 0.1, 0.85, 0.25) == "intermediate"


STRONG = [[1, 1, 0, 0]] * 9 + [[1, 0, 0, 0]] * 11  # pass@1 0.3625, pass@4 1.0: strong, at the ceiling
WEAK = [[0, 0, 0, 0]] * 40  # pass@4 0
HALF = [[1, 0, 0, 0]] * 10 + [[0, 0, 0, 0]] * 10  # pass@4 0.5: intermediate


def _margin_sources(tmp_path, cells):
    paths = [write_run(tmp_path, f"results/baseline/{m}/{t}/test", mat) for (m, t), mat in cells.items()]
    base, claims = split_base(sources_from_metrics(paths))
    assert not claims
    return base


REPLICAS = {"A": {"model": "A", "replica": 0, "corpus_seed": 1, "pretrain_seed": 2},
            "A.p1": {"model": "A", "replica": 1, "corpus_seed": 11, "pretrain_seed": 12}}


def test_each_replica_is_classed_with_its_own_interval_and_one_intermediate_makes_the_cell_unstable(tmp_path):
    base = _margin_sources(tmp_path, {("A", "logic"): WEAK, ("A.p1", "logic"): HALF,
                                      ("A", "math"): WEAK, ("A.p1", "math"): WEAK})
    rows, cells = build_margins(base, REPLICAS, [1, 2, 4], ALIGN, BOOT)
    logic = rows[rows.task == "logic"].set_index("replica")
    assert logic.loc[0, "class"] == "weak" and logic.loc[1, "class"] == "intermediate"
    assert logic.loc[1, "pass@4_ci_low"] < 0.85 and logic.loc[1, "pass@4_ci_high"] > 0.25
    assert (logic.loc[1, "corpus_seed"], logic.loc[1, "replica_model"]) == (11, "A.p1")
    by_task = cells.set_index("task")
    assert not by_task.loc["logic", "stable"] and "straddles" in by_task.loc["logic", "why_not"]
    assert by_task.loc["logic", "classes"] == "weak;intermediate"
    assert by_task.loc["math", "stable"] and by_task.loc["math", "class"] == "weak"
    text = margins_markdown(rows, cells, ALIGN)
    assert "**1 of 2 cells pass.**" in text
    assert "A x logic: fails" in text and "A x math: passes (weak)" in text


def test_strong_cells_need_headroom_on_every_replica(tmp_path):
    base = _margin_sources(tmp_path, {("A", "math"): STRONG, ("A.p1", "math"): STRONG})
    rows, cells = build_margins(base, REPLICAS, [1, 2, 4], ALIGN, BOOT)
    assert list(rows["class"]) == ["strong", "strong"] and list(rows["headroom"]) == [False, False]
    assert not cells["stable"].iloc[0] and "no headroom on replica(s) 0, 1" in cells["why_not"].iloc[0]
    # looser ceilings: the same cells pass
    loose = {**ALIGN, "ceiling_pass_at_k": 1.01, "ceiling_pass_at_1": 0.9}
    _, cells = build_margins(base, REPLICAS, [1, 2, 4], loose, BOOT)
    assert cells["stable"].iloc[0] and cells["class"].iloc[0] == "strong"


def test_replicas_that_disagree_or_are_missing_are_not_stable(tmp_path):
    base = _margin_sources(tmp_path, {("A", "math"): STRONG, ("A.p1", "math"): WEAK})
    loose = {**ALIGN, "ceiling_pass_at_k": 1.01, "ceiling_pass_at_1": 0.9}
    _, cells = build_margins(base, REPLICAS, [1, 2, 4], loose, BOOT)
    assert not cells["stable"].iloc[0] and "disagree" in cells["why_not"].iloc[0]
    assert cells["class"].iloc[0] == "intermediate"
    only_primary = {k: v for k, v in base.items() if k[0] == "A"}
    _, cells = build_margins(only_primary, REPLICAS, [1, 2, 4], loose, BOOT)
    assert not cells["stable"].iloc[0] and "1 of 2 replicas" in cells["why_not"].iloc[0]


def test_margins_refuse_a_model_that_is_no_replica(tmp_path):
    base = _margin_sources(tmp_path, {("Z", "math"): WEAK})
    with pytest.raises(ValueError, match="'Z' is not a pretraining replica"):
        build_margins(base, REPLICAS, [1, 2, 4], ALIGN, BOOT)


def test_margins_registry_build_writes_rows_and_cells(tmp_path):
    paths = [write_run(tmp_path, f"results/baseline/{m}/math/test", WEAK) for m in ("A", "A.p1")]
    params = {"evaluation": {"ks": [1, 2, 4], "bootstrap": BOOT}, "alignment": ALIGN, "replicas": REPLICAS,
              "hub_models": ["H"]}
    built = registry.build(registry.MARGINS, paths, params)
    assert len(built.frames["csv"]) == 2 and len(built.frames["cells"]) == 1
    assert "Not checked: H (downloaded, not pretrained here: no replicas)" in built.markdown


# --- the dial's spread over pretraining seeds ------------------------------------------------------
def test_dial_alignment_is_the_mean_over_pretraining_seeds_with_min_max(tmp_path):
    low = [[0, 0, 0, 0]] * 20  # pass@4 0
    low2 = [[1, 0, 0, 0]] * 5 + [[0, 0, 0, 0]] * 15  # pass@4 0.25
    high = [[1, 1, 0, 0]] * 20  # pass@4 1
    high2 = [[1, 0, 0, 0]] * 16 + [[0, 0, 0, 0]] * 4  # pass@4 0.8
    paths = [
        write_run(tmp_path, "results/baseline/A-math0/math/test", low),
        write_run(tmp_path, "results/baseline/A-math0.p1/math/test", low2),
        write_run(tmp_path, "results/baseline/A/math/test", high),
        write_run(tmp_path, "results/baseline/A.p1/math/test", high2),
        write_run(tmp_path, "results/eval/gt/A-math0/math/seed0/test", high),
        write_run(tmp_path, "results/eval/gt/A/math/seed0/test", [[1, 1, 1, 1]] * 20),
    ]
    base, claims = split_base(sources_from_metrics(paths))
    levels = {"A-math0": 0.0, "A": 0.55}
    replicas = {"A-math0": ["A-math0", "A-math0.p1"], "A": ["A", "A.p1"]}
    df = build_dial_table(base, claims, levels, [1, 2, 4], ALIGN, BOOT, VERDICT, replicas).set_index("model")
    assert len(df) == 2  # claims on the primaries only
    assert df.loc["A-math0", "alignment@4"] == pytest.approx(0.125)
    assert (df.loc["A-math0", "alignment@4_min"], df.loc["A-math0", "alignment@4_max"]) == pytest.approx((0, 0.25))
    assert df.loc["A", "alignment@4"] == pytest.approx(0.9)
    assert df.loc["A", "base_pass@4_per_seed"] == "1;0.8" and df.loc["A", "n_pretrain_seeds"] == 2
    assert df.loc["A", "base_pass@4"] == pytest.approx(1.0)  # the gain's reference stays the primary
    assert df.loc["A", "gain@1"] == pytest.approx(0.5)
    on = onsets(df.reset_index(), 4).set_index("claim")
    assert on.loc["gt", "onset_alignment@4"] == pytest.approx(0.125)
    text = dial_markdown(df.reset_index(), ALIGN, VERDICT)
    assert "level 0.55 (A, A.p1): 0.900 [0.800, 1.000]; 1, 0.8" in text
    assert "primary model" in text
    plot_dial(df.reset_index(), ALIGN, VERDICT, tmp_path / "dial.png")
    if os.environ.get("ALIGNRL_KEEP_FIGURE"):  # to look at the error bars by eye
        shutil.copy(tmp_path / "dial.png", os.environ["ALIGNRL_KEEP_FIGURE"])
    assert (tmp_path / "dial.png").stat().st_size > 1000
    # the registry (the rule's and the audit's build) hands the replicas on
    params = {"evaluation": {"ks": [1, 2, 4], "bootstrap": BOOT}, "alignment": ALIGN, "verdict": VERDICT,
              "levels": levels, "replicas": replicas}
    built = registry.build("dial", paths, params).frames["csv"].set_index("model")
    assert built.loc["A", "alignment@4"] == pytest.approx(0.9)
    # a replica the plan names but whose evaluation is missing is an error, not a narrower spread
    partial = {k: v for k, v in base.items() if k[0] != "A.p1"}
    with pytest.raises(ValueError, match=r"replica\(s\) \['A.p1'\]"):
        build_dial_table(partial, claims, levels, [1, 2, 4], ALIGN, BOOT, VERDICT, replicas)
    with pytest.raises(ValueError, match="not a dial level or a replica"):
        build_dial_table(base, claims, levels, [1, 2, 4], ALIGN, BOOT, VERDICT, {"A": ["A"]})


def test_dial_without_replicas_is_each_levels_own_pass_at_k(tmp_path):
    paths = [write_run(tmp_path, "results/baseline/A/math/test", [[1, 0, 0, 0]] * 20),
             write_run(tmp_path, "results/eval/gt/A/math/seed0/test", [[1, 1, 0, 0]] * 20)]
    base, claims = split_base(sources_from_metrics(paths))
    df = build_dial_table(base, claims, {"A": 0.5}, [1, 2, 4], ALIGN, BOOT, VERDICT)
    row = df.iloc[0]
    assert row["alignment@4"] == row["alignment@4_min"] == row["alignment@4_max"] == row["base_pass@4"]
    assert row["n_pretrain_seeds"] == 1 and row["pretrain_models"] == "A"
