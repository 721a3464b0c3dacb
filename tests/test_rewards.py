"""Semantics of the claim rewards (RQ1) and of the true-correctness labels (RQ3 masks)."""

from __future__ import annotations

import random

import pytest

from alignrl.claims.answer import format_response
from alignrl.claims.rewards import (
    FORMAT_GATED,
    REWARDS,
    RewardGroup,
    compute_rewards,
    correctness,
    majority_label,
    random_draw,
    register_reward,
)
from alignrl.claims.tasks import Task, get_task

MATH = get_task("math")
SOLUTION = "6 x 3 = 18\n18 x 3 = 54\n54 x 2 = 108"  # multi-line reasoning on purpose
GT = "108"


def good(answer: str, solution: str = SOLUTION) -> str:
    """A well-formatted response (multi-line think block) answering ``answer``."""
    return format_response(solution, answer)


def bad(answer: str) -> str:
    """A badly formatted response whose answer is still extractable (no think block)."""
    return f"<answer>\\boxed{{{answer}}}</answer>"


NO_ANSWER = "<think>\nI am not sure\n</think>\n<answer>no box here</answer>"


def group(responses: list[str], gt: str = GT, task: Task = MATH, **kw: object) -> RewardGroup:
    return RewardGroup(
        responses=responses, ground_truth=gt, task=task, **kw  # type: ignore[arg-type]
    )


class SpyTask(Task):
    """Records every (predicted, ground_truth) pair that ``verify`` sees."""

    name = "spy"

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str]] = []

    def verify(self, predicted: str | None, ground_truth: str) -> bool:
        self.calls.append((predicted, ground_truth))
        return super().verify(predicted, ground_truth)


# ----------------------------------------------------------------------------- registry


def test_registry_and_unknown_name() -> None:
    names = {"ground_truth", "random", "incorrect", "format", "majority_vote", "entropy"}
    assert names <= set(REWARDS)
    with pytest.raises(KeyError, match="ground_truth"):
        compute_rewards("no_such_reward", group([good(GT)]))
    with pytest.raises(ValueError):
        register_reward("random", format_gated=True)(lambda g: [0.0])


def test_sanity_of_helpers() -> None:
    # guards for the fixtures the other tests rely on
    flags = correctness(group([good(GT), good("7"), bad(GT), NO_ANSWER]))
    assert flags == [True, False, False, False]


# ----------------------------------------------------------------------------- ground truth, format


def test_ground_truth_is_format_gated_accuracy() -> None:
    responses = [good(GT), good("107"), bad(GT), NO_ANSWER, good(" 108 ")]
    res = compute_rewards("ground_truth", group(responses))
    assert res.rewards == [1.0, 0.0, 0.0, 0.0, 1.0]
    assert res.correct == [True, False, False, False, True]
    assert res.well_formatted == [True, True, False, False, True]
    assert res.answers == ["108", "107", "108", None, "108"]


def test_newline_inside_think_keeps_format_reward() -> None:
    multi = good(GT, solution="step one\nstep two\n\nstep three")
    single = good(GT, solution="one line")
    assert "\n" in multi.split("</think>")[0].split("<think>")[1].strip()
    res = compute_rewards("format", group([multi, single, bad(GT), NO_ANSWER, "garbage"]))
    assert res.rewards == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert compute_rewards("ground_truth", group([multi])).rewards == [1.0]


# ----------------------------------------------------------------------------- incorrect


def test_incorrect_pays_only_well_formatted_wrong_answers() -> None:
    responses = [good(GT), good("107"), bad("107"), bad(GT), NO_ANSWER, good("108 ")]
    res = compute_rewards("incorrect", group(responses))
    assert res.rewards == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_incorrect_never_pays_a_correct_answer_randomised() -> None:
    rng = random.Random(0)
    for _ in range(50):
        p = MATH.sample(rng)
        answers = [p.answer, str(int(p.answer) + rng.randint(1, 5)), f" {p.answer}"]
        responses = [good(a, p.solution) for a in answers] + [bad(answers[1])]
        res = compute_rewards("incorrect", group(responses, gt=p.answer))
        gt = compute_rewards("ground_truth", group(responses, gt=p.answer))
        assert all(not (r > 0 and c) for r, c in zip(res.rewards, res.correct))
        assert res.rewards == [0.0, 1.0, 0.0, 0.0]
        # on well-formatted responses the two rewards are complements
        assert [a + b for a, b in zip(res.rewards, gt.rewards)][:3] == [1.0, 1.0, 1.0]


# ----------------------------------------------------------------------------- random


