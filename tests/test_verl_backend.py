"""The verl backend on CPU: every paper training job composes and passes verl's own validation, our reward
runs through verl's reward manager, our estimators through verl's advantage computation, our loss through
verl's policy-loss registry. CI installs verl (envs/requirements-verl-cpu.txt), so a missing verl FAILS here."""
from pathlib import Path

import numpy as np
import pytest
import torch
import verl  # noqa: F401  (deliberately not importorskip: CI must have it)

from alignrl.backends.verl import build_overrides, check_claim, compose_config, compose_configs
from alignrl.backends.verl_plugin import estimator_name, group_advantages
from alignrl.backends.verl_reward import answer_code, compute_score, stable_int
from alignrl.claims import objectives
from alignrl.claims.answer import format_response
from alignrl.claims.rewards import REWARDS, RewardGroup, compute_rewards, random_draw
from alignrl.claims.tasks import get_task
from alignrl.workflow.config import ConfigError, claim_seeds, load_config, training_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def paper():
    return load_config(ROOT / "configs" / "paper.yaml")


def paper_jobs(cfg):
    claims = sorted({c for t in cfg["tables"].values() for c in t["claims"]})
    claims += sorted({cfg["claims"][c]["data"]["history_claim"] for c in claims
                      if cfg["claims"][c]["data"]["one_shot_rule"] == "historical_variance"
                      and cfg["claims"][c]["data"]["selection"] == "one_shot"})
    return [(c, m, t, s) for c in claims for m in sorted(cfg["models"]) for t in sorted(cfg["tasks"])
            for s in claim_seeds(cfg, c)]


def overrides_for(cfg, claim, model, task, seed):
    return build_overrides(
        claim=claim, settings=training_settings(cfg, claim), verl_cfg=cfg["verl"], model_dir=f"models/{model}",
        train_files=[f"data/{task}/train.parquet"], val_files=[f"data/{task}/val.parquet"],
        generator=cfg["tasks"][task]["generator"], seed=seed,
        checkpoint_dir=f"results/checkpoints/{claim}/{model}/{task}/seed{seed}",
        experiment=f"{claim}/{model}/{task}/seed{seed}",
    )


def test_every_paper_training_job_composes_and_passes_verl_validation(paper):
    jobs = paper_jobs(paper)
    assert len(jobs) == 12 * 2 * 2  # 11 table claims + the one-shot history run x 2 models x 2 tasks x 1 seed
    configs = compose_configs([overrides_for(paper, *job) for job in jobs])
    for (claim, model, _task, _seed), cfg in zip(jobs, configs):
        claim_cfg = paper["claims"][claim]
        assert cfg.algorithm.adv_estimator == estimator_name(claim_cfg["advantage"], claim_cfg["reward"])
        assert cfg.reward.custom_reward_function.reward_kwargs.reward == paper["claims"][claim]["reward"]
        assert cfg.actor_rollout_ref.model.path == f"models/{model}"


def test_overrides_carry_the_official_hyperparameters(paper):
    cfg = compose_config(overrides_for(paper, "ground_truth", "qwen2.5-7b", "math", 0))
    actor, rollout = cfg.actor_rollout_ref.actor, cfg.actor_rollout_ref.rollout
    assert cfg.data.train_batch_size == 128 and rollout.n == 16 and actor.ppo_mini_batch_size == 64
    assert cfg.data.max_prompt_length == 2048 and cfg.data.max_response_length == 8192 and cfg.data.truncation == "left"
    assert actor.optim.lr == pytest.approx(1e-6) and actor.optim.lr_warmup_steps == 10
    assert actor.optim.weight_decay == pytest.approx(0.1) and actor.grad_clip == pytest.approx(1.0)
    assert (actor.clip_ratio_low, actor.clip_ratio_high, actor.clip_ratio_c) == pytest.approx((0.2, 0.28, 10.0))
    assert actor.loss_agg_mode == "token-mean" and actor.use_kl_loss is False and actor.entropy_coeff == 0
    assert cfg.algorithm.use_kl_in_reward is False
    assert cfg.algorithm.filter_groups.enable is True and cfg.algorithm.filter_groups.max_num_gen_batches == 2
    assert cfg.trainer.total_training_steps == 300 and cfg.trainer.test_freq == 20 and cfg.trainer.save_freq == 50
    assert rollout.temperature == 1.0 and rollout.top_p == 1.0 and rollout.tensor_model_parallel_size == 4
    assert rollout.val_kwargs.top_p == pytest.approx(0.7) and rollout.val_kwargs.n == 1
    assert cfg.trainer.n_gpus_per_node == 8 and cfg.trainer.nnodes == 1


