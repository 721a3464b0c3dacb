"""Math grading with math-verify behind our strict extraction, with a timeout that works in any thread.

The front end stays :func:`alignrl.claims.answer.extract_answer` (nothing but the extracted answer is read).
math-verify then compares that answer with the ground truth symbolically (``1/2`` = ``0.5`` = ``\\frac{1}{2}``).

math-verify's own timeouts use ``signal.alarm``, which only works in the main thread; reward workers
(verl's reward loop, thread pools) are not the main thread. Here math-verify runs with its timeouts off in a
separate process, and the caller waits at most ``timeout`` seconds for the answer; a comparison that
overruns is graded wrong and the worker process is killed and replaced, so a pathological expression
cannot stall training. An answer longer than ``max_answer_chars`` (or twice the ground truth) never
reaches sympy: it is graded wrong unless it equals the ground truth as a string.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable

from alignrl.claims.answer import normalize_answer

__all__ = ["MathGrader", "WorkerStartError", "math_verify_equal", "quiet_math_verify"]

_TIMEOUT_WARNING = "Timeout is disabled"


class WorkerStartError(RuntimeError):
    """The math-verify worker process could not start."""


class _DropTimeoutWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_TIMEOUT_WARNING)


def quiet_math_verify() -> None:
    """Drop math-verify's "Timeout is disabled" warning: the timeout is this module's, on purpose."""
    for name in ("math_verify.grader", "math_verify.parser"):
        log = logging.getLogger(name)
        if not any(isinstance(f, _DropTimeoutWarning) for f in log.filters):
            log.addFilter(_DropTimeoutWarning())


def math_verify_equal(predicted: str, ground_truth: str) -> bool:
    """math-verify's verdict on two boxed-content strings (no timeout: run it through MathGrader)."""
    from math_verify import parse, verify

    quiet_math_verify()
    gold = parse("\\boxed{" + ground_truth + "}", parsing_timeout=None)
    pred = parse("\\boxed{" + predicted + "}", parsing_timeout=None)
    if not gold or not pred:
        return False
    return bool(verify(gold, pred, timeout_seconds=None))


def _serve(conn) -> None:
    """Worker loop: import math-verify, say ready, then answer (compare, predicted, truth) requests."""
    import math_verify  # noqa: F401  (so that no comparison's timeout pays for the import)

    quiet_math_verify()
    conn.send("ready")
    while True:
        try:
            compare, predicted, truth = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", bool(compare(predicted, truth))))
        except Exception as exc:  # noqa: BLE001 - a comparison that raises is graded wrong, not fatal
            conn.send(("error", repr(exc)))


def _main_script_without_guard() -> str | None:
    """The main script's path when it has no ``if __name__ == "__main__":`` guard (spawn re-imports it)."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if not path or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            source = fh.read()
    except OSError:
        return None
    return None if "__main__" in source else path


class MathGrader:
    """Thread-safe symbolic grader; one worker process (``spawn``: safe with threads), started on first use."""

    def __init__(
        self,
        timeout: float = 5.0,
        compare: Callable[[str, str], bool] = math_verify_equal,
        startup_timeout: float = 300.0,
        max_answer_chars: int = 200,
    ):
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if max_answer_chars < 1:
            raise ValueError(f"max_answer_chars must be at least 1, got {max_answer_chars}")
        self.timeout = float(timeout)
        self.startup_timeout = float(startup_timeout)
        self.max_answer_chars = int(max_answer_chars)
        self.compare = compare  # module-level function: it is pickled by reference into the worker
        self._lock = threading.Lock()  # one request at a time: each gets its own full timeout
        self._worker = None  # (process, connection)
        self.timeouts = 0
        self.refused = 0  # answers too long to hand to sympy
        self.comparisons = 0  # requests that reached the worker
        self._atexit = False

    def _start(self):
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        proc.start()
        child.close()
        deadline = time.monotonic() + self.startup_timeout
        # Poll so that a worker that dies at start-up is reported at once, not after the whole timeout.
        while True:
            if parent.poll(0.2):
                try:
                    if parent.recv() == "ready":
                        break
                except EOFError:
                    pass
            if not proc.is_alive() or parent.closed:
                proc.join(1)
                raise WorkerStartError(self._start_failure(proc.exitcode))
            if time.monotonic() > deadline:
                proc.kill()
                raise WorkerStartError(f"the math-verify worker did not start within {self.startup_timeout:g} s")
        if not self._atexit:
            atexit.register(self.close)  # a worker left to the interpreter's teardown errors noisily
            self._atexit = True
        return proc, parent

    @staticmethod
    def _start_failure(exitcode) -> str:
        script = _main_script_without_guard()
        if script is not None:
            return (
                f"the math-verify worker exited with code {exitcode} while starting: the spawned worker re-imports "
                f"the main script {script}, which has no `if __name__ == \"__main__\":` guard, so the script's "
                "grading ran again inside the worker (its traceback is printed above). Put the script's top-level "
                "code under that guard."
            )
        return (
            f"the math-verify worker exited with code {exitcode} while starting (its traceback is printed above); "
            "check that math-verify is installed and that the main module can be imported by a spawned process"
        )

    def _stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            proc, conn = worker
            conn.close()
            proc.kill()
            proc.join(5)

    def verify(self, predicted: str | None, ground_truth: str) -> bool:
        """True iff ``predicted`` equals ``ground_truth`` (string match first, then math-verify)."""
        if predicted is None:
            return False
        if normalize_answer(predicted) == normalize_answer(ground_truth):
            return True
        # sympy's cost grows with the expression; a real answer is short, or about as long as the truth
        if len(predicted) > max(self.max_answer_chars, 2 * len(ground_truth)):
            self.refused += 1
            return False
        with self._lock:
            if self._worker is None:
                self._worker = self._start()
            proc, conn = self._worker
            self.comparisons += 1
            try:
                conn.send((self.compare, predicted, ground_truth))
                if conn.poll(self.timeout):
                    status, value = conn.recv()
                    return status == "ok" and bool(value)
            except (EOFError, OSError, BrokenPipeError):
                self._stop()  # the worker died mid-comparison: a fresh one serves the next call
                return False
            self.timeouts += 1
            self._stop()  # the worker may be stuck in sympy; a fresh one serves the next call
            return False

    def close(self) -> None:
        with self._lock:
            self._stop()
