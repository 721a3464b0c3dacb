"""The native trainer cross-checked against TRL's ``GRPOTrainer`` (issue 17): the same claim, trained both ways.

    python -m benchmarks.trl_crosscheck --tree DIR [--model A --task math --claim ground_truth --seeds 0 1 2]

``DIR`` is a results tree where the embedded default ran (``DIR/models/<model>``, ``DIR/data/<task>/``). For each
RL seed the claim is trained from the same base model twice, by :func:`alignrl.native.trainer.train` and by TRL,
each in its own child process with one thread; then the base model and every trained model are evaluated by the
pipeline's evaluator (:func:`alignrl.native.evaluate.evaluate`, the config's ``evaluation`` settings) on the
task's test split. Each side's pass@1 gain over the base gets its paired bootstrap interval over problems (over
seeds and problems with several seeds, :class:`alignrl.analysis.bootstrap.CellBootstrap`), and so does the
difference TRL gain minus native gain; the two trainers **agree** iff that difference's interval holds 0.

Same inputs on both sides: the config's ``training:`` block with the claim's overrides (``--steps`` / ``--lr``
may override), dynamic sampling off on both (TRL has none); the same prompts in the same order (the native
trainer's seeded draw, handed to TRL as an unshuffled dataset, rendered by the same chat template to the same
token ids); the same reward function (TRL's reward function calls :func:`alignrl.claims.rewards.compute_rewards`
on the decoded completions and each row's ground truth). The mapping (:func:`trl_settings`):

* a step's ``prompts_per_step x samples_per_prompt`` completions are one TRL generation batch:
  ``num_generations = samples_per_prompt``, ``steps_per_generation = mini_batches_per_step``,
  ``per_device_train_batch_size = prompts x samples / mini_batches``, ``gradient_accumulation_steps = 1``: TRL
  generates once every ``steps_per_generation`` optimizer steps and takes one buffered slice per step, so a
  native RL step is ``mini_batches_per_step x ppo_epochs`` TRL optimizer steps (``num_iterations = ppo_epochs``)
  and ``max_steps = steps x`` that;
* the optimizer and schedule are passed in (``optimizers=``): ``torch.optim.AdamW`` on every parameter with the
  native lr, betas, eps and weight decay (the HF Trainer's own AdamW exempts biases and norms from decay), and a
  ``LambdaLR`` that warms up per RL step as ours does: update ``u`` runs at ``lr * min(1, (u // updates_per_step
  + 1) / warmup_steps)`` (:func:`lr_factor`); HF's ``warmup_steps`` counts optimizer updates from lr 0;
* ``loss_type="dapo"``, ``epsilon = clip_low``, ``epsilon_high = clip_high``, ``beta = 0``; our dual clip
  (a negative-advantage token's ratio capped at ``dual_clip``) is TRL's ``delta`` (INTELLECT-2's two-sided clip,
  ratio capped at ``delta`` before the min): for ``delta > 1 + epsilon_high`` it changes only negative-advantage
  tokens, exactly as ours;
* ``scale_rewards="group"``: ``(r - mean) / (std + eps)`` with Bessel's std, as our ``grpo`` estimator;
* temperature, top-p 1, ``top_k = 0``, ``max_completion_length = max_new_tokens``, truncated completions kept in
  the loss (``mask_truncated_completions=False``), end-of-sequence token in the loss on both sides, grad-norm clip.

What cannot be matched (said in the rendered section too, :data:`UNMATCHED`): the random numbers (TRL samples
with ``model.generate`` and torch's global generator, ours with its own sampler and generator: same distribution,
other draws, hence intervals); TRL shuffles a step's completions before splitting them into mini-batches, ours
splits whole groups in order; TRL's DAPO token mean divides each mini-batch's token sum by the step's tokens
over the number of mini-batches, ours by the mini-batch's own; the advantage's eps is 1e-4 in TRL, 1e-6 in
ours; TRL's training forward counts left padding in the positions (no effect under rotary embeddings, which see
relative positions only).

Writes ``OUT/result.json`` (settings of both sides, gains, intervals, verdict, wall and CPU seconds, versions,
CPU) and ``OUT/section.md`` (:func:`markdown`); ``--record`` also stores the result in
``benchmarks/out/results.json``, from which ``python -m benchmarks.run --render-only`` puts the section into
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks import common

SIDES = ("native", "trl")
DEFAULT_OUT = common.OUT / "trl_crosscheck"
# Rewards that are a function of the response texts and the ground truth alone: all TRL hands a reward function
# (the entropy reward needs the sampler's log-probs, the random one the native trainer's group ids).
TEXT_REWARDS = frozenset({"ground_truth", "format", "incorrect", "majority_vote"})
UNMATCHED = (
    "random numbers: TRL samples with `model.generate` and torch's global generator, ours with its own sampler "
    "and generator (same distribution, other draws)",
    "mini-batches: TRL shuffles a step's completions before splitting them, ours splits whole groups in order",
    "DAPO token mean: TRL divides a mini-batch's token sum by the step's tokens / mini-batches, ours by the "
    "mini-batch's own count",
    "advantage eps: 1e-4 in TRL, 1e-6 in ours (std of a mixed 16-sample 0/1 group >= 0.25)",
    "positions: TRL's training forward counts left padding (no effect under rotary embeddings)",
)


# ----------------------------------------------------------------------------- the mapping (pure)


def claim_settings(config: Mapping[str, Any], claim: str, *, steps: int | None = None,
                   lr: float | None = None) -> dict[str, Any]:
    """The native trainer's settings of ``claim`` for the cross-check: the pipeline's, dynamic sampling off."""
    from alignrl.native.grpo import TrainConfig
    from alignrl.workflow.config import training_settings

    if claim not in config["claims"]:
        raise ValueError(f"claim {claim!r} is not in the config's claims: {sorted(config['claims'])}")
    settings = training_settings(dict(config), claim)
    settings["dynamic_sampling"] = False  # TRL has no dynamic sampling
    settings["val_every"] = 0  # validation never changes training; TRL runs none either
    if steps is not None:
        settings["steps"] = int(steps)
    if lr is not None:
        settings["lr"] = float(lr)
    return TrainConfig.from_dict(settings).to_dict()  # schema defaults filled (betas, eps) and values checked


def updates_per_step(settings: Mapping[str, Any]) -> int:
    return int(settings["mini_batches_per_step"]) * int(settings["ppo_epochs"])


def lr_factor(update: int, warmup_steps: int, per_step: int) -> float:
    """The lr multiplier of optimizer update ``update`` (0-based) under the native schedule.

    The native trainer warms up per RL step (step ``s`` = 1, 2, ... at ``min(1, s / warmup_steps)``, every update
    of the step at the same lr); an RL step is ``per_step`` updates.
    """
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (update // per_step + 1) / warmup_steps)


def trl_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``GRPOConfig`` keyword arguments (``grpo_config``) and the optimizer (``optimizer``) of the native settings.

    ValueError names a setting TRL cannot reproduce. The seed, output directory and bookkeeping (logging,
    saving) are the caller's.
    """
    s = settings

    def refuse(key: str, why: str) -> None:
        raise ValueError(f"trainer setting {key!r} = {s[key]!r}: {why}")

    if s["dynamic_sampling"]:
        refuse("dynamic_sampling", "TRL has no dynamic sampling; the cross-check runs both sides without it")
    if s["advantage"] != "grpo":
        refuse("advantage", "TRL normalises rewards per group only (our 'grpo' estimator)")
    if s["reward"] not in TEXT_REWARDS:
        refuse("reward", f"TRL hands a reward function texts only; supported: {sorted(TEXT_REWARDS)}")
    if s["entropy_coef"]:
        refuse("entropy_coef", "TRL's entropy term is a bonus, ours a penalty")
    prompts, samples, mb = int(s["prompts_per_step"]), int(s["samples_per_prompt"]), int(s["mini_batches_per_step"])
    if prompts % mb:
        refuse("mini_batches_per_step", f"must divide prompts_per_step = {prompts}: TRL's mini-batches are equal")
    if s["dual_clip"] is not None and s["dual_clip"] <= 1 + s["clip_high"]:
        refuse("dual_clip", "TRL's delta equals our dual clip only above 1 + clip_high")
    per_step = updates_per_step(s)
    grpo = {
        "num_generations": samples,
        "per_device_train_batch_size": prompts * samples // mb,
        "steps_per_generation": mb,
        "gradient_accumulation_steps": 1,
        "num_iterations": int(s["ppo_epochs"]),
        "max_steps": int(s["steps"]) * per_step,
        "loss_type": "dapo",
        "beta": 0.0,
        "epsilon": float(s["clip_low"]),
        "epsilon_high": float(s["clip_high"]),
        "delta": None if s["dual_clip"] is None else float(s["dual_clip"]),
        "scale_rewards": "group",
        "importance_sampling_level": "token",
        "temperature": float(s["temperature"]),
        "top_p": float(s["top_p"]),
        "top_k": 0,
        "max_completion_length": int(s["max_new_tokens"]),
        "mask_truncated_completions": False,
        "max_grad_norm": float(s["grad_clip"]),
        # recorded for the reader; the optimizer and schedule below are what runs
        "learning_rate": float(s["lr"]),
        "weight_decay": float(s["weight_decay"]),
        "adam_beta1": float(s["betas"][0]),
        "adam_beta2": float(s["betas"][1]),
        "adam_epsilon": float(s["adam_eps"]),
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "shuffle_dataset": False,  # the dataset comes in the native trainer's draw order
        "disable_dropout": True,
        "gradient_checkpointing": False,  # TRL 1.x turns it on by default; ours recomputes nothing
    }
    optimizer = {"name": "torch.optim.AdamW", "params": "every parameter", "lr": float(s["lr"]),
                 "betas": [float(b) for b in s["betas"]], "eps": float(s["adam_eps"]),
                 "weight_decay": float(s["weight_decay"]),
                 "schedule": f"LambdaLR: update u at lr * min(1, (u // {per_step} + 1) / {int(s['warmup_steps'])})"}
    return {"grpo_config": grpo, "optimizer": optimizer, "updates_per_step": per_step}


