"""Registries carry their own metadata: what an estimator or reward declares where it is registered."""
from __future__ import annotations

import pytest
import torch

from alignrl.backends.verl import check_claim
from alignrl.claims import objectives, rewards
from alignrl.claims.tasks import get_task
from alignrl.core.errors import ConfigError


@pytest.fixture
def scratch_registries():
    """Undo any registration a test makes."""
    adv, reads = dict(objectives.ADVANTAGES), dict(objectives.READS_CORRECTNESS)
    rew, gated = dict(rewards.REWARDS), dict(rewards.REWARD_FORMAT_GATED)
    yield
    for live, saved in ((objectives.ADVANTAGES, adv), (objectives.READS_CORRECTNESS, reads),
                        (rewards.REWARDS, rew), (rewards.REWARD_FORMAT_GATED, gated)):
        live.clear()
        live.update(saved)


SETTINGS = {"advantage": "grpo", "reward": "ground_truth", "advantage_kwargs": {}, "fill_batch": "tile",
            "dynamic_sampling": True}


def test_a_new_estimator_that_reads_correctness_is_refused_under_verl_with_another_reward(scratch_registries):
    @objectives.register_advantage("test_correct_only", reads_correctness=True)
    def correct_only(rewards_, correct, eps=1e-6):
        return correct.float()

    check_claim("c", {**SETTINGS, "advantage": "test_correct_only"})  # ground truth: score > 0 is exact
    with pytest.raises(ConfigError, match="claims.c.*test_correct_only"):
        check_claim("c", {**SETTINGS, "advantage": "test_correct_only", "reward": "random"})


def test_an_estimator_must_declare_whether_it_reads_correctness(scratch_registries):
    with pytest.raises(TypeError):
        objectives.register_advantage("test_undeclared")(lambda r, c, eps=1e-6: r)
    with pytest.raises(TypeError):
        objectives.register_advantage("test_bad", reads_correctness="yes")


def test_estimators_that_declare_no_correctness_ignore_it():
    r = torch.tensor([1.0, 0.0, 0.5, 0.0])
    for name, reads in objectives.READS_CORRECTNESS.items():
        a = objectives.compute_advantages(name, r, torch.tensor([True, False, True, False]))
        b = objectives.compute_advantages(name, r, torch.tensor([False, True, False, True]))
        assert reads != bool(torch.equal(a, b)), name


def test_format_gated_is_read_from_the_registry(scratch_registries):
    @rewards.register_reward("test_always_one", format_gated=True)
    def always_one(group):
        return [float(f) for f in rewards._fmt(group)]

    assert "test_always_one" in rewards.FORMAT_GATED
    assert "entropy" not in rewards.FORMAT_GATED and "none" not in rewards.FORMAT_GATED
    with pytest.raises(TypeError):
        rewards.register_reward("test_undeclared")


def test_every_reward_declared_gated_pays_nothing_to_a_badly_formatted_response():
    task = get_task("math")
    bad = ["42", "<answer>\\boxed{42}</answer>", "<think>x</think> \\boxed{42}"]
    for name in rewards.FORMAT_GATED:
        group = rewards.RewardGroup(bad, "42", task, mean_logprobs=[-1.0] * len(bad))
        assert rewards.compute_rewards(name, group).rewards == [0.0] * len(bad), name
