"""Semantics of the advantage estimators and losses (small tensors, CPU, autograd)."""

from __future__ import annotations

import math

import pytest
import torch

from alignrl.claims.objectives import (
    ADVANTAGES,
    compute_advantages,
    entropy_loss,
    policy_loss,
    register_advantage,
    token_entropy,
)

torch.set_num_threads(1)

R = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
C = torch.tensor([True, False, True, False, False, True])


# ----------------------------------------------------------------------------- advantages


def test_registry_names_and_unknown() -> None:
    expected = {"grpo", "grpo_psr_masked", "grpo_nsr_masked"}
    expected |= {"reinforce_psr", "reinforce_nsr", "w_reinforce"}
    assert expected <= set(ADVANTAGES)
    with pytest.raises(KeyError, match="grpo"):
        compute_advantages("no_such_estimator", R, C)
    with pytest.raises(ValueError):
        register_advantage("grpo", reads_correctness=False)(lambda r, c, eps=1e-6: r)


def test_grpo_sums_to_zero_and_uses_unbiased_std() -> None:
    r = torch.tensor([0.3, 1.0, 0.0, 0.7, 0.2])
    adv = compute_advantages("grpo", r, torch.zeros(5, dtype=torch.bool))
    assert abs(float(adv.sum())) < 1e-6
    mean = sum(r.tolist()) / 5
    std = math.sqrt(sum((x - mean) ** 2 for x in r.tolist()) / 4)  # Bessel
    expected = [(x - mean) / (std + 1e-6) for x in r.tolist()]
    assert adv.tolist() == pytest.approx(expected, rel=1e-5)
    # higher reward -> higher advantage
    assert torch.equal(torch.argsort(adv), torch.argsort(r))


@pytest.mark.parametrize("value", [0.0, 1.0, 0.1, -0.37])
def test_grpo_uniform_group_is_exactly_zero(value: float) -> None:
    for name in ("grpo", "grpo_psr_masked", "grpo_nsr_masked"):
        adv = compute_advantages(name, torch.full((7,), value), C[:1].repeat(7))
        assert torch.count_nonzero(adv) == 0, name
    assert torch.count_nonzero(compute_advantages("grpo", torch.tensor([1.0]), C[:1])) == 0


def test_masked_grpo_conventions() -> None:
    # the training reward (here: random-like) differs from true correctness on purpose
    rewards = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    grpo = compute_advantages("grpo", rewards, C)
    psr = compute_advantages("grpo_psr_masked", rewards, C)
    nsr = compute_advantages("grpo_nsr_masked", rewards, C)
    assert torch.all(psr[~C] == 0) and torch.equal(psr[C], grpo[C])
    assert torch.all(nsr[C] == 0) and torch.equal(nsr[~C], grpo[~C])
    assert torch.count_nonzero(psr) > 0 and torch.count_nonzero(nsr) > 0


def test_reinforce_conventions() -> None:
    assert compute_advantages("reinforce_psr", R, C).tolist() == [1, 0, 1, 0, 0, 1]
    assert compute_advantages("reinforce_nsr", R, C).tolist() == [0, -1, 0, -1, -1, 0]
    w = compute_advantages("w_reinforce", R, C)
    assert w.tolist() == pytest.approx([0.1, -1, 0.1, -1, -1, 0.1])
    w5 = compute_advantages("w_reinforce", R, C, lam=0.5)
    assert w5.tolist() == pytest.approx([0.5, -1, 0.5, -1, -1, 0.5])
    # REINFORCE-style estimators read true correctness, not the training reward
    assert torch.equal(
        compute_advantages("reinforce_psr", torch.zeros(6), C),
        compute_advantages("reinforce_psr", torch.ones(6), C),
    )


