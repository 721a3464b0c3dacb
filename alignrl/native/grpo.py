"""GRPO with the paper's DAPO choices: the training loop, one definition shared by every claim.

A claim differs from another only by its reward name (``alignrl.claims.rewards.REWARDS``), its advantage
estimator name (``alignrl.claims.objectives.ADVANTAGES``) and its settings; the loop below is the same for all.

One training step
-----------------
1. Draw ``prompts_per_step`` prompts from the training rows (seeded epoch-wise shuffle without
   replacement; a one-shot run passes a single row, which the order then repeats to fill the batch).
2. Sample ``samples_per_prompt`` responses per prompt with the current policy
   (:func:`alignrl.native.sampling.sample`, seeded ``torch.Generator``), decode them, score each prompt's group
   with :func:`alignrl.claims.rewards.compute_rewards` (the sampler's per-token log-probs are passed as
   ``mean_logprobs`` for the entropy reward) and compute advantages per group by name. With
   ``vote_samples`` (TTRL, a voting reward only) each prompt gets ``vote_samples`` responses, the reward
   votes on all of them, and the group trained on (advantages, update, step metrics) is the first
   ``samples_per_prompt``.
3. Dynamic sampling (DAPO): drop groups whose rewards are all equal and draw a fresh batch of prompts,
   up to ``max_generation_batches`` batches. Kept groups beyond ``prompts_per_step`` are discarded.
   ``fill_batch``:

   * ``"tile"`` (the official trainer): repeat the kept groups cyclically until the step has
     ``prompts_per_step`` groups, so every step makes the same number of updates on the same batch size;
   * ``"none"``: train on the kept groups only; mini-batches keep their nominal size, so a short step
     makes fewer optimizer updates.

   If no group is kept the update is skipped (logged), but the step still counts (data order, RNG
   streams and LR schedule advance as usual).
4. Old log-probs are RECOMPUTED with a forward of the training model on exactly the padded mini-batch
   tensors the update will use (no-grad, eval mode, before the first update; for the first mini-batch,
   whose update comes before the policy moves, the detached log-probs of its own training forward, which
   are bit-identical). The sampler's own log-probs agree only to ~1e-5
   (KV-cache vs full-sequence numerics); recomputing makes the ratio of the first update exactly 1, so
   every clipped token is clipped because the policy moved, not because of round-off. As in verl the
   ratio is of the full (not top-p truncated) distribution; the paper's rollouts use top-p 1.
5. Split the (filled) groups, in order, into mini-batches of ``ceil(prompts_per_step /
   mini_batches_per_step)`` groups; for ``ppo_epochs`` passes: forward the right-padded prompt+response
   (attention mask, position ids ``0..T-1``; for Llama / Qwen2 models the same function computed with
   each group's prompt run once and its responses attending to it,
   :func:`alignrl.native.decode.shared_prefix_logits`), take response-token log-probs (logits divided by
   the rollout temperature as in verl; the paper's temperature is 1), DAPO ``policy_loss`` (token mean over
   the mini-batch, clip-higher, dual clip) plus ``entropy_coef * entropy_loss`` when set (the
   token-level entropy-MINIMISATION variant) or minus ``entropy_bonus * entropy_loss`` (a bonus that
   raises entropy, as verl's ``entropy_coeff``); ``clipping: false`` drops the ratio and dual clips;
   backward, clip the grad norm, AdamW step (weight decay on
   every parameter, as verl's FSDP optimizer does). No KL term and no reference model. The learning
   rate warms up linearly per training step (``lr * step / warmup_steps`` for steps
   ``1..warmup_steps``, so the first step already learns, unlike verl's ``step 0 -> lr 0``) and is
   constant afterwards.

Metrics (``train_log.csv``, one row per step, flushed): ``reward_mean``, ``accuracy`` (TRUE correctness,
``fmt and verify``), ``format_rate``, ``response_length`` (tokens, eos included) and ``entropy`` (token
mean of the full-distribution entropy at each sampled response token, recorded by the sampler, so no
extra forward) are over EVERY response sampled in the step, before filtering, and so are the regime columns
``style_careful``, ``style_shortcut``, ``style_none`` (shares of :func:`alignrl.claims.styles.solution_style`;
``none``: no readable style) and ``lenient_accuracy`` (strictly correct, or correct as
:func:`alignrl.claims.answer.extract_answer_lenient` reads the answer). ``clip_fraction`` with its split
``clip_fraction_low`` + ``clip_fraction_high`` (tokens clipped at ``1 - clip_low`` / ``1 + clip_high``),
``dual_clip_fraction`` and ``approx_kl`` are token-weighted over all updates of the step; ``loss`` and
``grad_norm`` (before clipping) are means over updates. None of these measurements feeds the update.
``val_accuracy`` is filled on validation steps only (``step % val_every == 0`` and the last step).

The durable run around this loop (checkpoints, resuming, stale checks, the run record) is
:func:`alignrl.native.trainer.train`; benchmarks drive :class:`Trainer` directly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForCausalLM

from alignrl.claims.answer import extract_answer_lenient
from alignrl.claims.objectives import ADVANTAGES, entropy_loss, policy_loss
from alignrl.claims.rewards import REWARDS, VOTING, RewardGroup, compute_rewards
from alignrl.claims.styles import solution_style
from alignrl.native.decode import supports
from alignrl.native.minibatch import Batch, make_batch, make_shared_batch, response_logits, token_logp
from alignrl.native.sampling import sample
from alignrl.native.tokenizer import load_tokenizer

__all__ = ["STATE_VERSION", "Group", "StepResult", "TrainConfig", "Trainer", "row_parts"]

STATE_VERSION = 2  # of the state a checkpoint stores; 2: records the base model's hash


@dataclass(frozen=True)
class TrainConfig:
    """Trainer settings; defaults follow ``schemas/config.schema.yaml`` (paper values in comments)."""

    steps: int = 60  # paper: 300
    prompts_per_step: int = 16  # paper: 128
    samples_per_prompt: int = 8  # paper: 16
    mini_batches_per_step: int = 2  # paper: 2 (mini-batch 64 of 128 prompts)
    ppo_epochs: int = 1
    lr: float = 1e-4  # paper: 1e-6 (7B models)
    warmup_steps: int = 5  # paper: 10
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    clip_low: float = 0.2
    clip_high: float = 0.28
    dual_clip: float | None = 10.0  # None disables the dual clip
    clipping: bool = True  # False: no ratio clip and no dual clip (the loss is -A * ratio)
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    reward: str = "ground_truth"
    advantage: str = "grpo"
    advantage_kwargs: dict[str, Any] = field(default_factory=dict)
    entropy_coef: float = 0.0
    entropy_bonus: float = 0.0  # subtracts bonus x token-mean entropy: RAISES entropy (verl's entropy_coeff)
    vote_samples: int | None = None  # TTRL: answers voted on per prompt; None = samples_per_prompt
    dynamic_sampling: bool = True
    max_generation_batches: int = 2
    fill_batch: str = "tile"
    save_every: int = 20  # paper: 50
    val_every: int = 20  # paper: 20; 0 disables validation
    val_samples: int = 1  # paper: n = 1
    val_temperature: float = 1.0  # paper: 1.0
    val_top_p: float = 0.7  # paper: 0.7
    keep_checkpoints: int = 1
    generation_batch_size: int = 256  # sequences per sampler forward pass

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Build from a (YAML) mapping; an unknown key raises ValueError naming it."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown trainer setting(s) {', '.join(repr(k) for k in unknown)}; known: {sorted(known)}"
            )
        kwargs = dict(values)
        if "betas" in kwargs:
            kwargs["betas"] = tuple(float(b) for b in kwargs["betas"])
        if "advantage_kwargs" in kwargs:
            kwargs["advantage_kwargs"] = dict(kwargs["advantage_kwargs"] or {})
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    def __post_init__(self) -> None:
        def need(ok: bool, key: str, what: str) -> None:
            if not ok:
                raise ValueError(f"trainer setting {key!r} = {getattr(self, key)!r}: {what}")

        for key in ("steps", "prompts_per_step", "samples_per_prompt", "mini_batches_per_step",
                    "ppo_epochs", "max_new_tokens", "max_generation_batches", "save_every",
                    "val_samples", "keep_checkpoints", "generation_batch_size"):
            v = getattr(self, key)
            need(isinstance(v, int) and not isinstance(v, bool) and v >= 1, key, "must be an integer >= 1")
        for key in ("warmup_steps", "val_every"):
            v = getattr(self, key)
            need(isinstance(v, int) and not isinstance(v, bool) and v >= 0, key, "must be an integer >= 0")
        need(self.lr > 0, "lr", "must be > 0")
        need(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        need(self.grad_clip > 0, "grad_clip", "must be > 0")
        need(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "betas", "must be two numbers in [0, 1)")
        need(0 <= self.clip_low < 1, "clip_low", "must be in [0, 1)")
        need(self.clip_high >= 0, "clip_high", "must be >= 0")
        need(self.dual_clip is None or self.dual_clip > 1, "dual_clip", "must be > 1 (or None to disable)")
        need(self.temperature > 0, "temperature", "must be > 0")
        need(0 < self.top_p <= 1, "top_p", "must be in (0, 1]")
        need(self.val_temperature >= 0, "val_temperature", "must be >= 0")
        need(0 < self.val_top_p <= 1, "val_top_p", "must be in (0, 1]")
        need(self.entropy_coef >= 0, "entropy_coef", "must be >= 0 (it is an entropy-minimisation weight)")
        need(self.entropy_bonus >= 0, "entropy_bonus", "must be >= 0 (it is an entropy-maximisation weight)")
        need(not (self.entropy_coef > 0 and self.entropy_bonus > 0), "entropy_bonus",
             "cannot be set together with entropy_coef (one minimises entropy, the other raises it)")
        need(isinstance(self.clipping, bool), "clipping", "must be true or false")
        votes = self.vote_samples
        need(votes is None or (isinstance(votes, int) and not isinstance(votes, bool)
                               and votes >= self.samples_per_prompt),
             "vote_samples", f"must be an integer >= samples_per_prompt ({self.samples_per_prompt}), or None")
        need(self.vote_samples is None or self.reward in VOTING, "vote_samples",
             f"only a voting reward reads the extra answers; reward {self.reward!r} is not one of {sorted(VOTING)}")
        need(self.fill_batch in ("tile", "none"), "fill_batch", "must be 'tile' or 'none'")
        need(isinstance(self.dynamic_sampling, bool), "dynamic_sampling", "must be true or false")
        need(self.reward in REWARDS, "reward", f"unknown reward; known: {sorted(REWARDS)}")
        need(self.advantage in ADVANTAGES, "advantage", f"unknown estimator; known: {sorted(ADVANTAGES)}")
        need(isinstance(self.advantage_kwargs, dict), "advantage_kwargs", "must be a mapping")


# ----------------------------------------------------------------------------- small helpers


def _derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts; SHA-256 so it is stable across processes (unlike ``hash``)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class _DataOrder:
    """Epoch-wise shuffled order over ``n`` rows; its whole state is ``(epoch, pos)``."""

    def __init__(self, n: int, seed: int) -> None:
        if n < 1:
            raise ValueError("no training rows")
        self.n, self.seed, self.epoch, self.pos = n, seed, 0, 0
        self._perm = self._permutation(0)

    def _permutation(self, epoch: int) -> list[int]:
        perm = list(range(self.n))
        random.Random(f"alignrl-data/{self.seed}/{epoch}").shuffle(perm)
        return perm

    def take(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            if self.pos == self.n:
                self.epoch, self.pos = self.epoch + 1, 0
                self._perm = self._permutation(self.epoch)
            out.append(self._perm[self.pos])
            self.pos += 1
        return out

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load(self, state: Mapping[str, int]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self._perm = self._permutation(self.epoch)


def _rng_states(generator: torch.Generator) -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        # numpy's state holds an ndarray; stored as a tensor so the file loads with weights_only=True
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
        "sampling": generator.get_state(),
    }


def _set_rng_states(states: Mapping[str, Any], generator: torch.Generator) -> None:
    py = states["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(states["torch"])
    generator.set_state(states["sampling"])


def row_parts(row: Mapping[str, Any], index: int, task_name: str, split: str) -> tuple[list[dict], str, str]:
    """(chat list, ground truth, uid) of one verl row; ValueError names the split and row."""
    try:
        chat = [{"role": str(m["role"]), "content": str(m["content"])} for m in row["prompt"]]
        gt = str(row["reward_model"]["ground_truth"])
        uid = str((row.get("extra_info") or {}).get("uid", index))
        source = row.get("data_source")
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{split} row {index}: not a verl row ({exc!r})") from None
    if source is not None and source != f"synthetic/{task_name}":
        raise ValueError(f"{split} row {index}: data_source {source!r} does not match task {task_name!r}")
    return chat, gt, uid


def _prompt_ids(tokenizer: Any, chats: Sequence[list[dict]]) -> list[list[int]]:
    if not chats:
        return []
    texts = tokenizer.apply_chat_template(list(chats), add_generation_prompt=True, tokenize=False)
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def _mean(xs: Sequence[float]) -> float | None:
    return float(sum(xs) / len(xs)) if xs else None


# ----------------------------------------------------------------------------- rollouts


@dataclass
class Group:
    """One prompt's sampled responses and what the update needs from them."""

    uid: str  # the training example (extra_info.uid), for the per-prompt log
    prompt: list[int]
    responses: list[list[int]]
    rewards: list[float]
    correct: list[bool]
    formatted: list[bool]
    pseudo_ok: bool
    advantages: torch.Tensor
    entropy_sum: float = 0.0  # full-distribution entropy summed over every response token (the sampler's)
    tokens: int = 0
    styles: list[str | None] = field(default_factory=list)  # solution style of each response (None: unreadable)
    lenient: list[bool] = field(default_factory=list)  # correct as the lenient reader reads the answer

    @property
    def uniform(self) -> bool:
        return all(r == self.rewards[0] for r in self.rewards)


