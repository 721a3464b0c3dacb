"""End-to-end: results/mechanisms.csv on a one-cell cut of configs/smoke.yaml, then the audit rebuilds it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def _config(tmp_path: Path) -> Path:
    cfg = yaml.safe_load((REPO / "configs/smoke.yaml").read_text())
    cfg["models"] = {"A": cfg["models"]["A"]}
    cfg["tasks"] = {"math": cfg["tasks"]["math"]}
    cfg["models"]["A"]["corpus"]["task_fractions"] = {"math": 0.5}
    random = cfg["claims"]["random"]
    cfg["claims"] = {
        "ground_truth": cfg["claims"]["ground_truth"], "random": random,
        # ungated and unclipped together, so one run exercises both
        "random_ungated_noclip": {**random, "reward": "random_ungated", "training": {"clipping": False}},
    }
    cfg["tables"] = {"table2": {"title": "mechanisms test", "claims": ["ground_truth"]}}
    cfg["mechanisms"] = {"claims": ["random", "random_ungated_noclip"]}
    cfg["figure1"], cfg["dial"], cfg["large_k"], cfg["contamination"] = {}, {}, {}, {}
    cfg["sensitivity"] = {"lrs": [], "claims": [], "seeds": [0]}
    cfg["margins"] = {"pretrain_seeds": 1}
    path = tmp_path / "mechanisms.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_mechanisms_target_runs_with_the_claims_table_columns_and_audits(tmp_path):
    config = _config(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONHASHSEED="0")
    # no targets: rule all, which must include the mechanisms table
    proc = subprocess.run(SNAKEMAKE + ["-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "2",
                                       "--configfile", str(config)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    mech = pd.read_csv(tmp_path / "results/mechanisms.csv")
    assert list(mech.columns) == list(pd.read_csv(tmp_path / "results/table2.csv").columns)
    assert list(mech.claim) == ["base", "random", "random_ungated_noclip"]
    assert (tmp_path / "results/mechanisms.md").read_text().startswith("## Mechanism controls")
    run = tmp_path / "results/runs/random_ungated_noclip/A/math/seed0"
    assert json.loads((run / "run_info.json").read_text())["config"]["clipping"] is False
    assert (pd.read_csv(run / "train_log.csv").clip_fraction.fillna(0) == 0).all()
    audit = subprocess.run([sys.executable, "-m", "alignrl.workflow.audit", "--config", str(config)],
                           capture_output=True, text=True, cwd=tmp_path, env=env, check=False)
    assert audit.returncode == 0, (tmp_path / "results/audit.txt").read_text()[:3000]
    assert "results/mechanisms.csv" in (tmp_path / "results/audit.txt").read_text()
