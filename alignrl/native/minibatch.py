"""The tensors of one policy update: padded mini-batches and their response-token log-probs.

Two layouts compute the same numbers: right-padded prompt+response rows (any model), or each group's
prompt once with its responses attending to it (:func:`alignrl.native.decode.shared_prefix_logits`, Llama /
Qwen2). Used by :mod:`alignrl.native.grpo`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from alignrl.native.decode import shared_prefix_logits
from alignrl.native.sampling import left_pad

__all__ = ["Batch", "make_batch", "make_shared_batch", "response_logits", "token_logp"]


@dataclass
class Batch:
    """A mini-batch; response tokens are ``targets[mask]``.

    Either right-padded prompt+response rows (``input_ids`` .. ``keep``; any model), or, when
    ``group_size`` is set, each distinct prompt once (``prompt_ids``, left-padded) and its ``group_size``
    responses (``targets``, right-padded), for :func:`alignrl.native.decode.shared_prefix_logits`.
    """

    input_ids: torch.Tensor | None  # [B, T]
    attention_mask: torch.Tensor | None  # [B, T]
    position_ids: torch.Tensor | None  # [B, T]
    keep: int  # logits_to_keep: the last ``keep`` positions cover every response token's predictor
    targets: torch.Tensor  # [B, keep - 1] (shared: [B, Lr])
    mask: torch.Tensor  # same shape as targets, float, 1 on response tokens
    advantages: torch.Tensor  # [B]
    old_logp: torch.Tensor | None = None
    prompt_ids: torch.Tensor | None = None  # [P, Lp] shared layout only
    prompt_mask: torch.Tensor | None = None  # [P, Lp]
    group_size: int | None = None


def make_batch(seqs: Sequence[tuple[list[int], list[int], float]], pad_id: int) -> Batch:
    """``seqs``: (prompt ids, response ids, advantage) per row."""
    lengths = [len(p) + len(r) for p, r, _ in seqs]
    total = max(lengths)
    first = min(len(p) for p, _, _ in seqs) - 1  # first position whose logits predict a response token
    ids = torch.full((len(seqs), total), pad_id, dtype=torch.long)
    attn = torch.zeros((len(seqs), total), dtype=torch.long)
    mask = torch.zeros((len(seqs), total - 1 - first), dtype=torch.float32)
    for i, (p, r, _) in enumerate(seqs):
        ids[i, : lengths[i]] = torch.tensor(p + r, dtype=torch.long)
        attn[i, : lengths[i]] = 1
        # logit position t predicts token t+1; response tokens sit at len(p) .. len(p)+len(r)-1
        mask[i, len(p) - 1 - first : len(p) - 1 - first + len(r)] = 1.0
    return Batch(
        input_ids=ids,
        attention_mask=attn,
        position_ids=torch.arange(total).expand(len(seqs), total),
        keep=total - first,
        targets=ids[:, first + 1 :],
        mask=mask,
        advantages=torch.tensor([a for _, _, a in seqs], dtype=torch.float32),
    )


def make_shared_batch(groups: Sequence[tuple[list[int], list[list[int]], list[float]]], pad_id: int) -> Batch:
    """``groups``: (prompt ids, its responses, their advantages), every group with the same number of
    responses; the layout of :func:`alignrl.native.decode.shared_prefix_logits`."""
    size = len(groups[0][1])
    if any(len(r) != size or len(a) != size for _, r, a in groups):
        raise ValueError("every group of a shared-prefix batch needs the same number of responses")
    responses = [r for _, rs, _ in groups for r in rs]
    length = max(1, max(len(r) for r in responses))
    prompt_ids, prompt_mask = left_pad([list(p) for p, _, _ in groups], pad_id)
    targets = torch.full((len(responses), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(responses), length), dtype=torch.float32)
    for i, r in enumerate(responses):
        targets[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1.0
    return Batch(
        input_ids=None, attention_mask=None, position_ids=None, keep=length + 1, targets=targets, mask=mask,
        advantages=torch.tensor([a for _, _, advs in groups for a in advs], dtype=torch.float32),
        prompt_ids=prompt_ids, prompt_mask=prompt_mask, group_size=size,
    )


def response_logits(model: torch.nn.Module, batch: Batch, temperature: float) -> torch.Tensor:
    """Logits [B, keep-1, V] at the positions that predict response tokens (and the pads around them)."""
    if batch.group_size is not None:
        logits = shared_prefix_logits(model, batch.prompt_ids, batch.prompt_mask, batch.targets,
                                      batch.group_size).float()
        return logits / temperature if temperature != 1.0 else logits
    out = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        logits_to_keep=batch.keep,
        use_cache=False,
    )
    logits = out.logits[:, :-1].float()
    return logits / temperature if temperature != 1.0 else logits


def token_logp(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
