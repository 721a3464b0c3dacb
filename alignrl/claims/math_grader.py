"""Math grading with math-verify behind our strict extraction, with a timeout that works in any thread.

The front end stays :func:`alignrl.claims.answer.extract_answer` (the last balanced ``\\boxed{}`` of the
``<answer>`` block; nothing else is read). math-verify then compares that answer with the ground truth
symbolically (``1/2`` = ``0.5`` = ``\\frac{1}{2}``).

math-verify's own timeouts use ``signal.alarm``, which only works in the main thread; reward workers
(verl's reward loop, thread pools) are not the main thread. Here math-verify runs with its timeouts off in a
separate process, and the caller waits at most ``timeout`` seconds for the answer; a comparison that
overruns is graded wrong and the worker process is killed and replaced, so a pathological expression
cannot stall training.
"""

from __future__ import annotations

import atexit
import multiprocessing
import threading
from typing import Callable

from alignrl.claims.answer import normalize_answer

__all__ = ["MathGrader", "math_verify_equal"]


def _warm_up() -> bool:
    """Import math-verify (and sympy) in the worker, so the per-comparison timeout never pays for it."""
    import math_verify  # noqa: F401

    return True


def math_verify_equal(predicted: str, ground_truth: str) -> bool:
    """math-verify's verdict on two boxed-content strings (no timeout: run it through MathGrader)."""
    from math_verify import parse, verify

    gold = parse("\\boxed{" + ground_truth + "}", parsing_timeout=None)
    pred = parse("\\boxed{" + predicted + "}", parsing_timeout=None)
    if not gold or not pred:
        return False
    return bool(verify(gold, pred, timeout_seconds=None))


class MathGrader:
    """Thread-safe symbolic grader; one worker process, started on first use (``spawn``: safe with threads)."""

    def __init__(
        self,
        timeout: float = 5.0,
        compare: Callable[[str, str], bool] = math_verify_equal,
        startup_timeout: float = 300.0,
    ):
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.timeout = float(timeout)
        self.startup_timeout = float(startup_timeout)
        self.compare = compare  # module-level function: it is pickled by reference into the worker
        self._lock = threading.Lock()
        self._pool = None
        self.timeouts = 0

    def _get_pool(self):
        with self._lock:
            if self._pool is None:
                pool = multiprocessing.get_context("spawn").Pool(processes=1)
                # Starting the worker and importing sympy can take many seconds on a loaded node; a
                # comparison timed against that would be graded wrong for reasons that are not its own.
                try:
                    pool.apply_async(_warm_up).get(timeout=self.startup_timeout)
                except multiprocessing.TimeoutError as exc:
                    pool.terminate()
                    raise RuntimeError(
                        f"the math-verify worker did not start within {self.startup_timeout:g} s"
                    ) from exc
                self._pool = pool
                atexit.register(self.close)  # a pool left to the interpreter's teardown errors noisily
            return self._pool

    def _kill_pool(self, pool) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.terminate()

    def verify(self, predicted: str | None, ground_truth: str) -> bool:
        """True iff ``predicted`` equals ``ground_truth`` (string match first, then math-verify)."""
        if predicted is None:
            return False
        if normalize_answer(predicted) == normalize_answer(ground_truth):
            return True
        pool = self._get_pool()
        result = pool.apply_async(self.compare, (predicted, ground_truth))
        try:
            return bool(result.get(timeout=self.timeout))
        except multiprocessing.TimeoutError:
            self.timeouts += 1
            self._kill_pool(pool)  # the worker may be stuck in sympy; a fresh one serves the next call
            return False

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()
