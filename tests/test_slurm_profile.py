"""profiles/slurm: what it asks SLURM for, per rule, and the CI helpers that run it on a real cluster.

The end-to-end run on a one-node SLURM cluster is .ci/slurm/smoke.sh (run by .ci/run after this suite);
these tests need no SLURM: they check the profile through Snakemake's own dry run."""
from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PROFILE = REPO / "profiles/slurm/config.yaml"
PAPER = REPO / "configs/paper.yaml"


def _gpu_steps() -> dict[str, str]:
    """rule -> the `resources:` step whose portable GPU count it declares (gpus=RESOURCES[step]["gpus"]);
    a rule made with `use rule X as Y with:` declares what X does unless it sets its own resources."""
    steps, derived = {}, []
    for path in sorted((REPO / "rules").glob("*.smk")):
        text = path.read_text()
        for kind, name, body in re.findall(r"^(rule (\w+)|use rule \w+ as \w+ with):\n((?:[ #].*\n|\n)*)", text, re.M):
            found = re.findall(r'gpus=RESOURCES\["(\w+)"\]\["gpus"\]', body)
            if name and found:
                steps[name] = found[0]
            elif not name:
                parent, child = re.match(r"use rule (\w+) as (\w+)", kind).groups()
                derived.append((parent, child, found[0] if found else None))
    for parent, child, own in derived:  # in file order: a derived rule may derive from a derived rule
        if own or parent in steps:
            steps[child] = own or steps[parent]
    return steps


GPU_RULES = set(_gpu_steps())
# resource keys that name things of one cluster: they belong in a profile, never in a rule
CLUSTER_KEYS = ("slurm_partition", "slurm_account", "slurm_extra", "gpu_model", "gres", "constraint", "qos")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / ".ci/slurm" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _profile() -> dict:
    return yaml.safe_load(PROFILE.read_text())


