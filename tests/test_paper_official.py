"""configs/paper.yaml held against the official training scripts (hkust-nlp/model-task-align-rl, scripts/RQ1) and
graded as a user of the official code expects (the official <answer> format)."""
from pathlib import Path

import pytest
from test_verl_backend import overrides_for

from alignrl.backends.verl import compose_config
from alignrl.backends.verl_reward import compute_score
from alignrl.claims.rewards import RewardGroup, compute_rewards
from alignrl.claims.tasks import get_task
from alignrl.workflow.config import load_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def paper():
    return load_config(ROOT / "configs" / "paper.yaml")


@pytest.fixture(scope="module")
def verl_cfg(paper):
    return compose_config(overrides_for(paper, "ground_truth", "qwen2.5-7b", "math", 0))


def test_batching_memory_and_kl_match_the_official_scripts(verl_cfg):
    arr = verl_cfg.actor_rollout_ref
    actor, rollout, ref = arr.actor, arr.rollout, arr.ref
    budget = 2048 + 8192  # official: max_prompt_length + max_response_length
    assert actor.use_dynamic_bsz is True and actor.ppo_max_token_len_per_gpu == budget
    assert rollout.log_prob_use_dynamic_bsz is True and rollout.log_prob_max_token_len_per_gpu == budget
    assert ref.log_prob_use_dynamic_bsz is True and ref.log_prob_max_token_len_per_gpu == budget
    assert rollout.enable_chunked_prefill is True and rollout.max_num_batched_tokens == budget
    assert rollout.gpu_memory_utilization == pytest.approx(0.8)
    assert verl_cfg.algorithm.kl_ctrl.kl_coef == 0.0 and verl_cfg.algorithm.use_kl_in_reward is False
    assert verl_cfg.data.gen_batch_size == verl_cfg.data.train_batch_size == 128


def test_the_group_filter_metric_is_the_one_verl_reads_as_the_sequence_reward(verl_cfg):
    import importlib.util
    import re

    # read from the source: importing the replay buffer needs transfer_queue, a GPU-side package
    verl_dir = Path(importlib.util.find_spec("verl").submodule_search_locations[0])
    source = (verl_dir / "trainer" / "ppo" / "v1" / "replay_buffer.py").read_text()
    FILTER_GROUPS_REWARD_METRIC = re.search(r'^FILTER_GROUPS_REWARD_METRIC = "(\w+)"', source, re.M).group(1)
    assert 'select_fields=["rm_scores"] if use_canonical_reward else ["extra_fields"]' in source
    # "reward" is read from rm_scores (the summed sequence reward); any other name must be a key of the
    # reward function's extra info, and ours returns no seq_final_reward (the official, older verl's name)
    assert verl_cfg.algorithm.filter_groups.metric == FILTER_GROUPS_REWARD_METRIC == "reward"
    out = compute_score("hub/math", "<think>a</think><answer>1</answer>", "1", {"uid": "u"},
                        reward="ground_truth", task="math_verify_tag")
    assert "seq_final_reward" not in out and out["score"] == 1.0


def test_paper_tasks_grade_the_official_answer_format(paper):
    """A bare answer inside <answer> tags, with or without line breaks, is graded; garbage is not paid."""
    assert "\\boxed" not in paper["prompt_template"]  # the official prompt, verbatim
    math = get_task(paper["tasks"]["math"]["generator"])
    logic = get_task(paper["tasks"]["logic"]["generator"])
    good = ["<think>\n2+2\n</think>\n<answer>\n4\n</answer>", "<think>2+2</think> <answer> 4 </answer>",
            "<think>2+2</think><answer>\\boxed{4}</answer>"]
    garbage = ["<think>2+2</think><answer></answer>", "<think>4</think>", "4", "<answer>4</answer>",
               "<think>x</think><answer>\\boxed{\\boxed{4}}</answer>", "<think>x</think><answer>4} \\boxed{4</answer>"]
    for reward in ("ground_truth", "format", "random", "incorrect", "majority_vote"):
        res = compute_rewards(reward, RewardGroup(good + garbage, "4", math, seed=1, group_id=3))
        assert res.rewards[len(good):] == [0.0] * len(garbage), reward
        assert res.well_formatted == [True] * len(good) + [False] * len(garbage)
    assert compute_rewards("ground_truth", RewardGroup(good, "4", math)).correct == [True] * 3
    line_broken = RewardGroup(["<think>x</think><answer>\n4.0\n</answer>"], "4", math)
    assert compute_rewards("ground_truth", line_broken).correct == [True]
    spaced = RewardGroup(["<think>x</think><answer> A B </answer>"], "a b", logic)
    assert compute_rewards("ground_truth", spaced).correct == [True]
