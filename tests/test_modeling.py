"""Model factory: both architectures build, run forward and backward, and are seeded."""
from __future__ import annotations

import pytest
import torch
from transformers import LlamaForCausalLM, Qwen2ForCausalLM

from alignrl.native.modeling import build_model, count_parameters

TINY = dict(hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=64,
            max_position_embeddings=64)


@pytest.mark.parametrize("arch,cls", [("qwen2", Qwen2ForCausalLM), ("llama", LlamaForCausalLM)])
def test_builds_and_forward(arch, cls):
    model = build_model(arch, 50, seed=0, eos_token_id=3, pad_token_id=0, **TINY)
    assert isinstance(model, cls)
    assert next(model.parameters()).dtype == torch.float32
    assert model.config.eos_token_id == 3 and model.config.pad_token_id == 0
    x = torch.randint(0, 50, (2, 7))
    out = model(input_ids=x, labels=x)
    assert out.logits.shape == (2, 7, 50)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_seeded(arch):
    a = build_model(arch, 50, seed=1, **TINY)
    b = build_model(arch, 50, seed=1, **TINY)
    c = build_model(arch, 50, seed=2, **TINY)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_global_rng_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model("qwen2", 50, seed=9, **TINY)
    assert torch.equal(torch.rand(3), expected)


def test_count_parameters_tied_and_untied():
    tied = build_model("qwen2", 50, seed=0, tie_word_embeddings=True, **TINY)
    untied = build_model("qwen2", 50, seed=0, tie_word_embeddings=False, **TINY)
    assert count_parameters(untied) - count_parameters(tied) == 50 * TINY["hidden_size"]
    assert count_parameters(tied) == sum(p.numel() for p in tied.parameters())


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown arch"):
        build_model("gpt2", 50, **TINY)
    with pytest.raises(ValueError, match="num_heads"):
        build_model("qwen2", 50, hidden_size=30, num_heads=4)
    with pytest.raises(ValueError, match="num_kv_heads"):
        build_model("llama", 50, hidden_size=32, num_heads=4, num_kv_heads=3)
