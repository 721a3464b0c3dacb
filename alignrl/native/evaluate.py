"""pass@k evaluation of a Hugging Face model directory on rows in verl's format.

The same function evaluates base models and trained checkpoints: same chat prompts, same sampler and
seed, same decoding and strict answer extraction, same verifier. Only the weights differ, which is
what makes "before RL" and "after RL" numbers comparable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm
from transformers import AutoModelForCausalLM

from alignrl.claims.prompts import load_tokenizer, prompt_token_ids
from alignrl.claims.scoring import sample_record, samples_frame, summarize, task_of_row
from alignrl.claims.tasks import get_task
from alignrl.native.sampling import sample

__all__ = ["evaluate"]

def evaluate(
    model_dir: str | os.PathLike[str],
    rows: Sequence[Mapping[str, Any]],
    *,
    n: int,
    ks: Sequence[int],
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    batch_size: int,
    seed: int,
    n_boot: int = 1000,
    alpha: float = 0.05,
    threads: int | None = None,
    boot_seed: int | None = None,
    task: str | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Sample ``n`` responses per row, grade them, and return (per-sample table, metrics).

    ``task`` overrides the task read from each row's ``data_source``. ``boot_seed`` seeds the bootstrap
    over problems (default: ``seed``). ``threads`` sets torch's intra-op threads for the call and restores
    the previous value afterwards. Metrics hold pass@k for every k in ``ks`` (unbiased estimator, mean over
    problems) with percentile-bootstrap intervals, the mean response length (tokens, eos included) and the
    fraction of well-formatted responses.
    """
    ks = [int(k) for k in ks]
    if not rows:
        raise ValueError("evaluate needs at least one row")
    bad_ks = [k for k in ks if not 1 <= k <= n]
    if not ks or bad_ks:
        raise ValueError(f"every k must satisfy 1 <= k <= n={n}; got ks={ks}")
    uids = [str(row["extra_info"]["uid"]) for row in rows]
    if len(set(uids)) != len(uids):
        raise ValueError("extra_info.uid must be unique among the evaluated rows")
    tasks = [get_task(task if task is not None else task_of_row(row)) for row in rows]
    truths = [str(row["reward_model"]["ground_truth"]) for row in rows]

    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))
    try:
        # Not AutoTokenizer: for a qwen2 model dir transformers 5 substitutes Qwen2Tokenizer, whose
        # byte-level pre-tokenizer maps the same text to other ids.
        tokenizer = load_tokenizer(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        model.eval()
        eos_id = tokenizer.eos_token_id
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id
        if pad_id is None:
            raise ValueError(f"{model_dir}: the tokenizer has neither a pad nor an eos token")
        prompts = [prompt_token_ids(tokenizer, row) for row in rows]

        generator = torch.Generator().manual_seed(int(seed))
        with tqdm(total=len(rows) * n, desc=f"sampling {Path(model_dir).name}", unit="seq",
                  file=sys.stderr, disable=not progress) as bar:
            completions = sample(
                model,
                prompts,
                n=n,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
                eos_id=eos_id,
                pad_id=pad_id,
                generator=generator,
                batch_size=batch_size,
                on_batch=bar.update,
            )
        # skip_special_tokens drops the eos (and any pad); the trainer decodes the same way.
        texts = tokenizer.batch_decode([c.token_ids for c in completions], skip_special_tokens=True)
    finally:
        torch.set_num_threads(old_threads)

    records = [
        sample_record(uids[c.prompt_index], c.sample_index, text, len(c.token_ids), c.finished,
                      tasks[c.prompt_index], truths[c.prompt_index])
        for c, text in zip(completions, texts)
    ]
    samples = samples_frame(records)
    metrics = summarize(samples, n=n, ks=ks, n_boot=n_boot, alpha=alpha,
                        boot_seed=seed if boot_seed is None else boot_seed)
    metrics.update(
        {
            "temperature": float(temperature),
            "top_p": float(top_p),
            "max_new_tokens": int(max_new_tokens),
            "seed": int(seed),
            "model_dir": str(model_dir),
            "tasks": sorted({t.name for t in tasks}),
        }
    )
    return samples, metrics