def _text(completion: Any) -> str:
    """A TRL completion: a string, or (conversational prompts) a list of messages."""
    if isinstance(completion, str):
        return completion
    return "".join(str(m["content"]) for m in completion)


def make_reward(reward: str, task: Any, seen: list | None = None) -> Callable[..., list[float]]:
    """A TRL reward function that scores with alignrl's registered ``reward`` (no re-implementation).

    TRL passes the completions of a generation batch in groups of consecutive identical prompts, with the
    dataset's columns (``ground_truth``, ``uid``) repeated per completion; each group is one
    :class:`alignrl.claims.rewards.RewardGroup`. ``seen`` collects the uid of every group scored.
    """
    from alignrl.claims.rewards import RewardGroup, compute_rewards

    if reward not in TEXT_REWARDS:
        raise ValueError(f"reward {reward!r}: TRL can only drive {sorted(TEXT_REWARDS)}")

    def alignrl_reward(prompts: Sequence[Any], completions: Sequence[Any], ground_truth: Sequence[Any],
                       **kwargs: Any) -> list[float]:
        texts = [_text(c) for c in completions]
        uids = kwargs.get("uid") or [None] * len(texts)
        out: list[float] = []
        start = 0
        while start < len(texts):
            end = start + 1
            while end < len(texts) and prompts[end] == prompts[start] and ground_truth[end] == ground_truth[start]:
                end += 1
            group = RewardGroup(responses=texts[start:end], ground_truth=str(ground_truth[start]), task=task)
            out.extend(compute_rewards(reward, group).rewards)
            if seen is not None:
                seen.append(uids[start])
            start = end
        return out

    alignrl_reward.__name__ = f"alignrl_{reward}"
    return alignrl_reward


