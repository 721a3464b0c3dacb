"""The pure parts of the TRL cross-check (benchmarks/trl_crosscheck.py): the settings mapping, the warm-up, the
prompt order, the reward adapter and the verdict. None needs TRL; the last test checks the GRPOConfig itself
where TRL is installed (`make bench`)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from alignrl.claims.answer import format_response
from alignrl.claims.tasks import get_task
from alignrl.native.grpo import TrainConfig, Trainer
from alignrl.native.modeling import build_model
from alignrl.native.tokenizer import build_tokenizer, chat_prompt
from alignrl.workflow.config import load_config
from benchmarks import trl_crosscheck as xc

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def settings() -> dict:
    return xc.claim_settings(load_config(ROOT / "config.yaml"), "ground_truth")


def test_settings_are_the_pipelines_with_dynamic_sampling_off(settings: dict) -> None:
    cfg = load_config(ROOT / "config.yaml")
    assert cfg["training"]["dynamic_sampling"] is True  # the pipeline's; the cross-check turns it off
    assert settings["dynamic_sampling"] is False
    for key in ("steps", "prompts_per_step", "samples_per_prompt", "mini_batches_per_step", "lr", "warmup_steps",
                "clip_low", "clip_high", "dual_clip", "max_new_tokens", "weight_decay", "grad_clip"):
        assert settings[key] == cfg["training"][key], key
    assert settings["reward"] == "ground_truth" and settings["advantage"] == "grpo"
    assert xc.claim_settings(cfg, "ground_truth", steps=2, lr=1e-4)["steps"] == 2
    with pytest.raises(ValueError, match="no_such_claim"):
        xc.claim_settings(cfg, "no_such_claim")


def test_mini_batches_map_to_trl_batches_and_optimizer_steps(settings: dict) -> None:
    # 2 updates per rollout batch (the cross-check's measured setting; the default is now 8): the numbers below
    settings = {**settings, "mini_batches_per_step": 2}
    m = xc.trl_settings(settings)
    g = m["grpo_config"]
    p, n = settings["prompts_per_step"], settings["samples_per_prompt"]
    assert (p, n) == (8, 16)  # the embedded default's
    eight = xc.trl_settings({**settings, "mini_batches_per_step": 8})["grpo_config"]
    assert eight["per_device_train_batch_size"] == 16 and eight["steps_per_generation"] == 8
    assert g["num_generations"] == 16
    assert g["per_device_train_batch_size"] == 64  # 8 x 16 / 2 completions per optimizer step
    assert g["steps_per_generation"] == 2 and g["gradient_accumulation_steps"] == 1
    # one generation batch per RL step: TRL's default generation batch is per-device batch x steps_per_generation
    assert g["per_device_train_batch_size"] * g["steps_per_generation"] == p * n
    assert g["max_steps"] == settings["steps"] * 2 and m["updates_per_step"] == 2
    assert (g["loss_type"], g["beta"], g["epsilon"], g["epsilon_high"]) == ("dapo", 0.0, 0.2, 0.28)
    assert g["delta"] == settings["dual_clip"] == 10.0
    assert (g["scale_rewards"], g["top_k"], g["top_p"], g["temperature"]) == ("group", 0, 1.0, 1.0)
    assert g["shuffle_dataset"] is False and g["mask_truncated_completions"] is False
    assert g["max_completion_length"] == settings["max_new_tokens"]
    two_epochs = xc.trl_settings({**settings, "ppo_epochs": 2})
    assert two_epochs["grpo_config"]["num_iterations"] == 2 and two_epochs["updates_per_step"] == 4
    assert two_epochs["grpo_config"]["max_steps"] == settings["steps"] * 4
    assert xc.trl_settings({**settings, "dual_clip": None})["grpo_config"]["delta"] is None


@pytest.mark.parametrize("change, key", [
    ({"dynamic_sampling": True}, "dynamic_sampling"),
    ({"advantage": "w_reinforce"}, "advantage"),
    ({"reward": "entropy"}, "reward"),
    ({"entropy_coef": 0.01}, "entropy_coef"),
    ({"prompts_per_step": 7}, "mini_batches_per_step"),
    ({"dual_clip": 1.1}, "dual_clip"),
])
def test_settings_trl_cannot_reproduce_are_refused_by_name(settings: dict, change: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        xc.trl_settings({**settings, **change})


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    tok = build_tokenizer([f"What is {k} + 1?" for k in range(12)] + [format_response("ok", "7")])
    build_model("qwen2", len(tok), hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                max_position_embeddings=128, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                seed=0).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _parts(k: int) -> list:
    return [(chat_prompt(f"What is {i} + 1?"), str(i + 1), f"uid-{i}") for i in range(k)]


def _native(tiny_model: Path, settings: dict, seed: int = 3) -> Trainer:
    cfg = TrainConfig.from_dict({**settings, "max_new_tokens": 4})
    return Trainer(tiny_model, get_task("math"), _parts(12), [], cfg, seed=seed)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")
def test_warmup_matches_the_native_schedule_update_by_update(tiny_model: Path, settings: dict) -> None:
    trainer = _native(tiny_model, settings)
    per_step, warmup, lr = xc.updates_per_step(settings), settings["warmup_steps"], settings["lr"]
    seen = []
    for step in range(warmup + 3):  # the native scheduler steps once per RL step; every update of it shares the lr
        native = trainer.optimizer.param_groups[0]["lr"]
        for j in range(per_step):
            assert lr * xc.lr_factor(step * per_step + j, warmup, per_step) == pytest.approx(native, rel=1e-12)
        seen.append(native)
        trainer.scheduler.step()
    assert seen[0] == pytest.approx(lr / warmup) and seen[-1] == pytest.approx(lr)  # learns from step 1, unlike HF
    assert xc.lr_factor(0, 0, 2) == 1.0


def test_trl_sees_the_prompts_the_native_trainer_draws(tiny_model: Path, settings: dict) -> None:
    trainer = _native(tiny_model, settings)
    p = settings["prompts_per_step"]
    order = xc.draw_order(12, 3, 3 * p)  # 24 draws from 12 rows: crosses an epoch boundary
    assert order == [i for _ in range(3) for i in trainer.order.take(p)]
    assert order != xc.draw_order(12, 4, 3 * p)
    # TRL tokenizes a text prompt with the tokenizer's defaults: the same ids as the native trainer's prompts
    tok = trainer.tokenizer
    texts = tok.apply_chat_template([c for c, _, _ in _parts(12)], add_generation_prompt=True, tokenize=False)
    assert tok(texts)["input_ids"] == trainer.train_prompts


def test_reward_adapter_pays_only_well_formatted_correct_answers() -> None:
    seen: list = []
    reward = xc.make_reward("ground_truth", get_task("math"), seen)
    completions = [format_response("2+5", "7"), format_response("guess", "8"), "<answer>\\boxed{7}</answer>",
                   "7", format_response("ok", "3")]
    prompts = ["p1"] * 4 + ["p2"]
    truths = ["7"] * 4 + ["3"]
    assert reward(prompts=prompts, completions=completions, ground_truth=truths, uid=["a"] * 4 + ["b"]) == [
        1.0, 0.0, 0.0, 0.0, 1.0]
    assert seen == ["a", "b"]  # one group per run of identical prompts
    chat = [[{"role": "assistant", "content": c}] for c in completions]  # conversational completions
    assert reward(prompts=prompts, completions=chat, ground_truth=truths) == [1.0, 0.0, 0.0, 0.0, 1.0]
    assert xc.make_reward("incorrect", get_task("math"))(prompts=prompts, completions=completions,
                                                         ground_truth=truths) == [0.0, 1.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="entropy"):
        xc.make_reward("entropy", get_task("math"))


def _samples(correct: dict[str, list[bool]]) -> pd.DataFrame:
    return pd.DataFrame([{"problem_id": p, "sample_index": i, "correct": c}
                         for p, cs in correct.items() for i, c in enumerate(cs)])


def test_verdict_agrees_on_equal_gains_and_not_on_different_ones() -> None:
    problems = [f"q{i:02d}" for i in range(40)]
    base = _samples({p: [False] * 4 for p in problems})
    half = _samples({p: [i % 2 == 0] * 4 for i, p in enumerate(problems)})
    full = _samples({p: [True] * 4 for p in problems})
    boot = {"n_boot": 200, "alpha": 0.05, "seed": 7}
    same = xc.compare(base, [half], [half], boot)
    assert same["verdict"] == "agree" and same["difference_trl_minus_native"]["mean"] == 0.0
    assert same["gain"]["native"]["mean"] == pytest.approx(0.5) and same["gain"]["native"]["low"] > 0
    apart = xc.compare(base, [half], [full], boot)
    assert apart["verdict"] == "disagree" and apart["difference_trl_minus_native"]["low"] > 0
    two = xc.compare(base, [half, full], [full, half], boot)  # the seeds pooled: the same mean gain
    assert two["seeds"] == 2 and two["difference_trl_minus_native"]["mean"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="same number"):
        xc.compare(base, [half], [half, half], boot)
    with pytest.raises(ValueError, match="other problems"):
        xc.compare(base, [_samples({p: [True] * 4 for p in problems[:-1]})], [half], boot)


def test_markdown_states_the_verdict_the_gains_and_what_differs(settings: dict) -> None:
    problems = [f"q{i:02d}" for i in range(10)]
    base = _samples({p: [False] * 2 for p in problems})
    better = _samples({p: [True, i < 5] for i, p in enumerate(problems)})
    r = xc.compare(base, [better], [base], {"n_boot": 100, "alpha": 0.05, "seed": 7})
    side = {"wall_s_per_rl_step": 1.5, "cpu_s_per_rl_step": 1.25, "median_step_wall_s": 1.0}
    r.update(cell={"model": "A", "task": "math", "claim": "ground_truth"}, rl_seeds=[0], command="python -m x",
             evaluation={"problems": 10, "of": "the full test split", "n": 2, "temperature": 1.0, "seed": 1234,
                         "bootstrap": {"n_boot": 100}},
             settings={"native": settings, "trl": xc.trl_settings(settings)}, unmatched=list(xc.UNMATCHED),
             same_prompts_per_seed=[True], same_lr_per_update_per_seed=[False], base_equals_tree_baseline=None,
             sides={"native": side, "trl": side},
             machine={"cpu": "cpu", "load_average_at_start": 0.0, "torch": "t", "transformers": "tf", "trl": "1"})
    text = "\n".join(xc.markdown(r))
    assert "**disagree**" in text and "+0.750" in text  # native gains 0.75, TRL (= base) nothing
    assert "the same lr at every optimizer update: NO" in text
    assert all(u in text for u in xc.UNMATCHED)


def test_missing_tree_inputs_are_named(tmp_path: Path) -> None:
    (tmp_path / "models" / "A").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="train.parquet"):
        xc.tree_inputs(tmp_path, "A", "math")


def test_grpo_config_built_from_the_mapping(settings: dict, tmp_path: Path) -> None:
    trl = pytest.importorskip("trl")
    m = xc.trl_settings(settings)
    args = trl.GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none", **m["grpo_config"])
    assert args.generation_batch_size == settings["prompts_per_step"] * settings["samples_per_prompt"]
    mb = settings["mini_batches_per_step"]  # updates per rollout batch: TRL's steps per generation
    assert (args.steps_per_generation, args.num_generations, args.max_steps) == (mb, 16, settings["steps"] * mb)
    assert (args.epsilon, args.epsilon_high, args.delta, args.beta, args.loss_type) == (0.2, 0.28, 10.0, 0.0, "dapo")
    assert args.scale_rewards == "group" and args.shuffle_dataset is False and args.gradient_checkpointing is False
    assert torch.get_num_threads() == 1
