"""Hostile model outputs: every reward and verifier on arbitrary strings never raises, never hangs, and
never pays a format-gated reward for a response that is not well formatted."""
from __future__ import annotations

import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignrl.claims.answer import is_well_formatted
from alignrl.claims.rewards import FORMAT_GATED, REWARDS, RewardGroup, compute_rewards
from alignrl.claims.tasks import get_task

_PIECES = st.sampled_from([
    "<think>", "</think>", "<answer>", "</answer>", "\\boxed{", "}", "{", "\\boxed{\\boxed{", "\\frac{1}{2}",
    "\n", " ", "62", "e c v", "\\left(", "\\right)", "$$", "\u200b", "\U0001F600", "\x00", "\\\\", "}}}}",
])
HOSTILE = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=60).map("".join),
    # huge: a megabyte of nesting or digits must not hang the extractor or the integer check
    st.sampled_from(["\\boxed{" * 50_000, "<answer>\\boxed{" + "9" * 1_000_000 + "}</answer>",
                     "<think>" + "x\n" * 100_000 + "</think><answer>\\boxed{1}</answer>"]),
)


@settings(max_examples=60, deadline=None)
@given(responses=st.lists(HOSTILE, min_size=2, max_size=4), truth=st.sampled_from(["62", "e c v", "0"]))
@pytest.mark.parametrize("task_name", ["math", "logic"])
@pytest.mark.parametrize("reward", sorted(REWARDS))
def test_rewards_never_raise_and_never_pay_garbage(reward, task_name, responses, truth):
    group = RewardGroup(responses=responses, ground_truth=truth, task=get_task(task_name), seed=3,
                        mean_logprobs=[-0.5] * len(responses), group_id=7)
    start = time.perf_counter()
    result = compute_rewards(reward, group)
    assert time.perf_counter() - start < 5.0, "a reward took over 5 s on one group"
    assert len(result.rewards) == len(responses)
    assert all(isinstance(r, float) and math.isfinite(r) for r in result.rewards)
    for text, r, ok in zip(responses, result.rewards, result.correct):
        if not is_well_formatted(text):
            assert not ok  # garbage is never correct
            if reward in FORMAT_GATED:
                assert r == 0.0, (reward, text[:80])


@settings(max_examples=200, deadline=None)
@given(pred=st.one_of(st.none(), HOSTILE), truth=HOSTILE)
def test_verifiers_never_raise_or_hang(pred, truth):
    for name in ("math", "logic"):
        start = time.perf_counter()
        assert isinstance(get_task(name).verify(pred, truth), bool)
        assert time.perf_counter() - start < 2.0


# ----------------------------------------------------------------------------- issue 19.6: one box, really

DOUBLE_BOXES = [
    "<think>x</think><answer>\\boxed{\\boxed{42}}</answer>",
    "<think>x</think><answer>\\boxed{42}\\boxed{42}</answer>",
    "<think>x</think><answer>\\boxed{{\\boxed{42}}}</answer>",
    "<think>x</think><answer>\\boxed{42 \\boxed{42}}</answer>",
]


@pytest.mark.parametrize("text", DOUBLE_BOXES)
@pytest.mark.parametrize("task_name", ["math", "math_verify", "math_verify_tag"])
def test_nested_or_duplicated_boxes_earn_nothing(text, task_name):
    group = RewardGroup(responses=[text] * 4, ground_truth="42", task=get_task(task_name), seed=0,
                        mean_logprobs=[-0.5] * 4, group_id=1)
    for reward in sorted(FORMAT_GATED):
        result = compute_rewards(reward, group)
        assert result.rewards == [0.0] * 4, (reward, text)
        assert result.correct == [False] * 4


# ----------------------------------------------------------------------------- issue 19.7: verify once, bound sympy


class CountingTask:
    """A grader that counts its verifications."""

    name = "counting"
    answer_format = "boxed"

    def __init__(self):
        self.calls = []

    def verify(self, predicted, ground_truth):
        self.calls.append(predicted)
        return predicted == ground_truth


@pytest.mark.parametrize("reward", sorted(FORMAT_GATED - {"format"}))
def test_each_response_is_verified_once_per_call(reward):
    task = CountingTask()
    texts = ["<think>a</think><answer>\\boxed{1}</answer>", "<think>a</think><answer>\\boxed{2}</answer>",
             "garbage \\boxed{3}", "<answer>\\boxed{4}</answer>"]
    result = compute_rewards(reward, RewardGroup(texts, "1", task, seed=0, group_id=0))
    assert result.correct == [True, False, False, False]
    # the two well-formatted answers once each; badly formatted responses cannot be paid and are not verified
    assert sorted(task.calls) == ["1", "2"]


def test_an_over_long_answer_is_refused_without_calling_the_comparer():
    from alignrl.claims.math_grader import MathGrader

    grader = MathGrader(timeout=1.0, max_answer_chars=200)
    huge = "<think>x</think><answer>\\boxed{" + "1+" * 1_000_000 + "1}</answer>"

    class Math:
        name, answer_format = "m", "boxed"
        verify = staticmethod(grader.verify)

    result = compute_rewards("ground_truth", RewardGroup([huge], "2", Math(), seed=0))
    assert result.correct == [False] and result.rewards == [0.0]
    assert grader.refused == 1 and grader.comparisons == 0
    assert grader._worker is None  # no worker was even started
    # an answer up to twice the truth's length still reaches the comparer
    long_truth = "x" * 300
    assert grader.verify(long_truth[:-1] + "y", long_truth) is False
    assert grader.comparisons == 1
    grader.close()