@functools.cache
def _workflow_rules() -> frozenset[str]:
    with tempfile.TemporaryDirectory() as workdir:  # never the checkout: its results/ and .snakemake/
        proc = subprocess.run(
            [sys.executable, "-m", "snakemake", "--list-rules", "-s", str(REPO / "Snakefile"),
             "--directory", workdir, "--configfile", str(REPO / "configs/smoke.yaml")],
            capture_output=True, text=True, cwd=workdir,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return frozenset(proc.stdout.split())


def test_profile_names_existing_rules_and_defaults():
    profile = _profile()
    assert profile["executor"] == "slurm"
    # Snakemake ignores --set-resources for a rule it does not know: a renamed rule would lose its GPU
    assert set(profile["set-resources"]) <= _workflow_rules(), set(profile["set-resources"]) - _workflow_rules()
    assert {"slurm_partition", "slurm_account", "mem_mb", "runtime"} <= set(profile["default-resources"])


def test_every_rule_that_declares_gpus_asks_slurm_for_the_paper_count():
    """The plugin requests `gpu`, the rules declare `gpus`: the profile repeats the count, and must repeat
    configs/paper.yaml's, or the job step (srun --gpus=<rule's gpus>) would ask for more than sbatch got."""
    assert {"train_claim", "baseline_passk", "evaluate_run"} <= GPU_RULES
    paper = yaml.safe_load(PAPER.read_text())["resources"]
    set_resources = _profile()["set-resources"]
    assert {r for r, res in set_resources.items() if "gpu" in res} == GPU_RULES
    for rule, step in _gpu_steps().items():
        res = set_resources[rule]
        assert res["gpu"] == paper[step]["gpus"] >= 1, (rule, step, res)
        assert res["gpu_model"] and res["slurm_partition"], (rule, res)
        # runtime and memory come from the rule; set-resources would override the rule's
        assert not {"mem_mb", "runtime"} & set(res), (rule, res)


def test_cluster_specifics_live_in_profiles_not_in_rules():
    for path in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        text = path.read_text()
        for key in CLUSTER_KEYS:
            assert not re.search(rf"\b{key}\b", text), f"{path.name} names the cluster-specific key {key}"


def test_every_value_a_user_edits_is_marked_and_documented():
    text = PROFILE.read_text()
    placeholders = set(re.findall(r"\bEDIT_\w+", text))
    assert placeholders == {"EDIT_cpu_partition", "EDIT_gpu_partition", "EDIT_gpu_model", "EDIT_account"}
    readme = (REPO / "profiles/README.md").read_text()
    for placeholder in placeholders:
        assert placeholder in readme, placeholder


def _dry_run(tmp_path: Path, profile_dir: Path) -> str:
    """Every target of the smoke config (rule all), so every rule shows its resources."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile"),
         "--directory", str(tmp_path), "--configfile", str(REPO / "configs/smoke.yaml"),
         "--profile", str(profile_dir)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    return proc.stdout + proc.stderr


def _resources_by_rule(out: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for rule, resources in re.findall(r"rule (\w+):\n(?:    .*\n)*?    resources: (.*)\n", out):
        found.setdefault(rule, []).append(resources)
    return found


def test_snakemake_and_the_plugin_accept_the_profile(tmp_path):
    """A dry run through the profile as shipped: Snakemake and the SLURM plugin parse every key, and each
    job carries the resources the plugin turns into sbatch options."""
    by_rule = _resources_by_rule(_dry_run(tmp_path, PROFILE.parent))
    assert set(by_rule) >= GPU_RULES | {"prepare_task", "pretrain_model", "claims_table"}, set(by_rule)
    gpu = {rule: res["gpu"] for rule, res in _profile()["set-resources"].items()}
    for rule, lines in by_rule.items():
        for line in lines:
            if rule in GPU_RULES:
                assert "slurm_partition=EDIT_gpu_partition" in line and f"gpu={gpu[rule]}" in line, (rule, line)
                assert "gpu_model=EDIT_gpu_model" in line, (rule, line)
            else:
                assert "slurm_partition=EDIT_cpu_partition" in line and "gpu=" not in line, (rule, line)
            assert "slurm_account=EDIT_account" in line and "runtime=" in line and "mem_mb=" in line


def test_local_profile_fills_every_placeholder_and_refuses_unknown_ones(tmp_path):
    local_profile = _load("local_profile")
    filled = local_profile.local_profile(_profile())
    assert "EDIT_" not in yaml.safe_dump(filled)
    assert "slurm_account" not in filled["default-resources"]
    assert filled["slurm-status-command"] == "squeue"
    assert all(filled["set-resources"][rule]["gpu_model"] == "ci" for rule in GPU_RULES)

    unknown = _profile()
    unknown["set-resources"]["train_claim"]["constraint"] = "EDIT_feature"
    with pytest.raises(ValueError, match="EDIT_feature"):
        local_profile.local_profile(unknown)
    renamed = _profile()
    renamed["default-resources"]["slurm_partition"] = "EDIT_partition"
    with pytest.raises(ValueError):
        local_profile.local_profile(renamed)

    # the generated profile is one Snakemake accepts, with the local cluster's values
    out = tmp_path / "profile"
    assert local_profile.main([str(out)]) == 0
    work = tmp_path / "work"
    work.mkdir()
    by_rule = _resources_by_rule(_dry_run(work, out))
    assert all("gpu_model=ci" in line for line in by_rule["train_claim"])
    assert all("slurm_account" not in line for lines in by_rule.values() for line in lines)


SNAKEMAKE_LOG = """\
SLURM run ID: 1234-abcd
Job stats:
job               count
--------------  -------
prepare_task          1
evaluate_run          2
all                   1
total                 4

Job 1 has been submitted with SLURM jobid 11 (log: x).
Job 2 has been submitted with SLURM jobid 12 (log: x).
Job 3 has been submitted with SLURM jobid 13 (log: x).

localrule all:
    input: results/table2.csv
"""


def _job(jobid: str, comment: str, gpu: bool, **extra: str) -> dict[str, str]:
    job = {"JobId": jobid, "JobName": "1234-abcd", "JobState": "COMPLETED", "ExitCode": "0:0",
           "Partition": "ci", "Comment": comment}
    if gpu:
        job["TresPerJob"] = "gres:gpu:ci:1"
    job.update(extra)
    return job


def test_slurm_job_check_passes_a_good_run_and_names_each_fault():
    check = _load("check_jobs").check
    profile = _load("local_profile").local_profile(_profile())
    good = [_job("11", "rule_prepare_task_wildcards_math", False),
            _job("12", "rule_evaluate_run_wildcards_a-b", True),
            _job("13", "rule_evaluate_run_wildcards_c-d", True),
            _job("99", "rule_evaluate_run", True, JobName="another-run")]
    assert check(SNAKEMAKE_LOG, profile, good) == []

    faults = {
        "state FAILED": [good[0], good[1], {**good[2], "JobState": "FAILED", "ExitCode": "1:0"}],
        "expected gres:gpu:ci:1": [good[0], good[1], {k: v for k, v in good[2].items() if k != "TresPerJob"}],
        "holds GPUs": [{**good[0], "TresPerJob": "gres:gpu:ci:1"}, good[1], good[2]],
        "partition debug": [{**good[0], "Partition": "debug"}, good[1], good[2]],
        "differ from those Snakemake submitted": good[:2] + [{**good[2], "JobId": "14"}],
        "per rule": [good[0], good[1], {**good[2], "Comment": "rule_prepare_task"}],
    }
    for expected, jobs in faults.items():
        problems = check(SNAKEMAKE_LOG, profile, jobs)
        assert any(expected in p for p in problems), (expected, problems)
    assert "nothing went through sbatch" in check(SNAKEMAKE_LOG, profile, [good[3]])[0]
