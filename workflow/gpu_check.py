"""GPU check: a few verl training steps of the tiny pretrained model and the vLLM pass@k evaluation of it.

    python workflow/gpu_check.py --workdir /tmp/gpu_check            # on a machine with a GPU
    python workflow/gpu_check.py --workdir /tmp/gpu_check --dry-run  # CPU: plan and validate only

The real run pretrains model A of configs/gpu_check.yaml on CPU, trains it for 3 steps with verl (FSDP + vLLM
rollout, our plugin's reward manager, estimator and loss), evaluates the base and the trained model with vLLM,
and checks the outputs: 3 logged steps, an HF model directory, n samples per problem, pass@k in [0, 1].
The dry run asks Snakemake for the plan (-n) and composes the training job's verl config with verl's own
validation, so everything but the GPU work is checked where no GPU is.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "configs" / "gpu_check.yaml"
TRAINED = "results/eval/ground_truth/A/math/seed0/test/metrics.json"
BASE = "results/baseline/A/math/test/metrics.json"
RUN = "results/runs/ground_truth/A/math/seed0"


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", TRAINED, BASE, *args, "-s", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--configfile", str(CONFIG)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)


def dry_run(workdir: Path) -> dict:
    from alignrl.backends.verl import build_overrides, compose_config
    from alignrl.workflow.config import load_config, training_settings

    proc = snakemake(workdir, "-n", "--cores", "1")
    if proc.returncode != 0:
        raise SystemExit(f"snakemake dry run failed:\n{proc.stderr[-3000:]}")
    stats = proc.stdout.split("Job stats:")[-1]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}
    for rule in ("pretrain_model", "train_claim", "baseline_passk", "evaluate_run"):
        if counts.get(rule) != 1:
            raise SystemExit(f"the plan should hold one {rule} job: {counts}")
    cfg = load_config(CONFIG)
    overrides = build_overrides(
        claim="ground_truth", settings=training_settings(cfg, "ground_truth"), verl_cfg=cfg["verl"],
        model_dir=str(workdir / "models/A"), train_files=[str(workdir / "data/math/train.parquet")],
        val_files=[str(workdir / "data/math/val.parquet")], generator="math", seed=0,
        checkpoint_dir=str(workdir / "results/checkpoints/ground_truth/A/math/seed0"), experiment="gpu_check",
    )
    compose_config(overrides)
    return {"mode": "dry-run", "jobs": counts, "verl_overrides": len(overrides)}


def check_outputs(workdir: Path, cfg: dict) -> dict:
    import pandas as pd

    log = pd.read_csv(workdir / RUN / "train_log.csv")
    if len(log) != cfg["training"]["steps"]:
        raise SystemExit(f"{RUN}/train_log.csv has {len(log)} steps, expected {cfg['training']['steps']}")
    if not (workdir / RUN / "model" / "config.json").is_file():
        raise SystemExit(f"{RUN}/model is not a Hugging Face directory")
    report = {"mode": "gpu", "steps": len(log)}
    for name, path in (("base", BASE), ("trained", TRAINED)):
        metrics = json.loads((workdir / path).read_text())
        samples = pd.read_parquet(workdir / Path(path).parent / "samples.parquet")
        per_problem = samples.groupby("problem_id").size()
        if not (per_problem == cfg["evaluation"]["n"]).all():
            raise SystemExit(f"{path}: not exactly n = {cfg['evaluation']['n']} samples per problem")
        if not all(0.0 <= v <= 1.0 for v in metrics["pass_at_k"].values()) or metrics.get("sampler") != "vllm":
            raise SystemExit(f"{path}: bad metrics {metrics['pass_at_k']} (sampler {metrics.get('sampler')})")
        report[name] = metrics["pass_at_k"]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="where data, models and results go")
    parser.add_argument("--dry-run", action="store_true", help="plan and validate on CPU; no GPU work")
    parser.add_argument("--cores", default="all")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    if args.dry_run:
        report = dry_run(workdir)
    else:
        from alignrl.core.runtime import require_gpu
        from alignrl.workflow.config import load_config

        require_gpu("gpu_check", "verl + vllm")
        proc = snakemake(workdir, "--cores", str(args.cores))
        sys.stdout.write(proc.stdout[-5000:])
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-8000:])
            logs = sorted((workdir / "logs").rglob("*.log")) if (workdir / "logs").exists() else []
            for log in logs[-3:]:
                sys.stderr.write(f"\n==> {log} <==\n{log.read_text()[-4000:]}")
            return proc.returncode
        report = check_outputs(workdir, load_config(CONFIG))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
