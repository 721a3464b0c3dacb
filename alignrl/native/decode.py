"""A lean one-token decode step for the tiny Llama / Qwen2 models, reading HF's weights in place.

Why: on CPU the models are so small (hidden 128, 4 layers) that one decode step through the Hugging Face
module tree costs ~3 ms of Python and dispatch overhead, as much as the arithmetic of a 256-row batch.
The step below does the same maths with fewer, larger operations: q/k/v as one matrix product and
gate/up as another (the weights are concatenated once), rotary embeddings from a table the model's own
rotary module computed, attention as batched products (grouped-query heads are handled by reshaping the
queries, never by copying keys), and logits for the new position only.

Attention reads the KV cache, and at 256 rows x ~100 positions that read is bound by memory bandwidth
(half the sampling time in the profile). Rows that continue the same prompt (the ``n`` samples of one
problem) share the prompt's keys and values: they are computed once per prompt (prefill of the distinct
prompts only) and the prompt part of the scores is one small matrix product per prompt, with that
prompt's rows as its query rows, so the prompt's cache is read once per prompt instead of once per row.
The generated part is per row. Scores of both parts go through one softmax, so this is exact attention.

It is the same function as the model's forward, not an approximation: ``tests/test_sampling.py`` checks
its logits against a full forward of the HF model (to ~1e-5; the order of floating-point additions
differs) and greedy decoding against ``model.generate``. Models it does not cover (other architectures,
sliding windows, rope scaling, non-SiLU activations) keep the HF forward: :func:`supports` decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["LeanDecoder", "PrefixCache", "supports"]

_ARCHS = ("llama", "qwen2")


def supports(model: torch.nn.Module) -> bool:
    """True when :class:`LeanDecoder` computes exactly what ``model`` computes for one new token."""
    cfg = getattr(model, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) not in _ARCHS:
        return False
    if getattr(cfg, "hidden_act", "silu") != "silu":
        return False
    if any(t != "full_attention" for t in (getattr(cfg, "layer_types", None) or [])):
        return False
    if getattr(cfg, "use_sliding_window", False):
        return False
    rope = getattr(cfg, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        return False
    if getattr(cfg, "mlp_bias", False):
        return False
    inner = getattr(model, "model", None)
    return inner is not None and hasattr(inner, "rotary_emb") and hasattr(inner, "layers")


class _Layer:
    __slots__ = ("ln1", "eps1", "wqkv", "bqkv", "wo", "bo", "ln2", "eps2", "wgu", "wdown")


class LeanDecoder:
    """Weights of one model arranged for :meth:`step`; build it once per ``sample`` call.

    The concatenated matrices are copies (a few hundred KB for these models); the other tensors are the
    model's own parameters, so the decoder must be rebuilt after the weights change.
    """

    def __init__(self, model: torch.nn.Module, max_positions: int) -> None:
        if not supports(model):
            raise ValueError("LeanDecoder supports plain full-attention Llama / Qwen2 models only")
        cfg = model.config
        inner = model.model
        self.heads = cfg.num_attention_heads
        self.kv_heads = getattr(cfg, "num_key_value_heads", None) or self.heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads
        self.group = self.heads // self.kv_heads
        self.scale = self.head_dim ** -0.5
        self.embed = inner.embed_tokens.weight
        self.layers: list[_Layer] = []
        with torch.no_grad():
            for block in inner.layers:
                att, mlp = block.self_attn, block.mlp
                layer = _Layer()
                layer.ln1, layer.eps1 = block.input_layernorm.weight, block.input_layernorm.variance_epsilon
                layer.ln2 = block.post_attention_layernorm.weight
                layer.eps2 = block.post_attention_layernorm.variance_epsilon
                layer.wqkv = torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight], dim=0)
                biases = [att.q_proj.bias, att.k_proj.bias, att.v_proj.bias]
                if all(b is None for b in biases):
                    layer.bqkv = None
                else:
                    layer.bqkv = torch.cat([
                        b if b is not None else torch.zeros(p.weight.shape[0], dtype=p.weight.dtype)
                        for b, p in zip(biases, (att.q_proj, att.k_proj, att.v_proj))
                    ])
                layer.wo, layer.bo = att.o_proj.weight, att.o_proj.bias
                layer.wgu = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight], dim=0)
                layer.wdown = mlp.down_proj.weight
                self.layers.append(layer)
            self.norm, self.norm_eps = inner.norm.weight, inner.norm.variance_epsilon
            self.lm_head = model.lm_head.weight
            # the model's own rotary module computes the table, so the angles are bit-identical to HF's
            positions = torch.arange(max_positions, device=self.embed.device).unsqueeze(0)
            probe = torch.zeros(1, 1, self.head_dim, dtype=self.embed.dtype, device=self.embed.device)
            cos, sin = inner.rotary_emb(probe, positions)
            self.cos, self.sin = cos[0].contiguous(), sin[0].contiguous()  # [max_positions, head_dim]
        self.q_size = self.heads * self.head_dim
        self.kv_size = self.kv_heads * self.head_dim
        self.inter = mlp.gate_proj.weight.shape[0]

    @staticmethod
    def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        # the same operations, in the same order, as Llama/Qwen2 RMSNorm (float32 throughout here)
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def _rope(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = self.head_dim // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rotated * sin

    def step(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor,
        column: int,
        prefix: PrefixCache,
        group: torch.Tensor,
        slot: torch.Tensor,
        slots: int,
        gen_keys: list[torch.Tensor],
        gen_values: list[torch.Tensor],
    ) -> torch.Tensor:
        """Logits [B, V] for one new token per row.

        Row ``b`` continues prompt ``group[b]`` of ``prefix`` (shared by every row of that prompt: its keys
        and values are stored and read once per prompt, not once per row) and is sample ``slot[b] <
        slots`` of it. ``gen_keys[l]``/``gen_values[l]``: the layer's cache of generated tokens [B,
        kv_heads, capacity, head_dim], written in place at ``column`` and read up to it.
        """
        batch, prompts = tokens.shape[0], prefix.bias.shape[0]
        kvh, grp, dim = self.kv_heads, self.group, self.head_dim
        end = column + 1
        h = F.embedding(tokens, self.embed)
        cos = self.cos[positions].unsqueeze(1)  # [B, 1, D]
        sin = self.sin[positions].unsqueeze(1)
        prefix_bias = prefix.bias[group][:, None, None, :]  # [B, 1, 1, Lp]
        width = prefix_bias.shape[-1]
        for layer, pk, pv, gk, gv in zip(self.layers, prefix.keys, prefix.values, gen_keys, gen_values):
            x = self._rms(h, layer.ln1, layer.eps1)
            qkv = F.linear(x, layer.wqkv, layer.bqkv)
            q = qkv[:, : self.q_size].view(batch, self.heads, dim)
            k = qkv[:, self.q_size : self.q_size + self.kv_size].view(batch, kvh, dim)
            gv[:, :, column] = qkv[:, self.q_size + self.kv_size :].view(batch, kvh, dim)
            gk[:, :, column] = self._rope(k, cos, sin)
            q = self._rope(q, cos, sin).view(batch, kvh, grp, dim)
            # prompt part: the queries of one prompt's rows side by side, one matrix product per prompt
            grouped = q.new_zeros(prompts, kvh, slots, grp, dim)
            grouped[group, :, slot] = q
            s_prefix = torch.matmul(grouped.view(prompts, kvh, slots * grp, dim), pk.transpose(-1, -2))
            s_prefix = s_prefix.view(prompts, kvh, slots, grp, width)[group, :, slot]  # [B, kvh, grp, Lp]
            s_gen = torch.matmul(q, gk[:, :, :end].transpose(-1, -2))  # [B, kvh, grp, end]
            scores = torch.cat([s_prefix.mul_(self.scale).add_(prefix_bias), s_gen.mul_(self.scale)], dim=-1)
            probs = torch.softmax(scores, dim=-1)
            p_prefix = probs.new_zeros(prompts, kvh, slots, grp, width)
            p_prefix[group, :, slot] = probs[..., :width]
            out = torch.matmul(p_prefix.view(prompts, kvh, slots * grp, width), pv)
            out = out.view(prompts, kvh, slots, grp, dim)[group, :, slot]
            out = out + torch.matmul(probs[..., width:], gv[:, :, :end])
            h = h + F.linear(out.reshape(batch, self.q_size), layer.wo, layer.bo)
            x = self._rms(h, layer.ln2, layer.eps2)
            gate, up = F.linear(x, layer.wgu).split(self.inter, dim=-1)
            h = h + F.linear(F.silu(gate).mul_(up), layer.wdown)
        return F.linear(self._rms(h, self.norm, self.norm_eps), self.lm_head)


@dataclass
class PrefixCache:
    """The prompts' keys and values (one entry per distinct prompt) and their padding bias.

    ``keys[l]``/``values[l]``: [P, kv_heads, Lp, head_dim] for left-padded prompts of width ``Lp``;
    ``bias``: [P, Lp], 0 on prompt tokens and -inf on padding.
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    bias: torch.Tensor


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def _share_kv(x: torch.Tensor, grp: int) -> torch.Tensor:
    """Key/value heads repeated for grouped-query attention; the tensor itself when every head has its own
    (a repeat of 1 would still copy it, forward and backward)."""
    return x if grp == 1 else x.repeat_interleave(grp, 1)


