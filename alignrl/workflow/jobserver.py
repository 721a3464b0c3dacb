"""A warm process that forks the workflow's Python jobs, so each job skips the interpreter start and imports.

Why: on the embedded default a job computes for 10-60 s, and every job used to spend ~4.5 CPU-s first
starting Python and importing torch, transformers, pandas and pyarrow (measured: 54 jobs x 4.5 s ~ 240
CPU-s, 12% of ``snakemake results/table2.csv``). Local runs therefore start one server (the Snakefile's
``onstart``, when ``job_server`` is on and execution is local); it imports those modules once and
waits. A job's script begins with :func:`forward_to_job_server`: the thin process Snakemake started
connects, hands over its standard streams, working directory and environment, and the server forks a
child that runs the same script file (Snakemake's preamble included), so the job computes exactly what
it computes in its own process. Seeds are set by the jobs themselves; the child draws fresh OS entropy
for Python's ``random`` as a new interpreter would.

The thin process waits for the child, relays its exit status, forwards SIGINT/SIGTERM to it, and the
child ends itself if the thin process disappears (Snakemake killed the job). Snakemake's ``benchmark:``
files time the job correctly (wall clock) but measure CPU and memory of the thin process only, so the
thin process appends the child's CPU seconds and peak RSS to the job's log (``[job server] ...``).

Without a server (remote executors, ``job_server: false``, a different Python environment, a server
that cannot be reached) the script runs in its own process as before; an unreachable server is
reported on stderr. The module imports the standard library only: the thin process must stay light.
"""

from __future__ import annotations

import array
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ENV_VAR = "ALIGNRL_JOB_SERVER"
# What the jobs import; importing it once here is the whole point. Imports only: a fork copies the calling
# thread alone, so the server must never start work of its own.
PRELOAD = (
    "torch",
    "transformers",
    "transformers.models.llama.modeling_llama",
    "transformers.models.qwen2.modeling_qwen2",
    "pandas",
    "pyarrow.parquet",
    "snakemake.iocontainers",
    "snakemake.logging",
    "snakemake.script",
    "alignrl.claims.rows",
    "alignrl.native.evaluate",
    "alignrl.native.pretrain",
    "alignrl.trace.provenance",
    "alignrl.trace.records",
    "alignrl.claims.selection",
    "alignrl.native.trainer",
)


def _send(conn: socket.socket, obj: Mapping[str, Any], fds: Sequence[int] = ()) -> None:
    data = json.dumps(obj).encode() + b"\n"
    if fds:
        conn.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        conn.sendall(data)


class _Reader:
    """Newline-delimited JSON messages from a socket, with the file descriptors sent alongside."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.buffer, self.fds = conn, b"", []

    def read(self) -> dict[str, Any] | None:
        while b"\n" not in self.buffer:
            data, ancillary, _, _ = self.conn.recvmsg(65536, socket.CMSG_SPACE(3 * array.array("i").itemsize))
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds = array.array("i")
                    fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
                    self.fds.extend(fds)
            if not data:
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


def _environment_id() -> str:
    """The Python environment a job must run in: the server serves only thin processes of the same one."""
    return f"{os.path.realpath(sys.prefix)}|{sys.version}"


# ---------------------------------------------------------------- thin process (the job Snakemake started)


def forward_to_job_server(script_globals: Mapping[str, Any]) -> None:
    """Run this job in a child of the job server and exit with its status; return if there is no server.

    Call it first thing in a workflow script, with ``globals()``. Returns (and the script goes on in its
    own process) when no server is announced in ``$ALIGNRL_JOB_SERVER``, when this already is the served
    child (the server removes the variable there), or when the server cannot be reached (said on stderr).
    """
    path = os.environ.get(ENV_VAR)
    script = script_globals.get("__real_file__", script_globals.get("__file__"))
    if not path or not script:
        return
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        _send(conn, {"script": os.path.abspath(script), "cwd": os.getcwd(), "env": dict(os.environ),
                     "argv": sys.argv, "environment": _environment_id()}, fds=[0, 1, 2])
        reader = _Reader(conn)
        hello = reader.read()
    except OSError as exc:
        print(f"[job server] {path} unreachable ({exc}); this job runs in its own process", file=sys.stderr)
        conn.close()
        return
    if hello is None or "refused" in hello:
        reason = "closed the connection" if hello is None else hello["refused"]
        print(f"[job server] {path} {reason}; this job runs in its own process", file=sys.stderr)
        conn.close()
        return
    child = int(hello["pid"])

    def forward(signum: int, _frame: Any) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    try:
        result = reader.read()
    except OSError:
        result = None
    # Snakemake counts the job as ended when this process ends: the child must be gone by then, or an
    # interrupted run leaves it (and, once the server is stopped, an unreaped orphan) behind.
    wait_until_gone(child)
    if result is None:
        print(f"[job server] job process {child} ended without reporting a status (killed, or out of memory?)",
              file=sys.stderr)
        os._exit(1)
    note = (f"[job server] ran in forked process {child}: exit status {result['exit']}, "
            f"{result['cpu_s']:.2f} CPU s, peak RSS {result['max_rss_mb']:.0f} MB\n")
    _append_to_log(script_globals, note)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(result["exit"]))


def wait_until_gone(pid: int, timeout_s: float = 30.0) -> bool:
    """Wait until process ``pid`` has exited (a zombie counts as exited); returns whether it did in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                text = fh.read()
        except OSError:  # no /proc entry: gone (or not Linux, where we fall back to a signal probe)
            if Path("/proc/self/stat").exists() or not _alive(pid):
                return True
        else:
            if text[text.rindex(")") + 2:].startswith(("Z", "X")):
                return True
        time.sleep(0.005)
    return False


