"""End-to-end: the workflow on configs/smoke.yaml, run by Snakemake exactly as a user would."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run_snakemake(workdir: Path, *args: str, configfile: str = "configs/smoke.yaml") -> subprocess.CompletedProcess:
    # targets first: --configfile takes every following word as another config file
    cmd = SNAKEMAKE + list(args) + ["-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2"]
    if configfile:
        cmd += ["--configfile", str(REPO / configfile)]
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)


def test_default_config_dry_run_resolves_every_target(tmp_path):
    # No --configfile: the embedded default (config.yaml) is used.
    proc = subprocess.run(
        SNAKEMAKE + ["-s", str(REPO / "Snakefile"), "--directory", str(REPO), "-n", "--cores", "2",
                     "results/table2.csv", "--quiet", "rules"],
        capture_output=True, text=True, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rule in ("prepare_task", "pretrain_model", "baseline_passk", "train_claim", "evaluate_run", "claims_table"):
        assert rule in proc.stdout + proc.stderr, f"{rule} missing from the dry run"


def test_bad_config_is_rejected_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    smoke = (REPO / "configs/smoke.yaml").read_text()
    bad.write_text(smoke.replace("ks: [1, 2, 4]", "ks: [1, 2, 8]"))
    proc = subprocess.run(
        SNAKEMAKE + ["results/table2.csv", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                     "--cores", "1", "--configfile", str(bad)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert "evaluation.ks" in proc.stderr + proc.stdout
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_smoke_workflow_end_to_end(tmp_path):
    proc = run_snakemake(tmp_path)  # rule all: every table, figure and the sweep of the smoke config
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])

    table1 = pd.read_csv(tmp_path / "results/table1.csv")
    assert sorted(zip(table1.model, table1.task)) == [("A", "logic"), ("A", "math"), ("B", "logic"), ("B", "math")]
    for k in (1, 2, 4):
        assert table1[f"pass@{k}"].between(0, 1).all()
        assert (table1[f"pass@{k}_ci_low"] <= table1[f"pass@{k}"] + 1e-12).all()

    table2 = pd.read_csv(tmp_path / "results/table2.csv")
    assert list(table2.claim[:3]) == ["base", "ground_truth", "random"]
    assert len(table2) == 12
    assert set(table2.verdict.dropna()) <= {"holds", "fails", "inconclusive"}
    assert (tmp_path / "results/table2.md").read_text().startswith("## ")
    for name, claims in (("table3", {"base", "ground_truth", "one_shot_selected"}),
                         ("table4", {"base", "ground_truth", "nsr"})):
        assert set(pd.read_csv(tmp_path / f"results/{name}.csv").claim) == claims
    for png in ("passk_curves.png", "figure1.png"):
        assert (tmp_path / "results/figures" / png).stat().st_size > 1000
    sweep = pd.read_csv(tmp_path / "results/lr_sensitivity.csv")
    assert sorted(set(sweep.lr)) == [1e-4, 3e-4] and "flips" in sweep.columns

    # The one-shot run trained on exactly the example its selection recorded.
    record = json.loads((tmp_path / "data/one_shot/one_shot_selected/A/math/seed0.json").read_text())
    info = json.loads((tmp_path / "results/runs/one_shot_selected/A/math/seed0/run_info.json").read_text())
    assert [e["uid"] for e in info["train_examples"]] == [record["uid"]]
    assert record["rule"] == "historical_variance"

    # Every cell names the metrics file it came from; per-sample outputs sit beside it.
    for files in table2.metrics_files:
        for path in files.split(";"):
            metrics = json.loads((tmp_path / path).read_text())
            assert metrics["provenance"]["inputs"]
            samples = pd.read_parquet((tmp_path / path).with_name("samples.parquet"))
            assert {"problem_id", "sample_index", "text", "extracted_answer", "correct"} <= set(samples.columns)
            assert len(samples) == 12 * 4

    run_dir = tmp_path / "results/runs/ground_truth/A/math/seed0"
    log = pd.read_csv(run_dir / "train_log.csv")
    assert list(log.step) == [1, 2, 3]
    assert (run_dir / "model/config.json").exists()

    # A second invocation has nothing to do.
    proc = run_snakemake(tmp_path, "-n")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr
