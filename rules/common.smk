# Config helpers, wildcard constraints and target lists. Rules stay thin; logic lives in `alignrl`.
import os
import re
import sys

from alignrl.workflow.config import (
    all_models,
    claim_seeds,
    contamination_models,
    dial_levels,
    finalize_config,
    sensitivity_runs,
    training_settings,
)
from alignrl.core.paths import baseline_metrics_path, eval_metrics_path

finalize_config(config)

TASKS = sorted(config["tasks"])
SYNTHETIC_TASKS = sorted(t for t in TASKS if config["tasks"][t]["source"] == "synthetic")
HUB_TASKS = sorted(t for t in TASKS if config["tasks"][t]["source"] == "hub")
HUB_SPLITS = sorted({"train", "val", *(b for t in HUB_TASKS for b in config["tasks"][t]["benchmarks"])})
MODELS = sorted(config["models"])  # the tables' models
MODEL_CONFIGS = all_models(config)  # plus the dial's levels and the contaminated control
ALL_MODELS = sorted(MODEL_CONFIGS)
PRETRAIN_MODELS = sorted(m for m, c in MODEL_CONFIGS.items() if c["source"] == "pretrain")
HUB_MODELS = sorted(m for m, c in MODEL_CONFIGS.items() if c["source"] == "hub")
RESOURCES = config["resources"]  # portable: gpus, mem_mb, runtime; profiles map them to a scheduler
# GPU backends run in the GPU environment (verl[vllm] pins its own torch); everything else in the CPU one.
TRAIN_ENV = "../envs/gpu.yaml" if config["backend"]["training"] == "verl" else "../envs/cpu.yaml"
EVAL_ENV = "../envs/gpu.yaml" if config["backend"]["sampling"] == "vllm" else "../envs/cpu.yaml"
# Backend settings reach a job only when its backend uses them, so editing them never reruns native jobs.
VERL_SETTINGS = config["verl"] if config["backend"]["training"] == "verl" else {}
VLLM_SETTINGS = config["vllm"] if config["backend"]["sampling"] == "vllm" else {}
CLAIMS = sorted(config["claims"])
CLAIM_TABLES = sorted(config["tables"])

_JOB_SERVER = []


def start_job_server(workflow):
    if not (config["job_server"] and workflow.local_exec):
        return
    from alignrl.workflow import jobserver

    try:
        server = jobserver.start("logs/job_server.log")
    except RuntimeError as exc:
        print(f"job server not started ({exc}); every job starts its own Python process", file=sys.stderr)
        return
    _JOB_SERVER.append(server)
    os.environ[jobserver.ENV_VAR] = server.path


def stop_job_server():
    from alignrl.workflow import jobserver

    os.environ.pop(jobserver.ENV_VAR, None)
    while _JOB_SERVER:
        _JOB_SERVER.pop().stop()


def one_of(names):
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


wildcard_constraints:
    task=one_of(TASKS),
    model=one_of(ALL_MODELS),
    claim=one_of(CLAIMS),
    seed=r"\d+",
    bench=r"[A-Za-z0-9_\-]+",
    table=one_of(CLAIM_TABLES),


def benchmarks(task):
    return config["tasks"][task]["benchmarks"]


def prompt_template(wildcards):
    # a function, so Snakemake does not read "{question}" as a wildcard
    return config["prompt_template"]


def task_config(wildcards):
    return config["tasks"][wildcards.task]


def task_generator(wildcards):
    return config["tasks"][wildcards.task]["generator"]


def model_config(wildcards):
    return MODEL_CONFIGS[wildcards.model]


def contamination_inputs(wildcards):
    """The evaluation splits a contaminated control puts into its corpus (none for any other model)."""
    if "contaminate" not in model_config(wildcards):
        return []
    return [f"data/{t}/{b}.parquet" for t in TASKS for b in benchmarks(t)]


def contamination_tasks(wildcards):
    return [t for t in TASKS for b in benchmarks(t)] if "contaminate" in model_config(wildcards) else []


def claim_settings(wildcards):
    return training_settings(config, wildcards.claim)


def claim_data(wildcards):
    return config["claims"][wildcards.claim]["data"]


def run_dir(claim, model, task, seed):
    return f"results/runs/{claim}/{model}/{task}/seed{seed}"


def training_data(wildcards):
    """The train split, or the one example a one-shot claim selected."""
    if claim_data(wildcards)["selection"] == "one_shot":
        return f"data/one_shot/{wildcards.claim}/{wildcards.model}/{wildcards.task}/seed{wildcards.seed}.parquet"
    return f"data/{wildcards.task}/train.parquet"


