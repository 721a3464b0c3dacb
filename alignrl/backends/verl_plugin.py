"""Our claims inside verl: a reward manager, advantage estimators and the policy loss, registered on import.

How verl finds this module. verl 0.9 (``verl/__init__.py``) loads every entry point of the group
``verl.plugins`` when ``verl`` is imported, in the driver and in every Ray worker, since each of them
imports verl. ``pyproject.toml`` declares ``alignrl = "alignrl.backends.verl_plugin"`` in that group. verl swallows
a plugin's import error at debug level, so :mod:`alignrl.backends.verl` also names this module in
``VERL_USE_EXTERNAL_MODULES``, which verl imports without swallowing errors: a broken plugin stops the run.

What is registered (one definition of each claim: everything calls :mod:`alignrl.claims.rewards` and
:mod:`alignrl.claims.objectives`):

* reward manager ``alignrl`` (verl's reward-loop registry): decodes a response, hands the rollout's mean
  token log-prob to the reward (the entropy claim reads the sampling policy's own log-probs, which verl
  computes during the rollout, so they exist when the reward runs) and calls
  :func:`alignrl.backends.verl_reward.compute_score`;
* advantage estimators ``alignrl_<name>`` for every name in :data:`alignrl.claims.objectives.ADVANTAGES`, and
  ``alignrl_majority_vote_<name>``, which first turns a group's answer codes into majority-vote rewards;
* policy loss ``alignrl_dapo``: :func:`alignrl.claims.objectives.policy_loss` (clip-higher, dual clip, token mean).

verl hands an estimator only the scalar scores and the group ids, so the estimators that read the TRUE
correctness (PSR / NSR / W-REINFORCE) take ``correct = score > 0``, which is exact for the ground-truth
reward; :func:`alignrl.backends.verl.check_claim` refuses any other pairing. verl's ``AlgoConfig`` takes no
extra keys, so estimator keyword arguments other than the defaults cannot reach it; the same check refuses them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from alignrl.claims import objectives, rewards

__all__ = ["ESTIMATOR_PREFIX", "POLICY_LOSS", "REWARD_MANAGER", "estimator_name", "group_advantages"]

ESTIMATOR_PREFIX = "alignrl_"
MAJORITY_PREFIX = "alignrl_majority_vote_"
POLICY_LOSS = "alignrl_dapo"
REWARD_MANAGER = "alignrl"


def estimator_name(advantage: str, reward: str) -> str:
    """The verl ``algorithm.adv_estimator`` of a claim."""
    if advantage not in objectives.ADVANTAGES:
        raise KeyError(f"unknown advantage {advantage!r}; known: {sorted(objectives.ADVANTAGES)}")
    return (MAJORITY_PREFIX if reward == "majority_vote" else ESTIMATOR_PREFIX) + advantage


def majority_rewards(codes: torch.Tensor) -> torch.Tensor:
    """Majority-vote rewards of one group from its answer codes.

    The codes come from :func:`alignrl.backends.verl_reward.answer_code`.
    """
    values = [int(round(float(c))) for c in codes]
    label = rewards.majority_label([str(abs(v)) if v != 0 else None for v in values])
    return torch.tensor([1.0 if v > 0 and str(v) == label else 0.0 for v in values])


def group_advantages(
    scores: torch.Tensor, index: Any, advantage: str, *, majority_vote: bool = False, eps: float = 1e-6
) -> torch.Tensor:
    """Per-sample advantages [B] from per-sample scores [B], grouped by verl's prompt ids ``index``."""
    index = np.asarray(index)
    if index.shape[0] != scores.shape[0]:
        raise ValueError(f"{scores.shape[0]} scores but {index.shape[0]} group ids")
    out = torch.zeros(scores.shape[0], dtype=torch.float32)
    groups: dict[Any, list[int]] = {}
    for i, uid in enumerate(index.tolist()):
        groups.setdefault(uid, []).append(i)
    for members in groups.values():
        idx = torch.tensor(members)
        r = scores[idx].float().cpu()
        if majority_vote:
            r = majority_rewards(r)
        adv = objectives.compute_advantages(advantage, r, r > 0, eps=eps)
        out[idx] = adv.float()
    return out


