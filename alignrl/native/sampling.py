"""Batched autoregressive sampling with a KV cache for small causal LMs.

One sampler serves evaluation (pass@k of base models and checkpoints) and the RL rollouts, so both see
exactly the same decoding. Design points:

* Prompts are left-padded; ``position_ids = cumsum(mask) - 1`` so a padded prompt sees the same
  positions as the unpadded one.
* Rows are grouped by prompt length to keep padding small; completions come back ordered by
  ``(prompt_index, sample_index)`` whatever the internal order.
* Randomness is drawn per row: ``generator`` yields one seed per prompt, each row
  ``(prompt_index, sample_index)`` derives its own stream of uniforms from it, and a token is chosen by
  inverse-CDF lookup with that row's uniform for the step. Results therefore do not depend on
  ``batch_size`` or on which rows share a batch, up to floating-point ties (different padding can change
  logits in the last bits, which flips a token only when a uniform lands within ~1e-7 of a CDF boundary
  or two greedy logits tie).
* Finished rows are dropped from the batch (and from the cache), so a row that stopped costs nothing
  (the lean path drops them once they are a quarter of the batch: each drop copies the cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from alignrl.native.decode import LeanDecoder, PrefixCache, supports

__all__ = ["Completion", "sample"]

_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class Completion:
    """One sampled continuation of one prompt.

    ``token_ids`` has no padding and ends with ``eos_id`` when the row finished. ``logprobs[i]`` is the
    log-probability of ``token_ids[i]`` under the model's own distribution (temperature 1, no top-p), the
    quantity an RL update uses as the "old" log-prob.
    """

    prompt_index: int
    sample_index: int
    token_ids: list[int]
    finished: bool
    logprobs: list[float] = field(default_factory=list)
    # entropy of the full sampling distribution (at the sampling temperature) at each position;
    # filled only when ``sample(..., with_entropy=True)``
    entropies: list[float] = field(default_factory=list)


def _row_seed(prompt_seed: int, sample_index: int) -> int:
    """SplitMix64 finaliser: a well-mixed 63-bit seed for one (prompt, sample) row."""
    z = (prompt_seed + (sample_index + 1) * 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> 1


class _PreallocatedLayer(DynamicLayer):
    """A full-attention KV-cache layer with storage for the whole generation allocated up front.

    HF's DynamicLayer concatenates on every step, re-copying the entire cache; on CPU that was ~30% of
    sampling time. Here each step writes into place and attention reads a view of the filled prefix.
    """

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        batch, heads, _, head_dim = key_states.shape
        self.device = key_states.device
        self._k = key_states.new_empty((batch, heads, self.capacity, head_dim))
        self._v = value_states.new_empty((batch, value_states.shape[1], self.capacity, value_states.shape[-1]))
        self.is_initialized = True

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object, **kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self.capacity:
            raise RuntimeError(f"KV cache overflow: {end} > capacity {self.capacity}")
        self._k[:, :, self.length : end] = key_states
        self._v[:, :, self.length : end] = value_states
        self.length = end
        self.keys, self.values = self._k[:, :, :end], self._v[:, :, :end]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self._k, self._v = self._k[indices], self._v[indices]
            self.keys, self.values = self._k[:, :, : self.length], self._v[:, :, : self.length]


def _plain_layers(cache: DynamicCache) -> bool:
    """Every layer of HF's default cache for this model is plain full attention."""
    return bool(cache.layers) and all(type(layer) is DynamicLayer for layer in cache.layers)


def _make_cache(model: torch.nn.Module, capacity: int) -> DynamicCache:
    """A cache with preallocated layers when every layer is plain full attention, else HF's default."""
    cache = DynamicCache(config=model.config)
    if _plain_layers(cache):
        cache.layers = [_PreallocatedLayer(capacity) for _ in cache.layers]
    return cache