def _select_groups(groups: Sequence[Group], target: int, fill: str) -> list[Group]:
    """Kept groups (already filtered) cut to ``target``, then tiled to ``target`` if ``fill == 'tile'``."""
    kept = list(groups[:target])
    if fill == "tile" and kept:
        kept = [kept[i % len(kept)] for i in range(target)]
    return kept




# ----------------------------------------------------------------------------- the trainer


@dataclass
class StepResult:
    """What one step produced, before it becomes a log row."""

    groups: list[Group]  # every group sampled in the step (dropped ones included)
    kept: int  # distinct groups kept by dynamic sampling (before tiling)
    generation_batches: int
    entropy: float | None
    updates: dict[str, list[float]]


class Trainer:
    """The model, optimizer and every stream of randomness of one run; ``train`` drives it."""

    def __init__(self, load_dir: Path, task: Any, train_parts: list, val_parts: list, cfg: TrainConfig,
                 seed: int) -> None:
        self.cfg, self.seed, self.task = cfg, seed, task
        # not AutoTokenizer: for a qwen2 model dir transformers 5 builds a Qwen2Tokenizer with other ids
        self.tokenizer = load_tokenizer(load_dir)
        self.model = AutoModelForCausalLM.from_pretrained(load_dir, dtype=torch.float32)
        self.eos_id = self.tokenizer.eos_token_id
        if self.eos_id is None:
            raise ValueError(f"the tokenizer in {load_dir} has no eos token")
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.eos_id
        self.train_parts, self.val_parts = train_parts, val_parts
        # Prompts are tokenized once; every step only indexes into these lists.
        self.train_prompts = _prompt_ids(self.tokenizer, [c for c, _, _ in train_parts])
        self.val_prompts = _prompt_ids(self.tokenizer, [c for c, _, _ in val_parts])
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.adam_eps, weight_decay=cfg.weight_decay,
            fused=True,  # ATen's exact vector sqrt, not MKL's, whose result depends on the CPU (docs/numerics.md)
        )
        warmup = cfg.warmup_steps
        # last_epoch counts finished steps, so step s (1-based) trains at lr * min(1, s / warmup)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda done: min(1.0, (done + 1) / warmup) if warmup > 0 else 1.0
        )
        self.generator = torch.Generator()
        self.order = _DataOrder(len(train_parts), seed)
        self.mb_groups = math.ceil(cfg.prompts_per_step / cfg.mini_batches_per_step)
        # Llama / Qwen2: run each prompt once per mini-batch, not once per response (same maths)
        self.shared_prefix = supports(self.model)

    # ---- state

    def seed_fresh(self) -> None:
        random.seed(self.seed)
        np.random.seed(self.seed % 2**32)
        torch.manual_seed(self.seed)
        self.generator.manual_seed(_derive_seed("alignrl-sampling", self.seed))

    def state(self, step: int, fingerprint: str, base_sha: str) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "step": step,
            "seed": self.seed,
            "base_model_sha256": base_sha,
            "config": self.cfg.to_dict(),
            "data_fingerprint": fingerprint,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "data_order": self.order.state(),
            "rng": _rng_states(self.generator),
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.order.load(state["data_order"])
        _set_rng_states(state["rng"], self.generator)

    # ---- one step

    def step(self, step: int, log: Callable[[str], None]) -> StepResult:
        groups, kept, n_batches = self._rollout(step)
        batch_groups = _select_groups(kept, self.cfg.prompts_per_step, self.cfg.fill_batch)
        if self.shared_prefix:
            minibatches = [
                make_shared_batch([(g.prompt, g.responses, [float(a) for a in g.advantages])
                                    for g in batch_groups[s : s + self.mb_groups]], self.pad_id)
                for s in range(0, len(batch_groups), self.mb_groups)
            ]
        else:
            minibatches = [
                make_batch(
                    [(g.prompt, r, float(g.advantages[i]))
                     for g in batch_groups[s : s + self.mb_groups] for i, r in enumerate(g.responses)],
                    self.pad_id,
                )
                for s in range(0, len(batch_groups), self.mb_groups)
            ]
        self._old_logp(minibatches)
        tokens = sum(g.tokens for g in groups)
        entropy = sum(g.entropy_sum for g in groups) / tokens if tokens else None
        if minibatches:
            updates = self._update(minibatches)
        else:
            updates = {k: [] for k in _UPDATE_KEYS}
            log(f"[train] step {step}: every group had equal rewards after {n_batches} generation "
                "batch(es); update skipped")
        with warnings.catch_warnings():
            # a skipped update means no optimizer.step() before this; the schedule counts steps anyway
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            self.scheduler.step()
        return StepResult(groups, min(len(kept), self.cfg.prompts_per_step), n_batches, entropy, updates)

    def _rollout(self, step: int) -> tuple[list[Group], list[Group], int]:
        """Sample and score generation batches until enough groups are kept (dynamic sampling)."""
        cfg, n = self.cfg, self.cfg.samples_per_prompt
        votes = cfg.vote_samples or n  # TTRL: vote on `votes` answers, train on the first n of them
        groups: list[Group] = []
        kept: list[Group] = []
        n_batches = 0
        while True:
            n_batches += 1
            rows = self.order.take(cfg.prompts_per_step)
            completions = sample(
                self.model, [self.train_prompts[i] for i in rows], n=votes, max_new_tokens=cfg.max_new_tokens,
                temperature=cfg.temperature, top_p=cfg.top_p, eos_id=self.eos_id, pad_id=self.pad_id,
                generator=self.generator, batch_size=cfg.generation_batch_size, with_entropy=True,
            )
            texts = self.tokenizer.batch_decode([c.token_ids for c in completions], skip_special_tokens=True)
            new: list[Group] = []
            for g, row in enumerate(rows):
                comps = completions[g * votes : (g + 1) * votes]
                group_texts = texts[g * votes : (g + 1) * votes]
                _, gt, uid = self.train_parts[row]
                result = compute_rewards(
                    cfg.reward,
                    RewardGroup(
                        responses=group_texts,
                        ground_truth=gt,
                        task=self.task,
                        seed=self.seed,
                        # the sampling policy's own log-probs of these responses (entropy reward)
                        mean_logprobs=[_mean(c.logprobs) or 0.0 for c in comps],
                        # unique over the run, so the random reward never repeats a draw
                        group_id=((step * cfg.max_generation_batches) + n_batches - 1) * cfg.prompts_per_step + g,
                    ),
                )
                # samples are i.i.d., so the first n are a uniformly random subset of the voted ones
                pseudo_ok = result.pseudo_label is not None and bool(self.task.verify(result.pseudo_label, gt))
                comps, rewards, correct = comps[:n], result.rewards[:n], result.correct[:n]
                adv = ADVANTAGES[cfg.advantage](
                    torch.tensor(rewards, dtype=torch.float32),
                    torch.tensor(correct, dtype=torch.bool),
                    **cfg.advantage_kwargs,
                )
                new.append(
                    Group(
                        uid=uid,
                        prompt=self.train_prompts[row],
                        responses=[c.token_ids for c in comps],
                        rewards=list(rewards),
                        correct=list(correct),
                        formatted=list(result.well_formatted[:n]),
                        pseudo_ok=pseudo_ok,
                        advantages=adv.detach().float(),
                        entropy_sum=float(sum(sum(c.entropies) for c in comps)),
                        tokens=sum(len(c.token_ids) for c in comps),
                        # logged only: strictly correct implies leniently correct, so those skip the verifier
                        styles=[solution_style(t) for t in group_texts[:n]],
                        lenient=[ok or bool(self.task.verify(extract_answer_lenient(t), gt))
                                 for t, ok in zip(group_texts[:n], correct)],
                    )
                )
            groups.extend(new)
            if not cfg.dynamic_sampling:
                kept.extend(new)
                break
            kept.extend(g for g in new if not g.uniform)
            if len(kept) >= cfg.prompts_per_step or n_batches >= cfg.max_generation_batches:
                break
        return groups, kept, n_batches

    @torch.no_grad()
    def _old_logp(self, minibatches: list[Batch]) -> None:
        """Fill ``old_logp`` of each mini-batch but the first with the pre-update policy's log-probs.

        The first mini-batch is updated before the policy changes, so its old log-probs are the detached
        log-probs of its own first training forward (:meth:`_update`): the same numbers, bit for bit, as a
        separate no-grad forward (dropout is 0; ``tests/test_trainer.py``), one forward fewer per step.
        """
        self.model.eval()
        for mb in minibatches[1:]:
            mb.old_logp = token_logp(response_logits(self.model, mb, self.cfg.temperature), mb.targets)

    def _update(self, minibatches: list[Batch]) -> dict[str, list[float]]:
        cfg = self.cfg
        out: dict[str, list[float]] = {k: [] for k in _UPDATE_KEYS}
        self.model.train()
        for _ in range(cfg.ppo_epochs):
            for mb in minibatches:
                logits = response_logits(self.model, mb, cfg.temperature)
                logp = token_logp(logits, mb.targets)
                if mb.old_logp is None:  # the first mini-batch, before any update of this step
                    mb.old_logp = logp.detach()
                loss, stats = policy_loss(
                    logp, mb.old_logp, mb.advantages, mb.mask,
                    clip_low=cfg.clip_low, clip_high=cfg.clip_high, dual_clip=cfg.dual_clip, clip=cfg.clipping,
                )
                if cfg.entropy_coef > 0:
                    loss = loss + entropy_loss(logits, mb.mask, coef=cfg.entropy_coef)
                if cfg.entropy_bonus > 0:  # the same term with the other sign: raises entropy
                    loss = loss - entropy_loss(logits, mb.mask, coef=cfg.entropy_bonus)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.optimizer.step()
                n_tok = float(mb.mask.sum())
                out["loss"].append(float(loss.detach()))
                out["grad_norm"].append(float(grad_norm))
                out["tokens"].append(n_tok)
                out["clip"].append(stats["clip_fraction"] * n_tok)
                out["clip_low"].append(stats["clip_low_fraction"] * n_tok)
                out["clip_high"].append(stats["clip_high_fraction"] * n_tok)
                out["dual"].append(stats["dual_clip_fraction"] * n_tok)
                out["kl"].append(stats["approx_kl"] * n_tok)
        self.model.eval()
        return out

    def validate(self) -> float:
        """Mean true correctness on the val rows, ``val_samples`` each.

        Uses its own generator with a fixed seed: the same random numbers at every validation (less noise
        between steps), and the training streams are untouched, so validating never changes training.
        """
        cfg, n = self.cfg, self.cfg.val_samples
        gen = torch.Generator().manual_seed(_derive_seed("alignrl-validation", self.seed))
        comps = sample(
            self.model, self.val_prompts, n=n, max_new_tokens=cfg.max_new_tokens, temperature=cfg.val_temperature,
            top_p=cfg.val_top_p, eos_id=self.eos_id, pad_id=self.pad_id, generator=gen,
            batch_size=cfg.generation_batch_size,
        )
        texts = self.tokenizer.batch_decode([c.token_ids for c in comps], skip_special_tokens=True)
        correct: list[bool] = []
        for i, (_, gt, _) in enumerate(self.val_parts):
            # RewardResult.correct is the true correctness whatever the reward; "format" is the cheapest
            group = RewardGroup(responses=texts[i * n : (i + 1) * n], ground_truth=gt, task=self.task)
            correct.extend(compute_rewards("format", group).correct)
        return float(sum(correct) / len(correct))


_UPDATE_KEYS = ("loss", "grad_norm", "tokens", "clip", "dual", "kl", "clip_low", "clip_high")
