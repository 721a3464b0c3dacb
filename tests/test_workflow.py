"""End-to-end: the workflow on configs/smoke.yaml, run by Snakemake exactly as a user would."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from alignrl.core.numerics import DEFAULT_MODE

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
    # No --configfile: the embedded default (config.yaml) is used. In a fresh directory, never the
    # checkout, whose results/ may already hold the tables (`make table2` then `make test`).
    proc = subprocess.run(
        SNAKEMAKE + ["-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n", "--cores", "2",
                     "results/table2.csv", "--quiet", "rules"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rule in ("prepare_task", "pretrain_model", "baseline_passk", "train_claim", "evaluate_run", "claims_table"):
        assert rule in proc.stdout + proc.stderr, f"{rule} missing from the dry run"


def test_every_workflow_test_runs_in_a_temporary_directory():
    """`make table2` then `make test` in one checkout: no test may run Snakemake in the checkout, whose
    results/ may hold finished tables (a dry run there finds "Nothing to be done")."""
    import ast

    offenders = []
    for path in sorted((REPO / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            source = ast.get_source_segment(path.read_text(), func) or ""
            if '"snakemake"' not in source and "SNAKEMAKE" not in source:
                continue
            runs = [c for c in ast.walk(func) if isinstance(c, ast.Call) and getattr(c.func, "attr", "") in
                    ("run", "Popen")]
            for call in runs:
                cwd = [k.value for k in call.keywords if k.arg == "cwd"]
                if cwd and isinstance(cwd[0], ast.Name) and cwd[0].id == "REPO":
                    offenders.append(f"{path.name}:{call.lineno} runs in the checkout (cwd=REPO)")
            if runs and "--directory" not in source:
                offenders.append(f"{path.name}:{func.lineno} {func.name} runs Snakemake without --directory")
            if re.search(r'"--directory",\s*str\(REPO\)', source):
                offenders.append(f"{path.name}:{func.lineno} {func.name} points --directory at the checkout")
    assert not offenders, "\n".join(offenders)


def test_job_server_hook_starts_and_stops_one_server(tmp_path, monkeypatch):
    """The Snakefile's onstart / onsuccess / onerror: one server while enabled, none left after "stop"."""
    from alignrl.workflow import jobserver

    monkeypatch.delenv(jobserver.ENV_VAR, raising=False)
    jobserver.workflow_hook("start", enabled=False, log_path=tmp_path / "off.log")
    assert jobserver.ENV_VAR not in os.environ and not (tmp_path / "off.log").exists()
    jobserver.workflow_hook("start", enabled=True, log_path=tmp_path / "server.log", preload=())
    try:
        socket_path = os.environ[jobserver.ENV_VAR]
        assert os.path.exists(socket_path)
    finally:
        jobserver.workflow_hook("stop")
    assert jobserver.ENV_VAR not in os.environ and not os.path.exists(socket_path)
    with pytest.raises(ValueError, match="unknown event"):
        jobserver.workflow_hook("restart")


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
    # figure 1's data: 4 cells x 4 bars (gains) and x (base + 4 claims) x 3 ks (inset), read off the tables
    fig1 = pd.read_csv(tmp_path / "results/figures/figure1.csv")
    assert (fig1.kind == "gain").sum() == 16 and (fig1.kind == "pass@k").sum() == 60
    gt = fig1[(fig1.kind == "gain") & (fig1.claim == "ground_truth")].merge(
        table2[table2.claim == "ground_truth"], on=["model", "task", "bench"])
    assert len(gt) == 4 and (gt.value == gt["gain@1"]).all() and (gt.ci_low == gt["gain@1_ci_low"]).all()
    sweep = pd.read_csv(tmp_path / "results/lr_sensitivity.csv")
    assert sorted(set(sweep.lr)) == [1e-4, 3e-4] and "flips" in sweep.columns

    # Every RL run really trained: updates with a gradient, final weights unlike the base's (the jobs
    # check it too: the smoke config sets require_training_updates).
    from alignrl.native.run_check import check_run_trained

    runs = sorted((tmp_path / "results/runs").glob("*/*/*/seed*"))
    assert len(runs) == 26
    for run in runs:
        assert check_run_trained(run, tmp_path / "models" / run.parts[-3])["updates"] > 0

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
            # forked by the job server, the job still ran the default numeric mode, and says on which CPU
            numerics = metrics["provenance"]["hardware"]["numerics"]
            assert numerics["mode"] == DEFAULT_MODE and numerics["torch_build"]["cpu_capability"] == "AVX2"
            assert numerics["cpu"]["model_name"] and metrics["provenance"]["hardware"]["processor"]
            samples = pd.read_parquet((tmp_path / path).with_name("samples.parquet"))
            assert {"problem_id", "sample_index", "text", "extracted_answer", "correct"} <= set(samples.columns)
            assert len(samples) == 12 * 4

    run_dir = tmp_path / "results/runs/ground_truth/A/math/seed0"
    # local runs fork jobs from the warm job server, and each job's log says so
    assert "[job server] ran in forked process" in (tmp_path / "logs/train/ground_truth/A/math/seed0.log").read_text()
    assert "[job server] ran in forked process" in (tmp_path / "logs/models/A.log").read_text()
    log = pd.read_csv(run_dir / "train_log.csv")
    assert list(log.step) == [1, 2, 3]
    assert (run_dir / "model/config.json").exists()
    # the regime columns are measured every step; the clip split adds up
    shares = log.style_careful + log.style_shortcut + log.style_none
    assert ((shares - 1).abs() < 1e-6).all() and (log.lenient_accuracy >= log.accuracy).all()
    assert ((log.clip_fraction_low + log.clip_fraction_high - log.clip_fraction).abs() < 1e-6).all()
    # every claim-table run's regime, one row each (4 claims x 2 models x 2 tasks x 1 seed)
    regime = pd.read_csv(tmp_path / "results/regime.csv")
    assert len(regime) == 16 and sorted(set(regime.claim)) == ["ground_truth", "nsr", "one_shot_selected", "random"]
    assert (regime.steps == 3).all() and regime.entropy_mean.notna().all()
    assert "- `clip_fraction_low_max`: " in (tmp_path / "results/regime.md").read_text()

    # A second invocation has nothing to do.
    proc = run_snakemake(tmp_path, "-n")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr

    _check_verdicts_and_config(tmp_path)
    _check_beyond_the_paper(tmp_path)
    _check_explain(tmp_path)
    _check_audit(tmp_path)
    _check_report(tmp_path)


