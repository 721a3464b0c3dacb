"""Tests of the GRPO/DAPO trainer on a tiny Qwen2 model and a toy "pick a digit" task.

The toy model is briefly fine-tuned (module fixture, ~1 s) to answer in the response format with a
roughly uniform digit, so the ground-truth reward ("7") starts near 0.1 and is learnable by RL.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

from alignrl.claims.answer import format_response
from alignrl.claims.rewards import RewardResult
from alignrl.native import grpo as loop
from alignrl.native import minibatch
from alignrl.native.modeling import build_model
from alignrl.native.tokenizer import build_tokenizer, chat_prompt
from alignrl.native.trainer import LOG_COLUMNS, TrainConfig, TrainingStopped, latest_checkpoint, train

torch.set_num_threads(1)

N_ROWS = 8


def _rows(answers: list[str]) -> list[dict]:
    return [
        {
            "data_source": "synthetic/math",
            "prompt": chat_prompt(f"Pick a digit {k}"),
            "ability": "math",
            "reward_model": {"style": "rule", "ground_truth": a},
            "extra_info": {"split": "train", "index": k, "uid": f"toy-{k:03d}"},
        }
        for k, a in enumerate(answers)
    ]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2 that already emits ``<think>..</think><answer>\\boxed{d}</answer>`` with random d."""
    out = tmp_path_factory.mktemp("toy_model")
    prompts = [f"Pick a digit {k}" for k in range(N_ROWS)]
    responses = [format_response("ok", str(d)) for d in range(10)]
    tok = build_tokenizer(prompts + responses)
    model = build_model(
        "qwen2", len(tok), hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
        max_position_embeddings=64, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, seed=0,
    )
    p_ids = [tok.apply_chat_template([chat_prompt(p)], add_generation_prompt=True, tokenize=True,
                                     return_dict=False)[0] for p in prompts[:4]]
    r_ids = [tok(r, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for r in responses]
    seqs = [(p, r) for p in p_ids for r in r_ids]
    width = max(len(p) + len(r) for p, r in seqs)
    ids = torch.full((len(seqs), width), tok.pad_token_id)
    labels = torch.full((len(seqs), width), -100)
    for i, (p, r) in enumerate(seqs):
        ids[i, : len(p) + len(r)] = torch.tensor(p + r)
        labels[i, len(p) : len(p) + len(r)] = torch.tensor(r)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    with torch.random.fork_rng(devices=[]):
        for _ in range(100):
            loss = model(input_ids=ids, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _cfg(**over) -> dict:
    cfg = dict(
        steps=3, prompts_per_step=4, samples_per_prompt=4, mini_batches_per_step=2, lr=1e-3, warmup_steps=2,
        max_new_tokens=14, save_every=2, val_every=2, val_samples=2, keep_checkpoints=1,
    )
    cfg.update(over)
    return cfg


def _read_log(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _run(model_dir: Path, root: Path, cfg: dict, rows: list[dict] | None = None, **kw) -> dict:
    rows = _rows(["7"] * N_ROWS) if rows is None else rows
    return train(
        model_dir=model_dir, train_rows=rows, val_rows=_rows(["7"] * 2), task_name="math",
        out_dir=root / "out", checkpoint_dir=root / "ckpt", cfg=cfg, seed=kw.pop("seed", 0), threads=1,
        log=lambda msg: None, **kw,
    )


# ----------------------------------------------------------------------------- config


def test_unknown_config_key_names_the_key() -> None:
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_dict({"steps": 3, "learning_rate": 1e-3})


def test_config_rejects_bad_values_and_accepts_yaml_shapes() -> None:
    with pytest.raises(ValueError, match="fill_batch"):
        TrainConfig.from_dict({"fill_batch": "pad"})
    with pytest.raises(ValueError, match="reward"):
        TrainConfig.from_dict({"reward": "no_such_reward"})
    cfg = TrainConfig.from_dict({"betas": [0.9, 0.99], "advantage": "w_reinforce", "advantage_kwargs": {"lam": 0.1}})
    assert cfg.betas == (0.9, 0.99)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


# ----------------------------------------------------------------------------- end to end


def test_one_shot_end_to_end_writes_log_model_and_run_info(model_dir: Path, tmp_path: Path) -> None:
    one_row = _rows(["7"])
    info = _run(model_dir, tmp_path, _cfg(), rows=one_row)

    header, log = _read_log(tmp_path / "out" / "train_log.csv")
    assert header == list(LOG_COLUMNS)
    assert [r["step"] for r in log] == ["1", "2", "3"]
    for col in ("reward_mean", "accuracy", "format_rate", "entropy", "response_length", "lr", "seconds"):
        assert all(r[col] != "" for r in log), col
    assert [r["val_accuracy"] != "" for r in log] == [False, True, True]  # val_every=2 and the last step
    assert float(log[0]["format_rate"]) > 0.5  # the toy model knows the format

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out" / "model")
    tok = PreTrainedTokenizerFast.from_pretrained(tmp_path / "out" / "model")
    assert model.config.vocab_size == len(tok)
    # keep_checkpoints=1: only the final checkpoint survives, and it is complete
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["step_000003"]
    assert latest_checkpoint(tmp_path / "ckpt").name == "step_000003"

    saved = json.loads((tmp_path / "out" / "run_info.json").read_text())
    assert saved["steps_done"] == 3 and saved["resumed_from"] is None
    assert saved["train_rows"] == 1 and [e["uid"] for e in saved["train_examples"]] == ["toy-000"]
    assert saved["config"]["prompts_per_step"] == 4 and info["seed"] == 0
    assert saved["provenance"]["rule"] == "train" and "model" in saved["provenance"]["inputs"]
    # the shared run record: the audit's run checks (hashes, fields, record hash) pass on a native run
    from alignrl.trace.audit import audit_run

    checks = audit_run(tmp_path / "out")
    assert saved["backend"] == "native" and checks and all(c.ok for c in checks), [c.line() for c in checks]


# ----------------------------------------------------------------------------- dynamic sampling


def test_select_groups_tiles_or_keeps() -> None:
    groups = ["a", "b", "c"]
    assert loop._select_groups(groups, 4, "none") == ["a", "b", "c"]
    assert loop._select_groups(groups, 7, "tile") == ["a", "b", "c", "a", "b", "c", "a"]
    assert loop._select_groups(groups, 2, "tile") == ["a", "b"]
    assert loop._select_groups([], 4, "tile") == []


def _fake_rewards(calls: list[bool]):
    """Ground truth "u": every response gets 1 (a uniform group); otherwise rewards alternate 1, 0."""

    def fake(name, group):
        n = len(group.responses)
        uniform = group.ground_truth == "u"
        calls.append(uniform)
        rewards = [1.0] * n if uniform else [float(i % 2) for i in range(n)]
        return RewardResult(rewards=rewards, correct=[False] * n, pseudo_label=None,
                            answers=[None] * n, well_formatted=[True] * n)

    return fake


def test_dynamic_sampling_drops_uniform_groups(model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    calls: list[bool] = []
    seen_advantages: list[torch.Tensor] = []
    real_loss = loop.policy_loss

    def spy_loss(logp, old_logp, advantages, mask, **kw):
        seen_advantages.append(advantages.clone())
        return real_loss(logp, old_logp, advantages, mask, **kw)

    monkeypatch.setattr(loop, "compute_rewards", _fake_rewards(calls))
    monkeypatch.setattr(loop, "policy_loss", spy_loss)
    rows = _rows(["u", "7"] * (N_ROWS // 2))
    _run(model_dir, tmp_path, _cfg(steps=2, val_every=0), rows=rows)

    _, log = _read_log(tmp_path / "out" / "train_log.csv")
    per_step = 4 * 2  # at most prompts_per_step x max_generation_batches groups
    drawn = 0
    for r in log:
        batches = int(r["generation_batches"])
        step_calls = calls[drawn : drawn + 4 * batches]
        drawn += 4 * batches
        nonuniform = step_calls.count(False)
        assert int(r["kept_groups"]) == min(4, nonuniform)
        # a second batch is drawn only when the first kept fewer than prompts_per_step groups
        assert batches == (1 if step_calls[:4].count(False) >= 4 else 2) and len(step_calls) <= per_step
    assert drawn == len(calls)
    # only groups with varying rewards reach the loss; tiling fills every step to 4 groups x 4 samples
    assert all(bool((a != 0).all()) for a in seen_advantages)
    assert sum(a.numel() for a in seen_advantages) == 2 * 4 * 4


def test_fill_none_trains_only_on_kept_groups(model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    seen_rows: list[int] = []
    real_loss = loop.policy_loss

    def spy_loss(logp, old_logp, advantages, mask, **kw):
        seen_rows.append(advantages.numel())
        return real_loss(logp, old_logp, advantages, mask, **kw)

    monkeypatch.setattr(loop, "compute_rewards", _fake_rewards([]))
    monkeypatch.setattr(loop, "policy_loss", spy_loss)
    # 1 varying group in 8 rows, one generation batch: each step keeps at most 1 group
    rows = _rows(["u"] * (N_ROWS - 1) + ["7"])
    _run(model_dir, tmp_path, _cfg(steps=4, val_every=0, max_generation_batches=1, fill_batch="none"), rows=rows)
    _, log = _read_log(tmp_path / "out" / "train_log.csv")
    kept = [int(r["kept_groups"]) for r in log]
    assert sum(kept) >= 1 and all(k <= 1 for k in kept)
    # the nominal mini-batch is 2 groups, so one kept group is one update on its 4 samples, not tiled
    assert seen_rows == [4] * sum(kept)
    assert [int(r["updates"]) for r in log] == kept


def test_all_uniform_step_skips_update_but_counts(model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(loop, "compute_rewards", _fake_rewards([]))
    _run(model_dir, tmp_path, _cfg(steps=2, val_every=0), rows=_rows(["u"] * N_ROWS))
    _, log = _read_log(tmp_path / "out" / "train_log.csv")
    assert [r["step"] for r in log] == ["1", "2"]
    assert all(r["kept_groups"] == "0" and r["generation_batches"] == "2" and r["updates"] == "0"
               and r["loss"] == "" for r in log)
    before = load_file(model_dir / "model.safetensors")
    after = load_file(tmp_path / "out" / "model" / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)


# ----------------------------------------------------------------------------- update maths


def test_training_forward_reproduces_sampler_logprobs(model_dir: Path) -> None:
    """The right-padded training forward scores exactly the tokens the sampler drew (alignment check)."""
    tok = PreTrainedTokenizerFast.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    prompts = loop._prompt_ids(tok, [r["prompt"] for r in _rows(["7"] * 3)])
    prompts[1] = prompts[1][2:]  # unequal prompt lengths
    comps = loop.sample(model, prompts, n=3, max_new_tokens=14, temperature=1.0, top_p=1.0,
                               eos_id=tok.eos_token_id, pad_id=tok.pad_token_id,
                               generator=torch.Generator().manual_seed(0), batch_size=64)
    batch = minibatch.make_batch(
        [(prompts[c.prompt_index], c.token_ids, 1.0) for c in comps],
        tok.pad_token_id,
    )
    with torch.no_grad():
        logp = minibatch.token_logp(minibatch.response_logits(model.eval(), batch, 1.0), batch.targets)
    for i, c in enumerate(comps):
        got = logp[i][batch.mask[i].bool()]
        assert torch.allclose(got, torch.tensor(c.logprobs), atol=1e-4)


def test_first_minibatch_old_logp_from_its_training_forward_is_exact(model_dir: Path) -> None:
    """The first mini-batch's old log-probs come from its own training forward: bit-identical to a
    separate no-grad eval forward, so its first ratio is exactly 1 and nothing is clipped."""
    tok = PreTrainedTokenizerFast.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    prompts = loop._prompt_ids(tok, [r["prompt"] for r in _rows(["7"] * 2)])
    prompts[1] = prompts[1][3:]
    comps = loop.sample(model, prompts, n=4, max_new_tokens=12, temperature=1.0, top_p=1.0,
                               eos_id=tok.eos_token_id, pad_id=tok.pad_token_id,
                               generator=torch.Generator().manual_seed(1), batch_size=64)
    seqs = [(prompts[c.prompt_index], c.token_ids, 1.0 if c.sample_index % 2 else -1.0) for c in comps]
    with torch.no_grad():
        model.eval()
        ref = minibatch.make_batch(seqs, tok.pad_token_id)
        expected = minibatch.token_logp(minibatch.response_logits(model, ref, 1.0), ref.targets)
    model.train()
    batch = minibatch.make_batch(seqs, tok.pad_token_id)
    logp = minibatch.token_logp(minibatch.response_logits(model, batch, 1.0), batch.targets)
    assert torch.equal(logp.detach(), expected)


def test_shared_prefix_batch_gives_the_full_forward_logprobs_and_gradients(model_dir: Path) -> None:
    """The shared-prefix layout (each prompt once per mini-batch) computes what the right-padded
    prompt+response forward computes: the same response log-probs and the same loss gradient."""
    tok = PreTrainedTokenizerFast.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert loop.supports(model)
    prompts = loop._prompt_ids(tok, [r["prompt"] for r in _rows(["7"] * 3)])
    prompts[1] = prompts[1][2:]  # unequal prompt lengths
    comps = loop.sample(model, prompts, n=4, max_new_tokens=12, temperature=1.0, top_p=1.0,
                               eos_id=tok.eos_token_id, pad_id=tok.pad_token_id,
                               generator=torch.Generator().manual_seed(2), batch_size=64)
    responses = [c.token_ids[: 2 + (5 * i) % 11] for i, c in enumerate(comps)]  # unequal lengths
    adv = [float(i % 3) - 1.0 for i in range(len(comps))]
    flat = minibatch.make_batch([(prompts[c.prompt_index], r, a) for c, r, a in zip(comps, responses, adv)],
                                   tok.pad_token_id)
    shared = minibatch.make_shared_batch(
        [(prompts[p], responses[p * 4 : p * 4 + 4], adv[p * 4 : p * 4 + 4]) for p in range(3)],
        tok.pad_token_id,
    )
    model.train()
    results = []
    for batch in (flat, shared):
        model.zero_grad()
        logits = minibatch.response_logits(model, batch, 0.9)
        logp = minibatch.token_logp(logits, batch.targets)
        loss, _ = loop.policy_loss(logp, logp.detach() - 0.05, batch.advantages, batch.mask,
                                          clip_low=0.2, clip_high=0.28, dual_clip=10.0)
        loss = loss + loop.entropy_loss(logits, batch.mask, coef=0.1)
        loss.backward()
        per_row = [logp[i][batch.mask[i].bool()] for i in range(len(comps))]
        results.append((per_row, float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (rows_a, loss_a, grads_a), (rows_b, loss_b, grads_b) = results
    for a, b in zip(rows_a, rows_b):
        assert torch.allclose(a, b, atol=1e-5)
    assert loss_a == pytest.approx(loss_b, rel=1e-5, abs=1e-6)
    for name, g in grads_a.items():
        assert torch.allclose(g, grads_b[name], atol=1e-5, rtol=1e-4), name


def test_entropy_reward_and_entropy_loss_run(model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    seen: list = []
    real = loop.compute_rewards

    def spy(name, group):
        seen.append(group.mean_logprobs)
        return real(name, group)

    monkeypatch.setattr(loop, "compute_rewards", spy)
    _run(model_dir, tmp_path, _cfg(steps=2, val_every=0, reward="entropy", entropy_coef=0.01))
    assert seen and all(m is not None and all(x < 0 for x in m) for m in seen)
    _, log = _read_log(tmp_path / "out" / "train_log.csv")
    assert all(int(r["kept_groups"]) == 4 and int(r["updates"]) == 2 for r in log)  # continuous rewards
    assert all(r["loss"] != "" and r["loss"] != "nan" for r in log)


# ----------------------------------------------------------------------------- resume


def _log_without_seconds(path: Path) -> list[dict[str, str]]:
    _, rows = _read_log(path)
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_killed_and_resumed_run_equals_uninterrupted(model_dir: Path, tmp_path: Path) -> None:
    # several updates per step, validation and dynamic sampling all take part
    cfg = _cfg(steps=6, save_every=3, val_every=2, keep_checkpoints=2, ppo_epochs=2)
    _run(model_dir, tmp_path / "a", cfg)

    def kill_at_4(step: int, row: dict) -> None:
        if step == 4:  # row 4 is logged, the checkpoint of step 3 is the newest: row 4 must be redone
            raise TrainingStopped("simulated kill")

    with pytest.raises(TrainingStopped):
        _run(model_dir, tmp_path / "b", cfg, step_callback=kill_at_4)
    assert len(_read_log(tmp_path / "b" / "out" / "train_log.csv")[1]) == 4
    # leftovers of a kill while a checkpoint was being written must be ignored and cleaned
    junk = tmp_path / "b" / "ckpt" / ".tmp_step_000006"
    junk.mkdir()
    (junk / "config.json").write_text("{}")
    # Snakemake deletes a killed job's outputs before rerunning it: the logs come back from the checkpoint
    (tmp_path / "b" / "out" / "train_log.csv").unlink()
    (tmp_path / "b" / "out" / "prompt_log.csv").unlink()
    info = _run(model_dir, tmp_path / "b", cfg)
    assert info["resumed_from"] == 3

    a = load_file(tmp_path / "a" / "out" / "model" / "model.safetensors")
    b = load_file(tmp_path / "b" / "out" / "model" / "model.safetensors")
    start = load_file(model_dir / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], start[k]) for k in a)  # the run did train
    assert _log_without_seconds(tmp_path / "a" / "out" / "train_log.csv") == _log_without_seconds(
        tmp_path / "b" / "out" / "train_log.csv"
    )
    assert ((tmp_path / "a" / "out" / "prompt_log.csv").read_text()
            == (tmp_path / "b" / "out" / "prompt_log.csv").read_text())
    sa = torch.load(tmp_path / "a" / "ckpt" / "step_000006" / "trainer_state.pt", weights_only=True)
    sb = torch.load(tmp_path / "b" / "ckpt" / "step_000006" / "trainer_state.pt", weights_only=True)
    for pa, pb in zip(sa["optimizer"]["state"].values(), sb["optimizer"]["state"].values()):
        assert torch.equal(pa["exp_avg"], pb["exp_avg"]) and torch.equal(pa["exp_avg_sq"], pb["exp_avg_sq"])
    assert sorted(p.name for p in (tmp_path / "b" / "ckpt").iterdir()) == ["step_000003", "step_000006"]
    _, log = _read_log(tmp_path / "b" / "out" / "train_log.csv")
    assert any(int(r["updates"]) > 0 for r in log[3:])  # the resumed part trained too


def test_resume_refuses_changed_settings(model_dir: Path, tmp_path: Path) -> None:
    _run(model_dir, tmp_path, _cfg(steps=2, val_every=0))
    with pytest.raises(ValueError, match="lr"):
        _run(model_dir, tmp_path, _cfg(steps=3, val_every=0, lr=5e-4))
    # more steps is a legitimate change: the run is extended from its last checkpoint
    info = _run(model_dir, tmp_path, _cfg(steps=3, val_every=0))
    assert info["resumed_from"] == 2
    assert [r["step"] for r in _read_log(tmp_path / "out" / "train_log.csv")[1]] == ["1", "2", "3"]


def test_checkpoint_of_another_base_model_is_never_resumed(model_dir: Path, tmp_path: Path) -> None:
    """A finished run's checkpoint must not stand in for a run from a re-pretrained base model."""
    from alignrl.native.trainer import StaleCheckpoint

    _run(model_dir, tmp_path, _cfg(steps=2, val_every=0))
    other_base = tmp_path / "other_base"
    shutil.copytree(model_dir, other_base)
    with open(other_base / "config.json", "a") as fh:  # any byte of the base model differs
        fh.write("\n")
    with pytest.raises(StaleCheckpoint, match="another base model"):
        _run(other_base, tmp_path, _cfg(steps=2, val_every=0))
    messages: list[str] = []
    info = train(
        model_dir=other_base, train_rows=_rows(["7"] * N_ROWS), val_rows=_rows(["7"] * 2), task_name="math",
        out_dir=tmp_path / "out", checkpoint_dir=tmp_path / "ckpt", cfg=_cfg(steps=2, val_every=0), seed=0,
        threads=1, log=messages.append, on_stale="restart",
    )
    assert info["resumed_from"] is None
    assert any("discarding stale checkpoints" in m for m in messages)
    with pytest.raises(StaleCheckpoint, match="seed"):
        _run(other_base, tmp_path, _cfg(steps=2, val_every=0), seed=1)


# ----------------------------------------------------------------------------- learning


def test_ground_truth_reward_learns_the_fixed_answer(model_dir: Path, tmp_path: Path) -> None:
    cfg = _cfg(steps=24, samples_per_prompt=8, warmup_steps=0, save_every=24, val_every=0)
    _run(model_dir, tmp_path, cfg)
    _, log = _read_log(tmp_path / "out" / "train_log.csv")
    acc = [float(r["accuracy"]) for r in log]
    first, last = sum(acc[:4]) / 4, sum(acc[-4:]) / 4
    assert first < 0.4, acc
    assert last > first + 0.3, acc


# ----------------------------------------------------------------------------- source-paper variants


def test_vote_samples_votes_on_all_answers_and_trains_on_the_first_subset(model_dir: Path, tmp_path: Path,
                                                                          monkeypatch) -> None:
    voted: list[int] = []
    seen: list[torch.Tensor] = []
    real_loss = loop.policy_loss

    def fake(name, group):  # the trained subset's rewards differ from the rest, so a wrong slice shows
        n = len(group.responses)
        voted.append(n)
        rewards = [1.0, 0.0, 1.0, 0.0] + [5.0] * (n - 4)
        return RewardResult(rewards=rewards, correct=[False] * n, pseudo_label=None, answers=[None] * n,
                            well_formatted=[True] * n)

    def spy_loss(logp, old_logp, advantages, mask, **kw):
        seen.append(advantages.clone())
        return real_loss(logp, old_logp, advantages, mask, **kw)

    monkeypatch.setattr(loop, "compute_rewards", fake)
    monkeypatch.setattr(loop, "policy_loss", spy_loss)
    _run(model_dir, tmp_path, _cfg(steps=2, val_every=0, reward="majority_vote", vote_samples=8))
    assert voted == [8] * (2 * 4)  # every group scored on all 8 voted answers
    expected = loop.ADVANTAGES["grpo"](torch.tensor([1.0, 0.0, 1.0, 0.0]), torch.zeros(4, dtype=torch.bool))
    # 2 steps x 2 mini-batches of 2 groups x 4 trained samples, each group's advantages from its first 4
    assert [a.numel() for a in seen] == [8] * 4
    assert all(torch.allclose(a.view(-1, 4), expected.expand(2, 4)) for a in seen)
    _, log = _read_log(tmp_path / "out" / "train_log.csv")
    assert [float(r["reward_mean"]) for r in log] == [0.5, 0.5]  # step metrics are over the trained samples


def test_nsr_without_group_filter_pushes_down_all_wrong_groups(model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    seen: list[torch.Tensor] = []
    real_loss = loop.policy_loss

    def spy_loss(logp, old_logp, advantages, mask, **kw):
        seen.append(advantages.clone())
        return real_loss(logp, old_logp, advantages, mask, **kw)

    monkeypatch.setattr(loop, "policy_loss", spy_loss)
    rows = _rows(["u"] * N_ROWS)  # never the answer: every group is all wrong (uniform rewards 0)
    cfg = _cfg(steps=2, val_every=0, advantage="reinforce_nsr", dynamic_sampling=False)
    _run(model_dir, tmp_path / "zhu", cfg, rows=rows)
    assert len(seen) == 4 and all(bool((a == -1.0).all()) and a.numel() == 8 for a in seen)
    seen.clear()
    _run(model_dir, tmp_path / "filtered", {**cfg, "dynamic_sampling": True}, rows=rows)
    assert seen == []  # the group filter drops every all-wrong group: no update at all


@pytest.mark.parametrize("key, sign", [("entropy_bonus", -1.0), ("entropy_coef", 1.0)])
def test_entropy_bonus_raises_what_entropy_coef_lowers(model_dir: Path, tmp_path: Path, monkeypatch, key: str,
                                                       sign: float) -> None:
    # reward none: the policy loss is exactly 0, so the logged loss is the entropy term alone
    monkeypatch.setattr(loop, "entropy_loss", lambda logits, mask, coef: coef * (logits.sum() * 0 + 2.0))
    _run(model_dir, tmp_path, _cfg(steps=1, val_every=0, reward="none", dynamic_sampling=False, **{key: 0.25}))
    _, log = _read_log(tmp_path / "out" / "train_log.csv")
    assert float(log[0]["loss"]) == pytest.approx(sign * 0.5)


def test_clipping_off_reaches_the_loss(model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    flags: list[bool] = []
    real_loss = loop.policy_loss

    def spy_loss(logp, old_logp, advantages, mask, **kw):
        flags.append(kw["clip"])
        return real_loss(logp, old_logp, advantages, mask, **kw)

    monkeypatch.setattr(loop, "compute_rewards", _fake_rewards([]))
    monkeypatch.setattr(loop, "policy_loss", spy_loss)
    _run(model_dir, tmp_path, _cfg(steps=1, val_every=0, clipping=False))
    _, log = _read_log(tmp_path / "out" / "train_log.csv")
    assert flags == [False, False] and float(log[0]["clip_fraction"]) == 0.0


def test_a_checkpoint_from_before_a_new_setting_resumes_at_its_default() -> None:
    from alignrl.native.trainer import StaleCheckpoint, _check_resumable

    cfg = TrainConfig(**_cfg())
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("clipping", "vote_samples", "entropy_bonus")}
    state = {"version": loop.STATE_VERSION, "base_model_sha256": "b", "seed": 0, "data_fingerprint": "f",
             "config": old}
    _check_resumable(state, cfg, 0, "f", "b", Path("ckpt"))
    with pytest.raises(StaleCheckpoint, match="clipping"):
        _check_resumable(state, TrainConfig(**_cfg(clipping=False)), 0, "f", "b", Path("ckpt"))