def draw_order(n_rows: int, seed: int, count: int) -> list[int]:
    """The first ``count`` training rows the native trainer draws with ``seed`` (its epoch-wise shuffle)."""
    from alignrl.native.grpo import _DataOrder  # the trainer's own order, not a copy of it

    return _DataOrder(n_rows, seed).take(count)


# ----------------------------------------------------------------------------- inputs


def tree_inputs(tree: Path, model: str, task: str) -> dict[str, Path]:
    paths = {"model": tree / "models" / model, "train": tree / "data" / task / "train.parquet",
             "test": tree / "data" / task / "test.parquet"}
    for name, path in paths.items():
        if not path.exists():
            raise FileNotFoundError(f"--tree {tree}: no {name} at {path} (run the embedded default there first)")
    return paths


def _train_parts(spec: Mapping[str, Any]) -> tuple[list[dict], list]:
    """The claim's training rows (the pipeline's selection) and the native trainer's (chat, truth, uid) of each."""
    from alignrl.claims.rows import read_rows
    from alignrl.claims.selection import training_rows
    from alignrl.native.grpo import row_parts

    rows = training_rows(read_rows(spec["inputs"]["train"]), spec["data"])
    return rows, [row_parts(r, i, spec["task"], "train") for i, r in enumerate(rows)]