def _check_verdicts_and_config(root: Path) -> None:
    verdicts = pd.read_csv(root / "results/verdicts.csv", keep_default_na=False)
    # every claim of every table x 4 cells, the base excluded
    assert sorted(set(verdicts.claim)) == ["ground_truth", "nsr", "one_shot_selected", "random"]
    assert len(verdicts) == 4 * 4
    assert set(verdicts.verdict) <= {"holds", "fails", "inconclusive"}
    gt = verdicts[verdicts.claim == "ground_truth"]
    assert set(gt.paper_predicts) <= {"holds"} and set(gt.expectation) == {"holds_everywhere"}
    summary = (root / "results/verdicts.md").read_text()
    assert summary.startswith("# Verdicts") and "ground_truth" in summary
    import yaml

    used = yaml.safe_load((root / "results/config_used.yaml").read_text())
    assert {"ground_truth", "random", "nsr", "ground_truth__lr0.0003"} <= set(used["claims"])
    assert used["claims"]["ground_truth"]["expectation"] == "holds_everywhere"


def _check_beyond_the_paper(root: Path) -> None:
    dial = pd.read_csv(root / "results/dial.csv")
    assert sorted(set(zip(dial.level, dial.model))) == [(0.0, "A-math0"), (0.5, "A")]
    assert sorted(set(dial.claim)) == ["ground_truth", "random"] and len(dial) == 4
    assert set(dial.verdict) <= {"holds", "fails", "inconclusive"}
    # the dial's level 0.5 is model A itself: its runs are the tables' runs, not copies
    assert dial[dial.model == "A"].metrics_files.str.startswith("results/eval/").all()
    pretrain = json.loads((root / "models/A-math0/pretrain_info.json").read_text())
    assert pretrain["corpus_cfg"]["task_fractions"]["math"] == 0.0
    assert (root / "results/figures/dial.png").stat().st_size > 1000
    # every level on 2 pretraining seeds: its alignment is their mean, between their min and max
    assert set(dial.pretrain_models) == {"A-math0;A-math0.p1", "A;A.p1"} and (dial.n_pretrain_seeds == 2).all()
    assert ((dial["alignment@4_min"] <= dial["alignment@4"]) & (dial["alignment@4"] <= dial["alignment@4_max"])).all()
    replica = json.loads((root / "models/A-math0.p1/pretrain_info.json").read_text())
    assert replica["corpus_cfg"]["seed"] == pretrain["corpus_cfg"]["seed"] + 10
    assert replica["corpus_cfg"]["task_fractions"] == pretrain["corpus_cfg"]["task_fractions"]

    margins = pd.read_csv(root / "results/margins.csv")
    assert sorted(set(zip(margins.model, margins.replica_model))) == [("A", "A"), ("A", "A.p1"), ("B", "B"),
                                                                       ("B", "B.p1")]
    assert len(margins) == 2 * 2 * 2 and set(margins["class"]) <= {"strong", "weak", "intermediate"}
    cells = pd.read_csv(root / "results/margins_cells.csv")
    assert len(cells) == 4 and (cells.n_replicas == 2).all()
    assert "cells pass" in (root / "results/margins.md").read_text()

    curves = pd.read_csv(root / "results/large_k.csv")
    assert sorted(set(curves.k)) == [1, 2, 4, 8] and set(curves.claim) == {"base", "ground_truth"}
    assert (curves.n_problems == 6).all()
    crossings = pd.read_csv(root / "results/large_k_crossings.csv")
    assert len(crossings) == 4
    assert (root / "results/figures/large_k.png").stat().st_size > 1000

    probe = pd.read_csv(root / "results/contamination.csv")
    assert sorted(set(probe.model)) == ["A", "A-contaminated", "B"] and len(probe) == 6
    assert probe.set_index("model").loc["A-contaminated", "known_contaminated"].all()
    assert not probe.set_index("model").loc[["A", "B"], "known_contaminated"].any()
    # the threshold is the null's declared quantile, read from the second fresh set
    assert (probe.threshold_source == "null q0.95").all() and (probe.null_problems == 8).all()
    assert (probe.threshold == probe.null_threshold_rouge_l).all()
    assert (probe.flagged == (probe.gap_rouge_l > probe.threshold)).all()
    assert "Threshold: per cell, the 0.95 quantile of the null gap" in (root / "results/contamination.md").read_text()
    control = json.loads((root / "models/A-contaminated/pretrain_info.json").read_text())
    assert control["corpus"]["documents_per_kind"]["contamination:math"] == 12 * 4  # every test problem x 4
    clean = json.loads((root / "models/A/pretrain_info.json").read_text())
    assert "contamination:math" not in clean["corpus"]["documents_per_kind"]


