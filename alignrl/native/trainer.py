"""The durable run around the GRPO/DAPO loop of :mod:`alignrl.native.grpo`: checkpoints, resuming,
stale checks and the run record (:mod:`alignrl.trace.run_record`).

Checkpoints and resuming
------------------------
Every ``save_every`` steps and at the end, ``checkpoint_dir/step_XXXXXX`` gets the model and tokenizer
(``save_pretrained``), ``trainer_state.pt`` (optimizer, scheduler, step, python/numpy/torch RNG
states, the sampling generator state and the data-order position) and a copy of both logs up to that step
(a resumed run restores them: Snakemake deletes a killed job's outputs before rerunning it). It is written
to a temporary directory and renamed, so a directory named ``step_XXXXXX`` is always complete; only the newest
``keep_checkpoints`` are kept. On start the newest complete checkpoint is resumed, if it was written from
the same base model (sha256), training rows, seed and settings (else ``on_stale``: raise, or discard it
and start fresh): weights, optimizer,
RNGs and data order are restored and ``train_log.csv`` is cut back to the rows of steps up to it. Every
random draw is a function of the seed and of state saved in the checkpoint (the random reward is keyed
by the seed and a group id derived from ``(step, batch, group)``; validation uses its own fixed-seed
generator), so a run killed
anywhere and restarted ends with bit-identical weights and the same log (except ``seconds``) on CPU.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from alignrl.claims.tasks import get_task
from alignrl.native.grpo import STATE_VERSION, Group, TrainConfig, Trainer, row_parts
from alignrl.native.step_log import log_row
from alignrl.trace.provenance import provenance, sha256_tree
from alignrl.trace.run_record import LOG_COLUMNS, PROMPT_LOG_COLUMNS, format_cell, write_run_info

__all__ = [
    "LOG_COLUMNS", "PROMPT_LOG_COLUMNS", "StaleCheckpoint", "TrainConfig", "TrainingStopped", "latest_checkpoint",
    "train",
]

_STATE_FILE = "trainer_state.pt"
_CKPT_RE = re.compile(r"^step_(\d{6})$")
# Settings that may change between a run and its resumption without changing its numbers.
_RESUMABLE_CHANGES = frozenset({"steps", "save_every", "keep_checkpoints"})


class TrainingStopped(RuntimeError):
    """Raised by a ``step_callback`` to stop a run early (tests use it to simulate a kill)."""


class StaleCheckpoint(ValueError):
    """The newest checkpoint was written for another base model, data, seed or settings."""


def _mean(xs: Sequence[float]) -> float | None:
    return float(sum(xs) / len(xs)) if xs else None


# ----------------------------------------------------------------------------- checkpoints


def latest_checkpoint(checkpoint_dir: str | os.PathLike) -> Path | None:
    """The newest complete ``step_XXXXXX`` directory (complete = renamed into place with its state)."""
    root = Path(checkpoint_dir)
    if not root.is_dir():
        return None
    found = []
    for child in root.iterdir():
        m = _CKPT_RE.match(child.name)
        if m and (child / _STATE_FILE).is_file() and (child / "config.json").is_file():
            found.append((int(m.group(1)), child))
    return max(found)[1] if found else None


def _remove_dir(path: Path) -> None:
    """Rename first, so a half-deleted directory never looks like a checkpoint."""
    trash = path.with_name(f".trash_{path.name}_{os.getpid()}")
    os.replace(path, trash)
    shutil.rmtree(trash)


def _write_hf_dir_atomic(dest: Path, model: torch.nn.Module, tokenizer: Any, extra: dict[str, Any] | None,
                         copies: Sequence[Path] = ()) -> None:
    tmp = dest.with_name(f".tmp_{dest.name}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if extra is not None:
        torch.save(extra, tmp / _STATE_FILE)
    for path in copies:
        shutil.copy2(path, tmp / path.name)
    if dest.exists():
        _remove_dir(dest)
    os.replace(tmp, dest)


def _prune_checkpoints(root: Path, keep: int) -> None:
    steps = sorted(
        (int(m.group(1)), child) for child in root.iterdir() if (m := _CKPT_RE.match(child.name))
    )
    for _, path in steps[:-keep]:
        _remove_dir(path)


def _clean_stale(root: Path) -> None:
    """Remove leftovers of a run killed while writing or deleting a directory."""
    for child in root.iterdir():
        if child.is_dir() and (child.name.startswith(".tmp_") or child.name.startswith(".trash_")):
            shutil.rmtree(child)


# ----------------------------------------------------------------------------- CSV log


def _reset_log(path: Path, up_to_step: int, columns: Sequence[str] = LOG_COLUMNS) -> None:
    """Keep the header and rows of steps <= ``up_to_step`` (rows after a checkpoint are redone).

    A log written before columns were appended (its header a prefix of ``columns``) keeps its rows, the new
    cells left empty: a checkpoint of an older version still resumes with every step logged.
    """
    rows: list[list[str]] = []
    if path.exists() and up_to_step > 0:
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is not None and 0 < len(header) <= len(columns) and header == list(columns[:len(header)]):
                pad = [""] * (len(columns) - len(header))
                rows = [r + pad for r in reader if r and int(r[0]) <= up_to_step]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        w.writerows(rows)
    os.replace(tmp, path)


def _prompt_rows(step: int, groups: Sequence[Group]) -> list[list[str]]:
    """One row per sampled group: the per-example training accuracy history (one-shot selection)."""
    return [
        [str(step), g.uid, str(len(g.correct)), str(sum(g.correct)),
         format_cell(float(sum(g.rewards) / len(g.rewards)))]
        for g in groups
    ]



def train(
    *,
    model_dir: str | os.PathLike,
    train_rows: Sequence[Mapping[str, Any]],
    val_rows: Sequence[Mapping[str, Any]],
    task_name: str,
    out_dir: str | os.PathLike,
    checkpoint_dir: str | os.PathLike,
    cfg: TrainConfig | Mapping[str, Any],
    seed: int,
    threads: int = 1,
    log: Callable[[str], None] = print,
    step_callback: Callable[[int, dict[str, Any]], None] | None = None,
    provenance_args: Mapping[str, Any] | None = None,
    generator: str | None = None,
    on_stale: str = "error",
) -> dict[str, Any]:
    """Run (or resume) GRPO/DAPO training; returns the run summary also written to ``run_info.json``.

    Writes ``out_dir/train_log.csv``, ``out_dir/model`` (final HF directory, model + tokenizer) and
    ``out_dir/run_info.json``; checkpoints go to ``checkpoint_dir``. ``task_name`` is the configured task
    (rows must have ``data_source == "synthetic/<task_name>"``); ``generator`` names the registered task
    whose verifier scores it when the two differ (default: ``task_name``). ``step_callback(step, row)`` runs after
    each step's log row and checkpoint are written (raising from it stops the run, as a kill would).
    A checkpoint is resumed only if it was written from the same base model (sha256 of ``model_dir``),
    training rows, seed and settings; otherwise ``on_stale="error"`` raises :class:`StaleCheckpoint`
    and ``"restart"`` (the workflow's choice: Snakemake reruns a job only when its inputs changed) deletes
    the stale checkpoints, says so in the log, and starts fresh.
    ``provenance_args`` overrides keyword arguments of ``alignrl.trace.provenance.provenance`` (the calling rule
    passes ``rule``, ``wildcards`` and ``inputs``; the defaults name this function and hash ``model_dir``).
    """
    wall_start = time.time()
    if on_stale not in ("error", "restart"):
        raise ValueError(f"on_stale must be 'error' or 'restart', got {on_stale!r}")
    if not isinstance(cfg, TrainConfig):
        cfg = TrainConfig.from_dict(cfg)
    torch.set_num_threads(max(1, int(threads)))
    task = get_task(generator or task_name)
    out_dir, checkpoint_dir = Path(out_dir), Path(checkpoint_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    _clean_stale(checkpoint_dir)
    _clean_stale(out_dir)

    train_parts = [row_parts(r, i, task_name, "train") for i, r in enumerate(train_rows)]
    val_parts = [row_parts(r, i, task_name, "val") for i, r in enumerate(val_rows)]
    if not train_parts:
        raise ValueError("train_rows is empty")
    fingerprint = hashlib.sha256("\n".join(u + "\t" + g for _, g, u in train_parts).encode()).hexdigest()

    base_sha = sha256_tree(model_dir)
    resume_dir = latest_checkpoint(checkpoint_dir)
    state: dict[str, Any] | None = None
    if resume_dir is not None:
        state = torch.load(resume_dir / _STATE_FILE, weights_only=True)
        try:
            _check_resumable(state, cfg, seed, fingerprint, base_sha, resume_dir)
        except StaleCheckpoint as exc:
            if on_stale != "restart":
                raise
            # the job's inputs changed since these were written: they are a cache of another run
            log(f"[train] discarding stale checkpoints in {checkpoint_dir}: {exc}")
            for child in checkpoint_dir.iterdir():
                if _CKPT_RE.match(child.name):
                    _remove_dir(child)
            resume_dir, state = None, None
    trainer = Trainer(resume_dir or Path(model_dir), task, train_parts, val_parts, cfg, seed)
    start_step = 0
    if resume_dir is not None and state is not None:
        start_step = int(state["step"])
        if start_step > cfg.steps:
            raise ValueError(f"{resume_dir} is at step {start_step}, beyond steps = {cfg.steps}")
        trainer.load_state(state)
        log(f"[train] resuming from {resume_dir} (step {start_step} of {cfg.steps})")
    else:
        trainer.seed_fresh()
        log(f"[train] fresh start from {model_dir}: {len(train_parts)} train rows, {len(val_parts)} val rows")
    log_path = out_dir / "train_log.csv"
    prompt_log_path = out_dir / "prompt_log.csv"
    if resume_dir is not None:
        for path in (log_path, prompt_log_path):
            if (resume_dir / path.name).is_file():
                shutil.copy2(resume_dir / path.name, path)
    _reset_log(log_path, start_step)
    _reset_log(prompt_log_path, start_step, PROMPT_LOG_COLUMNS)

    step_times: list[float] = []
    last_val: float | None = None
    bar = tqdm(total=cfg.steps, initial=start_step, desc="rl", unit="step", mininterval=2.0, file=sys.stderr)
    with open(log_path, "a", newline="") as log_fh, open(prompt_log_path, "a", newline="") as prompt_fh:
        writer = csv.writer(log_fh)
        prompt_writer = csv.writer(prompt_fh)
        for step in range(start_step + 1, cfg.steps + 1):
            t0 = time.perf_counter()
            lr = trainer.optimizer.param_groups[0]["lr"]
            result = trainer.step(step, log)
            val_acc = None
            if trainer.val_prompts and cfg.val_every > 0 and (step % cfg.val_every == 0 or step == cfg.steps):
                val_acc = last_val = trainer.validate()
            row = log_row(step, result, lr, val_acc, time.perf_counter() - t0)
            step_times.append(row["seconds"])
            writer.writerow([format_cell(row[c]) for c in LOG_COLUMNS])
            prompt_writer.writerows(_prompt_rows(step, result.groups))
            log_fh.flush()
            prompt_fh.flush()
            if step % cfg.save_every == 0 or step == cfg.steps:
                # the logs travel with the checkpoint: Snakemake deletes a killed job's outputs before
                # rerunning it, and a resumed run must still log every step
                _write_hf_dir_atomic(checkpoint_dir / f"step_{step:06d}", trainer.model, trainer.tokenizer,
                                     trainer.state(step, fingerprint, base_sha), (log_path, prompt_log_path))
                _prune_checkpoints(checkpoint_dir, cfg.keep_checkpoints)
            bar.update(1)
            bar.set_postfix(acc=f"{row['accuracy']:.3f}", kept=row["kept_groups"], refresh=False)
            if step_callback is not None:
                step_callback(step, row)
    bar.close()

    _write_hf_dir_atomic(out_dir / "model", trainer.model, trainer.tokenizer, None)
    info: dict[str, Any] = {
        "backend": "native",
        "config": cfg.to_dict(),
        "seed": seed,
        "task": task_name,
        "generator": task.name,
        "model_dir": str(model_dir),
        "steps_done": cfg.steps,
        "resumed_from": start_step if resume_dir is not None else None,
        "wall_time_s": time.time() - wall_start,
        "mean_step_seconds": _mean(step_times),
        "train_rows": len(train_parts),
        "val_rows": len(val_parts),
        "data_fingerprint": fingerprint,
        "last_val_accuracy": last_val,
        "log": str(log_path),
        "prompt_log": str(prompt_log_path),
        "final_model": str(out_dir / "model"),
    }
    if len(train_parts) < 5:  # one-shot / few-shot runs: record exactly which examples were trained on
        info["train_examples"] = [
            {"uid": u, "ground_truth": g, "prompt": c[-1]["content"]} for c, g, u in train_parts
        ]
    info["provenance"] = _run_provenance(cfg, seed, model_dir, wall_start, provenance_args)
    # the run record adds what the audit re-hashes: the evaluated weights, the logs and the record itself
    info = write_run_info(out_dir, info)
    log(f"[train] done: {cfg.steps} steps, mean {info['mean_step_seconds'] or 0:.2f} s/step this session")
    return info


def _check_resumable(state: Mapping[str, Any], cfg: TrainConfig, seed: int, fingerprint: str, base_sha: str,
                     where: Path) -> None:
    """Refuse (StaleCheckpoint) a checkpoint written from another base model, data, seed or settings."""
    if int(state.get("version", -1)) != STATE_VERSION:
        raise StaleCheckpoint(f"{where}: trainer state version {state.get('version')} != {STATE_VERSION}")
    if state.get("base_model_sha256") != base_sha:
        raise StaleCheckpoint(f"{where}: written from another base model "
                              f"(sha256 {str(state.get('base_model_sha256'))[:12]}, now {base_sha[:12]})")
    if int(state["seed"]) != seed:
        raise StaleCheckpoint(f"{where}: written with seed {state['seed']}, asked to resume with seed {seed}")
    if state["data_fingerprint"] != fingerprint:
        raise StaleCheckpoint(f"{where}: written for different training rows")
    old, new = dict(state["config"]), cfg.to_dict()
    # a setting added after the checkpoint was written is unchanged if it is at its default
    defaults = TrainConfig().to_dict()
    changed = sorted(k for k in set(old) | set(new)
                     if k not in _RESUMABLE_CHANGES and old.get(k, defaults.get(k)) != new.get(k))
    if changed:
        raise StaleCheckpoint(f"{where}: settings changed since the checkpoint: {changed}; use a new checkpoint_dir")


def _run_provenance(
    cfg: TrainConfig, seed: int, model_dir: str | os.PathLike, started: float, overrides: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``alignrl.trace.provenance.provenance`` of this run; the calling rule may override rule/wildcards/inputs."""
    kwargs: dict[str, Any] = {
        "rule": "train",
        "wildcards": {},
        "inputs": {"model": str(model_dir)},
        "config_subtree": cfg.to_dict(),
        "seeds": {"seed": seed},
        "started_at": started,
    }
    kwargs.update(overrides or {})
    return provenance(**kwargs)