# ----------------------------------------------------------------------------- the two sides (child processes)


def _native_child(spec: dict, seed: int, work: Path) -> dict:
    from alignrl.native.trainer import TrainConfig, train

    rows, _ = _train_parts(spec)
    t0, c0 = time.perf_counter(), time.process_time()
    train(model_dir=spec["inputs"]["model"], train_rows=rows, val_rows=[], task_name=spec["task"],
          generator=spec["generator"], out_dir=work, checkpoint_dir=work / "checkpoints",
          cfg=TrainConfig.from_dict(spec["settings"]), seed=seed, threads=1, log=print)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    with open(work / "train_log.csv", newline="") as fh:
        log = list(csv.DictReader(fh))
    with open(work / "prompt_log.csv", newline="") as fh:
        uids = [r["uid"] for r in csv.DictReader(fh)]
    return {"train_wall_s": wall, "train_cpu_s": cpu, "step_wall_s": [float(r["seconds"]) for r in log],
            "reward_mean": [float(r["reward_mean"]) for r in log], "uids": uids, "model_dir": str(work / "model"),
            "lr_per_update": [float(r["lr"]) for r in log for _ in range(int(r["updates"]))],
            "settings": spec["settings"]}


def _trl_child(spec: dict, seed: int, work: Path) -> dict:
    import tempfile

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from alignrl.claims.tasks import get_task
    from alignrl.native.tokenizer import load_tokenizer

    s = spec["settings"]
    mapping = trl_settings(s)
    model_dir = spec["inputs"]["model"]
    _, parts = _train_parts(spec)
    order = draw_order(len(parts), seed, int(s["steps"]) * int(s["prompts_per_step"]))
    tok = load_tokenizer(model_dir)
    texts = tok.apply_chat_template([parts[i][0] for i in order], add_generation_prompt=True, tokenize=False)
    # TRL encodes a text prompt with the tokenizer's defaults, the native trainer without added specials
    if tok(texts)["input_ids"] != tok(texts, add_special_tokens=False)["input_ids"]:
        raise RuntimeError(f"{model_dir}: the tokenizer adds special tokens, so TRL's prompt ids would differ")
    data = Dataset.from_list([{"prompt": t, "ground_truth": parts[i][1], "uid": parts[i][2]}
                              for t, i in zip(texts, order)])
    # timed like the native train(): model loading, training and saving the final model
    t0, c0 = time.perf_counter(), time.process_time()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    per_step = mapping["updates_per_step"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(s["lr"]), betas=tuple(s["betas"]),
                                  eps=float(s["adam_eps"]), weight_decay=float(s["weight_decay"]))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda done: lr_factor(done, int(s["warmup_steps"]), per_step))
    seen: list = []
    stamps: list[float] = []
    lrs: list[float] = []

    class Stamp(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

        def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
            lrs.append(float(optimizer.param_groups[0]["lr"]))  # the lr this optimizer step runs at

        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as scratch:
        args = GRPOConfig(output_dir=scratch, seed=seed, use_vllm=False, use_cpu=True, bf16=False,
                          report_to="none", save_strategy="no", logging_steps=1, dataloader_num_workers=0,
                          log_completions=False, remove_unused_columns=False, **mapping["grpo_config"])
        trainer = GRPOTrainer(model=model, reward_funcs=make_reward(s["reward"], get_task(spec["generator"]), seen),
                              args=args, train_dataset=data, processing_class=tok, callbacks=[Stamp()],
                              optimizers=(optimizer, schedule))
        trainer.train()
    trainer.model.save_pretrained(work / "model")
    tok.save_pretrained(work / "model")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    effective = {k: _plain(getattr(trainer.args, k)) for k in (*mapping["grpo_config"], "generation_batch_size")}
    history = trainer.state.log_history
    return {"train_wall_s": wall, "train_cpu_s": cpu,
            "step_wall_s": [b - a for a, b in zip(stamps[::per_step], stamps[per_step::per_step])],
            "reward_mean": [h["reward"] for h in history if "reward" in h], "uids": seen, "lr_per_update": lrs,
            "model_dir": str(work / "model"), "settings": {"grpo_config_effective": effective, **mapping},
            "optimizer_steps": trainer.state.global_step}


def _plain(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str, type(None))) else str(value)


