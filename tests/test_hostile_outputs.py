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
