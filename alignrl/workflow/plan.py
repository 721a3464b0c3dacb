"""What each results table must be built from, read off a finalized config: the audit's expected inputs.

For every table the config defines, :func:`report_plan` gives the input files and the settings its
report rule hands to :func:`alignrl.analysis.registry.build` (the same lists as the input functions and
params of the report rules: ``rules/common.smk`` takes its input lists from here), so the audit can
rebuild each table from the config alone and refuse a table whose rows or files are not the config's. It
also gives the training settings each run directory must record (:func:`run_expectations`).
"""
from __future__ import annotations

from typing import Any

from alignrl.analysis import registry
from alignrl.core import paths
from alignrl.core.paths import BASE, baseline_metrics_path, eval_metrics_path, fill
from alignrl.workflow.config import (
    claim_seeds,
    contamination_models,
    dial_levels,
    dial_replicas,
    margin_replicas,
    mechanism_seeds,
    replica_seeds,
    sensitivity_runs,
    training_settings,
)

__all__ = ["large_k_evaluation", "report_plan", "robustness_tables", "run_expectations", "table_claims"]


def _benchmarks(config: dict, task: str) -> list[str]:
    return config["tasks"][task]["benchmarks"]


def _baseline(config: dict, models: list[str], tasks: list[str], root: str = paths.RESULTS) -> list[str]:
    return [baseline_metrics_path(m, t, b, root) for m in models for t in tasks for b in _benchmarks(config, t)]


def _claims(
    config: dict, claims: list[str], models: list[str], tasks: list[str], root: str = paths.RESULTS
) -> list[str]:
    return [
        eval_metrics_path(c, m, t, s, b, root)
        for c in claims for m in models for t in tasks for s in claim_seeds(config, c) for b in _benchmarks(config, t)
    ]


def _runs(config: dict, claims: list[str], models: list[str], tasks: list[str]) -> list[str]:
    return [fill(paths.RUN_INFO, claim=c, model=m, task=t, seed=s)
            for c in claims for m in models for t in tasks for s in claim_seeds(config, c)]


def table_claims(config: dict) -> list[str]:
    """Every claim of the claim tables once, in the order the tables (by name) list them."""
    return list(dict.fromkeys(c for name in sorted(config["tables"]) for c in config["tables"][name]["claims"]))


def large_k_evaluation(config: dict) -> dict:
    """The evaluation settings with large_k's n, ks, seed and (where set) temperature, top_p, problems."""
    large = config["large_k"]
    ev = dict(config["evaluation"], n=large["n"], ks=large["ks"], seed=large["seed"], problems=large["problems"])
    for key in ("temperature", "top_p"):
        if large[key] is not None:
            ev[key] = large[key]
    return ev


def robustness_tables(config: dict) -> dict[str, list[str]]:
    """The claim tables' claims by table name: the rows of the stability report."""
    return {name: list(table["claims"]) for name, table in sorted(config["tables"].items())}


def report_plan(config: dict) -> dict[str, tuple[list[str], dict[str, Any]]]:
    """Table name -> (its input files, its build settings), for every table the config makes."""
    tasks, models = sorted(config["tasks"]), sorted(config["models"])
    common = {"evaluation": config["evaluation"], "alignment": config["alignment"], "verdict": config["verdict"]}
    base = _baseline(config, models, tasks)
    plan: dict[str, tuple[list[str], dict[str, Any]]] = {
        "table1": (base, {"evaluation": config["evaluation"], "alignment": config["alignment"]}),
    }
    for name in sorted(config["tables"]):
        table = config["tables"][name]
        plan[name] = (base + _claims(config, table["claims"], models, tasks), {**common, "table": table, "name": name})
    if config["tables"]:
        claims = sorted({c for t in config["tables"].values() for c in t["claims"]})
        expectations = {c: cfg["expectation"] for c, cfg in config["claims"].items()}
        plan["verdicts"] = (base + _claims(config, claims, models, tasks), {**common, "expectations": expectations})
        plan["robustness"] = (base + _claims(config, claims, models, tasks),
                              {**common, "tables": robustness_tables(config)})
        # the regime each of those runs trained in, read from its run record
        plan[registry.REGIME] = (_runs(config, table_claims(config), models, tasks), {})
    mech = config["mechanisms"]
    if mech["claims"]:
        runs = [eval_metrics_path(c, m, t, s, b) for c in mech["claims"] for m in models for t in tasks
                for s in mechanism_seeds(config, c) for b in _benchmarks(config, t)]
        table = {"title": mech["title"], "claims": list(mech["claims"])}
        plan[registry.MECHANISMS] = (base + runs, {**common, "table": table, "name": registry.MECHANISMS})
    if config["figure1"]:
        wanted = set(config["figure1"].values()) - {BASE}
        tables = [fill(paths.TABLE, table=t) + ".csv" for t in sorted(config["tables"])
                  if wanted & set(config["tables"][t]["claims"])]
        plan[registry.FIGURE1] = (tables, {"bars": config["figure1"], "evaluation": config["evaluation"]})
    runs = sensitivity_runs(config)
    if config["sensitivity"]["lrs"] and config["sensitivity"]["claims"]:
        plan["lr_sensitivity"] = (base + _claims(config, [n for _, _, n in runs], models, tasks),
                                  {**common, "runs": [list(r) for r in runs]})
    seeds = replica_seeds(config)
    margins = margin_replicas(config)
    if margins:
        replicas = [name for names in margins.values() for name in names]
        hub = sorted(m for m in models if m not in margins)
        plan[registry.MARGINS] = (_baseline(config, replicas, tasks),
                                  {"evaluation": config["evaluation"], "alignment": config["alignment"],
                                   "replicas": {n: seeds[n] for n in replicas}, "hub_models": hub})
    if config["dial"]["levels"] and config["dial"]["claims"]:
        task = config["dial"]["task"]
        dial_models = [name for _, name in dial_levels(config)]
        replicas = dial_replicas(config)
        # every replica's base model gives the level's alignment spread; the claims train on replica 0 only
        inputs = (_baseline(config, [n for m in dial_models for n in replicas[m]], [task])
                  + _claims(config, config["dial"]["claims"], dial_models, [task]))
        plan["dial"] = (inputs, {**common, "levels": {name: level for level, name in dial_levels(config)},
                                 "replicas": replicas})
    if config["large_k"]["claims"]:
        inputs = (_baseline(config, models, tasks, paths.LARGE_K)
                  + _claims(config, config["large_k"]["claims"], models, tasks, paths.LARGE_K))
        plan[registry.LARGE_K] = (inputs, {"evaluation": large_k_evaluation(config)})
    synthetic = sorted(t for t in tasks if config["tasks"][t]["source"] == "synthetic")
    if contamination_models(config):
        plan["contamination"] = ([fill(paths.CONTAMINATION_SUMMARY, model=m, task=t, bench=b)
                                  for m in contamination_models(config) for t in synthetic
                                  for b in _benchmarks(config, t)], {})
    return plan


def run_expectations(config: dict, claim: str) -> dict[str, Any]:
    """The training settings a run of ``claim`` must record in its ``run_info.json``."""
    return training_settings(config, claim)
