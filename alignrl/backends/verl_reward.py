"""The per-sample stage of a claim's reward, in the shape of verl's ``custom_reward_function``.

verl 0.9 scores each response on its own (its reward loop streams responses as the rollout finishes
them), so a reward here sees ONE response. The functions of :mod:`alignrl.claims.rewards` are called on a group
of one, which gives exactly their per-response values for every reward that does not look at the rest of
the group (ground truth, incorrect, format, entropy, none). The two group-dependent pieces are handled so
the definition stays the one in :mod:`alignrl.claims.rewards`:

* ``random``: ``fmt x random_draw(seed, group_id, index)``; verl gives no within-group index, so the
  group id is keyed by (problem uid, response text) and the index is 0. Draws stay stable and fair;
  two IDENTICAL responses to one prompt share their coin (rare at paper length, stated in the README).
* ``majority_vote``: the vote needs the whole group, which verl only shows to the advantage estimator.
  Here the response's answer is encoded as a number (:func:`answer_code`); the estimator registered in
  :mod:`alignrl.backends.verl_plugin` decodes the codes of a group, votes with
  :func:`alignrl.claims.rewards.majority_label` and pays ``fmt x [answer == label]``.

This module imports no verl code: verl loads it by file path (``reward.custom_reward_function.path``),
and a second copy of the registering plugin module would register everything twice.
"""

from __future__ import annotations

import hashlib
from typing import Any

from alignrl.claims.answer import answer_format_of, extract_answer, is_well_formatted, normalize_answer
from alignrl.claims.rewards import RewardGroup, compute_rewards
from alignrl.claims.tasks import get_task

__all__ = ["ANSWER_CODE_BITS", "answer_code", "compute_score", "stable_int"]

#: Answer codes lie in [1, 2**24]: every such integer is exact in float32, the dtype of verl's scores.
ANSWER_CODE_BITS = 24


def stable_int(*parts: str, bits: int = 63) -> int:
    """A process-independent integer hash of ``parts`` (Python's ``hash`` is salted per process)."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % (1 << bits)


def answer_code(text: str, answer_format: str = "boxed") -> float:
    """0 when ``text`` has no extractable answer; otherwise +-(1 + hash of the normalised answer).

    The sign carries the format check (+ well formatted, - not): every answer votes, as in
    :func:`alignrl.claims.rewards.majority_vote_reward`, but only well-formatted ones can be paid.
    """
    answer = extract_answer(text, answer_format)
    if answer is None:
        return 0.0
    code = 1 + stable_int(normalize_answer(answer), bits=ANSWER_CODE_BITS - 1)
    return float(code if is_well_formatted(text, answer_format) else -code)


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict[str, Any] | None = None,
    *,
    reward: str,
    task: str,
    seed: int = 0,
    mean_logprob: float | None = None,
    **_: Any,
) -> dict[str, float]:
    """Score one response for verl: ``score`` is what training sees, ``acc`` the true correctness.

    ``reward``, ``task`` (the grader: a name in ``alignrl.claims.tasks.TASKS``) and ``seed`` come from
    ``reward.custom_reward_function.reward_kwargs``; ``mean_logprob`` from the reward manager in
    :mod:`alignrl.backends.verl_plugin` (the rollout's own log-probs). Unknown extra keyword arguments that verl adds
    (e.g. ``reward_router_address``) are ignored.
    """
    grader = get_task(task)
    uid = str((extra_info or {}).get("uid", ""))
    if reward == "majority_vote":
        result = compute_rewards("ground_truth", RewardGroup([solution_str], ground_truth, grader, seed=seed))
        score = answer_code(solution_str, answer_format_of(grader))
    else:
        if reward == "entropy" and mean_logprob is None:
            raise ValueError(
                "the entropy reward needs the rollout log-probs: set "
                "actor_rollout_ref.rollout.calculate_log_probs=True and reward.reward_manager.name=alignrl"
            )
        group = RewardGroup(
            [solution_str],
            ground_truth,
            grader,
            seed=int(seed),
            mean_logprobs=None if mean_logprob is None else [float(mean_logprob)],
            group_id=stable_int(uid, solution_str),
        )
        result = compute_rewards(reward, group)
        score = result.rewards[0]
    return {
        "score": float(score),
        "acc": float(result.correct[0]),
        "well_formatted": float(result.well_formatted[0]),
    }