def _grad_of_logp(adv: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Gradient of the policy loss wrt per-token log-probs of a [G, 5] batch."""
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(adv.shape[0], 5, generator=g) * 3
    logp = (old + 0.05 * torch.randn(old.shape, generator=g)).requires_grad_(True)
    mask = torch.ones_like(old, dtype=torch.bool)
    loss, _ = policy_loss(logp, old, adv, mask)
    loss.backward()
    assert logp.grad is not None
    return logp.grad


@pytest.mark.parametrize("rewards", [R, torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])])
def test_nsr_psr_exact_zero_gradients(rewards: torch.Tensor) -> None:
    for name in ("grpo_nsr_masked", "reinforce_nsr"):
        grad = _grad_of_logp(compute_advantages(name, rewards, C))
        assert torch.all(grad[C] == 0), name  # exactly zero, correct samples do not move
        assert torch.all(grad[~C] != 0), name
    for name in ("grpo_psr_masked", "reinforce_psr"):
        grad = _grad_of_logp(compute_advantages(name, rewards, C))
        assert torch.all(grad[~C] == 0), name
        assert torch.all(grad[C] != 0), name


def test_w_reinforce_positive_term_scaled_by_lambda() -> None:
    # ratio == 1 everywhere: gradient of -A * ratio / N wrt logp is exactly -A / N
    old = torch.full((6, 4), -1.0)
    logp = old.clone().requires_grad_(True)
    adv = compute_advantages("w_reinforce", R, C)
    loss, _ = policy_loss(logp, old, adv, torch.ones(6, 4, dtype=torch.bool))
    loss.backward()
    n = 24
    assert logp.grad[C].flatten().tolist() == pytest.approx([-0.1 / n] * 12)
    assert logp.grad[~C].flatten().tolist() == pytest.approx([1.0 / n] * 12)
    ratio = logp.grad[C].abs().mean() / logp.grad[~C].abs().mean()
    assert float(ratio) == pytest.approx(0.1)


# ----------------------------------------------------------------------------- policy loss


def test_policy_loss_hand_computed() -> None:
    old = torch.zeros(2, 3)
    # ratios: row 0 = [1.1, 1.5, 0.5] (A = +1), row 1 = [0.7, 1.2, 20] (A = -0.5)
    logp = torch.log(torch.tensor([[1.1, 1.5, 0.5], [0.7, 1.2, 20.0]])).requires_grad_(True)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    adv = torch.tensor([1.0, -0.5])
    loss, stats = policy_loss(logp, old, adv, mask)
    # row 0: max(-1.1, -1.1) = -1.1; max(-1.5, -1.28) = -1.28 (clipped); max(-0.5, -0.8) = -0.5
    # row 1: max(0.35, 0.4) = 0.4 (clipped); max(0.6, 0.6) = 0.6; third token masked
    expected = (-1.1 - 1.28 - 0.5 + 0.4 + 0.6) / 5
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert stats["clip_fraction"] == pytest.approx(2 / 5)
    assert stats["dual_clip_fraction"] == 0.0
    assert stats["ratio_mean"] == pytest.approx((1.1 + 1.5 + 0.5 + 0.7 + 1.2) / 5, rel=1e-5)
    kl = -sum(math.log(x) for x in (1.1, 1.5, 0.5, 0.7, 1.2)) / 5
    assert stats["approx_kl"] == pytest.approx(kl, rel=1e-5)
    loss.backward()
    g = logp.grad
    # d(-A r)/dlogp = -A r / N where unclipped, 0 where clipped
    assert g[0].tolist() == pytest.approx([-1.1 / 5, 0.0, -0.5 / 5], abs=1e-6)
    assert g[1].tolist() == pytest.approx([0.0, 0.5 * 1.2 / 5, 0.0], abs=1e-6)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_clipping_active_only_outside_range(sign: float) -> None:
    ratios = torch.tensor([0.5, 0.79, 0.81, 1.0, 1.27, 1.29, 1.6])
    logp = torch.log(ratios).unsqueeze(0).requires_grad_(True)
    old = torch.zeros_like(logp)
    mask = torch.ones_like(logp, dtype=torch.bool)
    loss, stats = policy_loss(logp, old, torch.tensor([sign]), mask, dual_clip=None)
    loss.backward()
    zero = (logp.grad[0] == 0).tolist()
    if sign > 0:  # A > 0: only ratio > 1 + 0.28 is clipped (no gradient)
        assert zero == [False, False, False, False, False, True, True]
    else:  # A < 0: only ratio < 1 - 0.2 is clipped
        assert zero == [True, True, False, False, False, False, False]
    assert stats["clip_fraction"] == pytest.approx(2 / 7)


def test_dual_clip_caps_negative_advantage_loss() -> None:
    ratios = torch.tensor([[1.0, 5.0, 12.0, 100.0]])
    logp = torch.log(ratios).requires_grad_(True)
    old = torch.zeros_like(logp)
    mask = torch.ones_like(logp, dtype=torch.bool)
    a = -0.5
    loss, stats = policy_loss(logp, old, torch.tensor([a]), mask, dual_clip=10.0)
    # per token -A*ratio = 0.5 * r, capped at 10 * |A| = 5
    assert loss.item() == pytest.approx((0.5 + 2.5 + 5.0 + 5.0) / 4, rel=1e-6)
    assert stats["dual_clip_fraction"] == pytest.approx(2 / 4)
    loss.backward()
    assert logp.grad[0, 2:].tolist() == [0.0, 0.0]  # capped tokens do not push further
    assert torch.all(logp.grad[0, :2] > 0)
    # without dual clip the loss is unbounded
    loss_nodc, _ = policy_loss(torch.log(ratios), old, torch.tensor([a]), mask, dual_clip=None)
    assert loss_nodc.item() == pytest.approx((0.5 + 2.5 + 6.0 + 50.0) / 4, rel=1e-6)
    # positive advantages are not affected by the dual clip
    lp, _ = policy_loss(torch.log(ratios), old, torch.tensor([0.5]), mask, dual_clip=10.0)
    lp2, _ = policy_loss(torch.log(ratios), old, torch.tensor([0.5]), mask, dual_clip=None)
    assert lp.item() == lp2.item()


def test_masked_tokens_zero_gradient_even_with_inf() -> None:
    old = torch.tensor([[-1.0, -2.0, 0.0], [-0.5, 0.0, 0.0]])
    logp = torch.tensor([[-1.1, -1.9, -float("inf")], [-0.4, float("nan"), 50.0]])
    logp.requires_grad_(True)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    loss, stats = policy_loss(logp, old, torch.tensor([1.0, -1.0]), mask)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.all(logp.grad[~mask] == 0)
    assert torch.all(logp.grad[mask] != 0)
    assert all(math.isfinite(v) for v in stats.values())


def test_token_mean_not_sequence_mean() -> None:
    # lengths 1 and 3; ratio 1 so the loss is the token mean of -A
    old = torch.zeros(2, 3)
    mask = torch.tensor([[1, 0, 0], [1, 1, 1]], dtype=torch.bool)
    adv = torch.tensor([4.0, 0.0])
    loss, _ = policy_loss(old.clone(), old, adv, mask)
    assert loss.item() == pytest.approx(-4.0 / 4)  # token mean; a sequence mean would give -2.0
    # per-token advantages [B, T] give the same as broadcast [B]
    loss2, _ = policy_loss(old.clone(), old, adv.unsqueeze(-1).expand(2, 3), mask)
    assert loss2.item() == loss.item()
    # micro-batching with the global token count reproduces the mini-batch token mean
    la, _ = policy_loss(old[:1].clone(), old[:1], adv[:1], mask[:1], token_count=4)
    lb, _ = policy_loss(old[1:].clone(), old[1:], adv[1:], mask[1:], token_count=4)
    assert (la + lb).item() == pytest.approx(loss.item())


def test_all_masked_is_zero_not_nan() -> None:
    logp = torch.zeros(2, 3, requires_grad=True)
    mask = torch.zeros(2, 3, dtype=torch.bool)
    loss, stats = policy_loss(logp, torch.zeros(2, 3), torch.ones(2), mask)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(logp.grad == 0)


# ----------------------------------------------------------------------------- entropy


def test_token_entropy_values_and_stability() -> None:
    v = 7
    uniform = torch.zeros(v)
    assert float(token_entropy(uniform)) == pytest.approx(math.log(v), rel=1e-6)
    peaked = torch.tensor([1000.0, 0.0, 0.0])
    assert float(token_entropy(peaked)) == pytest.approx(0.0, abs=1e-6)
    banned = torch.tensor([0.0, 0.0, -float("inf")])
    assert float(token_entropy(banned)) == pytest.approx(math.log(2), rel=1e-6)
    big = torch.tensor([1e4, 1e4 - 1.0])
    p = torch.softmax(torch.tensor([1.0, 0.0], dtype=torch.float64), 0)
    assert float(token_entropy(big)) == pytest.approx(float(-(p * p.log()).sum()), rel=1e-5)


def test_entropy_loss_token_mean_and_minimises() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, generator=g).requires_grad_(True)
    mask = torch.tensor([[1, 0, 0], [1, 1, 1]], dtype=torch.bool)
    loss = entropy_loss(logits, mask, coef=0.5)
    h = token_entropy(logits.detach())
    assert loss.item() == pytest.approx(0.5 * float(h[mask].mean()), rel=1e-6)
    loss.backward()
    assert torch.all(logits.grad[~mask] == 0)
    # a gradient step on the loss lowers the entropy
    with torch.no_grad():
        stepped = logits - 1.0 * logits.grad
    assert float(token_entropy(stepped)[mask].mean()) < float(h[mask].mean())
