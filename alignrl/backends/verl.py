"""The verl training backend: one claim x model x task x seed as a ``python -m verl.trainer.main_ppo`` run.

:func:`build_overrides` turns the claim's trainer settings (``alignrl.workflow.config.training_settings``) and the
config's ``verl`` block into Hydra overrides of verl's ``ppo_trainer`` config; :func:`compose_config`
composes them with verl's own Hydra config on CPU and runs verl's own validation (the same calls
``main_ppo`` makes before it starts Ray), so a bad job fails at once and the test suite can check every job
of the paper config without a GPU. :func:`train_with_verl` runs the job, converts the final FSDP checkpoint
to a Hugging Face directory (``python -m verl.model_merger``) and writes the files the workflow expects.

Our rewards, estimators and loss reach verl through :mod:`alignrl.backends.verl_plugin` (see its docstring).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alignrl.claims.objectives import ADVANTAGES, reads_correctness
from alignrl.core.errors import ConfigError
from alignrl.trace.run_record import verl_train_log, write_run_info

__all__ = [
    "build_overrides",
    "check_claim",
    "compose_config",
    "compose_configs",
    "complete_hf_dir",
    "merge_command",
    "prompt_log_from_rollouts",
    "run_claim",
    "train_command",
    "train_with_verl",
    "write_record",
]

REWARD_FILE = Path(__file__).resolve().parent / "verl_reward.py"
PLUGIN_MODULE = "alignrl.backends.verl_plugin"


def _default_kwargs(advantage: str) -> dict[str, Any]:
    import inspect

    sig = inspect.signature(ADVANTAGES[advantage])
    return {k: p.default for k, p in sig.parameters.items() if k not in ("rewards", "correct", "eps")}


def check_claim(name: str, settings: Mapping[str, Any]) -> None:
    """Refuse what the verl backend cannot express faithfully, naming the claim's config key."""
    advantage, reward = settings["advantage"], settings["reward"]
    # an estimator that reads the true correctness sees ``score > 0`` under verl (alignrl.backends.verl_plugin)
    if reads_correctness(advantage) and reward != "ground_truth":
        raise ConfigError(
            f"config key 'claims.{name}': advantage '{advantage}' reads the true correctness, which the verl backend "
            f"recovers from the score only for reward 'ground_truth' (got '{reward}'); use backend.training: native"
        )
    defaults = _default_kwargs(advantage)
    for key, value in settings.get("advantage_kwargs", {}).items():
        if key not in defaults or defaults[key] != value:
            raise ConfigError(
                f"config key 'claims.{name}.advantage_kwargs.{key}': verl's AlgoConfig accepts no extra keys, so the "
                f"verl backend runs '{advantage}' with its defaults {defaults}; use those or backend.training: native"
            )
    if settings.get("clipping") is False or settings.get("vote_samples") is not None:
        key = "clipping" if settings.get("clipping") is False else "vote_samples"
        raise ConfigError(
            f"config key 'claims.{name}.training.{key}': the verl backend has no such setting (clipping off / "
            "TTRL's separate vote count); use backend.training: native"
        )
    if settings.get("fill_batch") == "none" and settings.get("dynamic_sampling"):
        raise ConfigError(
            f"config key 'claims.{name}.training.fill_batch': verl's dynamic sampling always fills the batch; "
            "'none' is native only"
        )


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_fmt(v) for v in value) + "]"
    if isinstance(value, str):
        # quote anything Hydra's override grammar would otherwise parse (paths with '=', ',', spaces)
        return json.dumps(value) if any(c in value for c in " ,=[]{}:'\"") else value
    return repr(value) if isinstance(value, float) else str(value)


