"""Tests of the batched KV-cache sampler against HF generate and its own contracts."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from alignrl.native.sampling import Completion, sample

torch.set_num_threads(1)

VOCAB = 50
PAD = 0
PROMPTS = [[5, 6, 7], [8, 9, 10, 11, 12, 13, 14], [20], [30, 31, 32, 33, 34], [7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7]]


def _model(seed: int = 0, sharpen: float = 1.0) -> Qwen2ForCausalLM:
    torch.manual_seed(seed)
    cfg = Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=PAD,
        bos_token_id=None,
        eos_token_id=None,
        tie_word_embeddings=False,
    )
    model = Qwen2ForCausalLM(cfg).eval()
    if sharpen != 1.0:
        # A random init is nearly uniform over the vocabulary; sharper logits make sampling tests bite.
        with torch.no_grad():
            model.lm_head.weight.mul_(sharpen)
    return model


@pytest.fixture(scope="module")
def model() -> Qwen2ForCausalLM:
    return _model()


@pytest.fixture(scope="module")
def sharp_model() -> Qwen2ForCausalLM:
    return _model(seed=1, sharpen=30.0)


def _run(model, prompts=PROMPTS, *, n=1, max_new_tokens=8, temperature=1.0, top_p=1.0, eos_id=None,
         seed=0, batch_size=64) -> list[Completion]:
    return sample(
        model,
        prompts,
        n=n,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        eos_id=eos_id,
        pad_id=PAD,
        generator=torch.Generator().manual_seed(seed),
        batch_size=batch_size,
    )


def _hf_greedy(model, prompts, max_new_tokens, eos_id=None) -> list[list[int]]:
    """HF generate on one left-padded batch, trimmed after the first eos."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[PAD] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.no_grad():
        out = model.generate(
            input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=max_new_tokens,
            pad_token_id=PAD, eos_token_id=eos_id,
        )
    rows = []
    for row in out[:, width:].tolist():
        if eos_id is not None and eos_id in row:
            row = row[: row.index(eos_id) + 1]
        rows.append(row)
    return rows


def test_greedy_matches_hf_generate_on_unequal_prompts(model):
    comps = _run(model, temperature=0.0, max_new_tokens=10, batch_size=3)
    assert [c.token_ids for c in comps] == _hf_greedy(model, PROMPTS, 10)
    assert all(not c.finished and len(c.token_ids) == 10 for c in comps)


def test_greedy_with_eos_matches_hf_generate(model):
    free = _hf_greedy(model, PROMPTS, 10)
    eos = free[0][2]  # a token the first row certainly emits
    comps = _run(model, temperature=0.0, max_new_tokens=10, eos_id=eos)
    assert [c.token_ids for c in comps] == _hf_greedy(model, PROMPTS, 10, eos_id=eos)


def test_llama_greedy_matches_hf_generate():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      pad_token_id=PAD, bos_token_id=None, eos_token_id=None)
    llama = LlamaForCausalLM(cfg).eval()
    comps = _run(llama, temperature=0.0, max_new_tokens=8, batch_size=2)
    assert [c.token_ids for c in comps] == _hf_greedy(llama, PROMPTS, 8)


def test_eos_stops_a_row_and_is_kept(model):
    free = [c.token_ids for c in _run(model, temperature=0.0, max_new_tokens=12)]
    eos = free[1][3]
    comps = _run(model, temperature=0.0, max_new_tokens=12, eos_id=eos)
    for row, comp in zip(free, comps):
        if eos in row:
            cut = row.index(eos) + 1
            assert comp.token_ids == row[:cut] and comp.finished
        else:
            assert comp.token_ids == row and not comp.finished
        assert len(comp.logprobs) == len(comp.token_ids)
    assert comps[1].finished and comps[1].token_ids[-1] == eos


def test_eos_on_the_last_step_counts_as_finished(model):
    free = [c.token_ids for c in _run(model, temperature=0.0, max_new_tokens=6)]
    last = free[0][-1]
    comps = _run(model, temperature=0.0, max_new_tokens=6, eos_id=last)
    assert comps[0].finished and comps[0].token_ids[-1] == last


