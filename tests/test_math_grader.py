"""math-verify grading behind the strict extraction, with a timeout that works in worker threads."""
import threading
import time

import pytest

from alignrl.claims.answer import format_response
from alignrl.claims.math_grader import MathGrader
from alignrl.claims.tasks import get_task


def slow_compare(predicted, truth):
    """Stands in for a pathological sympy comparison (module level: pickled into the worker by reference)."""
    if predicted == "hang":
        time.sleep(60)
    return predicted == truth


def in_thread(fn):
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test thread
            box["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join(120)
    assert not t.is_alive()
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_symbolic_equality_from_a_worker_thread():
    grader = get_task("math_verify")
    assert in_thread(lambda: grader.verify("0.5", "\\frac{1}{2}"))
    assert in_thread(lambda: grader.verify("2\\sqrt{3}", "\\sqrt{12}"))
    assert not in_thread(lambda: grader.verify("3", "\\frac{1}{2}"))
    assert not grader.verify(None, "1")


def test_extraction_stays_strict_in_front_of_math_verify():
    from alignrl.claims.rewards import RewardGroup, compute_rewards

    grader = get_task("math_verify")
    texts = [format_response("r", "\\frac{1}{2}"), "the answer is 1/2", "<think>a</think><answer>0.5</answer>"]
    result = compute_rewards("ground_truth", RewardGroup(texts, "0.5", grader))
    assert result.correct == [True, False, False]  # no box, no answer: math-verify never sees free text


def test_timeout_in_a_worker_thread_grades_wrong_and_recovers():
    grader = MathGrader(timeout=1.0, compare=slow_compare)
    try:
        start = time.monotonic()
        assert in_thread(lambda: grader.verify("hang", "1")) is False
        assert time.monotonic() - start < 30  # the 60 s comparison was cut off
        assert grader.timeouts == 1
        assert in_thread(lambda: grader.verify("x", "x "))  # string match: no worker needed
        assert in_thread(lambda: grader.verify("7", "7.0")) is False  # a fresh worker answers again
    finally:
        grader.close()


def test_timeout_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        MathGrader(timeout=0)


def test_a_script_without_main_guard_fails_fast_naming_the_cause(tmp_path):
    import os
    import subprocess
    import sys

    script = tmp_path / "grade.py"
    script.write_text(
        "from alignrl.claims.math_grader import MathGrader\n"
        "g = MathGrader(startup_timeout=300)\n"
        "print(g.verify('0.5', '1/2'))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, env=env)
    assert time.monotonic() - start < 200  # not the 300 s start-up timeout
    assert proc.returncode != 0
    assert "WorkerStartError" in proc.stderr and "__main__" in proc.stderr and str(script) in proc.stderr
    assert "did not start within" not in proc.stderr


def test_math_verify_timeout_warning_is_silenced(capfd):
    import math_verify.grader
    import math_verify.parser

    # the warning is shown once per process: re-arm it here, and in the worker it is fresh anyway
    math_verify.grader.TIMEOUT_WARNING_SHOWN = False
    math_verify.parser.TIMEOUT_WARNING_SHOWN = False
    from alignrl.claims.math_grader import math_verify_equal

    assert math_verify_equal("0.5", "\\frac{1}{2}")
    grader = MathGrader(timeout=30)
    try:
        assert grader.verify("0.5", "\\frac{1}{2}") and grader.comparisons == 1
    finally:
        grader.close()
    out, err = capfd.readouterr()
    assert "Timeout is disabled" not in out + err


def test_the_warning_filter_is_what_silences_it(caplog):
    import logging

    import math_verify.grader
    from math_verify import parse, verify

    math_verify.grader.TIMEOUT_WARNING_SHOWN = False
    logging.getLogger("math_verify.grader").filters.clear()  # without the filter the warning shows
    with caplog.at_level(logging.WARNING):
        verify(parse("$1$"), parse("$1$"), timeout_seconds=None)
    assert "Timeout is disabled" in caplog.text