def test_random_reward_is_fair_deterministic_and_per_group() -> None:
    n = 4000
    responses = [good(GT)] * (n // 2) + [good("1")] * (n // 2)
    a = compute_rewards("random", group(responses, seed=3, group_id=7)).rewards
    assert set(a) == {0.0, 1.0}
    assert abs(sum(a) / n - 0.5) < 0.03  # 4.7 sigma
    # independent of correctness: both halves are ~0.5
    assert abs(sum(a[: n // 2]) / (n // 2) - 0.5) < 0.04
    assert abs(sum(a[n // 2 :]) / (n // 2) - 0.5) < 0.04
    assert compute_rewards("random", group(responses, seed=3, group_id=7)).rewards == a
    assert compute_rewards("random", group(responses, seed=3, group_id=8)).rewards != a
    assert compute_rewards("random", group(responses, seed=4, group_id=7)).rewards != a
    # a response's draw depends on (seed, group, index) only, not on the group size
    assert compute_rewards("random", group(responses[:16], seed=3, group_id=7)).rewards == a[:16]
    assert [float(random_draw(3, 7, i)) for i in range(16)] == a[:16]


def test_random_reward_zero_on_badly_formatted() -> None:
    responses = [bad(GT)] * 200 + [NO_ANSWER] * 200
    assert sum(compute_rewards("random", group(responses, seed=1, group_id=2)).rewards) == 0.0


def test_random_draw_is_process_stable() -> None:
    # pinned values: a change of hashing (e.g. Python's salted hash()) would break reproducibility
    bits = "".join(str(int(random_draw(12345, 1001, i))) for i in range(32))
    assert bits == "10111101000000010110000101110011"


# ----------------------------------------------------------------------------- majority vote


def test_majority_vote_picks_modal_answer_and_ignores_none() -> None:
    responses = [NO_ANSWER] * 4 + [good("5"), good("7"), good("5"), "junk"]
    res = compute_rewards("majority_vote", group(responses))
    assert res.pseudo_label == "5"
    assert res.rewards == [0, 0, 0, 0, 1, 0, 1, 0]


def test_majority_vote_ties_go_to_first_appearance() -> None:
    assert majority_label(["7", "5", "5", "7"]) == "7"
    assert majority_label([None, "5", "7", "7", "5"]) == "5"
    assert majority_label(["3", "5", "7"]) == "3"
    assert majority_label([None, None]) is None
    responses = [good("7"), good("5"), good("5"), good("7"), good("9")]
    res = compute_rewards("majority_vote", group(responses))
    assert res.pseudo_label == "7"
    assert res.rewards == [1, 0, 0, 1, 0]


def test_majority_vote_normalises_answers() -> None:
    res = compute_rewards("majority_vote", group([good("1  2"), good(" 1 2"), good("12")]))
    assert res.pseudo_label == "1 2"
    assert res.rewards == [1, 1, 0]


def test_majority_vote_no_answers_gives_zero_and_no_label() -> None:
    res = compute_rewards("majority_vote", group([NO_ANSWER, "x", ""]))
    assert res.pseudo_label is None
    assert res.rewards == [0.0, 0.0, 0.0]


def test_majority_vote_never_reads_ground_truth() -> None:
    responses = [good("107"), good("107"), good(GT), bad("107"), NO_ANSWER]
    spy = SpyTask()
    fn = REWARDS["majority_vote"]
    right = fn(group(responses, gt=GT, task=spy))
    wrong = fn(group(responses, gt="SENTINEL-GROUND-TRUTH", task=spy))
    assert right == wrong
    assert all(gt != "SENTINEL-GROUND-TRUTH" for _, gt in spy.calls)
    # the majority is wrong here and it is still what gets paid (label-free), format gated:
    # the badly formatted "107" votes but earns nothing
    assert right == [1.0, 1.0, 0.0, 0.0, 0.0]
    res = compute_rewards("majority_vote", group(responses))
    assert res.correct == [False, False, True, False, False]


# ----------------------------------------------------------------------------- entropy


def test_entropy_reward_orders_by_logprob_and_needs_logprobs() -> None:
    lp = [-0.5, -2.0, -0.1, -1.0]
    responses = [good("1"), bad("2"), NO_ANSWER, good(GT)]
    res = compute_rewards("entropy", group(responses, mean_logprobs=lp))
    assert res.rewards == lp  # label free and not format gated
    order = sorted(range(4), key=lambda i: res.rewards[i])
    assert order == sorted(range(4), key=lambda i: lp[i])
    with pytest.raises(ValueError, match="mean_logprobs"):
        compute_rewards("entropy", group(responses))
    with pytest.raises(ValueError):
        group(responses, mean_logprobs=[-1.0])


# ----------------------------------------------------------------------------- across rewards


@pytest.mark.parametrize("name", sorted(FORMAT_GATED))
def test_format_gated_rewards_zero_on_bad_format(name: str) -> None:
    responses = [bad(GT), bad("3"), bad("3"), NO_ANSWER, good(GT, solution="a")[len("<think>") :]]
    res = compute_rewards(name, group(responses, seed=0, group_id=0, mean_logprobs=[-1.0] * 5))
    assert res.rewards == [0.0] * 5


def test_correct_is_true_correctness_whatever_the_reward() -> None:
    responses = [good(GT), good("1"), bad(GT), NO_ANSWER]
    lps = [-1.0, -2.0, -3.0, -4.0]
    for name in REWARDS:
        res = compute_rewards(name, group(responses, seed=5, group_id=1, mean_logprobs=lps))
        assert res.correct == [True, False, False, False], name
        assert len(res.rewards) == 4


def test_none_reward_is_zero_and_label_free():
    from alignrl.claims.rewards import RewardGroup, compute_rewards
    from alignrl.claims.tasks import get_task

    good = "<think>\n1 + 1 = 2\n</think>\n<answer>\\boxed{2}</answer>"
    result = compute_rewards("none", RewardGroup(responses=[good, "junk"], ground_truth="2", task=get_task("math")))
    assert result.rewards == [0.0, 0.0]
    assert result.correct == [True, False]