def _child(side: str, spec_path: Path, seed: int, work: Path) -> None:
    from alignrl.core.runtime import set_threads

    set_threads(1)
    spec = json.loads(spec_path.read_text())
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    res = (_native_child if side == "native" else _trl_child)(spec, seed, work)
    common.emit({"side": side, "seed": seed, "process_cpu_s": time.process_time(), **res})


# ----------------------------------------------------------------------------- evaluation and the verdict


def _evaluate(model_dir: str, rows: list, ev: Mapping[str, Any], generator: str, out: Path) -> tuple[Any, float]:
    from alignrl.native.evaluate import evaluate
    from alignrl.trace.records import write_evaluation

    t0 = time.perf_counter()
    samples, metrics = evaluate(
        model_dir, rows, n=ev["n"], ks=ev["ks"], temperature=ev["temperature"], top_p=ev["top_p"],
        max_new_tokens=ev["max_new_tokens"], batch_size=ev["batch_size"], seed=ev["seed"],
        n_boot=ev["bootstrap"]["n_boot"], alpha=ev["bootstrap"]["alpha"], boot_seed=ev["bootstrap"]["seed"],
        threads=1, task=generator, progress=False)
    write_evaluation(samples, metrics, out)
    return samples, time.perf_counter() - t0


def compare(base: Any, native: Sequence[Any], trl: Sequence[Any], bootstrap: Mapping[str, Any]) -> dict[str, Any]:
    """Gains over the base (pass@1) of each side and of TRL minus native, with their intervals, and the verdict.

    ``base``: the base model's samples frame; ``native``/``trl``: one frame per RL seed (seed ``i`` of each
    side trained with the same seed). Seeds of the two sides are paired by position; they are independent
    runs, so pairing leaves the variance of the mean difference as it is.
    """
    import numpy as np

    from alignrl.analysis.bootstrap import CellBootstrap
    from alignrl.analysis.tables import problem_pass_at_k_frame

    if len(native) != len(trl) or not native:
        raise ValueError(f"need the same number (>= 1) of seeds per side, got {len(native)} and {len(trl)}")
    base_frame = problem_pass_at_k_frame(base, [1])

    def values(frames: Sequence[Any]) -> np.ndarray:
        out = []
        for f in frames:
            pf = problem_pass_at_k_frame(f, [1])
            if not pf.index.equals(base_frame.index):
                raise ValueError("a trained model was evaluated on other problems than the base model")
            out.append(pf.to_numpy())
        return np.stack(out)

    b = base_frame.to_numpy()[None]
    nat, tr = values(native), values(trl)
    boot = CellBootstrap(b.shape[1], n_boot=int(bootstrap["n_boot"]), alpha=float(bootstrap["alpha"]),
                         seed=int(bootstrap["seed"]))

    def iv(v: np.ndarray) -> dict[str, float]:
        i = boot.interval(v)
        return {"mean": float(i.mean[0]), "low": float(i.low[0]), "high": float(i.high[0])}

    diff = iv(tr - nat)
    return {"problems": int(b.shape[1]), "seeds": int(nat.shape[0]),
            "pass@1": {"base": iv(b), "native": iv(nat), "trl": iv(tr)},
            "gain": {"native": iv(nat - b), "trl": iv(tr - b)},
            "difference_trl_minus_native": diff,
            "verdict": "agree" if diff["low"] <= 0.0 <= diff["high"] else "disagree"}