def one_shot_history(wildcards):
    data = claim_data(wildcards)
    if data["one_shot_rule"] != "historical_variance":
        return []
    history_run = run_dir(data["history_claim"], wildcards.model, wildcards.task, data["history_seed"])
    return f"{history_run}/prompt_log.csv"


def heldout_data(wildcards):
    """Every val / evaluation split: pretraining corpora must exclude these questions."""
    return [f"data/{t}/{s}.parquet" for t in TASKS for s in sorted({"val", *benchmarks(t)})]


def baseline_metrics():
    return [baseline_metrics_path(m, t, b) for m in MODELS for t in TASKS for b in benchmarks(t)]


def claim_metrics(claims):
    return [
        eval_metrics_path(c, m, t, s, b)
        for c in claims for m in MODELS for t in TASKS for s in claim_seeds(config, c) for b in benchmarks(t)
    ]


def table_config(wildcards):
    return config["tables"][wildcards.table]


def table_metrics(wildcards):
    return baseline_metrics() + claim_metrics(config["tables"][wildcards.table]["claims"])


def verdict_metrics(wildcards):
    """Every claim that appears in a table (the sweep's own runs are judged in lr_sensitivity)."""
    claims = sorted({c for t in config["tables"].values() for c in t["claims"]})
    return baseline_metrics() + claim_metrics(claims)


def sensitivity_metrics(wildcards):
    return baseline_metrics() + [
        eval_metrics_path(name, m, t, s, b)
        for _, _, name in sensitivity_runs(config)
        for m in MODELS for t in TASKS for s in claim_seeds(config, name) for b in benchmarks(t)
    ]


def figure1_tables(wildcards):
    """The claim tables that hold the figure's bars."""
    wanted = set(config["figure1"].values()) - {"base"}
    return [f"results/{t}.csv" for t in CLAIM_TABLES if wanted & set(config["tables"][t]["claims"])]


def dial_level_of_model(wildcards):
    return {name: level for level, name in dial_levels(config)}


def dial_metrics(wildcards):
    task = config["dial"]["task"]
    models = [name for _, name in dial_levels(config)]
    return [baseline_metrics_path(m, task, b) for m in models for b in benchmarks(task)] + [
        eval_metrics_path(c, m, task, s, b)
        for c in config["dial"]["claims"] for m in models for s in claim_seeds(config, c) for b in benchmarks(task)
    ]


def large_k_evaluation():
    """The evaluation settings with large_k's n, ks, seed and (where set) temperature, top_p, problems."""
    large = config["large_k"]
    ev = dict(config["evaluation"], n=large["n"], ks=large["ks"], seed=large["seed"], problems=large["problems"])
    for key in ("temperature", "top_p"):
        if large[key] is not None:
            ev[key] = large[key]
    return ev


def large_k_metrics(wildcards):
    base = [f"results/large_k/{baseline_metrics_path(m, t, b)[len('results/'):]}"
            for m in MODELS for t in TASKS for b in benchmarks(t)]
    return base + [
        f"results/large_k/{eval_metrics_path(c, m, t, s, b)[len('results/'):]}"
        for c in config["large_k"]["claims"] for m in MODELS for t in TASKS
        for s in claim_seeds(config, c) for b in benchmarks(t)
    ]


def is_contaminated_control(wildcards):
    return "contaminate" in model_config(wildcards)


def contamination_probe_settings():
    """Only what a probe job uses, so changing e.g. the control's copies does not rerun clean models' probes."""
    return {k: config["contamination"][k] for k in ("prefix_fraction", "problems", "min_gap")}


def contamination_summaries(wildcards):
    return [
        f"results/contamination/{m}/{t}/{b}/summary.json"
        for m in contamination_models(config) for t in SYNTHETIC_TASKS for b in benchmarks(t)
    ]


def all_targets():
    targets = ["results/table1.csv", "results/figures/passk_curves.png"]
    targets += [f"results/{t}.csv" for t in CLAIM_TABLES]
    if config["figure1"]:
        targets.append("results/figures/figure1.png")
    if config["sensitivity"]["lrs"] and config["sensitivity"]["claims"]:
        targets.append("results/lr_sensitivity.csv")
    if config["tables"]:
        targets.append("results/verdicts.csv")
    targets.append("results/config_used.yaml")
    if config["dial"]["levels"] and config["dial"]["claims"]:
        targets += ["results/dial.csv", "results/figures/dial.png"]
    if config["large_k"]["claims"]:
        targets += ["results/passk_large.csv", "results/figures/passk_large.png"]
    if contamination_models(config):
        targets.append("results/contamination.csv")
    return targets
