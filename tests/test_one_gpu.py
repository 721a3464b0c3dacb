"""configs/one_gpu.yaml: the paper's claims on one GPU. Its whole DAG resolves in a dry run (no GPU, no hub), and
every training job composes into a verl config for one GPU that passes verl's own validation."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from test_verl_backend import overrides_for

from alignrl.backends.verl import compose_config
from alignrl.workflow.config import load_config

REPO = Path(__file__).resolve().parent.parent
ONE_GPU = REPO / "configs" / "one_gpu.yaml"


def test_one_gpu_dry_run_of_the_whole_dag(tmp_path):
    cfg = load_config(ONE_GPU)
    cmd = [sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--cores", "2", "--configfile", str(ONE_GPU)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = proc.stdout.split("Job stats:", 1)[-1]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}
    claims = sorted({c for t in cfg["tables"].values() for c in t["claims"]})
    benches = sum(len(t["benchmarks"]) for t in cfg["tasks"].values())
    assert counts["fetch_model"] == 2 and counts["baseline_passk"] == 2 * benches
    assert counts["train_claim"] == (len(claims) + 1) * 2 * 2  # + the variance-history run; 2 models x 2 tasks
    assert counts["evaluate_run"] == len(claims) * 2 * benches
    for rule in ("table1", "claims_table", "figure1", "verdicts", "robustness"):
        assert counts.get(rule, 0) >= 1, rule
    assert "pretrain_model" not in counts
    assert not (tmp_path / "data").exists() and not (tmp_path / "models").exists()


def test_one_gpu_verl_config_fits_one_gpu():
    cfg = load_config(ONE_GPU)
    assert cfg["resources"]["train"]["gpus"] == 1 and cfg["resources"]["evaluate"]["gpus"] == 1
    assert cfg["models"]["qwen2.5-math-1.5b"]["hub_id"] == "Qwen/Qwen2.5-Math-1.5B"
    for model in sorted(cfg["models"]):
        v = compose_config(overrides_for(cfg, "ground_truth", model, "math", 0))
        assert v.trainer.n_gpus_per_node == 1 and v.actor_rollout_ref.rollout.tensor_model_parallel_size == 1
        # Qwen2.5-Math-1.5B has a 4096-token context: prompt + response must fit it
        assert v.data.max_prompt_length + v.data.max_response_length <= 4096
        assert v.actor_rollout_ref.actor.ppo_max_token_len_per_gpu == 4096
        assert v.actor_rollout_ref.actor.fsdp_config.param_offload is True
    assert cfg["vllm"]["max_model_len"] <= 4096
    assert cfg["evaluation"]["max_new_tokens"] + cfg["verl"]["max_prompt_length"] <= cfg["vllm"]["max_model_len"]