def _same_lrs(native: Sequence[float], trl: Sequence[float]) -> bool:
    """The lr of every optimizer update, as each trainer logged it (the native log rounds to 8 digits)."""
    return len(native) == len(trl) and all(abs(a - b) <= 1e-7 * max(abs(a), abs(b)) for a, b in zip(native, trl))


def run(tree: Path, *, model: str = "A", task: str = "math", claim: str = "ground_truth",
        seeds: Sequence[int] = (0,), config_path: Path = common.ROOT / "config.yaml", steps: int | None = None,
        lr: float | None = None, eval_problems: int | None = None, out: Path = DEFAULT_OUT, log=print) -> dict:
    """Train both sides per seed, evaluate, compare; writes ``out/result.json`` and ``out/section.md``."""
    from alignrl.claims.rows import read_rows
    from alignrl.workflow.config import load_config

    config = load_config(config_path)
    if task not in config["tasks"]:
        raise ValueError(f"task {task!r} is not in {config_path}: {sorted(config['tasks'])}")
    inputs = tree_inputs(Path(tree), model, task)
    settings = claim_settings(config, claim, steps=steps, lr=lr)
    mapping = trl_settings(settings)  # refuse before any training
    generator = config["tasks"][task]["generator"]
    out.mkdir(parents=True, exist_ok=True)
    spec = {"inputs": {k: str(v) for k, v in inputs.items()}, "task": task, "generator": generator,
            "data": config["claims"][claim]["data"], "settings": settings}
    spec_path = out / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=2))
    runs: dict[str, list[dict]] = {s: [] for s in SIDES}
    for i, seed in enumerate(seeds):
        for side in (SIDES if i % 2 == 0 else SIDES[::-1]):  # alternate, so machine load falls on both sides
            t0 = time.time()
            res = common.run_child("benchmarks.trl_crosscheck", [
                "--side", side, "--spec", str(spec_path), "--seed", str(seed),
                "--work", str(out / f"seed{seed}" / side)], timeout=6 * 3600)
            runs[side].append(res)
            log(f"[trl-check] seed {seed} {side}: {res['train_wall_s']:.0f} s wall, {res['train_cpu_s']:.0f} s CPU "
                f"training ({time.time() - t0:.0f} s in all)")
    rows = read_rows(inputs["test"])
    rows = rows[:eval_problems] if eval_problems else rows
    ev = config["evaluation"]
    base, base_s = _evaluate(str(inputs["model"]), rows, ev, generator, out / "eval" / "base")
    frames: dict[str, list] = {s: [] for s in SIDES}
    eval_s: dict[str, list[float]] = {s: [] for s in SIDES}
    for side in SIDES:
        for seed, res in zip(seeds, runs[side]):
            samples, secs = _evaluate(res["model_dir"], rows, ev, generator, out / "eval" / f"{side}_seed{seed}")
            frames[side].append(samples)
            eval_s[side].append(secs)
    result = compare(base, frames["native"], frames["trl"], ev["bootstrap"])
    n_steps = int(settings["steps"])
    result.update({
        "cell": {"model": model, "task": task, "claim": claim, "tree": str(tree), "config": str(config_path)},
        "rl_seeds": list(seeds),
        "evaluation": {k: ev[k] for k in ("n", "temperature", "top_p", "max_new_tokens", "seed", "bootstrap")}
        | {"problems": len(rows), "of": "the full test split" if not eval_problems else f"first {len(rows)}"},
        "settings": {"native": settings, "trl": mapping,
                     "trl_effective": runs["trl"][0]["settings"]["grpo_config_effective"]},
        "unmatched": list(UNMATCHED),
        "same_prompts_per_seed": [a["uids"] == b["uids"] for a, b in zip(runs["native"], runs["trl"])],
        "same_lr_per_update_per_seed": [_same_lrs(a["lr_per_update"], b["lr_per_update"])
                                        for a, b in zip(runs["native"], runs["trl"])],
        "base_equals_tree_baseline": _base_check(Path(tree), model, task, base) if not eval_problems else None,
        "sides": {side: {
            "train_wall_s": [r["train_wall_s"] for r in runs[side]],
            "train_cpu_s": [r["train_cpu_s"] for r in runs[side]],
            "wall_s_per_rl_step": common.median([r["train_wall_s"] / n_steps for r in runs[side]]),
            "cpu_s_per_rl_step": common.median([r["train_cpu_s"] / n_steps for r in runs[side]]),
            "step_wall_s": [r["step_wall_s"] for r in runs[side]],
            "median_step_wall_s": common.median([t for r in runs[side] for t in r["step_wall_s"]]),
            "train_reward_mean": [r["reward_mean"] for r in runs[side]],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs[side]),
            "eval_wall_s": eval_s[side],
        } for side in SIDES},
        "base_eval_wall_s": base_s,
        "machine": common.machine_info(),
        "command": " ".join(["python -m benchmarks.trl_crosscheck", f"--tree {tree}", f"--model {model}",
                             f"--task {task}", f"--claim {claim}", "--seeds", *map(str, seeds)]
                            + ([f"--steps {steps}"] if steps is not None else [])
                            + ([f"--lr {lr:g}"] if lr is not None else [])
                            + ([f"--eval-problems {eval_problems}"] if eval_problems else [])),
    })
    result["commit"] = result["machine"].get("commit")  # benchmarks.run names parts measured at other commits
    (out / "result.json").write_text(json.dumps(result, indent=2))
    (out / "section.md").write_text("\n".join(markdown(result)) + "\n")
    return result


