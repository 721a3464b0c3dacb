"""Interruptions (issue 19 item 8): a SIGINT to Snakemake's PID stops the running job promptly and leaves
its checkpoint; a SIGKILL'd run's job-server directory is swept by the next start; a deleted data split
regenerates alone, byte for byte, and nothing downstream reruns."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from alignrl.workflow import jobserver

REPO = Path(__file__).resolve().parent.parent


def _snakemake(workdir: Path, config: Path, *targets: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", *targets, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--cores", "2", "--configfile", str(config)]


def _env() -> dict:
    return dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=str(REPO))


def _small_config(tmp_path: Path, **training) -> Path:
    cfg = yaml.safe_load((REPO / "configs/smoke.yaml").read_text())
    cfg["models"] = {"A": cfg["models"]["A"]}
    cfg["tasks"] = {"math": cfg["tasks"]["math"]}
    cfg["models"]["A"]["corpus"]["task_fractions"] = {"math": 0.5}
    cfg["claims"] = {"ground_truth": cfg["claims"]["ground_truth"]}
    cfg["tables"] = {"table2": {"title": "interrupt test", "claims": ["ground_truth"]}}
    cfg["figure1"] = {}
    cfg["sensitivity"] = {"lrs": [], "claims": [], "seeds": [0]}
    cfg["dial"], cfg["large_k"], cfg["contamination"] = {}, {}, {}
    cfg["training"].update(training)
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_stale_server_directories_of_dead_runs_are_swept(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    made = {}
    for name, owner in (("dead", str(dead.pid)), ("live", str(os.getpid())), ("legacy", None), ("fresh", None)):
        d = tmp_path / f"{jobserver.WORKDIR_PREFIX}{name}"
        d.mkdir()
        (d / "server.sock").write_text("")  # a stale socket path: nothing listens
        if owner is not None:
            (d / jobserver.OWNER_FILE).write_text(owner)
        made[name] = d
    old = time.time() - 3600
    os.utime(made["legacy"], (old, old))
    removed = jobserver.sweep_stale_workdirs(str(tmp_path))
    assert sorted(Path(r).name for r in removed) == sorted(made[n].name for n in ("dead", "legacy"))
    assert made["live"].exists() and made["fresh"].exists()


def test_started_server_records_its_owner_and_sweeps(tmp_path, monkeypatch):
    monkeypatch.setattr(jobserver.tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / f"{jobserver.WORKDIR_PREFIX}killed"
    stale.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (stale / jobserver.OWNER_FILE).write_text(str(dead.pid))
    server = jobserver.start(tmp_path / "server.log", preload=())
    try:
        assert not stale.exists()
        assert (Path(server.workdir) / jobserver.OWNER_FILE).read_text().strip() == str(os.getpid())
        assert server.process.pid not in jobserver.job_processes()  # the relay never signals the server
    finally:
        server.stop()


def test_job_processes_are_this_process_descendants():
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in jobserver.job_processes()
    finally:
        child.kill()
        child.wait()


def test_waiting_for_a_job_process_returns_only_once_it_has_exited():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.4)"])
    started = time.monotonic()
    assert jobserver.wait_until_gone(child.pid, timeout_s=20)
    assert time.monotonic() - started >= 0.3, "returned while the process was still running"
    assert child.poll() is not None  # it had exited: a zombie, which counts as gone, until reaped here
    child.wait()


def test_waiting_for_a_process_that_outlives_the_timeout_says_so():
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert not jobserver.wait_until_gone(child.pid, timeout_s=0.2)
    finally:
        child.kill()
        child.wait()


def _described(pids: list[str]) -> list[str]:
    out = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:160]
        except OSError:
            out.append(f"{pid} (gone)")
            continue
        state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
        out.append(f"{pid} state {state} ppid {ppid}: {cmd}")
    return out


@pytest.mark.slow
def test_deleted_split_regenerates_alone_and_nothing_downstream_reruns(tmp_path):
    config = _small_config(tmp_path)
    targets = ["models/A", "data/math/train.parquet"]
    proc = subprocess.run(_snakemake(tmp_path, config, *targets), capture_output=True, text=True, env=_env(),
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = [tmp_path / f"data/math/{s}.parquet" for s in ("train", "val", "test")]
    files.append(tmp_path / "models/A/model.safetensors")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    deleted = tmp_path / "data/math/train.parquet"
    deleted.unlink()
    proc = subprocess.run(_snakemake(tmp_path, config, *targets), capture_output=True, text=True, env=_env(),
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert deleted.read_bytes() == before[deleted][0], "the regenerated split differs"
    for p in files:
        if p != deleted:
            assert p.stat().st_mtime_ns == before[p][1], f"{p} was rewritten"
    assert "pretrain_model" not in proc.stderr


@pytest.mark.slow
def test_sigint_to_snakemake_stops_the_running_job_promptly(tmp_path):
    # Long enough that a run the SIGINT fails to stop outlasts the 60 s wait below even on a fast CPU
    # (0.04 s/step measured on a Xeon with AMX); only the newest checkpoint is kept, so wait for any.
    config = _small_config(tmp_path, steps=2000, save_every=2, val_every=1000)
    job = subprocess.Popen(_snakemake(tmp_path, config, "results/table2.csv"), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=_env(), start_new_session=True)
    ckpt = tmp_path / "results/checkpoints/ground_truth/A/math/seed0"

    def checkpointed() -> bool:
        return any((d / "trainer_state.pt").exists() for d in ckpt.glob("step_*"))

    deadline = time.time() + 600
    while not checkpointed() and job.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert checkpointed(), "training never reached its first checkpoint"
    sent = time.time()
    os.kill(job.pid, signal.SIGINT)  # Snakemake's own PID only, as a scheduler or `kill -INT` sends it
    try:
        job.wait(timeout=60)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    waited = time.time() - sent
    assert waited < 20, f"Snakemake waited {waited:.0f} s for the job to finish by itself"
    assert not (tmp_path / "results/runs/ground_truth/A/math/seed0/run_info.json").exists()
    assert checkpointed(), "no resumable checkpoint left"
    leftover = subprocess.run(["pgrep", "-s", str(job.pid)], capture_output=True, text=True, check=False).stdout.split()
    assert leftover == [], f"processes of the run still alive: {_described(leftover)}"