def left_pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids [N, max len] left-padded with ``pad_id``, and the mask [N, max len] (1 on tokens)."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, seq in enumerate(seqs):
        ids[i, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
        mask[i, width - len(seq):] = 1
    return ids, mask


def _row_uniforms(seeds: list[int] | None, max_new_tokens: int, temperature: float,
                  device: torch.device) -> torch.Tensor | None:
    """Each row's uniforms for its ``max_new_tokens`` choices, from its own seed (None when greedy)."""
    if temperature <= 0.0:
        return None
    gen = torch.Generator()
    rows = []
    for seed in seeds:
        gen.manual_seed(seed)
        rows.append(torch.rand(max_new_tokens, generator=gen, dtype=torch.float64))
    return torch.stack(rows).to(device)


def _per_row(tokens: torch.Tensor, logprobs: torch.Tensor, lengths: torch.Tensor, finished: torch.Tensor,
             entropies: torch.Tensor | None) -> list[tuple[list[int], list[float], bool, list[float]]]:
    """(tokens, log-probs, finished, entropies) of each row, cut to its length."""
    tokens_l, logprobs_l = tokens.tolist(), logprobs.tolist()
    lengths_l, finished_l = lengths.tolist(), finished.tolist()
    entropies_l = entropies.tolist() if entropies is not None else [[] for _ in range(len(lengths_l))]
    return [
        (tokens_l[i][: lengths_l[i]], logprobs_l[i][: lengths_l[i]], finished_l[i], entropies_l[i][: lengths_l[i]])
        for i in range(len(lengths_l))
    ]


def _cache_is_preallocated(model: torch.nn.Module) -> bool:
    return _plain_layers(DynamicCache(config=model.config))


def _sample_lean_chunk(model, lean, prompt_ids, chunk, seeds, **kwargs):
    """:func:`_sample_batch_lean` on a chunk of (prompt, sample) rows: distinct prompts, group and slot."""
    index: dict[int, int] = {}
    counts: dict[int, int] = {}
    group, slot = [], []
    for p, _ in chunk:
        g = index.setdefault(p, len(index))
        group.append(g)
        slot.append(counts.get(p, 0))
        counts[p] = counts.get(p, 0) + 1
    prompts = [list(prompt_ids[p]) for p in index]
    return _sample_batch_lean(model, lean, prompts, group, slot, seeds, **kwargs)


def _top_p_filter(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero every token outside the smallest top set whose mass reaches ``top_p`` (HF's rule)."""
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    # The most likely token always survives because its mass_before is 0 < top_p.
    sorted_probs = sorted_probs.masked_fill(mass_before >= top_p, 0.0)
    return torch.zeros_like(probs).scatter(-1, order, sorted_probs)


def _entropy(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Entropy of softmax(logits / T) per row (T = 0: the T = 1 distribution, as the trainer's metric)."""
    scaled = logits.float() / temperature if temperature not in (0.0, 1.0) else logits.float()
    logp = torch.log_softmax(scaled, dim=-1)
    return -(logp.exp() * logp.masked_fill(torch.isneginf(logp), 0.0)).sum(dim=-1)


def _choose(
    logits: torch.Tensor, temperature: float, top_p: float, uniforms: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick one token per row; return (token ids, their log-probs at temperature 1)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    if temperature == 0.0:
        tokens = logits.argmax(dim=-1)
    else:
        # float64 so the CDF of a ~300-token vocabulary is exact enough for inverse-CDF lookup.
        probs = torch.softmax(logits.double() / temperature, dim=-1)
        if top_p < 1.0:
            probs = _top_p_filter(probs, top_p)
        cdf = probs.cumsum(dim=-1)
        target = uniforms.to(cdf.dtype).unsqueeze(1) * cdf[:, -1:]
        tokens = torch.searchsorted(cdf, target, right=True).squeeze(1)
        # u * total can round up to total; never step past the last token that has mass.
        vocab = probs.shape[-1]
        last_nonzero = vocab - 1 - (probs > 0).flip(-1).to(torch.int64).argmax(dim=-1)
        tokens = torch.minimum(tokens, last_nonzero)
    return tokens, logp.gather(-1, tokens.unsqueeze(1)).squeeze(1)


def _sample_batch(
    model: torch.nn.Module,
    prompts: list[list[int]],
    seeds: list[int] | None,
    *,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    eos_id: int | None,
    pad_id: int,
    device: torch.device,
    with_entropy: bool = False,
) -> list[tuple[list[int], list[float], bool, list[float]]]:
    """Sample one continuation for each prompt in one padded batch."""
    batch = len(prompts)
    input_ids, prompt_mask = left_pad(prompts, pad_id)
    prompt_len = input_ids.shape[1]
    # Every row still in the batch is unfinished, so all generated columns are attended to.
    attn = torch.cat([prompt_mask, torch.ones((batch, max_new_tokens), dtype=torch.long)], dim=1).to(device)
    position_ids = (prompt_mask.cumsum(dim=1) - 1).clamp(min=0).to(device)
    input_ids = input_ids.to(device)
    uniforms = _row_uniforms(seeds, max_new_tokens, temperature, device)

    tokens = torch.full((batch, max_new_tokens), pad_id, dtype=torch.long, device=device)
    logprobs = torch.zeros((batch, max_new_tokens), dtype=torch.float32, device=device)
    entropies = torch.zeros((batch, max_new_tokens), dtype=torch.float32, device=device) if with_entropy else None
    lengths = torch.full((batch,), max_new_tokens, dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    active = torch.arange(batch, device=device)  # original row of each slot still in the batch

    cache = _make_cache(model, prompt_len + max_new_tokens)
    out = model(
        input_ids=input_ids,
        attention_mask=attn[:, :prompt_len],
        position_ids=position_ids,
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    next_pos = position_ids[:, -1] + 1
    for step in range(max_new_tokens):
        logits = out.logits[:, -1, :]
        step_u = uniforms[active, step] if uniforms is not None else None
        chosen, chosen_lp = _choose(logits, temperature, top_p, step_u)
        tokens[active, step] = chosen
        logprobs[active, step] = chosen_lp
        if entropies is not None:
            entropies[active, step] = _entropy(logits, temperature)
        if eos_id is not None:
            done = chosen == eos_id
            if bool(done.any()):
                lengths[active[done]] = step + 1
                finished[active[done]] = True
                keep = (~done).nonzero().squeeze(1)
                if keep.numel() == 0:
                    break
                if step < max_new_tokens - 1:
                    cache.batch_select_indices(keep)
                    active, chosen, next_pos, attn = active[keep], chosen[keep], next_pos[keep], attn[keep]
        if step == max_new_tokens - 1:
            break
        out = model(
            input_ids=chosen.unsqueeze(1),
            attention_mask=attn[:, : prompt_len + step + 1],
            position_ids=next_pos.unsqueeze(1),
            cache=cache,
            use_cache=True,
        )
        next_pos = next_pos + 1

    return _per_row(tokens, logprobs, lengths, finished, entropies)


def _choose_and_record(
    logits: torch.Tensor, step: int, state: dict, temperature: float, top_p: float, eos_id: int | None,
) -> bool:
    """Choose the step's tokens for every slot and record them; return True once every row has finished.

    Finished rows may stay in the batch for a while (see ``_COMPACT_AT``): their entries past their
    length are written but never read, and only a live row's end-of-sequence counts.
    """
    active = state["active"]
    step_u = state["uniforms"][active, step] if state["uniforms"] is not None else None
    chosen, chosen_lp = _choose(logits, temperature, top_p, step_u)
    state["tokens"][active, step] = chosen
    state["logprobs"][active, step] = chosen_lp
    if state["entropies"] is not None:
        state["entropies"][active, step] = _entropy(logits, temperature)
    state["chosen"] = chosen
    if eos_id is None:
        return False
    done = (chosen == eos_id) & state["live"]
    if bool(done.any()):
        rows = active[done]
        state["lengths"][rows] = step + 1
        state["finished"][rows] = True
        state["live"] = state["live"] & ~done
        state["dead"] += int(done.sum())
    return state["dead"] == len(active)


# Finished rows leave the batch once they are this fraction of it. Dropping them at once costs a copy
# of every layer's generated-token cache each time any row finishes (a fifth of the sampling time in the
# profile); keeping them costs their share of the next steps' arithmetic. Each row's numbers do not
# depend on which other rows share its batch, so this changes only the speed.
_COMPACT_AT = 0.25


def _sample_batch_lean(
    model: torch.nn.Module,
    lean: LeanDecoder,
    prompts: list[list[int]],
    group: list[int],
    slot: list[int],
    seeds: list[int] | None,
    *,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    eos_id: int | None,
    pad_id: int,
    device: torch.device,
    with_entropy: bool = False,
) -> list[tuple[list[int], list[float], bool, list[float]]]:
    """Sample one continuation for each row; row ``i`` continues ``prompts[group[i]]``.

    The distinct prompts go through the model's own forward once each (prefill); every new token goes
    through ``lean`` (:class:`alignrl.native.decode.LeanDecoder`), which reads each prompt's keys and values
    once for all of its rows. Same choices, uniforms and bookkeeping as :func:`_sample_batch`.
    """
    batch, num_prompts = len(group), len(prompts)
    input_ids, prompt_mask = left_pad(prompts, pad_id)
    prompt_len = input_ids.shape[1]
    position_ids = (prompt_mask.cumsum(dim=1) - 1).clamp(min=0).to(device)
    prompt_mask, input_ids = prompt_mask.to(device), input_ids.to(device)

    state = {
        "uniforms": _row_uniforms(seeds, max_new_tokens, temperature, device),
        "tokens": torch.full((batch, max_new_tokens), pad_id, dtype=torch.long, device=device),
        "logprobs": torch.zeros((batch, max_new_tokens), dtype=torch.float32, device=device),
        "entropies": torch.zeros((batch, max_new_tokens), dtype=torch.float32, device=device)
        if with_entropy else None,
        "lengths": torch.full((batch,), max_new_tokens, dtype=torch.long, device=device),
        "finished": torch.zeros(batch, dtype=torch.bool, device=device),
        "active": torch.arange(batch, device=device),  # original row of each slot still in the batch
        "live": torch.ones(batch, dtype=torch.bool, device=device),  # slot's row has not finished
        "dead": 0,  # finished rows still in the batch
    }

    cache = _make_cache(model, prompt_len)
    out = model(
        input_ids=input_ids, attention_mask=prompt_mask, position_ids=position_ids, cache=cache,
        use_cache=True, logits_to_keep=1,
    )
    bias = torch.zeros((num_prompts, prompt_len), dtype=torch.float32, device=device)
    bias.masked_fill_(prompt_mask == 0, float("-inf"))
    prefix = PrefixCache(keys=[layer._k for layer in cache.layers], values=[layer._v for layer in cache.layers],
                         bias=bias)
    group_t = torch.tensor(group, dtype=torch.long, device=device)
    slot_t = torch.tensor(slot, dtype=torch.long, device=device)
    slots = max(slot) + 1
    shape = (batch, lean.kv_heads, max_new_tokens, lean.head_dim)
    gen_keys = [prefix.keys[0].new_empty(shape) for _ in prefix.keys]
    gen_values = [prefix.keys[0].new_empty(shape) for _ in prefix.keys]
    logits = out.logits[:, -1, :][group_t]
    next_pos = (position_ids[:, -1] + 1)[group_t]
    for step in range(max_new_tokens):
        if _choose_and_record(logits, step, state, temperature, top_p, eos_id) or step == max_new_tokens - 1:
            break
        chosen = state["chosen"]
        if state["dead"] and state["dead"] >= _COMPACT_AT * len(state["active"]):
            keep = state["live"].nonzero().squeeze(1)
            state["active"], state["live"], state["dead"] = state["active"][keep], state["live"][keep], 0
            chosen, next_pos, group_t, slot_t = chosen[keep], next_pos[keep], group_t[keep], slot_t[keep]
            gen_keys = [k[keep] for k in gen_keys]
            gen_values = [v[keep] for v in gen_values]
        logits = lean.step(chosen, next_pos, step, prefix, group_t, slot_t, slots, gen_keys, gen_values)
        next_pos = next_pos + 1

    return _per_row(state["tokens"], state["logprobs"], state["lengths"], state["finished"], state["entropies"])


def sample(
    model: torch.nn.Module,
    prompt_ids: list[list[int]],
    *,
    n: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    eos_id: int | None,
    pad_id: int,
    generator: torch.Generator,
    batch_size: int,
    on_batch: Callable[[int], object] | None = None,
    with_entropy: bool = False,
    backend: str = "auto",
) -> list[Completion]:
    """Sample ``n`` continuations of every prompt; return them ordered by (prompt_index, sample_index).

    ``temperature == 0`` is greedy decoding (``top_p`` and ``generator`` are then unused for choosing,
    but ``generator`` still advances by the same amount so later draws do not depend on temperature).
    ``batch_size`` counts sequences (prompt x sample rows) per forward pass. Sampling randomness comes only
    from ``generator``: it is advanced by exactly one draw of ``len(prompt_ids)`` seeds per call.
    ``on_batch(rows_done_in_batch)`` is called after every batch (progress bars). ``with_entropy`` also
    records each position's full-distribution entropy (the RL trainer's entropy metric, at no extra forward).
    ``backend``: ``"lean"`` decodes with :class:`alignrl.native.decode.LeanDecoder` (prefill of the distinct
    prompts only, the prompts' KV cache shared by their samples, a lean one-token step), ``"hf"`` with
    the model's own forward on every row, ``"auto"`` (default) the lean one whenever
    :func:`alignrl.native.decode.supports` the model. Both compute the same distribution; tokens agree up to
    floating-point ties (``tests/test_sampling.py``).
    """
    if backend not in ("auto", "lean", "hf"):
        raise ValueError(f"backend must be 'auto', 'lean' or 'hf', got {backend!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for i, ids in enumerate(prompt_ids):
        if len(ids) == 0:
            raise ValueError(f"prompt {i} is empty: a prompt needs at least one token to condition on")

    num_prompts = len(prompt_ids)
    prompt_seeds: list[int] = []
    if num_prompts:
        prompt_seeds = torch.randint(0, 2**62, (num_prompts,), generator=generator, dtype=torch.int64).tolist()
    if max_new_tokens == 0 or num_prompts == 0:
        return [Completion(p, s, [], False, []) for p in range(num_prompts) for s in range(n)]

    # Group rows of similar prompt length; the sort is stable in (prompt, sample) for equal lengths.
    rows = sorted(((p, s) for p in range(num_prompts) for s in range(n)), key=lambda r: len(prompt_ids[r[0]]))
    device = next(model.parameters()).device
    use_lean = backend == "lean" or (backend == "auto" and supports(model) and _cache_is_preallocated(model))
    results: dict[tuple[int, int], Completion] = {}
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            lean = None
            if use_lean:
                lean = LeanDecoder(model, max(len(p) for p in prompt_ids) + max_new_tokens)
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                seeds = [_row_seed(prompt_seeds[p], s) for p, s in chunk] if temperature > 0 else None
                if lean is not None:
                    outputs = _sample_lean_chunk(model, lean, prompt_ids, chunk, seeds, max_new_tokens=max_new_tokens,
                                                 temperature=float(temperature), top_p=float(top_p), eos_id=eos_id,
                                                 pad_id=pad_id, device=device, with_entropy=with_entropy)
                else:
                    outputs = _sample_batch(
                        model,
                        [list(prompt_ids[p]) for p, _ in chunk],
                        seeds,
                        max_new_tokens=max_new_tokens,
                        temperature=float(temperature),
                        top_p=float(top_p),
                        eos_id=eos_id,
                        pad_id=pad_id,
                        device=device,
                        with_entropy=with_entropy,
                    )
                for (p, s), (ids, lps, done, ents) in zip(chunk, outputs):
                    results[(p, s)] = Completion(p, s, ids, done, lps, ents)
                if on_batch is not None:
                    on_batch(len(chunk))
    finally:
        model.train(was_training)
    return [results[(p, s)] for p in range(num_prompts) for s in range(n)]
