"""Advantage estimators and losses (GRPO/DAPO policy loss, PSR/NSR/W-REINFORCE, entropy loss).

Advantage estimators take ONE group: ``rewards`` (float, [G]) and ``correct`` (bool, [G]) and return
advantages [G]. ``correct`` is the TRUE correctness of each sample (the ground-truth reward
``fmt and acc``, see :class:`alignrl.claims.rewards.RewardResult`), never the training reward: PSR/NSR
decide which samples contribute by what the samples really are.

Two conventions exist for PSR/NSR and both are registered:

* masked GRPO (the official code): group-normalised GRPO advantage, zeroed on wrong samples (PSR)
  or on correct samples (NSR);
* REINFORCE style (Zhu et al. 2506.01347): +1 on correct samples (PSR), -1 on wrong samples (NSR),
  no baseline; W-REINFORCE = ``lam`` * (+1) on correct, -1 on wrong.

Zeroed advantages are exact zeros (``torch.where``), so the excluded samples get exactly zero
gradient through :func:`policy_loss`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "ADVANTAGES",
    "READS_CORRECTNESS",
    "AdvantageFn",
    "compute_advantages",
    "entropy_loss",
    "policy_loss",
    "reads_correctness",
    "register_advantage",
    "token_entropy",
]

AdvantageFn = Callable[..., Tensor]
ADVANTAGES: dict[str, AdvantageFn] = {}
#: name -> whether the estimator reads ``correct``; declared where it is registered.
READS_CORRECTNESS: dict[str, bool] = {}

# log-ratio clamp: keeps exp() finite for badly stale tokens; such tokens are clipped anyway
_MAX_LOG_RATIO = 20.0


def register_advantage(name: str, *, reads_correctness: bool) -> Callable[[AdvantageFn], AdvantageFn]:
    """Register ``fn(rewards, correct, eps=1e-6, **kw) -> Tensor[G]`` under ``name``.

    ``reads_correctness`` says whether ``fn`` uses ``correct`` (the true correctness) at all; it has no
    default, so every estimator declares it (the verl backend can hand an estimator only ``score > 0``).
    """
    if not isinstance(reads_correctness, bool):
        raise TypeError(f"advantage {name!r}: reads_correctness must be True or False, got {reads_correctness!r}")

    def deco(fn: AdvantageFn) -> AdvantageFn:
        if name in ADVANTAGES:
            raise ValueError(f"advantage {name!r} is already registered")
        ADVANTAGES[name] = fn
        READS_CORRECTNESS[name] = reads_correctness
        return fn

    return deco


def reads_correctness(name: str) -> bool:
    """Whether the estimator registered as ``name`` reads the true correctness; KeyError lists the names."""
    try:
        return READS_CORRECTNESS[name]
    except KeyError:
        raise KeyError(f"unknown advantage {name!r}; known: {sorted(ADVANTAGES)}") from None


def compute_advantages(
    name: str, rewards: Tensor, correct: Tensor, eps: float = 1e-6, **kwargs: float
) -> Tensor:
    """Look ``name`` up in :data:`ADVANTAGES` and apply it; KeyError lists the known names."""
    try:
        fn = ADVANTAGES[name]
    except KeyError:
        raise KeyError(f"unknown advantage {name!r}; known: {sorted(ADVANTAGES)}") from None
    return fn(rewards, correct, eps=eps, **kwargs)


def _check(rewards: Tensor, correct: Tensor) -> tuple[Tensor, Tensor]:
    if rewards.dim() != 1 or correct.shape != rewards.shape:
        raise ValueError(
            "expected rewards [G] and correct [G], "
            f"got {tuple(rewards.shape)}, {tuple(correct.shape)}"
        )
    return rewards.detach().float(), correct.bool()


@register_advantage("grpo", reads_correctness=False)
def grpo_advantage(rewards: Tensor, correct: Tensor, eps: float = 1e-6) -> Tensor:
    """``(r - mean) / (std + eps)`` over the group, with the UNBIASED std (Bessel, ``n - 1``).

    Unbiased because verl (the official trainer's base) uses ``torch.std``; with n = 16 it differs
    from the population std by ~3%. A group whose rewards are all equal (or of size 1) has no
    relative signal and gets exact zeros, not ``0 / eps`` round-off.
    """
    r, _ = _check(rewards, correct)
    if r.numel() < 2 or bool(torch.all(r == r[0])):
        return torch.zeros_like(r)
    return (r - r.mean()) / (r.std(unbiased=True) + eps)


@register_advantage("grpo_psr_masked", reads_correctness=True)
def grpo_psr_masked_advantage(rewards: Tensor, correct: Tensor, eps: float = 1e-6) -> Tensor:
    """PSR, masked-GRPO convention: GRPO advantage kept on correct samples, exactly 0 on wrong."""
    adv = grpo_advantage(rewards, correct, eps=eps)
    return torch.where(correct.bool(), adv, torch.zeros_like(adv))


@register_advantage("grpo_nsr_masked", reads_correctness=True)
def grpo_nsr_masked_advantage(rewards: Tensor, correct: Tensor, eps: float = 1e-6) -> Tensor:
    """NSR, masked-GRPO convention: GRPO advantage kept on wrong samples, exactly 0 on correct."""
    adv = grpo_advantage(rewards, correct, eps=eps)
    return torch.where(correct.bool(), torch.zeros_like(adv), adv)


@register_advantage("reinforce_psr", reads_correctness=True)
def reinforce_psr_advantage(rewards: Tensor, correct: Tensor, eps: float = 1e-6) -> Tensor:
    """PSR, Zhu et al.: advantage ``r`` with r = true correctness -> +1 on correct, 0 on wrong."""
    _, c = _check(rewards, correct)
    return c.float()


@register_advantage("reinforce_nsr", reads_correctness=True)
def reinforce_nsr_advantage(rewards: Tensor, correct: Tensor, eps: float = 1e-6) -> Tensor:
    """NSR, Zhu et al.: advantage ``r - 1`` -> -1 on wrong samples, 0 on correct."""
    _, c = _check(rewards, correct)
    return c.float() - 1.0


@register_advantage("w_reinforce", reads_correctness=True)
def w_reinforce_advantage(
    rewards: Tensor, correct: Tensor, eps: float = 1e-6, lam: float = 0.1
) -> Tensor:
    """W-REINFORCE (Zhu et al.): ``lam`` on correct samples, -1 on wrong ones (paper: lam = 0.1)."""
    _, c = _check(rewards, correct)
    pos = torch.full(c.shape, float(lam))
    return torch.where(c, pos, torch.full(c.shape, -1.0))


# ----------------------------------------------------------------------------- losses


def _token_mean(values: Tensor, mask: Tensor, token_count: float | None) -> Tensor:
    if token_count is None:
        denom = mask.sum().to(values.dtype)
    else:
        denom = torch.as_tensor(float(token_count), dtype=values.dtype)
    # an all-masked batch gives 0 (still attached to the graph), not 0/0
    return values.sum() / denom.clamp(min=1.0)


def policy_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.28,
    dual_clip: float | None = 10.0,
    token_count: float | None = None,
    clip: bool = True,
) -> tuple[Tensor, dict[str, float]]:
    """DAPO-style clipped surrogate, token-mean over every unmasked token of the mini-batch.

    Per token, with ``ratio = exp(logp - old_logp)`` and advantage ``A``::

        l = max(-A * ratio, -A * clip(ratio, 1 - clip_low, 1 + clip_high))   # clip-higher
        l = min(l, -A * dual_clip)   if A < 0                               # dual clip

    so a negative-advantage token never costs more than ``dual_clip * |A|``. No KL term.

    ``logp``, ``old_logp``, ``mask``: [B, T]; ``advantages``: [B] (broadcast over tokens) or [B, T].
    Masked tokens contribute nothing and get exactly zero gradient (their log-ratio is replaced by 0
    before ``exp``, so even ``-inf`` log-probs there are harmless). ``token_count`` overrides the
    denominator, so a trainer splitting one mini-batch into micro-batches keeps a true token mean.

    ``clip=False`` turns clipping off (the clip-bias control of Shao et al., arXiv 2506.10947): the loss
    is ``-A * ratio`` on every token, with neither the ratio clip nor the dual clip, so a token with a
    ratio far outside ``[1 - clip_low, 1 + clip_high]`` still gets gradient (up to the numerical guard
    ``|log ratio| <= 20``); ``clip_low``, ``clip_high`` and ``dual_clip`` are then ignored and both clip
    fractions are 0.

    Returns ``(loss, stats)`` with ``clip_fraction`` (tokens where the clipped term was the active,
    strictly larger one: zero gradient), split into ``clip_low_fraction`` (clipped at ``1 - clip_low``:
    ``A < 0`` and ratio below the band) and ``clip_high_fraction`` (clipped at ``1 + clip_high``: ``A > 0``
    and ratio above it), which count disjoint tokens and sum to ``clip_fraction``; ``dual_clip_fraction``,
    ``approx_kl`` (mean of ``old_logp - logp``), ``ratio_mean``, ``ratio_max``, ``ratio_min`` over
    unmasked tokens.
    """
    if logp.shape != old_logp.shape or logp.shape != mask.shape:
        raise ValueError(f"shapes differ: {logp.shape}, {old_logp.shape}, {mask.shape}")
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(-1)
    adv = advantages.detach().to(logp.dtype).expand_as(logp)
    m = mask.bool()
    old = old_logp.detach()

    log_ratio = torch.where(m, logp - old, torch.zeros_like(logp))
    log_ratio = log_ratio.clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO)
    ratio = torch.exp(log_ratio)

    pg1 = -adv * ratio
    pg2 = -adv * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    clip_active = (pg2 > pg1) & m if clip else torch.zeros_like(m)
    clipped = torch.maximum(pg1, pg2) if clip else pg1
    per_token = clipped
    dual_active = torch.zeros_like(m)
    if clip and dual_clip is not None:
        if dual_clip <= 1.0:
            raise ValueError(f"dual_clip must be > 1, got {dual_clip}")
        pg3 = -adv * dual_clip
        neg = adv < 0
        per_token = torch.where(neg, torch.minimum(clipped, pg3), clipped)
        dual_active = neg & (pg3 < clipped) & m
    per_token = torch.where(m, per_token, torch.zeros_like(per_token))
    loss = _token_mean(per_token, m, token_count)

    with torch.no_grad():
        n = m.sum().clamp(min=1).float()
        rm = ratio[m]
        # the clipped term wins only where the ratio left the band on the side the advantage pushes it:
        # below 1 - clip_low with A < 0, above 1 + clip_high with A > 0 (A = 0 is never clipped)
        stats = {
            "clip_fraction": float(clip_active.sum() / n),
            "clip_low_fraction": float((clip_active & (adv < 0)).sum() / n),
            "clip_high_fraction": float((clip_active & (adv > 0)).sum() / n),
            "dual_clip_fraction": float(dual_active.sum() / n),
            "approx_kl": float((old - logp.detach())[m].sum() / n),
            "ratio_mean": float(rm.mean()) if rm.numel() else 1.0,
            "ratio_max": float(rm.max()) if rm.numel() else 1.0,
            "ratio_min": float(rm.min()) if rm.numel() else 1.0,
        }
    return loss, stats


def token_entropy(logits: Tensor) -> Tensor:
    """Entropy of the softmax over the last axis, [..., V] -> [...], from ``log_softmax`` in fp32.

    ``-inf`` logits (banned tokens) contribute 0 rather than ``0 * -inf = nan``.
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    p = logp.exp()
    return -(p * logp.masked_fill(torch.isneginf(logp), 0.0)).sum(dim=-1)


def entropy_loss(
    logits: Tensor, mask: Tensor, *, coef: float = 1.0, token_count: float | None = None
) -> Tensor:
    """``coef *`` token-mean entropy over unmasked tokens; adding it to the loss MINIMISES entropy.

    The token-level entropy-minimisation variant (the trajectory-level one is the ``entropy``
    reward). ``logits`` [B, T, V], ``mask`` [B, T]; masked tokens get zero gradient.
    """
    h = token_entropy(logits)
    m = mask.bool()
    h = torch.where(m, h, torch.zeros_like(h))
    return coef * _token_mean(h, m, token_count)
