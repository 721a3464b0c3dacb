"""Pretraining: packing, schedule, and a 20-step run that learns and writes a loadable HF directory."""
from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from alignrl.claims.tasks import make_splits
from alignrl.native.pretrain import lr_lambda, pack_stream, pad_documents, pretrain
from alignrl.native.tokenizer import load_tokenizer

SIZES = dict(hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=2, intermediate_size=64,
             max_position_embeddings=128, tie_word_embeddings=True)
CORPUS = dict(task_fractions={"math": 0.5, "logic": 0.2}, subskill_fraction=0.2, num_documents=400, seed=0)
TRAIN = dict(steps=20, batch_size=8, seq_len=64, lr=1e-2, warmup_steps=2, weight_decay=0.01, seed=0)


def test_pack_stream_keeps_every_token_in_order():
    docs = [[1, 2, 3], [4, 5], [6, 7, 8, 9]]
    ids, labels = pack_stream(docs, 4, pad_id=0)
    assert ids.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 0, 0, 0]]
    assert labels.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8], [9, -100, -100, -100]]


def test_pad_documents_masks_padding_and_truncates():
    ids, labels = pad_documents([[1, 2], [3, 4, 5, 6, 7]], 4, pad_id=0)
    assert ids.tolist() == [[1, 2, 0, 0], [3, 4, 5, 6]]
    assert labels.tolist() == [[1, 2, -100, -100], [3, 4, 5, 6]]


def test_lr_schedule():
    f = lambda s: lr_lambda(s, steps=100, warmup_steps=10, min_lr_ratio=0.1)  # noqa: E731
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(100) == pytest.approx(0.1)
    assert all(f(s) >= f(s + 1) for s in range(10, 100))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pre") / "model"
    held = make_splits("math", {"test": 20}, seed=0)["test"]
    info = pretrain(out_dir=out, arch="qwen2", model_sizes=SIZES, corpus_cfg=CORPUS, train_cfg=TRAIN,
                    template="{question}", exclude_questions={p.question for p in held}, threads=1,
                    log_path=out.parent / "pretrain.log")
    return out, info


def test_loss_decreases(run):
    _, info = run
    assert info["final_loss"] < info["first_loss"] - 1.0
    assert info["parameters"] > 0 and info["corpus"]["documents"] == 400


def test_writes_loadable_hf_dir(run):
    out, info = run
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                 "tokenizer_config.json", "pretrain_info.json"):
        assert (out / name).is_file(), name
    assert not out.with_name(out.name + ".tmp").exists()
    tok = AutoTokenizer.from_pretrained(out)
    # transformers 5 would substitute a byte-level Qwen2Tokenizer here without save_tokenizer's guard.
    assert type(tok).__name__ == "TokenizersBackend"
    text = "<|im_start|>user\nMia has 23 apples .<|im_end|>\n<think>\n2 + 3 = 5\n</think>"
    assert tok.encode(text) == load_tokenizer(out).encode(text)
    assert tok.decode(tok.encode(text)) == text
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.eos_token_id == tok.eos_token_id and model.config.pad_token_id == tok.pad_token_id
    assert model.config.vocab_size == len(tok)
    assert model.generation_config.eos_token_id == tok.eos_token_id
    ids = tok.apply_chat_template([{"role": "user", "content": "Mia has 3 apples ."}],
                                  add_generation_prompt=True, return_dict=False)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits
    assert torch.isfinite(logits).all()
    saved = json.loads((out / "pretrain_info.json").read_text())
    assert saved["final_loss"] == pytest.approx(info["final_loss"])
    assert saved["excluded_questions"] == 20
    assert "task:math" in saved["corpus"]["tokens_per_kind"]
    log = (out.parent / "pretrain.log").read_text()
    assert "pretrain done" in log


def test_deterministic(run, tmp_path):
    _, info = run
    again = pretrain(out_dir=tmp_path / "m", arch="qwen2", model_sizes=SIZES, corpus_cfg=CORPUS,
                     train_cfg={**TRAIN, "steps": 3}, threads=1)
    third = pretrain(out_dir=tmp_path / "m", arch="qwen2", model_sizes=SIZES, corpus_cfg=CORPUS,
                     train_cfg={**TRAIN, "steps": 3}, threads=1)
    assert again["loss_curve"] == third["loss_curve"]


def test_llama_and_padding(tmp_path):
    info = pretrain(out_dir=tmp_path / "l", arch="llama", model_sizes=SIZES, corpus_cfg=CORPUS,
                    train_cfg={**TRAIN, "steps": 2, "packing": "pad"}, threads=1)
    assert json.loads((tmp_path / "l" / "config.json").read_text())["model_type"] == "llama"
    assert info["train_cfg"]["packing"] == "pad"
    tok = AutoTokenizer.from_pretrained(tmp_path / "l")
    text = "<|im_start|>user\nMia has 23 apples .<|im_end|>"
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode(text) == load_tokenizer(tmp_path / "l").encode(text)


def test_rejects_bad_config(tmp_path):
    with pytest.raises(ValueError, match="unknown train_cfg"):
        pretrain(out_dir=tmp_path / "x", arch="qwen2", model_sizes=SIZES, corpus_cfg=CORPUS,
                 train_cfg={**TRAIN, "stepz": 1})
    with pytest.raises(ValueError, match="max_position_embeddings"):
        pretrain(out_dir=tmp_path / "x", arch="qwen2", model_sizes={**SIZES, "max_position_embeddings": 32},
                 corpus_cfg=CORPUS, train_cfg=TRAIN)


def test_non_canonical_template_fails_loudly(tmp_path):
    with pytest.raises(ValueError, match="canonically spaced"):
        pretrain(out_dir=tmp_path / "x", arch="qwen2", model_sizes=SIZES, corpus_cfg=CORPUS,
                 train_cfg={**TRAIN, "steps": 1}, template="Solve step by step. {question}")
    # the same template is fine with metaspace spacing, which round-trips any text
    pretrain(out_dir=tmp_path / "y", arch="qwen2", model_sizes=SIZES, corpus_cfg=CORPUS,
             train_cfg={**TRAIN, "steps": 1, "spacing": "metaspace"}, template="Solve step by step. {question}")