def _explain(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alignrl.trace.explain", *args],
                          capture_output=True, text=True, cwd=root)


def _check_explain(root: Path) -> None:
    proc = _explain(root, "results/table2.csv", "--row", "model=A,task=math,claim=ground_truth", "--column", "pass@1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for piece in ("results/eval/ground_truth/A/math/seed0/test/metrics.json", "samples.parquet",
                  "results/runs/ground_truth/A/math/seed0/model", "run_info.json", "train_log.csv",
                  "data/math/train.parquet", "models/A", "pretrain_info.json", "code"):
        assert piece in out, (piece, out)
    # every table's cells can be explained, base rows and one-shot rows included
    for table, row in (("table1", "model=B,task=logic"), ("table3", "model=A,task=math,claim=one_shot_selected"),
                       ("table4", "model=B,task=math,claim=base"), ("verdicts", "model=A,task=logic,claim=nsr")):
        proc = _explain(root, f"results/{table}.csv", "--row", row, "--column", "pass@1")
        assert proc.returncode == 0, (table, proc.stderr)
    assert "trained on the single example" in _explain(
        root, "results/table3.csv", "--row", "model=A,task=math,claim=one_shot_selected", "--column", "pass@1").stdout
    bad = _explain(root, "results/table2.csv", "--row", "model=A,claim=ground_truth", "--column", "pass@1")
    assert bad.returncode == 2 and "matches 2 rows" in bad.stderr