def build_overrides(
    *,
    claim: str,
    settings: Mapping[str, Any],
    verl_cfg: Mapping[str, Any],
    model_dir: str,
    train_files: Sequence[str],
    val_files: Sequence[str],
    generator: str,
    seed: int,
    checkpoint_dir: str,
    experiment: str,
) -> list[str]:
    """Hydra overrides for verl's ``ppo_trainer`` config (``key=value`` strings, in a stable order)."""
    check_claim(claim, settings)
    from alignrl.backends.verl_plugin import POLICY_LOSS, REWARD_MANAGER, estimator_name

    prompts = int(settings["prompts_per_step"])
    mini_batches = int(settings["mini_batches_per_step"])
    if prompts % mini_batches:
        raise ConfigError(
            f"config key 'claims.{claim}.training.mini_batches_per_step': {mini_batches} does not divide "
            f"prompts_per_step = {prompts}"
        )
    micro = int(verl_cfg["micro_batch_size_per_gpu"])
    # As the official scripts: batches packed by tokens, one full prompt + response per GPU at least, so an
    # 8,192-token response never meets a fixed micro-batch of several such sequences (out of memory).
    token_budget = int(verl_cfg["max_prompt_length"]) + int(settings["max_new_tokens"])
    pairs: list[tuple[str, Any]] = [
        ("data.train_files", list(train_files)),
        ("data.val_files", list(val_files)),
        ("data.prompt_key", "prompt"),
        ("data.train_batch_size", prompts),
        # the official gen_prompt_bsz; verl 0.9.1 refills prompt by prompt while it filters groups and reads
        # this only with dynamic sampling off
        ("data.gen_batch_size", prompts),
        ("data.max_prompt_length", int(verl_cfg["max_prompt_length"])),
        ("data.max_response_length", int(settings["max_new_tokens"])),
        ("data.truncation", verl_cfg["truncation"]),
        ("data.filter_overlong_prompts", True),
        ("data.shuffle", True),
        ("data.seed", int(seed)),
        ("actor_rollout_ref.model.path", str(model_dir)),
        ("actor_rollout_ref.model.use_remove_padding", True),
        ("actor_rollout_ref.model.enable_gradient_checkpointing", True),
        ("actor_rollout_ref.actor.strategy", "fsdp"),
        ("actor_rollout_ref.actor.optim.lr", float(settings["lr"])),
        ("actor_rollout_ref.actor.optim.lr_warmup_steps", int(settings["warmup_steps"])),
        ("actor_rollout_ref.actor.optim.weight_decay", float(settings["weight_decay"])),
        ("actor_rollout_ref.actor.grad_clip", float(settings["grad_clip"])),
        ("actor_rollout_ref.actor.clip_ratio_low", float(settings["clip_low"])),
        ("actor_rollout_ref.actor.clip_ratio_high", float(settings["clip_high"])),
        ("actor_rollout_ref.actor.clip_ratio_c", float(settings["dual_clip"])),
        ("actor_rollout_ref.actor.loss_agg_mode", "token-mean"),
        ("actor_rollout_ref.actor.policy_loss.loss_mode", POLICY_LOSS),
        ("actor_rollout_ref.actor.use_kl_loss", False),
        ("actor_rollout_ref.actor.kl_loss_coef", 0.0),
        # verl ADDS entropy_coeff x entropy to the objective (maximises it): minimising is a negative coefficient
        ("actor_rollout_ref.actor.entropy_coeff",
         float(settings.get("entropy_bonus", 0.0)) - float(settings["entropy_coef"])),
        ("actor_rollout_ref.actor.ppo_mini_batch_size", prompts // mini_batches),
        ("actor_rollout_ref.actor.ppo_epochs", int(settings["ppo_epochs"])),
        ("actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu", micro),
        ("actor_rollout_ref.actor.use_dynamic_bsz", True),
        ("actor_rollout_ref.actor.ppo_max_token_len_per_gpu", token_budget),
        ("actor_rollout_ref.actor.fsdp_config.param_offload", bool(verl_cfg["offload"])),
        ("actor_rollout_ref.actor.fsdp_config.optimizer_offload", bool(verl_cfg["offload"])),
        ("actor_rollout_ref.rollout.name", "vllm"),
        ("actor_rollout_ref.rollout.n", int(settings["samples_per_prompt"])),
        ("actor_rollout_ref.rollout.temperature", float(settings["temperature"])),
        ("actor_rollout_ref.rollout.top_p", float(settings["top_p"])),
        ("actor_rollout_ref.rollout.tensor_model_parallel_size", int(verl_cfg["rollout_tensor_parallel_size"])),
        ("actor_rollout_ref.rollout.gpu_memory_utilization", float(verl_cfg["gpu_memory_utilization"])),
        ("actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu", micro),
        ("actor_rollout_ref.rollout.log_prob_use_dynamic_bsz", True),
        ("actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu", token_budget),
        ("actor_rollout_ref.rollout.enable_chunked_prefill", True),
        ("actor_rollout_ref.rollout.max_num_batched_tokens", token_budget),
        # the entropy reward reads the sampling policy's own log-probs, computed during the rollout
        ("actor_rollout_ref.rollout.calculate_log_probs", True),
        ("actor_rollout_ref.rollout.val_kwargs.n", int(settings["val_samples"])),
        ("actor_rollout_ref.rollout.val_kwargs.temperature", float(verl_cfg["val_temperature"])),
        ("actor_rollout_ref.rollout.val_kwargs.top_p", float(verl_cfg["val_top_p"])),
        ("actor_rollout_ref.rollout.val_kwargs.do_sample", True),
        ("actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu", micro),
        ("actor_rollout_ref.ref.log_prob_use_dynamic_bsz", True),
        ("actor_rollout_ref.ref.log_prob_max_token_len_per_gpu", token_budget),
        ("algorithm.adv_estimator", estimator_name(settings["advantage"], settings["reward"])),
        ("algorithm.use_kl_in_reward", False),
        ("algorithm.kl_ctrl.kl_coef", 0.0),  # official 0; read only with use_kl_in_reward, which is off
        ("algorithm.filter_groups.enable", bool(settings["dynamic_sampling"])),
        # verl 0.9.1's replay buffer reads "reward" as the canonical summed rm_scores (the official recipe's
        # seq_final_reward: the sequence's reward, no KL in it here); any other name is looked up in each
        # trajectory's reward_extra_info, which holds no seq_final_reward, and fails at run time
        ("algorithm.filter_groups.metric", "reward"),
        ("algorithm.filter_groups.max_num_gen_batches", int(settings["max_generation_batches"])),
        ("critic.enable", False),
        ("reward.reward_manager.source", "register"),
        ("reward.reward_manager.name", REWARD_MANAGER),
        ("reward.custom_reward_function.path", str(REWARD_FILE)),
        ("reward.custom_reward_function.name", "compute_score"),
        ("+reward.custom_reward_function.reward_kwargs.reward", settings["reward"]),
        ("+reward.custom_reward_function.reward_kwargs.task", generator),
        ("+reward.custom_reward_function.reward_kwargs.seed", int(seed)),
        ("trainer.total_training_steps", int(settings["steps"])),
        ("trainer.total_epochs", int(verl_cfg["max_epochs"])),
        ("trainer.save_freq", int(settings["save_every"])),
        ("trainer.test_freq", int(settings["val_every"])),
        ("trainer.val_before_train", False),
        ("trainer.max_actor_ckpt_to_keep", int(settings["keep_checkpoints"])),
        ("trainer.resume_mode", "auto"),
        ("trainer.default_local_dir", str(checkpoint_dir)),
        ("trainer.project_name", "alignrl"),
        ("trainer.experiment_name", experiment),
        ("trainer.logger", ["console", "file"]),
        # per-step generations (prompt, response, score): prompt_log.csv and the one-shot ranking read them
        ("trainer.rollout_data_dir", str(Path(checkpoint_dir) / "rollouts")),
        ("trainer.n_gpus_per_node", int(verl_cfg["n_gpus_per_node"])),
        ("trainer.nnodes", int(verl_cfg["nnodes"])),
    ]
    overrides = [f"{k}={_fmt(v)}" for k, v in pairs]
    overrides += [str(x) for x in verl_cfg.get("extra_overrides", [])]
    return overrides


def compose_config(overrides: Sequence[str]):
    """Compose verl's ``ppo_trainer`` config with ``overrides`` and run verl's own checks (CPU only).

    The checks are those ``verl.trainer.main_ppo.main`` runs before starting Ray (``validate_config``), plus
    building the algorithm and actor dataclasses, whose constructors check their own fields, and looking up
    the estimator and policy loss in verl's registries. Raises ConfigError naming the failing check.
    """
    return compose_configs([overrides])[0]


def compose_configs(jobs: Sequence[Sequence[str]]) -> list:
    """:func:`compose_config` for many jobs under one Hydra initialisation (about 1 s saved per job)."""
    import verl
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn, get_policy_loss_fn
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    import alignrl.backends.verl_plugin  # noqa: F401  (our estimators and loss must be known to the checks)

    config_dir = str(Path(verl.__file__).resolve().parent / "trainer" / "config")
    GlobalHydra.instance().clear()
    out = []
    try:
        with initialize_config_dir(config_dir=config_dir, version_base=None):
            for overrides in jobs:
                try:
                    cfg = compose(config_name="ppo_trainer", overrides=list(overrides))
                    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg),
                                    use_critic=need_critic(cfg))
                    omega_conf_to_dataclass(cfg.algorithm)
                    omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)
                    get_adv_estimator_fn(cfg.algorithm.adv_estimator)
                    get_policy_loss_fn(cfg.actor_rollout_ref.actor.policy_loss.loss_mode)
                except Exception as exc:  # Hydra, OmegaConf and verl raise many types; the message is what matters
                    raise ConfigError(f"verl rejects the generated config: {type(exc).__name__}: {exc}") from exc
                out.append(cfg)
    finally:
        GlobalHydra.instance().clear()
    return out