def shared_prefix_logits(
    model: torch.nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    response_ids: torch.Tensor,
    group_size: int,
) -> torch.Tensor:
    """Training forward of ``G = group_size`` responses per prompt, each prompt computed once.

    ``prompt_ids``/``prompt_mask``: [P, Lp], left-padded; ``response_ids``: [P * G, Lr], right-padded,
    rows ``g * G .. g * G + G - 1`` continuing prompt ``g``. Returns logits [P * G, Lr, V]: position
    ``j`` is the distribution of response token ``j`` (from the prompt's last position for ``j = 0``).
    The same function as the model's forward over each concatenated prompt + response (and differentiable
    like it), with the prompt's tokens run once per prompt instead of once per response: in an RL
    mini-batch of 16 samples per prompt the prompts are ~40% of the tokens of every row.
    """
    if not supports(model):
        raise ValueError("shared_prefix_logits supports plain full-attention Llama / Qwen2 models only")
    cfg, inner = model.config, model.model
    prompts, width = prompt_ids.shape
    rows, length = response_ids.shape
    if rows != prompts * group_size:
        raise ValueError(f"{rows} response rows for {prompts} prompts x group_size {group_size}")
    heads = cfg.num_attention_heads
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    grp, scale = heads // kv_heads, dim ** -0.5
    device = prompt_ids.device

    valid = prompt_mask.bool()
    prompt_pos = (prompt_mask.cumsum(1) - 1).clamp(min=0)
    prompt_len = prompt_mask.sum(1)
    resp_pos = prompt_len.repeat_interleave(group_size).unsqueeze(1) + torch.arange(length, device=device)
    hp = inner.embed_tokens(prompt_ids)
    hr = inner.embed_tokens(response_ids)
    cos_p, sin_p = (t.unsqueeze(1) for t in inner.rotary_emb(hp, prompt_pos))  # [P, 1, Lp, D]
    cos_r, sin_r = (t.unsqueeze(1) for t in inner.rotary_emb(hr, resp_pos))  # [B, 1, Lr, D]
    causal_p = torch.ones(width, width, dtype=torch.bool, device=device).tril()
    # a padding query sees only itself (its output is never used; this keeps it finite)
    mask_p = (causal_p & valid[:, None, :]) | torch.eye(width, dtype=torch.bool, device=device)
    mask_p = mask_p.unsqueeze(1)  # [P, 1, Lp, Lp]
    bias_prefix = torch.zeros(prompts, width, dtype=hp.dtype, device=device).masked_fill(~valid, float("-inf"))
    bias_prefix = bias_prefix[:, None, None, None, None, :]  # [P, 1, 1, 1, 1, Lp]
    bias_self = torch.zeros(length, length, dtype=hp.dtype, device=device).masked_fill(
        ~torch.ones(length, length, dtype=torch.bool, device=device).tril(), float("-inf"))

    for block in inner.layers:
        att = block.self_attn
        # ---- prompts: plain causal attention over the left-padded prompt
        x = block.input_layernorm(hp)
        q = att.q_proj(x).view(prompts, width, heads, dim).transpose(1, 2)
        k = att.k_proj(x).view(prompts, width, kv_heads, dim).transpose(1, 2)
        vp = att.v_proj(x).view(prompts, width, kv_heads, dim).transpose(1, 2)
        q, kp = _rotate(q, cos_p, sin_p), _rotate(k, cos_p, sin_p)
        out = F.scaled_dot_product_attention(q, _share_kv(kp, grp), _share_kv(vp, grp),
                                             attn_mask=mask_p, scale=scale)
        hp = hp + att.o_proj(out.transpose(1, 2).reshape(prompts, width, heads * dim))
        hp = hp + block.mlp(block.post_attention_layernorm(hp))
        # ---- responses: attend to their prompt's keys (one product per prompt) and causally to themselves
        x = block.input_layernorm(hr)
        q = _rotate(att.q_proj(x).view(rows, length, heads, dim).transpose(1, 2), cos_r, sin_r)
        k = _rotate(att.k_proj(x).view(rows, length, kv_heads, dim).transpose(1, 2), cos_r, sin_r)
        v = att.v_proj(x).view(rows, length, kv_heads, dim).transpose(1, 2)
        # [B, H, Lr, D] -> [P, kvh, G * grp * Lr, D]: a prompt's rows become one matrix of queries
        qg = q.reshape(prompts, group_size, kv_heads, grp, length, dim).transpose(1, 2)
        qg = qg.reshape(prompts, kv_heads, group_size * grp * length, dim)
        s_prefix = torch.matmul(qg, kp.transpose(-1, -2)) * scale
        s_prefix = s_prefix.view(prompts, kv_heads, group_size, grp, length, width) + bias_prefix
        s_prefix = s_prefix.transpose(1, 2).reshape(rows, heads, length, width)
        s_self = torch.matmul(q, _share_kv(k, grp).transpose(-1, -2)) * scale + bias_self
        probs = torch.softmax(torch.cat([s_prefix, s_self], dim=-1), dim=-1)
        pp = probs[..., :width].reshape(prompts, group_size, kv_heads, grp, length, width).transpose(1, 2)
        out = torch.matmul(pp.reshape(prompts, kv_heads, group_size * grp * length, width), vp)
        out = out.view(prompts, kv_heads, group_size, grp, length, dim).transpose(1, 2)
        out = out.reshape(rows, heads, length, dim)
        out = out + torch.matmul(probs[..., width:], _share_kv(v, grp))
        hr = hr + att.o_proj(out.transpose(1, 2).reshape(rows, length, heads * dim))
        hr = hr + block.mlp(block.post_attention_layernorm(hr))

    # position j predicts response token j: the prompt's last position, then response positions 0..Lr-2
    h = torch.cat([hp[:, -1:].repeat_interleave(group_size, 0), hr[:, :-1]], dim=1)
    return model.lm_head(inner.norm(h))