def _audit(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alignrl.workflow.audit", "--config",
                           str(REPO / "configs/smoke.yaml")], capture_output=True, text=True, cwd=root)


def _failing_files(root: Path) -> set[str]:
    return {line.split()[1].rstrip(":") for line in (root / "results/audit.txt").read_text().splitlines()
            if line.startswith("FAIL")}


def _check_audit(root: Path) -> None:
    proc = run_snakemake(root, "audit")  # the workflow's own target
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert " 0 failed" in (root / "results/audit.txt").read_text()

    def edit_csv(path: Path) -> None:
        df = pd.read_csv(path)
        df["pass@1"] = df["pass@1"].astype(float) + (df.index == 1) * 0.05
        df.to_csv(path, index=False)

    def edit_metrics(path: Path) -> None:
        m = json.loads(path.read_text())
        m["pass_at_k"]["1"] += 0.01
        path.write_text(json.dumps(m))

    def edit_samples(path: Path) -> None:
        s = pd.read_parquet(path)
        s.loc[0, "correct"] = not s.loc[0, "correct"]
        s.to_parquet(path, index=False)

    def swap_weights(path: Path) -> None:
        path.write_bytes((root / "models/B/model.safetensors").read_bytes())

    def regenerate(path: Path) -> None:
        rows = pd.read_parquet(path)
        rows.iloc[::-1].to_parquet(path, index=False)

    cases = [
        ("results/table2.csv", edit_csv),
        ("results/eval/random/B/logic/seed0/test/metrics.json", edit_metrics),
        ("results/eval/nsr/A/logic/seed0/test/samples.parquet", edit_samples),
        ("results/runs/ground_truth/A/math/seed0/model", swap_weights),
        ("data/math/test.parquet", regenerate),
    ]
    for rel, edit in cases:
        path = root / rel
        target = path / "model.safetensors" if path.is_dir() else path
        original = target.read_bytes()
        edit(target)
        proc = _audit(root)
        assert proc.returncode == 1, (rel, proc.stdout, proc.stderr)
        assert rel in _failing_files(root), (rel, _failing_files(root))
        assert rel in proc.stderr
        target.write_bytes(original)
    proc = _audit(root)
    assert proc.returncode == 0, (root / "results/audit.txt").read_text()[:3000]


def _check_report(root: Path) -> None:
    proc = run_snakemake(root, "--report", "report.html")
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (root / "report.html").read_text(errors="replace")
    assert len(html) > 20_000
    for name in ("table1.csv", "table2.csv", "figure1.png", "verdicts.md", "config_used.yaml"):
        assert name in html, name