def _base_check(tree: Path, model: str, task: str, base: Any) -> bool | None:
    """Whether our base-model evaluation equals the tree's own (``results/baseline``), sample for sample."""
    import pandas as pd

    path = tree / "results" / "baseline" / model / task / "test" / "samples.parquet"
    if not path.is_file():
        return None
    theirs = pd.read_parquet(path)
    cols = ["problem_id", "sample_index", "text", "correct"]
    key = ["problem_id", "sample_index"]
    a = base[cols].sort_values(key).reset_index(drop=True)
    b = theirs[cols].sort_values(key).reset_index(drop=True)
    return bool(a.equals(b))


# ----------------------------------------------------------------------------- the docs section


def markdown(r: Mapping[str, Any]) -> list[str]:
    """The section of ``docs/benchmarks.md`` for one cross-check result."""
    c, ev, s = r["cell"], r["evaluation"], r["settings"]["native"]
    m, sides = r["machine"], r["sides"]
    g = r["settings"]["trl"]["grpo_config"]

    def ci(x: Mapping[str, float], sign: str = "+") -> str:
        return f"{x['mean']:{sign}.3f} [{x['low']:{sign}.3f}, {x['high']:{sign}.3f}]"

    seeds = ", ".join(str(x) for x in r["rl_seeds"])
    lines = [
        "## The native trainer against TRL's `GRPOTrainer` (issue 17)", "",
        f"`{r['command']}`: claim `{c['claim']}` on {c['model']} x {c['task']}, "
        f"trained from the same base model by both trainers with the same settings ({s['steps']} RL steps of "
        f"{s['prompts_per_step']} prompts x {s['samples_per_prompt']} samples, {s['mini_batches_per_step']} "
        f"mini-batches, lr {s['lr']:g} with {s['warmup_steps']} warm-up steps, clip {s['clip_low']:g} / "
        f"{s['clip_high']:g}, dual clip {s['dual_clip']}, no KL, dynamic sampling off on both sides), the same "
        f"prompts in the same order and alignrl's `{s['reward']}` reward; RL seed(s) {seeds}. TRL {m.get('trl')}: "
        f"`loss_type=\"dapo\"`, `epsilon={g['epsilon']:g}`, `epsilon_high={g['epsilon_high']:g}`, "
        f"`delta={g['delta']}`, `beta=0`, `num_generations={g['num_generations']}`, "
        f"`per_device_train_batch_size={g['per_device_train_batch_size']}`, "
        f"`steps_per_generation={g['steps_per_generation']}`, `max_steps={g['max_steps']}`, our AdamW and warm-up "
        "passed in (`benchmarks/trl_crosscheck.py` gives the whole mapping). Every model is evaluated by the "
        f"pipeline's evaluator on {ev['problems']} test problems ({ev['of']}) x {ev['n']} samples, T = "
        f"{ev['temperature']:g}, seed {ev['seed']}; intervals: 95% paired bootstrap over problems"
        + (" and seeds" if r["seeds"] > 1 else "") + f" ({ev['bootstrap']['n_boot']} replicates).", "",
        "| | pass@1 | gain over base | wall s / RL step | CPU s / RL step |",
        "|---|---|---|---|---|",
        f"| base model | {ci(r['pass@1']['base'], '')} | | | |",
    ]
    for side, name in (("native", "native trainer"), ("trl", "TRL `GRPOTrainer`")):
        lines.append(f"| {name} | {ci(r['pass@1'][side], '')} | {ci(r['gain'][side])} | "
                     f"{sides[side]['wall_s_per_rl_step']:.2f} | {sides[side]['cpu_s_per_rl_step']:.2f} |")
    d = r["difference_trl_minus_native"]
    lines += ["", "Seconds per RL step: the whole training run (loading the model, training, saving it) over its "
              f"steps; median single step: native {sides['native']['median_step_wall_s']:.2f} s, TRL "
              f"{sides['trl']['median_step_wall_s']:.2f} s (wall).",
              "", f"TRL gain minus native gain, per problem: {ci(d)}: the trainers **{r['verdict']}** "
              + ("(the interval holds 0)." if r["verdict"] == "agree" else "(the interval excludes 0)."),
              "Same prompts on both sides: " + ", ".join("yes" if x else "NO" for x in r["same_prompts_per_seed"])
              + "; the same lr at every optimizer update: "
              + ", ".join("yes" if x else "NO" for x in r["same_lr_per_update_per_seed"])
              + "." + ("" if r.get("base_equals_tree_baseline") is None else
                       f" The base model's evaluation equals the tree's own: "
                       f"{'yes' if r['base_equals_tree_baseline'] else 'NO'}."),
              f"Machine: {m['cpu']}, one thread per side, load average at start {m['load_average_at_start']:.1f}; "
              f"torch {m['torch']}, transformers {m['transformers']}, TRL {m.get('trl')}.", "",
              "Not matched between the two trainers:", ""]
    lines += [f"- {u}" for u in r["unmatched"]]
    return lines + [""]