def _register() -> None:
    from verl.trainer.ppo.core_algos import (
        ADV_ESTIMATOR_REGISTRY,
        POLICY_LOSS_REGISTRY,
        register_adv_est,
        register_policy_loss,
    )

    def make_estimator(advantage: str, majority_vote: bool):
        def estimator(token_level_rewards, response_mask, index=None, config=None, **_: Any):
            if index is None:
                raise ValueError(f"advantage {advantage!r} needs verl's group ids (non_tensor_batch['uid'])")
            adv = group_advantages(token_level_rewards.sum(dim=-1), index, advantage, majority_vote=majority_vote)
            adv = adv.to(token_level_rewards.device).unsqueeze(-1) * response_mask
            return adv, adv

        estimator.__name__ = f"alignrl_{'majority_vote_' if majority_vote else ''}{advantage}"
        return estimator

    for advantage in objectives.ADVANTAGES:
        for majority_vote in (False, True):
            name = estimator_name(advantage, "majority_vote" if majority_vote else "ground_truth")
            if name not in ADV_ESTIMATOR_REGISTRY:  # a second import must not re-register
                register_adv_est(name)(make_estimator(advantage, majority_vote))

    if POLICY_LOSS not in POLICY_LOSS_REGISTRY:

        @register_policy_loss(POLICY_LOSS)
        def alignrl_dapo_loss(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode="token-mean",
                              config=None, rollout_is_weights=None):
            if loss_agg_mode != "token-mean":
                raise ValueError(
                    f"policy loss {POLICY_LOSS} is token-mean (the paper's); got loss_agg_mode={loss_agg_mode!r}"
                )
            if rollout_is_weights is not None:
                raise ValueError(f"policy loss {POLICY_LOSS} does not apply rollout importance weights; turn them off")
            info = dict(getattr(config, "global_batch_info", None) or {})
            dp = int(info.get("dp_size", 1) or 1)
            n_tok = info.get("batch_num_tokens")
            # verl normalises by the GLOBAL token count times dp size; our token_count is the per-rank share
            token_count = None if n_tok is None else float(n_tok) / dp
            low = config.clip_ratio_low if config.clip_ratio_low is not None else config.clip_ratio
            high = config.clip_ratio_high if config.clip_ratio_high is not None else config.clip_ratio
            loss, stats = objectives.policy_loss(
                log_prob, old_log_prob, advantages, response_mask,
                clip_low=low, clip_high=high, dual_clip=config.get("clip_ratio_c", 10.0), token_count=token_count,
            )
            return loss, {
                "actor/pg_clipfrac": stats["clip_fraction"],
                "actor/pg_clipfrac_lower": stats["dual_clip_fraction"],  # verl's name for the dual clip
                "actor/alignrl_clipfrac_low": stats["clip_low_fraction"],
                "actor/alignrl_clipfrac_high": stats["clip_high_fraction"],
                "actor/ppo_kl": stats["approx_kl"],
            }

    from verl.experimental.reward_loop.reward_manager import register as register_reward_manager
    from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase
    from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER as REWARD_MANAGER_REGISTRY

    if REWARD_MANAGER in REWARD_MANAGER_REGISTRY:
        return

    @register_reward_manager(REWARD_MANAGER)
    class AlignrlRewardManager(RewardManagerBase):
        """Decode one response, add its rollout mean log-prob, and score it with our reward function."""

        def __init__(self, config, tokenizer, compute_score=None, reward_router_address=None,
                     reward_model_tokenizer=None):
            super().__init__(config, tokenizer, compute_score)
            if compute_score is None:
                raise ValueError(
                    "reward manager 'alignrl' needs reward.custom_reward_function.path = "
                    "alignrl/backends/verl_reward.py "
                    "(alignrl.backends.verl sets it)"
                )

        def score_item(self, data) -> dict:
            item = data[-1:][0]
            response_ids = item.batch["responses"]
            length = int(item.batch["attention_mask"][-response_ids.shape[-1]:].sum())
            text = self.tokenizer.decode(response_ids[:length], skip_special_tokens=True)
            mean_logprob = None
            if "rollout_log_probs" in item.batch.keys() and length > 0:
                mean_logprob = float(item.batch["rollout_log_probs"][:length].float().mean())
            result = self.compute_score(
                data_source=item.non_tensor_batch["data_source"],
                solution_str=text,
                ground_truth=item.non_tensor_batch["reward_model"]["ground_truth"],
                extra_info=dict(item.non_tensor_batch.get("extra_info", {}) or {}),
                mean_logprob=mean_logprob,
            )
            return {"reward_score": result["score"], "reward_extra_info": result}

        async def run_single(self, data) -> dict:
            return await self.loop.run_in_executor(None, lambda: self.score_item(data))


_register()