def test_same_seed_same_completions_and_different_seed_differs(sharp_model):
    a = _run(sharp_model, n=4, seed=3, max_new_tokens=10)
    b = _run(sharp_model, n=4, seed=3, max_new_tokens=10)
    c = _run(sharp_model, n=4, seed=4, max_new_tokens=10)
    assert [x.token_ids for x in a] == [x.token_ids for x in b]
    assert [x.logprobs for x in a] == [x.logprobs for x in b]
    assert [x.token_ids for x in a] != [x.token_ids for x in c]
    # The n samples of one prompt are distinct draws, not copies.
    assert len({tuple(x.token_ids) for x in a[:4]}) > 1


def test_results_do_not_depend_on_batch_size(sharp_model):
    eos = 3
    runs = [_run(sharp_model, n=3, seed=5, max_new_tokens=10, eos_id=eos, batch_size=b) for b in (1, 4, 7, 100)]
    ids = [[c.token_ids for c in run] for run in runs]
    assert all(x == ids[0] for x in ids[1:])
    for run in runs[1:]:
        for c0, c1 in zip(runs[0], run):
            assert c0.logprobs == pytest.approx(c1.logprobs, abs=1e-5)


def test_adding_prompts_does_not_change_earlier_prompts(sharp_model):
    # Row streams are keyed by (prompt, sample): prompt 0 gets the same draws whatever follows it.
    alone = _run(sharp_model, PROMPTS[:2], n=3, seed=9)
    more = _run(sharp_model, PROMPTS, n=3, seed=9)
    assert [c.token_ids for c in alone] == [c.token_ids for c in more[:6]]


def test_order_is_prompt_then_sample(model):
    comps = _run(model, n=3, max_new_tokens=2, batch_size=4)
    assert [(c.prompt_index, c.sample_index) for c in comps] == [(p, s) for p in range(len(PROMPTS)) for s in range(3)]


def test_tiny_top_p_is_greedy(sharp_model):
    greedy = _run(sharp_model, temperature=0.0, max_new_tokens=10)
    nucleus = _run(sharp_model, n=2, temperature=1.0, top_p=1e-9, max_new_tokens=10, seed=11)
    assert [c.token_ids for c in nucleus] == [c.token_ids for c in greedy for _ in range(2)]


def test_first_token_frequencies_follow_the_distribution(sharp_model):
    prompt = [[4, 9, 16]]
    with torch.no_grad():
        probs = torch.softmax(sharp_model(torch.tensor(prompt)).logits[0, -1], -1)
    comps = _run(sharp_model, prompt, n=3000, max_new_tokens=1, seed=2, batch_size=3000)
    freq = torch.bincount(torch.tensor([c.token_ids[0] for c in comps]), minlength=VOCAB).double() / 3000
    assert (freq - probs.double()).abs().max() < 0.04
    # top-p keeps only the smallest head of the distribution holding top_p of the mass.
    top_p = 0.6
    sorted_p, order = probs.sort(descending=True)
    keep = set(order[: int((sorted_p.cumsum(0) < top_p).sum()) + 1].tolist())
    comps = _run(sharp_model, prompt, n=500, max_new_tokens=1, seed=2, top_p=top_p, batch_size=500)
    seen = {c.token_ids[0] for c in comps}
    assert seen <= keep and len(seen) == len(keep)


def test_logprobs_are_temperature_one_logprobs_of_the_tokens(sharp_model):
    comps = _run(sharp_model, n=2, max_new_tokens=8, seed=1, temperature=0.7, top_p=0.9)
    for comp in comps:
        seq = torch.tensor([PROMPTS[comp.prompt_index] + comp.token_ids])
        with torch.no_grad():
            logp = torch.log_softmax(sharp_model(seq).logits[0].float(), -1)
        start = len(PROMPTS[comp.prompt_index])
        expected = [logp[start - 1 + i, t].item() for i, t in enumerate(comp.token_ids)]
        assert comp.logprobs == pytest.approx(expected, abs=1e-4)


def test_very_unequal_lengths_and_finished_rows_give_no_nans(sharp_model):
    prompts = [[9], list(range(1, 40)), [9]]
    comps = _run(sharp_model, prompts, n=4, max_new_tokens=12, eos_id=3, seed=0, batch_size=12)
    for c in comps:
        assert all(math.isfinite(x) for x in c.logprobs)
    # The one-token prompt padded next to a 39-token one behaves exactly as when sampled alone.
    alone = _run(sharp_model, [[9]], n=4, max_new_tokens=12, eos_id=3, seed=0)
    greedy_batched = _run(sharp_model, prompts, max_new_tokens=12, temperature=0.0)
    greedy_alone = _run(sharp_model, [[9]], max_new_tokens=12, temperature=0.0)
    assert greedy_batched[0].token_ids == greedy_alone[0].token_ids
    assert all(math.isfinite(x) for x in alone[0].logprobs)