def _append_to_log(script_globals: Mapping[str, Any], note: str) -> None:
    smk = script_globals.get("snakemake")
    logs = list(getattr(smk, "log", []) or [])
    if logs:
        with open(logs[0], "a") as fh:
            fh.write(note)
    else:
        sys.stderr.write(note)


# ---------------------------------------------------------------- server


def serve(socket_path: str, parent_pid: int, preload: Sequence[str] = PRELOAD) -> None:
    """Import ``preload``, listen on ``socket_path`` and fork one child per connection until the parent ends."""
    import importlib

    for name in preload:
        importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path + ".tmp")
    listener.listen(64)
    os.replace(socket_path + ".tmp", socket_path)  # the path appears only once the server can accept
    listener.settimeout(1.0)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        while os.getppid() == parent_pid:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            if os.fork() == 0:
                listener.close()
                _run_child(conn)  # never returns
            conn.close()
    finally:
        listener.close()
        for leftover in (lambda: os.unlink(socket_path), lambda: os.rmdir(os.path.dirname(socket_path))):
            try:
                leftover()
            except OSError:
                pass


def _run_child(conn: socket.socket) -> None:
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the job's own subprocesses must be waitable
        conn.setblocking(True)
        reader = _Reader(conn)
        request = reader.read()
        if request is None or len(reader.fds) != 3:
            os._exit(1)
        if request.get("environment") != _environment_id():
            _send(conn, {"refused": "serves another Python environment"})
            os._exit(0)
        for target, fd in zip((0, 1, 2), reader.fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.pop(ENV_VAR, None)  # neither the script nor anything it starts may forward again
        sys.argv = list(request["argv"])
        import random

        random.seed()  # as a fresh interpreter: OS entropy, not the server's state
        _send(conn, {"pid": os.getpid()})
        # the thin process is gone (Snakemake cancelled the job): end the job too
        threading.Thread(target=_exit_when_closed, args=(conn,), daemon=True).start()
        code = _run_script(request["script"])
        sys.stdout.flush()
        sys.stderr.flush()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        _send(conn, {"exit": code, "cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024})
    finally:
        os._exit(code)


def _exit_when_closed(conn: socket.socket) -> None:
    try:
        while conn.recv(1):
            pass
    except OSError:
        pass
    os._exit(143)


def _run_script(path: str) -> int:
    import runpy
    import traceback

    try:
        runpy.run_path(path, run_name="__main__")
        return 0
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - the job's own error, shown as its own process would show it
        traceback.print_exc()
        return 1


# ---------------------------------------------------------------- lifecycle (the Snakefile's onstart)


class JobServer:
    """A running server: ``path`` is its socket, ``process`` the server process."""

    def __init__(self, path: str, process: subprocess.Popen, workdir: str) -> None:
        self.path, self.process, self.workdir = path, process, workdir

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # running jobs are the server's children, not its threads: they go on
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


WORKDIR_PREFIX = "alignrl-jobs-"
OWNER_FILE = "owner.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep_stale_workdirs(tmp: str | None = None, min_age_s: float = 300.0) -> list[str]:
    """Remove this user's server directories whose Snakemake process is gone (a SIGKILL leaves them);
    returns what was removed. A directory without an owner file (older code, or one being created right
    now) goes only once it is ``min_age_s`` old and nothing listens on its socket."""
    removed = []
    base = Path(tmp or tempfile.gettempdir())
    for d in base.glob(WORKDIR_PREFIX + "*"):
        try:
            st = d.lstat()
            if not d.is_dir() or d.is_symlink() or st.st_uid != os.getuid():
                continue
            owner = d / OWNER_FILE
            if owner.exists():
                dead = not _alive(int(owner.read_text().strip() or 0))
            else:
                dead = time.time() - st.st_mtime > min_age_s and not _listening(d / "server.sock")
        except (OSError, ValueError):
            continue
        if dead:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
    return removed


def _listening(sock_path: Path) -> bool:
    if not sock_path.exists():
        return False
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(sock_path))
        return True
    except OSError:
        return False
    finally:
        conn.close()


def start(log_path: str | os.PathLike, timeout: float = 120.0, preload: Sequence[str] = PRELOAD) -> JobServer:
    """Start a server that ends with this process; raises RuntimeError if it is not ready within ``timeout``."""
    sweep_stale_workdirs()
    workdir = tempfile.mkdtemp(prefix=WORKDIR_PREFIX)  # short path: AF_UNIX paths are limited to ~107 bytes
    # who owns it: a later start removes the directory once this process is gone (see sweep_stale_workdirs)
    Path(workdir, OWNER_FILE).write_text(f"{os.getpid()}\n")
    path = os.path.join(workdir, "server.sock")
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "alignrl.workflow.jobserver", path, str(os.getpid()), ",".join(preload)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
    _SERVER_PIDS.add(process.pid)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if process.poll() is not None:
            raise RuntimeError(
                f"job server exited with status {process.returncode} before it was ready; see {log_path}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"job server not ready after {timeout:.0f} s; see {log_path}")
        time.sleep(0.05)
    return JobServer(path, process, workdir)


_WORKFLOW_SERVERS: list[JobServer] = []


def workflow_hook(event: str, enabled: bool = False, log_path: str | os.PathLike | None = None,
                  preload: Sequence[str] = PRELOAD) -> None:
    """The Snakefile's onstart ("start") and onsuccess / onerror ("stop").

    "start" starts a server when ``enabled`` (the config's job_server and a local executor) and points the
    jobs at it through ENV_VAR; a server that fails to start is reported and every job runs on its own.
    "stop" stops whatever "start" started.
    """
    if event == "start":
        if not enabled:
            return
        if log_path is None:
            raise ValueError("workflow_hook('start') needs the server's log_path")
        try:
            server = start(log_path, preload=preload)
        except RuntimeError as exc:
            print(f"job server not started ({exc}); every job starts its own Python process", file=sys.stderr)
            return
        _WORKFLOW_SERVERS.append(server)
        os.environ[ENV_VAR] = server.path
    elif event == "stop":
        os.environ.pop(ENV_VAR, None)
        while _WORKFLOW_SERVERS:
            _WORKFLOW_SERVERS.pop().stop()
    else:
        raise ValueError(f"workflow_hook: unknown event {event!r} (expected 'start' or 'stop')")


# ---------------------------------------------------------------- interrupts (the Snakemake process)
_SERVER_PIDS: set[int] = set()


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def job_processes(root: int | None = None) -> list[int]:
    """Every descendant of ``root`` (this process) except the job servers and what they forked: the
    served jobs are reached through their thin processes, which forward signals to them."""
    children = _children_map()
    found, todo = [], list(children.get(root or os.getpid(), []))
    while todo:
        pid = todo.pop()
        if pid in _SERVER_PIDS:
            continue
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def relay_interrupts() -> bool:
    """Make a SIGINT sent to Snakemake's own PID (a scheduler, ``kill -INT``) interrupt the running jobs.

    Snakemake answers SIGINT by shutting its local job pool down, which waits for every running job to end
    on its own (measured: 22 s for a long job) and then deletes their outputs anyway. A terminal's Ctrl-C
    reaches the jobs because they share its process group; a SIGINT to the PID alone does not. This
    handler passes it to every job process first, so each stops at once (the trainer resumes from its
    last checkpoint), then lets Snakemake handle it as before. Linux only (/proc); returns whether the
    handler was installed (only from the main thread)."""
    if not Path("/proc/self/stat").exists():
        return False
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        for pid in job_processes():
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                pass
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        return False
    return True


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), [m for m in sys.argv[3].split(",") if m] if len(sys.argv) > 3 else PRELOAD)