def test_token_level_entropy_minimisation_is_a_negative_verl_coefficient(paper):
    settings = {**training_settings(paper, "ground_truth"), "reward": "none", "entropy_coef": 0.5,
                "dynamic_sampling": False}
    ov = build_overrides(claim="entropy_token", settings=settings, verl_cfg=paper["verl"], model_dir="m",
                         train_files=["t.parquet"], val_files=["v.parquet"], generator="math_verify", seed=0,
                         checkpoint_dir="c", experiment="e")
    assert compose_config(ov).actor_rollout_ref.actor.entropy_coeff == pytest.approx(-0.5)


def test_entropy_bonus_is_a_positive_verl_coefficient(paper):
    # Wang et al.'s one-shot runs: verl's entropy_coeff 0.001 raises entropy, as our entropy_bonus does
    settings = {**training_settings(paper, "ground_truth"), "entropy_bonus": 0.001}
    ov = build_overrides(claim="one_shot_wang", settings=settings, verl_cfg=paper["verl"], model_dir="m",
                         train_files=["t.parquet"], val_files=["v.parquet"], generator="math_verify", seed=0,
                         checkpoint_dir="c", experiment="e")
    assert "actor_rollout_ref.actor.entropy_coeff=0.001" in ov


def test_verl_validation_failures_are_reported(paper):
    ov = overrides_for(paper, "ground_truth", "qwen2.5-7b", "math", 0)
    # both micro-batch spellings with fixed micro-batches: verl refuses (it skips the check with dynamic batches)
    bad = ov + ["actor_rollout_ref.actor.use_dynamic_bsz=False", "actor_rollout_ref.actor.ppo_micro_batch_size=4"]
    with pytest.raises(ConfigError, match="verl rejects the generated config"):
        compose_config(bad)
    with pytest.raises(ConfigError, match="verl rejects"):
        compose_config(ov + ["algorithm.adv_estimator=no_such_estimator"])


def test_unfaithful_pairings_are_refused(paper):
    settings = training_settings(paper, "nsr")
    with pytest.raises(ConfigError, match=r"claims\.x.*true correctness"):
        check_claim("x", {**settings, "reward": "random"})
    with pytest.raises(ConfigError, match=r"claims\.y\.advantage_kwargs\.lam"):
        check_claim("y", {**training_settings(paper, "w_reinforce"), "advantage_kwargs": {"lam": 0.5}})
    check_claim("w", training_settings(paper, "w_reinforce"))  # lam = 0.1 is the default: allowed


