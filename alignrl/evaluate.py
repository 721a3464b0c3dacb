"""pass@k evaluation of a Hugging Face model directory on rows in verl's format.

The same function evaluates base models and trained checkpoints: same chat prompts, same sampler and
seed, same decoding and strict answer extraction, same verifier. Only the weights differ, which is
what makes "before RL" and "after RL" numbers comparable.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm
from transformers import AutoModelForCausalLM

from alignrl.answer import extract_answer, is_well_formatted
from alignrl.passk import bootstrap_ci, pass_at_k_table, per_problem_pass_at_k
from alignrl.provenance import sha256_file
from alignrl.runtime import write_json_atomic
from alignrl.sampling import sample
from alignrl.tasks import get_task
from alignrl.tokenizer import load_tokenizer

__all__ = ["SAMPLE_COLUMNS", "task_of_row", "evaluate", "sample_record", "samples_frame", "summarize", "write_evaluation"]

SAMPLE_COLUMNS: tuple[str, ...] = (
    "problem_id",
    "sample_index",
    "text",
    "extracted_answer",
    "correct",
    "well_formatted",
    "response_tokens",
    "finished",
    "ground_truth",
)

_SOURCE_PREFIX = "synthetic/"


def task_of_row(row: Mapping[str, Any]) -> str:
    """Task name from ``data_source`` ("synthetic/<task>")."""
    source = str(row.get("data_source", ""))
    if not source.startswith(_SOURCE_PREFIX) or len(source) == len(_SOURCE_PREFIX):
        raise ValueError(f"cannot infer the task from data_source {source!r}; pass task= explicitly")
    return source[len(_SOURCE_PREFIX):]


def _chat(row: Mapping[str, Any]) -> list[dict[str, str]]:
    # Rows read through pandas hold numpy arrays of dicts; the chat template wants plain lists.
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in row["prompt"]]


def _prompt_ids(tokenizer: Any, row: Mapping[str, Any]) -> list[int]:
    # Render, then encode without adding specials: the template already holds them, and the trainer
    # builds its prompts the same way.
    text = tokenizer.apply_chat_template(_chat(row), add_generation_prompt=True, tokenize=False)
    return [int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]


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
        prompts = [_prompt_ids(tokenizer, row) for row in rows]

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


def sample_record(
    problem_id: str, sample_index: int, text: str, response_tokens: int, finished: bool, task: Any, truth: str
) -> dict[str, Any]:
    """One row of ``samples.parquet``: strict extraction, the task's verifier, the format check.

    Shared by every sampling backend, so native and vLLM evaluations grade identically.
    """
    answer = extract_answer(text)
    return {
        "problem_id": problem_id,
        "sample_index": int(sample_index),
        "text": text,
        "extracted_answer": answer,
        "correct": bool(task.verify(answer, truth)),
        "well_formatted": bool(is_well_formatted(text)),
        "response_tokens": int(response_tokens),
        "finished": bool(finished),
        "ground_truth": truth,
    }


def samples_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    samples = pd.DataFrame.from_records(list(records), columns=list(SAMPLE_COLUMNS))
    return samples.astype({"sample_index": "int64", "response_tokens": "int64", "correct": "bool",
                           "well_formatted": "bool", "finished": "bool"})


def summarize(
    samples: pd.DataFrame, *, n: int, ks: Sequence[int], n_boot: int, alpha: float, boot_seed: int
) -> dict[str, Any]:
    """pass@k (+ bootstrap CI over problems), mean response length and format rate of a samples table.

    Every problem must have exactly ``n`` samples: pass@k from fewer would silently be a different
    estimator.
    """
    per_problem = samples.groupby("problem_id", sort=False)["correct"].agg(["sum", "size"])
    wrong_size = per_problem[per_problem["size"] != n]
    if len(wrong_size):
        raise ValueError(f"problems without exactly n={n} samples: {list(wrong_size.index[:5])}")
    counts = [int(c) for c in per_problem["sum"]]
    table = pass_at_k_table(counts, n, ks)
    ci = {}
    for k in ks:
        low, high = bootstrap_ci(per_problem_pass_at_k(counts, n, k), n_boot=n_boot, alpha=alpha, seed=boot_seed)
        ci[int(k)] = [low, high]
    return {
        "n": int(n),
        "ks": [int(k) for k in ks],
        "num_problems": len(counts),
        "num_samples": int(len(samples)),
        "pass_at_k": {int(k): v for k, v in table.items()},
        "pass_at_k_ci": ci,
        "bootstrap": {"n_boot": int(n_boot), "alpha": float(alpha), "seed": int(boot_seed)},
        "mean_response_tokens": float(samples["response_tokens"].mean()),
        "format_rate": float(samples["well_formatted"].mean()),
        "finished_rate": float(samples["finished"].mean()) if "finished" in samples else None,
    }


def _replace_atomically(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``, so readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_evaluation(
    samples: pd.DataFrame, metrics: Mapping[str, Any], out_dir: str | os.PathLike[str]
) -> tuple[Path, Path]:
    """Write ``samples.parquet`` then ``metrics.json`` (last: its presence means the evaluation is complete).

    ``metrics.json`` also gets ``samples_sha256``, the hash of the samples file written beside it.

    Returns the two paths. JSON keys that are ints (the k of pass@k) become strings, as JSON requires.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples_path, metrics_path = out / "samples.parquet", out / "metrics.json"
    # A stale metrics.json from an earlier run must not vouch for the new samples while they are written.
    if metrics_path.exists():
        metrics_path.unlink()
    _replace_atomically(samples_path, lambda tmp: samples.to_parquet(tmp, index=False))
    # the audit re-hashes the samples against this: a metrics file vouches for exactly these bytes
    write_json_atomic({**metrics, "samples_sha256": sha256_file(samples_path)}, metrics_path)
    return samples_path, metrics_path