# ----------------------------------------------------------------------------- command line


def _record(result: dict) -> None:
    """Store the result as the ``trl_crosscheck`` part of ``benchmarks/out/results.json``."""
    path = common.OUT / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["trl_crosscheck"] = result
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tree", type=Path, help="a results tree of the embedded default (models/, data/)")
    p.add_argument("--model", default="A")
    p.add_argument("--task", default="math")
    p.add_argument("--claim", default="ground_truth")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="RL seeds (both sides train with each)")
    p.add_argument("--config", type=Path, default=common.ROOT / "config.yaml")
    p.add_argument("--steps", type=int, help="override training.steps")
    p.add_argument("--lr", type=float, help="override training.lr")
    p.add_argument("--eval-problems", type=int, help="evaluate on the first N test problems (default: all)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--record", action="store_true", help="store the result in benchmarks/out/results.json")
    p.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    p.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    from alignrl.core import numerics

    if a.child:  # the parent pinned the numeric mode; the environment came with the process
        _child(a.side, a.spec, a.seed, a.work)
        return
    if a.tree is None:
        p.error("--tree is required")
    from alignrl.workflow.config import load_config

    # before anything imports torch, as the Snakefile does: both sides and the evaluations run the pipeline's kernels
    numerics.pin_environment(load_config(a.config)["numerics"])
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    result = run(a.tree, model=a.model, task=a.task, claim=a.claim, seeds=a.seeds, config_path=a.config,
                 steps=a.steps, lr=a.lr, eval_problems=a.eval_problems, out=a.out)
    if a.record:
        _record(result)
    print("\n".join(markdown(result)))


if __name__ == "__main__":
    main()
