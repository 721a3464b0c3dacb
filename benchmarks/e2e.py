"""End to end: ``snakemake results/table2.csv --cores all`` from a fresh clone, and each step of it.

Two uses:

* ``python -m benchmarks.e2e clone [--rev HEAD] [--cores all]`` clones the repository into a temporary
  directory, runs ``make setup`` (timed on its own) and then ``snakemake results/table2.csv --cores all``
  (timed), and summarises the run's per-job benchmark files. 20-30 minutes on 2 cores: run it on a quiet
  machine.
* ``python -m benchmarks.e2e summarize DIR`` summarises an existing results tree: per step (rule) the
  number of jobs, summed and longest wall seconds, peak memory (Snakemake's ``benchmark:`` files,
  ``results/benchmarks/**.tsv``), and the wall time a ``cores``-core machine needs for those jobs
  (list scheduling over the workflow's dependencies: pretraining before the baseline and RL of its model,
  RL before its evaluation), optionally with every job type's time divided by a measured speed-up.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import common


@dataclass
class Job:
    rule: str  # pretrain | baseline | train | eval
    key: tuple
    seconds: float
    max_rss_mb: float
    deps: list[tuple] = field(default_factory=list)


def _table_claims(root: Path, table: str = "table2") -> set[str] | None:
    try:
        import yaml

        with open(root / "config.yaml") as fh:
            return set(yaml.safe_load(fh)["tables"][table]["claims"])
    except (OSError, KeyError):
        return None


def read_jobs(tree: Path, claims: set[str] | None = None) -> list[Job]:
    """Jobs of the tree's benchmark files; ``claims`` keeps only RL/eval jobs of those claims."""
    jobs = []
    root = tree / "results" / "benchmarks"
    for path in sorted(root.rglob("*.tsv")):
        parts = path.relative_to(root).with_suffix("").parts
        with open(path) as fh:
            row = list(csv.DictReader(fh, delimiter="\t"))[-1]
        seconds, rss = float(row["s"]), float(row["max_rss"]) if row["max_rss"] not in ("", "NA", "-") else 0.0
        rule = parts[0]
        served = _served_usage(tree, rule, parts[1:])
        if served is not None:  # forked by the job server: the benchmark file measured the thin process
            rss = served["max_rss_mb"]
        if rule == "pretrain":
            key, deps = ("pretrain", parts[1]), []
        elif rule == "baseline":
            key, deps = ("baseline", *parts[1:]), [("pretrain", parts[1])]
        elif rule == "train":
            key, deps = ("train", *parts[1:]), [("pretrain", parts[2])]
        elif rule == "eval":
            key, deps = ("eval", *parts[1:]), [("train", *parts[1:5])]
        else:
            continue
        if claims is not None and rule in ("train", "eval") and parts[1] not in claims:
            continue
        jobs.append(Job(rule, key, seconds, rss, deps))
    return jobs


_LOG_DIRS = {"pretrain": "models", "baseline": "baseline", "train": "train", "eval": "eval"}
_SERVED = re.compile(r"\[job server\] ran in forked process \d+: exit status \d+, "
                     r"([0-9.]+) CPU s, peak RSS ([0-9.]+) MB")


def _served_usage(tree: Path, rule: str, parts: tuple[str, ...]) -> dict | None:
    """CPU seconds and peak RSS of a job the job server forked (the note it leaves in the job's log)."""
    if rule not in _LOG_DIRS:
        return None
    log = tree / "logs" / _LOG_DIRS[rule] / Path(*parts).with_suffix(".log")
    try:
        found = _SERVED.findall(log.read_text(errors="replace"))
    except OSError:
        return None
    if not found:
        return None
    cpu, rss = found[-1]
    return {"cpu_s": float(cpu), "max_rss_mb": float(rss)}


