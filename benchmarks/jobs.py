"""Real pipeline jobs, before and after: the same job with this tree's ``alignrl`` and with an older one's.

Needs a built results tree (``make table2`` writes ``models/`` and ``data/``; pass ``--tree`` for another
clone). Job types, with the embedded default's settings (config.yaml):

* ``eval``: ``alignrl.native.evaluate.evaluate`` of a base model on a task's test split (n, batch size,
  max_new_tokens, seed of ``evaluation:``): what ``baseline_passk`` and ``evaluate_run`` do, minus I/O;
* ``rl``: ``alignrl.native.trainer.train`` with the ``training:`` settings and the ground-truth reward for
  ``steps`` steps (validation off); the mean ``seconds`` per step after the first.

Both sides run alternately in child processes; the speed-up of a job type is the ratio of medians.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from benchmarks import common


def _child(kind: str, tree: Path, model: str, task: str, steps: int) -> None:
    common.set_threads(1)
    from alignrl.claims.rows import read_rows

    cfg = common.default_config()
    model_dir = tree / "models" / model
    if kind == "eval":
        from alignrl.native.evaluate import evaluate

        ev = cfg["evaluation"]
        rows = read_rows(tree / "data" / task / "test.parquet")
        t0, c0 = time.perf_counter(), time.process_time()
        samples, metrics = evaluate(model_dir, rows, n=ev["n"], ks=ev["ks"], temperature=ev["temperature"],
                                    top_p=ev["top_p"], max_new_tokens=ev["max_new_tokens"],
                                    batch_size=ev["batch_size"], seed=ev["seed"], n_boot=10, threads=1,
                                    progress=False)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        common.emit({"kind": kind, "times": [seconds], "cpu_times": [cpu], "pass1": metrics["pass_at_k"][1],
                     "mean_response_tokens": metrics["mean_response_tokens"]})
    else:
        from alignrl.native.trainer import train

        tcfg = {**cfg["training"], "steps": steps, "val_every": 0, "save_every": 10_000, "reward": "ground_truth",
                "advantage": "grpo"}
        with tempfile.TemporaryDirectory() as tmp:
            t0, c0 = time.perf_counter(), time.process_time()
            train(model_dir=model_dir, train_rows=read_rows(tree / "data" / task / "train.parquet"),
                  val_rows=[], task_name=task, out_dir=Path(tmp) / "run", checkpoint_dir=Path(tmp) / "ckpt",
                  cfg=tcfg, seed=0, threads=1, log=lambda s: None)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            with open(Path(tmp) / "run" / "train_log.csv") as fh:
                log = list(csv.DictReader(fh))
        # the whole job (loading, hashing, saving included) per step, as Snakemake's benchmark counts it
        common.emit({"kind": kind, "times": [seconds / steps], "cpu_times": [cpu / steps],
                     "log_seconds": [float(r["seconds"]) for r in log], "accuracy": [float(r["accuracy"]) for r in log],
                     "generation_batches": [int(r["generation_batches"]) for r in log]})


def measure(tree: Path, before_rev: str, rounds: int = 2, steps: int = 6, cells=(("A", "math"), ("B", "math")),
            log=print) -> dict:
    old = common.export_rev(before_rev)
    out: dict = {"before_rev": before_rev, "tree": str(tree), "rl_steps": steps, "rounds": rounds, "jobs": {}}
    for kind in ("eval", "rl"):
        for model, task in cells:
            args = ["--kind", kind, "--tree", str(tree), "--model", model, "--task", task, "--steps", str(steps)]
            res = common.alternate({"after": ("benchmarks.jobs", args), "before": ("benchmarks.jobs", args, old)},
                                   rounds, log=log)
            before = common.median([t for r in res["before"] for t in r["cpu_times"]])
            after = common.median([t for r in res["after"] for t in r["cpu_times"]])
            wb = common.median([t for r in res["before"] for t in r["times"]])
            wa = common.median([t for r in res["after"] for t in r["times"]])
            out["jobs"][f"{kind}/{model}/{task}"] = {
                "unit": "CPU s per job" if kind == "eval" else "CPU s per RL step (whole job / steps)",
                "before": before, "after": after, "speedup": before / after,
                "wall_before": wb, "wall_after": wa,
                # the science check: same base pass@1 / same per-step training accuracies, before and after
                "result_before": res["before"][0].get("pass1", res["before"][0].get("accuracy")),
                "result_after": res["after"][0].get("pass1", res["after"][0].get("accuracy")),
                "peak_rss_mb_before": max(r["peak_rss_mb"] for r in res["before"]),
                "peak_rss_mb_after": max(r["peak_rss_mb"] for r in res["after"]),
            }
    for kind in ("eval", "rl"):
        ups = [v["speedup"] for k, v in out["jobs"].items() if k.startswith(kind + "/")]
        out[f"speedup_{kind}"] = common.median(ups)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--child", action="store_true")
    p.add_argument("--kind", choices=("eval", "rl"))
    p.add_argument("--tree", type=Path, default=common.ROOT)
    p.add_argument("--model", default="A")
    p.add_argument("--task", default="math")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--before", default="86baa5f")
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    if a.child:
        _child(a.kind, a.tree, a.model, a.task, a.steps)
    else:
        import json

        print(json.dumps(measure(a.tree, a.before, a.rounds, a.steps), indent=2))


if __name__ == "__main__":
    main()
