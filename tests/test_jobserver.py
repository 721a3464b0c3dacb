"""The job server: a job forked from the warm process behaves as the same job in its own process."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from alignrl.workflow import jobserver

HEADER = """\
from alignrl.workflow.jobserver import forward_to_job_server

forward_to_job_server(globals())
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "server.log"
    srv = jobserver.start(log, preload=("torch",))
    yield srv
    srv.stop()
    assert srv.process.returncode is not None and not os.path.exists(srv.workdir)


def _script(tmp_path: Path, body: str, name: str = "job.py") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def _run(script: Path, server=None, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != jobserver.ENV_VAR}
    if server is not None:
        environ[jobserver.ENV_VAR] = server.path
    environ.update(env)
    return subprocess.run([sys.executable, str(script)], cwd=script.parent, env=environ, capture_output=True,
                          text=True, timeout=120)


def test_job_gets_the_callers_streams_directory_environment_and_exit_status(server, tmp_path):
    script = _script(tmp_path, """
        import os, sys
        print("out", os.getpid(), os.getcwd(), os.environ.get("JOB_VALUE"), os.environ.get("ALIGNRL_JOB_SERVER"))
        print("err", file=sys.stderr)
        sys.exit(int(os.environ["JOB_EXIT"]))
    """)
    for status in (0, 3):
        proc = _run(script, server, JOB_VALUE="v1", JOB_EXIT=str(status))
        assert proc.returncode == status, proc.stderr
        word, pid, cwd, value, inherited = proc.stdout.split()
        assert (word, cwd, value, inherited) == ("out", str(tmp_path), "v1", "None")
        assert "err\n" in proc.stderr
        # the job ran in a child of the server, not in the process Python started for it
        assert f"ran in forked process {pid}: exit status {status}" in proc.stderr


def test_job_error_shows_its_traceback_and_fails(server, tmp_path):
    proc = _run(_script(tmp_path, "raise ValueError('bad row 7 in data.parquet')\n"), server)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "ValueError: bad row 7 in data.parquet" in proc.stderr


def test_without_a_server_the_job_runs_in_its_own_process(tmp_path):
    script = _script(tmp_path, "import os\nprint(os.getpid())\n")
    proc = _run(script)
    assert proc.returncode == 0 and proc.stderr == ""
    proc = _run(script, ALIGNRL_JOB_SERVER=str(tmp_path / "absent.sock"))
    assert proc.returncode == 0 and proc.stdout.strip().isdigit()
    assert "unreachable" in proc.stderr and "runs in its own process" in proc.stderr


def test_same_numbers_as_in_its_own_process(server, tmp_path):
    script = _script(tmp_path, """
        import hashlib, random, torch
        torch.manual_seed(3)
        net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.SiLU(), torch.nn.Linear(16, 4))
        opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
        x = torch.randn(64, 8)
        for _ in range(5):
            loss = net(x).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in net.parameters()))
        print(digest.hexdigest(), torch.randint(0, 10**9, (1,)).item())
    """)
    alone, served = _run(script), _run(script, server)
    assert alone.returncode == served.returncode == 0, served.stderr
    assert alone.stdout == served.stdout
    assert "forked process" in served.stderr


def test_the_log_gets_the_jobs_own_cpu_time_and_memory(server, tmp_path):
    log = tmp_path / "job.log"
    script = _script(tmp_path, "print('done')\n")
    # what Snakemake's preamble puts in a script's globals
    script.write_text(f"class _Job:\n    log = [{str(log)!r}]\nsnakemake = _Job()\n" + script.read_text())
    proc = _run(script, server)
    assert proc.returncode == 0
    note = log.read_text()
    assert note.startswith("[job server] ran in forked process") and "CPU s, peak RSS" in note


def _start_sleeping_job(server, tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """A served job that sleeps: the process Snakemake would have started, and the forked job's pid."""
    pid_file = tmp_path / "pid"
    script = _script(tmp_path, f"""
        import os, time
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        time.sleep(60)
    """)
    environ = dict(os.environ, **{jobserver.ENV_VAR: server.path})
    caller = subprocess.Popen([sys.executable, str(script)], env=environ, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    return caller, _wait_for_pid(pid_file)


def test_killing_the_callers_process_ends_the_job(server, tmp_path):
    caller, child = _start_sleeping_job(server, tmp_path)
    caller.kill()  # as Snakemake cancelling the job
    caller.communicate(timeout=30)  # the job holds the pipes too: this returns once it has ended
    assert _gone(child), "the job outlived the process Snakemake started for it"


def test_sigterm_reaches_the_job(server, tmp_path):
    caller, child = _start_sleeping_job(server, tmp_path)
    caller.send_signal(signal.SIGTERM)
    _, err = caller.communicate(timeout=30)
    assert caller.returncode == 1 and "ended without reporting a status" in err
    assert _gone(child)


def test_a_caller_from_another_python_environment_is_refused(server):
    import socket

    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(server.path)
    jobserver._send(conn, {"script": "x.py", "cwd": "/", "env": {}, "argv": [], "environment": "elsewhere"},
                    fds=[0, 1, 2])
    assert jobserver._Reader(conn).read() == {"refused": "serves another Python environment"}
    conn.close()


def test_the_server_ends_with_the_process_that_started_it(tmp_path):
    code = textwrap.dedent(f"""
        import json
        from alignrl.workflow import jobserver
        srv = jobserver.start({str(tmp_path / 'server.log')!r}, preload=())
        print(json.dumps([srv.process.pid, srv.path]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    pid, path = json.loads(proc.stdout)
    assert _gone(pid), "the server outlived the workflow that started it"
    assert not os.path.exists(path)


def test_a_server_that_cannot_start_says_why(tmp_path):
    with pytest.raises(RuntimeError, match="exited with status 1 before it was ready"):
        jobserver.start(tmp_path / "server.log", preload=("alignrl_no_such_module",))
    assert "alignrl_no_such_module" in (tmp_path / "server.log").read_text()


def _wait_for_pid(path: Path, timeout: float = 60) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"{path} never written")


def _gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie child of this test counts as gone
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split()[2] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False
