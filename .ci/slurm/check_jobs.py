"""Check that a Snakemake run went through SLURM: every job of the run was an sbatch job that completed,
one per Snakemake job, on the profile's partition, and exactly the GPU rules held a GPU.

    python .ci/slurm/check_jobs.py SNAKEMAKE_LOG PROFILE_CONFIG     (SLURM_CONF set, daemons running)

The evidence is slurmctld's own record (`scontrol show job`), which keeps finished jobs for MinJobAge
seconds (cluster.sh sets an hour), compared with what Snakemake logged: the run ID the plugin names its
jobs by, the job count per rule (less the rules it ran itself), and the SLURM job IDs it submitted.
"""
from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml


def snakemake_run(log: str) -> tuple[str, Counter, set[str]]:
    run_ids = re.findall(r"SLURM run ID: (\S+)", log)
    if len(run_ids) != 1:
        raise AssertionError(f"expected one 'SLURM run ID' in the Snakemake log, found {run_ids}")
    table = re.search(r"Job stats:\njob\s+count\n-+\s+-+\n(.*?)\ntotal\s+(\d+)\n", log, re.S)
    if not table:
        raise AssertionError("no 'Job stats' table in the Snakemake log")
    counts = Counter()
    for line in table.group(1).splitlines():
        rule, count = line.split()
        counts[rule] = int(count)
    if sum(counts.values()) != int(table.group(2)):
        raise AssertionError(f"job stats do not add up: {counts} vs total {table.group(2)}")
    # jobs Snakemake runs itself (local rules, and rules without an action such as `all`) are logged as
    # `localrule <name>:` and never reach SLURM
    for rule in set(re.findall(r"^localrule (\w+):", log, re.M)):
        counts.pop(rule, None)
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", log))
    return run_ids[0], counts, submitted


def slurm_jobs() -> list[dict[str, str]]:
    out = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True, check=True)
    return [dict(re.findall(r"(\S+?)=(\S*)", line)) for line in out.stdout.splitlines() if line.strip()]


def rule_of(comment: str, rules: set[str]) -> str:
    for rule in rules:
        if comment == f"rule_{rule}" or comment.startswith(f"rule_{rule}_wildcards_"):
            return rule
    raise AssertionError(f"job comment {comment!r} names none of the rules {sorted(rules)}")


def check(log: str, profile: dict, jobs: list[dict[str, str]]) -> list[str]:
    run_id, counts, submitted = snakemake_run(log)
    mine = [job for job in jobs if job.get("JobName") == run_id]
    problems = []
    if not mine:
        return [f"slurmctld knows no job named {run_id}: nothing went through sbatch"]
    ids = {job["JobId"] for job in mine}
    if ids != submitted:
        problems.append(f"SLURM jobs {sorted(ids)} differ from those Snakemake submitted {sorted(submitted)}")
    per_rule = Counter(rule_of(job.get("Comment", ""), set(counts)) for job in mine)
    if per_rule != counts:
        problems.append(f"SLURM jobs per rule {dict(per_rule)} differ from Snakemake's job stats {dict(counts)}")

    gpu_rules = {rule for rule, res in profile.get("set-resources", {}).items() if int(res.get("gpu", 0)) > 0}
    partitions = {None: profile["default-resources"]["slurm_partition"]}
    partitions.update({rule: res["slurm_partition"] for rule, res in profile.get("set-resources", {}).items()
                       if "slurm_partition" in res})
    for job in mine:
        rule = rule_of(job.get("Comment", ""), set(counts))
        where = f"SLURM job {job['JobId']} ({rule})"
        if job.get("JobState") != "COMPLETED" or job.get("ExitCode") != "0:0":
            problems.append(f"{where}: state {job.get('JobState')}, exit code {job.get('ExitCode')}")
        want_partition = partitions.get(rule, partitions[None])
        if job.get("Partition") != want_partition:
            problems.append(f"{where}: partition {job.get('Partition')}, the profile says {want_partition}")
        gpus = re.findall(r"gres:gpu(?::[^:,]+)?:(\d+)", job.get("TresPerJob", "") + job.get("TresPerNode", ""))
        if rule in gpu_rules:
            res = profile["set-resources"][rule]
            want = f"gres:gpu:{res['gpu_model']}:{res['gpu']}"
            if want not in job.get("TresPerJob", ""):
                problems.append(f"{where}: TresPerJob={job.get('TresPerJob')}, expected {want}")
        elif gpus:
            problems.append(f"{where}: holds GPUs ({job.get('TresPerJob')}) but is no GPU rule")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    log = Path(argv[0]).read_text(errors="replace")
    profile = yaml.safe_load(Path(argv[1]).read_text())
    problems = check(log, profile, slurm_jobs())
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if problems:
        return 1
    run_id, counts, _ = snakemake_run(log)
    print(f"all {sum(counts.values())} jobs of run {run_id} completed as SLURM jobs: {dict(counts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
