# Config helpers, wildcard constraints and target lists. Rules stay thin; logic lives in `alignrl`;
# every path comes from alignrl.core.paths.
import re

from alignrl.workflow.config import (
    all_models,
    claim_seeds,
    contamination_models,
    dial_levels,
    dial_replicas,
    finalize_config,
    sensitivity_runs,
    training_settings,
)
from alignrl.workflow.task_options import pretrain_settings, sampler, task_settings
from alignrl.core import numerics, paths
from alignrl.core.paths import fill
from alignrl.workflow.plan import large_k_evaluation, report_plan, robustness_tables

finalize_config(config)
# Before any job imports torch: the job server and SLURM jobs start from this process's environment, and each
# SLURM job parses this file again (alignrl.core.numerics).
numerics.pin_environment(config["numerics"])

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
    return task_settings(config, wildcards.task)


def task_generator(wildcards):
    return config["tasks"][wildcards.task]["generator"]


def task_sampler(wildcards):
    """The generator of a job that draws fresh problems, with its options where they differ from the defaults."""
    return sampler(config, wildcards.task)


def model_config(wildcards):
    return MODEL_CONFIGS[wildcards.model]


def pretrain_config(wildcards):
    return pretrain_settings(config, MODEL_CONFIGS[wildcards.model])


def contamination_inputs(wildcards):
    """The evaluation splits a contaminated control puts into its corpus (none for any other model)."""
    if "contaminate" not in model_config(wildcards):
        return []
    return [fill(paths.BENCH_DATA, task=t, bench=b) for t in TASKS for b in benchmarks(t)]


def contamination_tasks(wildcards):
    return [t for t in TASKS for b in benchmarks(t)] if "contaminate" in model_config(wildcards) else []


def claim_settings(wildcards):
    return training_settings(config, wildcards.claim)


def claim_data(wildcards):
    return config["claims"][wildcards.claim]["data"]


def run_key(wildcards):
    return {k: getattr(wildcards, k) for k in ("claim", "model", "task", "seed")}


def training_data(wildcards):
    """The train split, or the one example a one-shot claim selected."""
    if claim_data(wildcards)["selection"] == "one_shot":
        return fill(rules.select_one_shot.output.data, **run_key(wildcards))
    return fill(paths.SPLIT, task=wildcards.task, split="train")


def one_shot_history(wildcards):
    data = claim_data(wildcards)
    if data["one_shot_rule"] != "historical_variance":
        return []
    history = dict(claim=data["history_claim"], model=wildcards.model, task=wildcards.task, seed=data["history_seed"])
    return fill(rules.train_claim.output.prompt_log, **history)


def heldout_data(wildcards):
    """Every val / evaluation split: pretraining corpora must exclude these questions."""
    return [fill(paths.SPLIT, task=t, split=s) for t in TASKS for s in sorted({"val", *benchmarks(t)})]


# What each table is built from: one plan, which the audit rebuilds the tables from too.
PLAN = report_plan(config)


def planned(name):
    if name not in PLAN:
        raise ValueError(f"'{name}' is not made by this config (its section is empty); made: {sorted(PLAN)}")
    return PLAN[name][0]


def baseline_metrics():
    return planned("table1")


def table_config(wildcards):
    return config["tables"][wildcards.table]


def table_metrics(wildcards):
    return planned(wildcards.table)


def verdict_metrics(wildcards):
    """Every claim that appears in a table (the sweep's own runs are judged in lr_sensitivity)."""
    return planned("verdicts")


def robustness_metrics(wildcards):
    return planned("robustness")


def regime_runs(wildcards):
    """The run record of every claim-table run."""
    return planned("regime")


def sensitivity_metrics(wildcards):
    return planned("lr_sensitivity")


def figure1_tables(wildcards):
    """The claim tables that hold the figure's bars."""
    return planned("figure1")


def dial_level_of_model(wildcards):
    return {name: level for level, name in dial_levels(config)}


def dial_replicas_of_level(wildcards):
    return dial_replicas(config)


def dial_metrics(wildcards):
    return planned("dial")


def planned_params(name):
    """A table's build settings exactly as the plan (and so the audit) has them; none when not made."""
    return PLAN[name][1] if name in PLAN else {}


def margins_metrics(wildcards):
    return planned("margins")


def mechanisms_metrics(wildcards):
    return planned("mechanisms")


def large_k_metrics(wildcards):
    return planned("large_k")


def is_contaminated_control(wildcards):
    return "contaminate" in model_config(wildcards)


def contamination_probe_settings():
    """Only what a probe job uses, so changing e.g. the control's copies does not rerun clean models' probes."""
    keys = ("prefix_fraction", "problems", "null_quantile", "fixed_threshold")
    return {k: config["contamination"][k] for k in keys}


def contamination_summaries(wildcards):
    return planned("contamination")


def caption(name):
    # relative to rules/, where every report() is called
    return f"../workflow/report/{name}.rst"


def table(name, ext="csv"):
    return f"{fill(paths.TABLE, table=name)}.{ext}"


def figure(name):
    return fill(paths.FIGURE, name=name)


def all_targets():
    targets = [table("table1"), figure("passk_curves")]
    targets += [table(t) for t in CLAIM_TABLES]
    if config["figure1"]:
        targets.append(figure("figure1"))
    if config["sensitivity"]["lrs"] and config["sensitivity"]["claims"]:
        targets.append(table("lr_sensitivity"))
    if config["tables"]:
        targets += [table("verdicts"), table("robustness"), table("regime")]
    targets.append(paths.CONFIG_USED)
    if config["dial"]["levels"] and config["dial"]["claims"]:
        targets += [table("dial"), figure("dial")]
    if config["large_k"]["claims"]:
        targets += [table("large_k"), figure("large_k")]
    if contamination_models(config):
        targets.append(table("contamination"))
    if "margins" in PLAN:  # only where a table model is pretrained here
        targets.append(table("margins"))
    if config["mechanisms"]["claims"]:
        targets.append(table("mechanisms"))
    return targets