def train_command(overrides: Sequence[str], python: str = sys.executable) -> list[str]:
    return [python, "-m", "verl.trainer.main_ppo", *overrides]


def merge_command(
    actor_dir: str | os.PathLike, target_dir: str | os.PathLike, python: str = sys.executable
) -> list[str]:
    return [python, "-m", "verl.model_merger", "merge", "--backend", "fsdp",
            "--local_dir", str(actor_dir), "--target_dir", str(target_dir)]


def _latest_step(checkpoint_dir: Path) -> int:
    marker = checkpoint_dir / "latest_checkpointed_iteration.txt"
    if not marker.is_file():
        raise RuntimeError(f"{checkpoint_dir}: verl wrote no checkpoint (no latest_checkpointed_iteration.txt)")
    return int(marker.read_text().strip())


def _train_log(jsonl: Path, out_csv: Path) -> None:
    """verl's file logger (one JSON object per step) as ``train_log.csv`` in the run record's columns."""
    records = []
    with open(jsonl) as fh:
        for line_no, line in enumerate(fh, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise RuntimeError(f"{jsonl}:{line_no}: not a JSON record of verl's file logger ({exc})") from None
    if not records:
        raise RuntimeError(f"{jsonl}: verl logged no training step")
    verl_train_log(records, out_csv)


def write_record(
    out_dir: str | os.PathLike,
    summary: Mapping[str, Any],
    *,
    settings: Mapping[str, Any],
    seed: int,
    task: str,
    generator: str,
    provenance: Mapping[str, Any],
) -> dict[str, Any]:
    """``run_info.json`` of a finished verl run, in the contract both backends share (alignrl.trace.run_record)."""
    info = {
        **summary,
        "backend": "verl",
        "config": dict(settings),
        "seed": int(seed),
        "task": task,
        "generator": generator,
        "steps_done": int(summary["final_step"]),
        "provenance": dict(provenance),
    }
    return write_run_info(out_dir, info)


def train_with_verl(
    *,
    overrides: Sequence[str],
    out_dir: str | os.PathLike,
    checkpoint_dir: str | os.PathLike,
    log_path: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Run verl, then merge its last checkpoint into ``out_dir/model`` and write ``train_log.csv``.

    The run resumes from ``checkpoint_dir`` (``trainer.resume_mode=auto``) when Snakemake restarts it.
    Raises CalledProcessError (with the log path) when verl or the merger fails.
    """
    compose_config(overrides)  # fail before any GPU time is spent
    out_dir, checkpoint_dir = Path(out_dir), Path(checkpoint_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["VERL_USE_EXTERNAL_MODULES"] = PLUGIN_MODULE  # imported with errors raised, unlike entry points
    env["VERL_FILE_LOGGER_PATH"] = str(out_dir / "verl_log.jsonl")
    log = open(log_path, "a") if log_path else None
    try:
        subprocess.run(train_command(overrides), check=True, env=env, stdout=log,
                       stderr=subprocess.STDOUT if log else None)
        step = _latest_step(checkpoint_dir)
        actor = checkpoint_dir / f"global_step_{step}" / "actor"
        target = out_dir / "model"
        if target.exists():
            shutil.rmtree(target)
        subprocess.run(merge_command(actor, target), check=True, env=env, stdout=log,
                       stderr=subprocess.STDOUT if log else None)
    finally:
        if log:
            log.close()
    _train_log(out_dir / "verl_log.jsonl", out_dir / "train_log.csv")
    return {"final_step": step, "model_dir": str(target), "checkpoint": str(actor)}


def prompt_log_from_rollouts(
    rollout_dir: str | os.PathLike, rows: Sequence[Mapping[str, Any]], prompt_texts: Sequence[str], grader: Any
) -> Any:  # a pandas DataFrame (pandas is imported only when used)
    """The native trainer's ``prompt_log.csv`` (step, uid, samples, correct, reward_mean) from verl's dumps.

    verl writes ``{step}.jsonl`` with the decoded prompt, response and score of every rollout.
    ``prompt_texts[i]`` is row ``i``'s prompt decoded the way verl decodes it, which maps a dump back to
    its row. Correctness is recomputed with the ground-truth reward (format AND verified), whatever the
    claim's training reward was.
    """
    import pandas as pd

    from alignrl.claims.rewards import RewardGroup, compute_rewards

    by_prompt = {text.strip(): row for text, row in zip(prompt_texts, rows)}
    records: dict[tuple[int, str], dict[str, Any]] = {}
    files = sorted(Path(rollout_dir).glob("*.jsonl"), key=lambda p: int(p.stem))
    if not files:
        raise RuntimeError(f"{rollout_dir}: verl dumped no rollouts (trainer.rollout_data_dir)")
    for path in files:
        with open(path) as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                rec = json.loads(line)
                row = by_prompt.get(str(rec["input"]).strip())
                if row is None:
                    raise RuntimeError(f"{path}:{line_no}: prompt matches no training row")
                truth = str(row["reward_model"]["ground_truth"])
                correct = compute_rewards("ground_truth", RewardGroup([str(rec["output"])], truth, grader)).correct[0]
                key = (int(rec["step"]), str(row["extra_info"]["uid"]))
                agg = records.setdefault(key, {"samples": 0, "correct": 0, "reward_sum": 0.0})
                agg["samples"] += 1
                agg["correct"] += int(correct)
                agg["reward_sum"] += float(rec["score"])
    out = [
        {"step": step, "uid": uid, "samples": a["samples"], "correct": a["correct"],
         "reward_mean": a["reward_sum"] / a["samples"]}
        for (step, uid), a in sorted(records.items())
    ]
    return pd.DataFrame(out, columns=["step", "uid", "samples", "correct", "reward_mean"])


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "generation_config.json")


def complete_hf_dir(base_model: str | os.PathLike, merged: str | os.PathLike) -> list[str]:
    """Copy the base model's tokenizer files the merged checkpoint lacks, so evaluation renders the very same
    prompts (the merger writes weights and config; whether it writes the tokenizer depends on the checkpoint)."""
    copied = []
    for name in TOKENIZER_FILES:
        src, dst = Path(base_model) / name, Path(merged) / name
        if src.is_file() and not dst.exists():
            shutil.copy2(src, dst)
            copied.append(name)
    if not (Path(merged) / "config.json").is_file():
        raise RuntimeError(f"{merged}: the merged checkpoint has no config.json")
    return copied


def run_claim(
    *,
    claim: str,
    model_dir: str,
    train_rows: Sequence[Mapping[str, Any]],
    val_path: str,
    settings: Mapping[str, Any],
    verl_cfg: Mapping[str, Any],
    generator: str,
    seed: int,
    out_dir: str | os.PathLike,
    checkpoint_dir: str | os.PathLike,
    experiment: str,
    log_path: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """One training job of the workflow: data file, verl run, HF model, train and prompt logs."""
    from alignrl.claims.prompts import load_tokenizer
    from alignrl.claims.rows import write_rows
    from alignrl.claims.tasks import get_task

    out_dir, checkpoint_dir = Path(out_dir), Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    # the claim's own selection of training rows (pool, one-shot), in the file verl reads
    train_path = write_rows([dict(r) for r in train_rows], checkpoint_dir / "train_rows.parquet")
    overrides = build_overrides(
        claim=claim, settings=settings, verl_cfg=verl_cfg, model_dir=model_dir, train_files=[str(train_path)],
        val_files=[val_path], generator=generator, seed=seed, checkpoint_dir=str(checkpoint_dir), experiment=experiment,
    )
    summary = train_with_verl(overrides=overrides, out_dir=out_dir, checkpoint_dir=checkpoint_dir, log_path=log_path)
    summary["tokenizer_files_from_base"] = complete_hf_dir(model_dir, summary["model_dir"])
    tokenizer = load_tokenizer(model_dir)
    texts = []
    for row in train_rows:
        rendered = tokenizer.apply_chat_template(
            [dict(m) for m in row["prompt"]], add_generation_prompt=True, tokenize=False
        )
        ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
        texts.append(tokenizer.decode(ids, skip_special_tokens=True))
    prompt_log = prompt_log_from_rollouts(checkpoint_dir / "rollouts", train_rows, texts, get_task(generator))
    prompt_log.to_csv(out_dir / "prompt_log.csv", index=False)
    summary["overrides"] = list(overrides)
    return summary