def _kill_test_config(tmp_path: Path) -> Path:
    import yaml

    cfg = yaml.safe_load((REPO / "configs/smoke.yaml").read_text())
    cfg["models"] = {"A": cfg["models"]["A"]}
    cfg["tasks"] = {"math": cfg["tasks"]["math"]}
    cfg["models"]["A"]["corpus"]["task_fractions"] = {"math": 0.5}
    cfg["claims"] = {"ground_truth": cfg["claims"]["ground_truth"]}
    cfg["tables"] = {"table2": {"title": "kill test", "claims": ["ground_truth"]}}
    cfg["figure1"] = {}
    cfg["sensitivity"] = {"lrs": [], "claims": [], "seeds": [0]}
    cfg["dial"], cfg["large_k"], cfg["contamination"] = {}, {}, {}
    cfg["training"].update(steps=10, save_every=2, val_every=5)
    # a test split large enough that the evaluation job can be killed while it samples
    cfg["tasks"]["math"]["split_sizes"]["test"] = 400
    cfg["evaluation"].update(n=8, ks=[1, 2, 4, 8])
    path = tmp_path / "kill.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_killed_training_job_resumes_to_byte_identical_tables(tmp_path):
    """SIGKILL the whole Snakemake process group while an RL job runs; the rerun resumes from the last
    checkpoint, reruns no finished job, and the tables equal those of an uninterrupted run byte for byte."""
    import random
    import signal
    import time

    config = _kill_test_config(tmp_path)
    target = "results/table2.csv"
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    clean.mkdir(), killed.mkdir()

    def cmd(workdir: Path, *extra: str) -> list[str]:
        return SNAKEMAKE + [target, *extra, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
                            "--cores", "2", "--configfile", str(config)]

    proc = subprocess.run(cmd(clean), capture_output=True, text=True, cwd=clean)
    assert proc.returncode == 0, proc.stderr[-3000:]

    def run_and_kill_when(ready: Callable[[], bool], delay: float = 0.0) -> None:
        job = subprocess.Popen(cmd(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=killed,
                               start_new_session=True)
        deadline = time.time() + 600
        while not ready() and job.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert ready(), "the workflow never reached the point to kill at"
        time.sleep(delay)
        os.killpg(job.pid, signal.SIGKILL)  # the whole group: Snakemake and its running jobs, as a lost node
        job.wait()

    # 1. kill the RL job right after a checkpoint strictly inside the run
    kill_after = random.Random(0).choice([2, 4, 6])
    run_and_kill_when((killed / f"results/checkpoints/ground_truth/A/math/seed0/step_{kill_after:06d}").exists)
    run_dir = killed / "results/runs/ground_truth/A/math/seed0"
    assert not (run_dir / "run_info.json").exists(), "killed too late: the job had finished"
    finished = [*(killed / "models/A").iterdir(), killed / "data/math/train.parquet",
                killed / "results/baseline/A/math/test/metrics.json"]
    done_before = {p: p.stat().st_mtime_ns for p in finished if p.exists()}

    # 2. rerun, and kill the evaluation of the trained model while it samples
    subprocess.run(cmd(killed, "--unlock"), capture_output=True, text=True, cwd=killed, check=True)
    eval_dir = killed / "results/eval/ground_truth/A/math/seed0/test"
    run_and_kill_when((killed / "logs/eval/ground_truth/A/math/seed0/test.log").exists, delay=0.5)
    assert (run_dir / "run_info.json").exists()
    assert not (eval_dir / "metrics.json").exists(), "killed too late: the evaluation had finished"
    log = (killed / "logs/train/ground_truth/A/math/seed0.log").read_text()
    assert "resuming from" in log, log[-2000:]
    done_before[run_dir / "run_info.json"] = (run_dir / "run_info.json").stat().st_mtime_ns

    # 3. rerun to the end
    subprocess.run(cmd(killed, "--unlock"), capture_output=True, text=True, cwd=killed, check=True)
    proc = subprocess.run(cmd(killed), capture_output=True, text=True, cwd=killed)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert all(p.stat().st_mtime_ns == t for p, t in done_before.items()), "a finished job was rerun"
    assert (killed / target).read_bytes() == (clean / target).read_bytes()
    a = pd.read_csv(clean / "results/runs/ground_truth/A/math/seed0/train_log.csv").drop(columns="seconds")
    b = pd.read_csv(run_dir / "train_log.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)