class CharTokenizer:
    """Token id = code point; verl's reward manager only decodes."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(int(i)) for i in ids if int(i) > 0)


def _batch(texts, prompt_len=3, logprobs=None):
    from tensordict import TensorDict
    from verl import DataProto

    width = max(len(t) for t in texts) + 2
    responses = torch.zeros(len(texts), width, dtype=torch.long)
    attention = torch.zeros(len(texts), prompt_len + width, dtype=torch.long)
    attention[:, :prompt_len] = 1
    for i, t in enumerate(texts):
        responses[i, : len(t)] = torch.tensor([ord(c) for c in t])
        attention[i, prompt_len: prompt_len + len(t)] = 1
    tensors = {"prompts": torch.ones(len(texts), prompt_len, dtype=torch.long), "responses": responses,
               "attention_mask": attention}
    if logprobs is not None:
        lp = torch.zeros(len(texts), width)
        for i, t in enumerate(texts):
            lp[i, : len(t)] = logprobs[i]
        tensors["rollout_log_probs"] = lp
    n = len(texts)
    return DataProto(
        batch=TensorDict(tensors, batch_size=n),
        non_tensor_batch={
            "data_source": np.array(["hub/math/train"] * n, dtype=object),
            "reward_model": np.array([{"ground_truth": "1/2", "style": "rule"}] * n, dtype=object),
            "extra_info": np.array([{"uid": "math-train-000001"}] * n, dtype=object),
        },
    )


TEXTS = [
    format_response("half", "0.5"),        # right (symbolically), well formatted
    format_response("half", "\\frac{1}{2}"),
    format_response("wrong", "3"),
    "<answer>\\boxed{1/2}</answer>",       # right answer, badly formatted
]


@pytest.mark.parametrize("reward", ["ground_truth", "incorrect", "format", "random", "entropy"])
def test_rewards_run_through_verls_reward_manager(paper, reward):
    from verl.trainer.ppo.reward import load_reward_manager

    settings = {**training_settings(paper, "ground_truth"), "reward": reward}
    ov = build_overrides(claim=reward, settings=settings, verl_cfg=paper["verl"], model_dir="m", train_files=["t"],
                         val_files=["v"], generator="math_verify", seed=3, checkpoint_dir="c", experiment="e")
    manager = load_reward_manager(compose_config(ov), CharTokenizer())
    logprobs = [-0.1, -0.4, -0.9, -2.0]
    data = _batch(TEXTS, logprobs=logprobs)
    # verl's reward worker drives run_single on the manager's own event loop
    out = [manager.loop.run_until_complete(manager.run_single(data[i: i + 1])) for i in range(len(TEXTS))]
    grader = get_task("math_verify")
    expected_correct = [True, True, False, False]
    assert [o["reward_extra_info"]["acc"] for o in out] == [float(c) for c in expected_correct]
    for i, (o, text) in enumerate(zip(out, TEXTS)):
        if reward == "random":  # fmt x the coin keyed by (seed, problem, response)
            coin = random_draw(3, stable_int("math-train-000001", text), 0)
            assert o["reward_score"] == float(coin and i < 3)
        else:
            group = RewardGroup([text], "1/2", grader, seed=3, mean_logprobs=[logprobs[i]])
            assert o["reward_score"] == pytest.approx(compute_rewards(reward, group).rewards[0], abs=1e-6)
    if reward == "entropy":
        assert [o["reward_score"] for o in out] == pytest.approx(logprobs)


def test_random_reward_is_fair_and_stable():
    grader = get_task("math_verify")
    texts = [format_response(f"try {i}", str(i)) for i in range(400)]
    def scores(seed):
        return [compute_score("hub", t, "1", {"uid": "u"}, reward="random", task="math_verify", seed=seed)["score"]
                for t in texts]

    draws, again, other = scores(1), scores(1), scores(2)
    assert draws == again and draws != other
    assert 0.4 < np.mean(draws) < 0.6
    assert grader.verify("1", "1")


def test_entropy_reward_without_logprobs_is_an_error():
    with pytest.raises(ValueError, match="rollout log-probs"):
        compute_score("hub", TEXTS[0], "1/2", {}, reward="entropy", task="math_verify")


def _advantage_batch(scores, uids, width=5):
    from tensordict import TensorDict
    from verl import DataProto

    n = len(scores)
    mask = torch.ones(n, width)
    mask[0, 3:] = 0  # ragged responses
    tlr = torch.zeros(n, width)
    tlr[torch.arange(n), mask.sum(-1).long() - 1] = torch.tensor(scores, dtype=torch.float32)
    return DataProto(batch=TensorDict({"token_level_rewards": tlr, "response_mask": mask}, batch_size=n),
                     non_tensor_batch={"uid": np.array(uids, dtype=object)}), mask


@pytest.mark.parametrize("advantage", sorted(objectives.ADVANTAGES))
def test_estimators_run_through_verls_advantage_computation(advantage):
    from verl.trainer.config import AlgoConfig
    from verl.trainer.ppo.ray_trainer import compute_advantage

    scores = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    uids = ["a", "a", "a", "a", "b", "b", "b", "b"]
    data, mask = _advantage_batch(scores, uids)
    name = estimator_name(advantage, "ground_truth")
    out = compute_advantage(data, adv_estimator=name, config=AlgoConfig(adv_estimator=name))
    adv = out.batch["advantages"]
    for uid in ("a", "b"):
        idx = [i for i, u in enumerate(uids) if u == uid]
        r = torch.tensor([scores[i] for i in idx])
        want = objectives.compute_advantages(advantage, r, r > 0)
        for j, i in enumerate(idx):
            assert torch.allclose(adv[i], want[j] * mask[i], atol=1e-6)


def test_majority_vote_codes_reproduce_the_native_reward():
    grader = get_task("exact_match")
    texts = [format_response("x", "cat"), format_response("y", "dog"), format_response("z", " cat "),
             "<think>no</think> <answer>\\boxed{dog}</answer> trailing",  # answer votes, format fails
             "<think>q</think>\n<answer>\\boxed{dog}</answer>", "no answer at all"]
    native = REWARDS["majority_vote"](RewardGroup(texts, "cat", grader))
    codes = torch.tensor([answer_code(t) for t in texts], dtype=torch.float32)  # verl's scores are float32
    from alignrl.backends.verl_plugin import majority_rewards

    assert majority_rewards(codes).tolist() == native
    adv = group_advantages(codes, np.array(["g"] * len(texts)), "grpo", majority_vote=True)
    assert torch.allclose(adv, objectives.compute_advantages("grpo", torch.tensor(native), torch.tensor(native) > 0))


def test_policy_loss_through_verl_registry_equals_ours_and_verls_vanilla():
    from verl.trainer.ppo.core_algos import get_policy_loss_fn
    from verl.workers.config import ActorConfig

    torch.manual_seed(0)
    old = torch.randn(4, 6) * 0.1 - 1
    new = old + torch.randn(4, 6) * 0.3
    adv = torch.randn(4, 1).expand(4, 6).clone()
    mask = (torch.rand(4, 6) > 0.2).float()
    cfg = ActorConfig(strategy="fsdp", clip_ratio_low=0.2, clip_ratio_high=0.28, clip_ratio_c=10.0,
                      ppo_mini_batch_size=4, ppo_micro_batch_size_per_gpu=1, rollout_n=1)
    ours, stats = get_policy_loss_fn("alignrl_dapo")(old, new, adv, mask, "token-mean", cfg)
    direct, _ = objectives.policy_loss(new, old, adv, mask, clip_low=0.2, clip_high=0.28, dual_clip=10.0)
    vanilla, vstats = get_policy_loss_fn("vanilla")(old, new, adv, mask, "token-mean", cfg)
    assert torch.allclose(ours, direct) and torch.allclose(ours, vanilla, atol=1e-6)
    assert stats["actor/pg_clipfrac"] == pytest.approx(vstats["actor/pg_clipfrac"], abs=1e-6)


def test_verl_loads_our_plugin_through_its_entry_point_group():
    """A fresh process that imports only verl (as a Ray worker does) sees our registrations."""
    import subprocess
    import sys

    code = ("import verl\n"
            "from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, POLICY_LOSS_REGISTRY\n"
            "from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls\n"
            "import sys\n"
            "assert 'alignrl.backends.verl_plugin' in sys.modules, 'entry point not loaded'\n"
            "assert 'alignrl_majority_vote_grpo' in ADV_ESTIMATOR_REGISTRY and 'alignrl_dapo' in POLICY_LOSS_REGISTRY\n"
            "print(get_reward_manager_cls('alignrl').__name__)\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "VERL_USE_EXTERNAL_MODULES"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "AlignrlRewardManager" in out.stdout


def test_prompt_log_from_verl_rollout_dumps(tmp_path):
    import json

    from alignrl.backends.verl import prompt_log_from_rollouts

    rows = [{"reward_model": {"ground_truth": "1/2"}, "extra_info": {"uid": "a"}},
            {"reward_model": {"ground_truth": "3"}, "extra_info": {"uid": "b"}}]
    texts = ["user: half?\nassistant:", "user: three?\nassistant:"]
    dump = [
        {"input": texts[0], "output": TEXTS[0], "score": 1.0, "step": 1},
        {"input": texts[0], "output": TEXTS[3], "score": 0.0, "step": 1},   # right answer, bad format: wrong
        {"input": texts[1], "output": format_response("t", "3"), "score": 0.0, "step": 1},  # score is not correctness
    ]
    (tmp_path / "1.jsonl").write_text("\n".join(json.dumps(d) for d in dump))
    log = prompt_log_from_rollouts(tmp_path, rows, texts, get_task("math_verify"))
    assert log.to_dict("records") == [
        {"step": 1, "uid": "a", "samples": 2, "correct": 1, "reward_mean": 0.5},
        {"step": 1, "uid": "b", "samples": 1, "correct": 1, "reward_mean": 0.0},
    ]
    (tmp_path / "2.jsonl").write_text(json.dumps({"input": "unknown prompt", "output": "x", "score": 0, "step": 2}))
    with pytest.raises(RuntimeError, match="2.jsonl:1: prompt matches no training row"):
        prompt_log_from_rollouts(tmp_path, rows, texts, get_task("math_verify"))


def test_merged_checkpoint_gets_the_base_tokenizer(tmp_path):
    from alignrl.backends.verl import complete_hf_dir

    base, merged = tmp_path / "base", tmp_path / "merged"
    base.mkdir()
    merged.mkdir()
    (base / "tokenizer.json").write_text("{base}")
    (base / "tokenizer_config.json").write_text("{cfg}")
    (merged / "tokenizer_config.json").write_text("{merged}")  # the merger's own copy wins
    (merged / "config.json").write_text("{}")
    assert complete_hf_dir(base, merged) == ["tokenizer.json"]
    assert (merged / "tokenizer.json").read_text() == "{base}"
    assert (merged / "tokenizer_config.json").read_text() == "{merged}"
    (merged / "config.json").unlink()
    with pytest.raises(RuntimeError, match="no config.json"):
        complete_hf_dir(base, merged)


def test_a_verl_run_directory_passes_the_audit_with_the_shared_run_record(tmp_path, monkeypatch):
    """The files train_with_verl and run_claim leave, then write_record: the same contract as a native run."""
    import csv
    import json

    from alignrl.backends.verl import _train_log, prompt_log_from_rollouts, write_record
    from alignrl.trace.audit import audit_run
    from alignrl.trace.run_record import LOG_COLUMNS

    monkeypatch.chdir(tmp_path)
    run = Path("results/runs/gt/A/math/seed0")
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text("{}")
    (run / "model" / "model.safetensors").write_bytes(b"merged weights")
    steps = [{"step": s, "data": {"critic/score/mean": 0.25 * s, "actor/pg_loss": -0.1, "actor/lr": 1e-6,
                                  "timing_s/step": 3.5, "actor/pg_clipfrac": 0.01, "note": "text is dropped"}}
             for s in (1, 2)]
    (run / "verl_log.jsonl").write_text("\n".join(json.dumps(s) for s in steps) + "\n")
    _train_log(run / "verl_log.jsonl", run / "train_log.csv")
    rows = [{"reward_model": {"ground_truth": "3"}, "extra_info": {"uid": "a"}}]
    rollouts = tmp_path / "ckpt" / "rollouts"
    rollouts.mkdir(parents=True)
    (rollouts / "1.jsonl").write_text(json.dumps({"input": "q", "output": format_response("t", "3"), "score": 1.0,
                                                  "step": 1}))
    prompt_log_from_rollouts(rollouts, rows, ["q"], get_task("math")).to_csv(run / "prompt_log.csv", index=False)
    settings = {"lr": 1e-6, "steps": 2, "reward": "ground_truth", "advantage": "grpo"}
    summary = {"final_step": 2, "model_dir": str(run / "model"), "checkpoint": "ckpt/global_step_2/actor"}
    info = write_record(run, summary, settings=settings, seed=0, task="math", generator="math",
                        provenance={"rule": "train_claim", "inputs": {}})

    with open(run / "train_log.csv", newline="") as fh:
        log = list(csv.DictReader(fh))
    assert list(log[0]) == list(LOG_COLUMNS)
    assert [r["reward_mean"] for r in log] == ["0.25", "0.5"] and log[0]["accuracy"] == ""
    assert info["backend"] == "verl" and info["steps_done"] == 2
    checks = audit_run(run, expected_settings=lambda claim: settings)
    assert checks and all(c.ok for c in checks), [c.line() for c in checks if not c.ok]
    # and the record is held to the config: another lr fails the audit
    checks = audit_run(run, expected_settings=lambda claim: {**settings, "lr": 1e-5})
    assert any(not c.ok and "config.lr" in c.detail for c in checks)
