"""The paper-scale DAG resolves on CPU without GPUs or the hub: a dry run of every table target lists the full
job matrix of configs/paper.yaml (counts derived from the config, not copied from a run)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from alignrl.workflow.config import claim_seeds, load_config

REPO = Path(__file__).resolve().parent.parent
PAPER = REPO / "configs" / "paper.yaml"


def dry_run(tmp_path: Path, *targets: str) -> tuple[subprocess.CompletedProcess, dict[str, int]]:
    # targets before --configfile: it takes every following word as another config file
    cmd = [sys.executable, "-m", "snakemake", *targets, "-n", "-s", str(REPO / "Snakefile"), "--directory",
           str(tmp_path), "--cores", "2", "--configfile", str(PAPER)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    stats = proc.stdout.split("Job stats:", 1)[-1]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}
    return proc, counts


def expected_jobs(cfg: dict, table: str) -> dict[str, int]:
    models, tasks = sorted(cfg["models"]), sorted(cfg["tasks"])
    benches = sum(len(cfg["tasks"][t]["benchmarks"]) for t in tasks)
    jobs = {"fetch_model": len(models), "baseline_passk": len(models) * benches}
    if table == "table1":
        jobs.update(prepare_hub_split=benches, table1=1)
        return jobs
    claims = cfg["tables"][table]["claims"]
    one_shot = [c for c in claims if cfg["claims"][c]["data"]["selection"] == "one_shot"]
    history = {cfg["claims"][c]["data"]["history_claim"] for c in one_shot
               if cfg["claims"][c]["data"]["one_shot_rule"] == "historical_variance"}
    cells = len(models) * len(tasks)
    jobs["prepare_hub_split"] = benches + 2 * len(tasks)  # + train and val of each task
    jobs["train_claim"] = sum(cells * len(claim_seeds(cfg, c)) for c in [*claims, *sorted(history)])
    if one_shot:
        jobs["select_one_shot"] = sum(cells * len(claim_seeds(cfg, c)) for c in one_shot)
    jobs["evaluate_run"] = sum(len(models) * benches * len(claim_seeds(cfg, c)) for c in claims)
    jobs["claims_table"] = 1
    return jobs


@pytest.mark.parametrize("table", ["table1", "table2", "table3", "table4"])
def test_paper_dry_run_lists_the_full_job_matrix(tmp_path, table):
    cfg = load_config(PAPER)
    proc, counts = dry_run(tmp_path, f"results/{table}.csv")
    assert proc.returncode == 0, proc.stderr[-3000:]
    want = expected_jobs(cfg, table)
    want["total"] = sum(want.values())
    assert counts == want
    if table == "table2":  # the README quotes this matrix
        assert counts["train_claim"] == 24 and counts["evaluate_run"] == 96 and counts["total"] == 151
    assert not (tmp_path / "data").exists() and not (tmp_path / "models").exists()


def test_paper_dry_run_of_every_target(tmp_path):
    proc, counts = dry_run(tmp_path)  # rule all
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rule in ("fetch_model", "prepare_hub_split", "baseline_passk", "train_claim", "select_one_shot",
                 "evaluate_run", "table1", "claims_table", "passk_figure", "figure1", "verdicts", "robustness",
                 "config_used"):
        assert counts.get(rule, 0) >= 1, f"{rule} missing from the paper DAG"
    assert "pretrain_model" not in counts and "prepare_task" not in counts  # hub models and data only


def test_paper_config_holds_the_official_setup():
    cfg = load_config(PAPER)
    assert cfg["backend"] == {"training": "verl", "sampling": "vllm"}
    assert {m["hub_id"] for m in cfg["models"].values()} == {"Qwen/Qwen2.5-7B", "meta-llama/Llama-3.1-8B-Instruct"}
    math, logic = cfg["tasks"]["math"], cfg["tasks"]["logic"]
    assert math["datasets"]["train"]["hub_id"] == "agentica-org/DeepScaleR-Preview-Dataset"
    train = logic["datasets"]["train"]
    assert (train["hub_id"], train["subset"]) == ("MiniMaxAI/SynLogic", "easy")
    assert math["benchmarks"] == ["math500", "aime24", "amc23"]
    assert logic["benchmarks"] == ["synlogic_val", "kor_operation", "kor_counterfactual", "kor_puzzle", "kor_cipher"]
    t = cfg["training"]
    assert (t["prompts_per_step"], t["samples_per_prompt"], t["mini_batches_per_step"], t["steps"]) == (128, 16, 2, 300)
    assert (t["lr"], t["warmup_steps"], t["weight_decay"], t["grad_clip"]) == (1e-6, 10, 0.1, 1.0)
    assert (t["clip_low"], t["clip_high"], t["dual_clip"], t["max_new_tokens"]) == (0.2, 0.28, 10.0, 8192)
    assert t["dynamic_sampling"] and t["max_generation_batches"] == 2 and (t["val_every"], t["save_every"]) == (20, 50)
    assert cfg["prompt_template"].startswith("Solve the following problem step by step. First, think about the "
                                             "reasoning process in the mind and then provide the answer.")
    assert cfg["evaluation"]["n"] == 256 and cfg["resources"]["train"]["gpus"] == 8