def simulate(jobs: list[Job], cores: int, speedup: dict[str, float] | None = None) -> float:
    """Wall seconds of the jobs on ``cores`` one-thread slots, longest-remaining-path first."""
    speedup = speedup or {}
    dur = {j.key: j.seconds / speedup.get(j.rule, 1.0) for j in jobs}
    deps = {j.key: [d for d in j.deps if d in dur] for j in jobs}
    children: dict[tuple, list[tuple]] = {k: [] for k in dur}
    for k, ds in deps.items():
        for d in ds:
            children[d].append(k)
    tail: dict[tuple, float] = {}

    def path(k: tuple) -> float:
        if k not in tail:
            tail[k] = dur[k] + max((path(c) for c in children[k]), default=0.0)
        return tail[k]

    done: set[tuple] = set()
    running: list[tuple[float, tuple]] = []
    now = 0.0
    waiting = set(dur)
    while waiting or running:
        ready = sorted((k for k in waiting if all(d in done for d in deps[k])), key=path, reverse=True)
        while ready and len(running) < cores:
            k = ready.pop(0)
            waiting.discard(k)
            running.append((now + dur[k], k))
        running.sort()
        now, k = running.pop(0)
        done.add(k)
    return now


def summarize(tree: Path, cores: int = 2, speedup: dict[str, float] | None = None,
              claims: set[str] | None = None) -> dict:
    jobs = read_jobs(tree, claims)
    steps = {}
    for rule in ("pretrain", "baseline", "train", "eval"):
        js = [j for j in jobs if j.rule == rule]
        if js:
            steps[rule] = {"jobs": len(js), "sum_s": sum(j.seconds for j in js), "max_s": max(j.seconds for j in js),
                           "mean_s": sum(j.seconds for j in js) / len(js),
                           "peak_rss_mb": max(j.max_rss_mb for j in js)}
    out = {"tree": str(tree), "cores": cores, "steps": steps, "jobs": len(jobs),
           "sum_s": sum(j.seconds for j in jobs), "simulated_wall_s": simulate(jobs, cores)}
    if speedup:
        out["speedup"] = speedup
        out["simulated_wall_s_with_speedup"] = simulate(jobs, cores, speedup)
        out["sum_s_with_speedup"] = sum(j.seconds / speedup.get(j.rule, 1.0) for j in jobs)
    return out


def clone_run(rev: str = "HEAD", cores: str = "all", keep: bool = False, log=print) -> dict:
    """Fresh clone of ``rev``, ``make setup``, then the timed ``snakemake results/table2.csv``."""
    commit = subprocess.run(["git", "rev-parse", rev], cwd=common.ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="alignrl-e2e-"))
    try:
        subprocess.run(["git", "clone", "--quiet", str(common.ROOT), str(work / "repo")], check=True)
        repo = work / "repo"
        subprocess.run(["git", "checkout", "--quiet", commit], cwd=repo, check=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        t0 = time.time()
        subprocess.run(["make", "setup"], cwd=repo, env=env, check=True)
        t1 = time.time()
        log(f"setup {t1 - t0:.0f} s; running snakemake results/table2.csv --cores {cores}")
        with open(work / "snakemake.log", "w") as fh:
            subprocess.run([str(repo / ".venv" / "bin" / "snakemake"), "results/table2.csv", "--cores", cores],
                           cwd=repo, env=env, check=True, stdout=fh, stderr=subprocess.STDOUT)
        t2 = time.time()
        out = {"commit": commit, "setup_s": t1 - t0, "snakemake_s": t2 - t1, "total_s": t2 - t0,
               "summary": summarize(repo, cores=os.cpu_count() if cores == "all" else int(cores))}
        dest = common.OUT / f"e2e-{commit[:7]}"
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(repo / "results" / "benchmarks", dest / "benchmarks")
        (dest / "e2e.json").write_text(json.dumps(out, indent=2))
        return out
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("clone")
    c.add_argument("--rev", default="HEAD")
    c.add_argument("--cores", default="all")
    c.add_argument("--keep", action="store_true")
    s = sub.add_parser("summarize")
    s.add_argument("tree", type=Path)
    s.add_argument("--cores", type=int, default=2)
    s.add_argument("--speedup", default="", help="rule=factor,... e.g. train=1.6,eval=2.0,baseline=2.0")
    a = p.parse_args()
    if a.cmd == "clone":
        print(json.dumps(clone_run(a.rev, a.cores, a.keep), indent=2))
    else:
        speed = {k: float(v) for k, v in (kv.split("=") for kv in a.speedup.split(",") if kv)}
        print(json.dumps(summarize(a.tree, a.cores, speed, _table_claims(common.ROOT)), indent=2))


if __name__ == "__main__":
    main()