def test_generator_advances_independently_of_temperature(model):
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    common = dict(n=2, max_new_tokens=3, eos_id=None, pad_id=PAD, batch_size=4, top_p=1.0)
    sample(model, PROMPTS, temperature=0.0, generator=g1, **common)
    sample(model, PROMPTS, temperature=1.0, generator=g2, **common)
    assert torch.equal(g1.get_state(), g2.get_state())


def test_edge_cases_and_validation(model):
    empty = _run(model, max_new_tokens=0, n=2)
    assert len(empty) == 2 * len(PROMPTS) and all(c.token_ids == [] and not c.finished for c in empty)
    assert _run(model, [], n=2) == []
    with pytest.raises(ValueError, match="empty"):
        _run(model, [[1, 2], []])
    for bad in (dict(n=0), dict(temperature=-1.0), dict(top_p=0.0), dict(top_p=1.5), dict(batch_size=0)):
        with pytest.raises(ValueError):
            _run(model, **bad)


def test_restores_training_mode_and_reports_progress():
    model = _model()
    model.train()
    done: list[int] = []
    sample(model, PROMPTS, n=2, max_new_tokens=2, temperature=1.0, top_p=1.0, eos_id=None, pad_id=PAD,
           generator=torch.Generator().manual_seed(0), batch_size=3, on_batch=done.append)
    assert model.training
    assert sum(done) == 2 * len(PROMPTS)


def test_recorded_entropies_match_a_full_forward(sharp_model):
    """with_entropy gives, per response token, the entropy of the full distribution that chose it."""
    from alignrl.claims.objectives import token_entropy

    for temperature in (1.0, 0.7):
        comps = sample(sharp_model, PROMPTS, n=2, max_new_tokens=6, temperature=temperature, top_p=0.9,
                       eos_id=3, pad_id=PAD, generator=torch.Generator().manual_seed(0), batch_size=4,
                       with_entropy=True)
        for c in comps:
            assert len(c.entropies) == len(c.token_ids) > 0
            ids = torch.tensor([PROMPTS[c.prompt_index] + c.token_ids])
            with torch.no_grad():
                logits = sharp_model(input_ids=ids).logits[0, len(PROMPTS[c.prompt_index]) - 1 : -1]
            expected = token_entropy(logits / temperature)
            assert torch.allclose(torch.tensor(c.entropies), expected, atol=1e-4)
    plain = sample(sharp_model, PROMPTS, n=1, max_new_tokens=4, temperature=1.0, top_p=1.0, eos_id=None,
                   pad_id=PAD, generator=torch.Generator().manual_seed(0), batch_size=4)
    assert all(c.entropies == [] for c in plain)


# ----------------------------------------------------------------------------- the lean decoder


def _llama(attention_bias: bool = False, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      pad_token_id=PAD, bos_token_id=None, eos_token_id=None, attention_bias=attention_bias)
    llama = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        llama.lm_head.weight.mul_(30.0)
    return llama


@pytest.mark.parametrize("which", ["qwen2", "llama", "llama_bias"])
def test_lean_backend_samples_what_the_hf_forward_samples(sharp_model, which):
    """Same seed, same rows: the lean decoder (shared prompt cache) picks the HF forward's tokens."""
    net = {"qwen2": sharp_model, "llama": _llama(), "llama_bias": _llama(attention_bias=True, seed=2)}[which]
    prompts = PROMPTS + [PROMPTS[1]]  # a repeated prompt: two groups with the same text
    free = sample(net, prompts, n=3, max_new_tokens=9, temperature=1.0, top_p=1.0, eos_id=None, pad_id=PAD,
                  generator=torch.Generator().manual_seed(4), batch_size=5, backend="hf")
    counts = torch.bincount(torch.tensor([t for c in free for t in c.token_ids[1:]]), minlength=VOCAB)
    eos = int(counts.argmax())  # a token many rows emit after their first: rows finish at different steps
    for kwargs in ({"temperature": 1.0, "top_p": 1.0}, {"temperature": 0.7, "top_p": 0.9},
                   {"temperature": 0.0, "top_p": 1.0}):
        # n = 3 with batch_size 5: a prompt's samples are split across batches, groups are ragged
        runs = {
            backend: sample(net, prompts, n=3, max_new_tokens=9, eos_id=eos, pad_id=PAD,
                            generator=torch.Generator().manual_seed(4), batch_size=5, with_entropy=True,
                            backend=backend, **kwargs)
            for backend in ("hf", "lean")
        }
        hf, lean = runs["hf"], runs["lean"]
        assert [c.token_ids for c in lean] == [c.token_ids for c in hf]
        assert [c.finished for c in lean] == [c.finished for c in hf]
        if kwargs["temperature"] > 0:
            assert any(c.finished for c in hf) and any(not c.finished for c in hf)  # rows leave early
        for a, b in zip(lean, hf):
            assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5)
            assert torch.allclose(torch.tensor(a.entropies), torch.tensor(b.entropies), atol=1e-4)


