"""The prepared GPU check: its dry-run mode plans the jobs and passes verl's validation on CPU."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from alignrl.core.runtime import visible_gpus
from alignrl.workflow.config import load_config

REPO = Path(__file__).resolve().parent.parent


def test_gpu_check_dry_run_plans_and_validates(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "workflow" / "gpu_check.py"), "--workdir", str(tmp_path),
                           "--dry-run"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert report["mode"] == "dry-run"
    assert all(report["jobs"][r] == 1 for r in ("pretrain_model", "train_claim", "baseline_passk", "evaluate_run"))
    assert not (tmp_path / "models").exists()  # nothing ran


def test_gpu_check_config_is_a_gpu_config():
    cfg = load_config(REPO / "configs" / "gpu_check.yaml")
    assert cfg["backend"] == {"training": "verl", "sampling": "vllm"}
    assert cfg["resources"]["train"]["gpus"] == cfg["verl"]["n_gpus_per_node"] == 1


@pytest.mark.skipif(visible_gpus() > 0, reason="a GPU machine runs the real check instead")
def test_gpu_check_refuses_to_run_without_a_gpu(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "workflow" / "gpu_check.py"), "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "rule 'gpu_check'" in proc.stderr