def test_lean_step_logits_equal_a_full_forward():
    """Every decode step's logits (through the shared prompt cache) equal a full forward's, to 1e-5."""
    from alignrl.native.decode import LeanDecoder, PrefixCache, supports

    net = _llama(attention_bias=True)
    assert supports(net)
    prompts = [[5, 6, 7, 8], [9, 10]]
    continuations = [[11, 12, 13], [14, 15, 16], [17, 18, 19]]  # rows: prompt 0, prompt 0, prompt 1
    group, slot = [0, 0, 1], [0, 1, 0]
    lean = LeanDecoder(net, 16)
    width = 4
    ids = torch.tensor([[PAD] * (width - len(p)) + p for p in prompts])
    mask = (torch.arange(width) >= torch.tensor([width - len(p) for p in prompts]).unsqueeze(1)).long()
    from alignrl.native.sampling import _make_cache

    with torch.no_grad():
        cache = _make_cache(net, width)
        net(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(1) - 1).clamp(min=0), cache=cache,
            use_cache=True)
        prefix = PrefixCache([layer._k for layer in cache.layers], [layer._v for layer in cache.layers],
                             torch.zeros(2, width).masked_fill(mask == 0, float("-inf")))
        shape = (3, lean.kv_heads, 3, lean.head_dim)
        gk = [torch.empty(shape) for _ in prefix.keys]
        gv = [torch.empty(shape) for _ in prefix.keys]
        for step in range(3):
            tokens = torch.tensor([c[step] for c in continuations])
            positions = torch.tensor([len(prompts[g]) + step for g in group])
            got = lean.step(tokens, positions, step, prefix, torch.tensor(group), torch.tensor(slot), 2, gk, gv)
            for row, g in enumerate(group):
                full = torch.tensor([prompts[g] + continuations[row][: step + 1]])
                want = net(input_ids=full).logits[0, -1]
                assert torch.allclose(got[row], want, atol=1e-5), (step, row)


def test_backend_is_validated(model):
    with pytest.raises(ValueError, match="backend"):
        sample(model, PROMPTS, n=1, max_new_tokens=2, temperature=1.0, top_p=1.0, eos_id=None, pad_id=PAD,
               generator=torch.Generator(), batch_size=4, backend="fast")


def test_when_finished_rows_leave_the_batch_changes_nothing(sharp_model, monkeypatch):
    """Finished rows leave the lean batch at once, later, or never: the same completions."""
    import alignrl.native.sampling as sampling_mod

    free = sample(sharp_model, PROMPTS, n=4, max_new_tokens=10, temperature=1.0, top_p=1.0, eos_id=None,
                  pad_id=PAD, generator=torch.Generator().manual_seed(6), batch_size=64)
    eos = int(torch.bincount(torch.tensor([t for c in free for t in c.token_ids[1:]]), minlength=VOCAB).argmax())
    runs = []
    for at in (0.0, 0.25, 1.0):
        monkeypatch.setattr(sampling_mod, "_COMPACT_AT", at)
        runs.append(sample(sharp_model, PROMPTS, n=4, max_new_tokens=10, temperature=1.0, top_p=1.0, eos_id=eos,
                           pad_id=PAD, generator=torch.Generator().manual_seed(6), batch_size=64,
                           with_entropy=True, backend="lean"))
    assert sum(c.finished for c in runs[0]) >= 4 and not all(c.finished for c in runs[0])
    for other in runs[1:]:
        assert [(c.token_ids, c.finished) for c in other] == [(c.token_ids, c.finished) for c in runs[0]]
        for a, b in zip(other, runs[0]):
            assert len(a.logprobs) == len(a.token_ids) == len(a.entropies)
            assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5)
