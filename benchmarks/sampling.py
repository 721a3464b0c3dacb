"""Sampling throughput: alignrl's sampler against Hugging Face ``model.generate``.

Identical work on both sides: the same model directory, the same ``prompts`` real task prompts, ``n``
samples each (256 rows at the defaults, the evaluation batch size), exactly ``max_new_tokens`` new
tokens per row (end-of-sequence is disabled on both sides: ``eos_id=None`` for ours, ``min_new_tokens``
= ``max_new_tokens`` for ``generate``), temperature 1, top-p 1, no top-k, one intra-op thread, one batch.
Sides: ``ours`` (default backend: lean decode step, prompt cache shared by a prompt's samples), ``ours_hf``
(our sampler driving the model's own forward: the sampler as it was before issue 6, whose code this
path still is) and ``generate``.
"""

from __future__ import annotations

import argparse
import time

from benchmarks import common

SIDES = ("ours", "ours_hf", "generate")


def _child(side: str, prompts: int, n: int, max_new_tokens: int, reps: int, size: dict | None) -> None:
    common.set_threads(1)
    import torch
    from transformers import AutoModelForCausalLM

    from alignrl.native.sampling import sample
    from alignrl.native.tokenizer import load_tokenizer

    path = common.model_dir(size)
    tok = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    ids = common.prompt_ids(tok, common.prompt_texts(prompts))
    pad = tok.pad_token_id
    rss_setup = common.peak_rss_mb()

    if side == "generate":
        width = max(len(p) for p in ids)
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in ids])
        mask = (input_ids != pad).long()

        def run(seed: int) -> int:
            torch.manual_seed(seed)
            with torch.inference_mode():
                out = model.generate(
                    input_ids=input_ids, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                    max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens, num_return_sequences=n,
                    pad_token_id=pad, eos_token_id=None,
                )
            return int((out.shape[1] - width) * out.shape[0])
    else:
        backend = "auto" if side == "ours" else "hf"

        def run(seed: int) -> int:
            comps = sample(model, ids, n=n, max_new_tokens=max_new_tokens, temperature=1.0, top_p=1.0, eos_id=None,
                           pad_id=pad, generator=torch.Generator().manual_seed(seed), batch_size=len(ids) * n,
                           backend=backend)
            return sum(len(c.token_ids) for c in comps)

    run(0)  # warm-up (allocator, kernels)
    times, cpu, tokens = [], [], []
    for r in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        tokens.append(run(r + 1))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    rows = prompts * n
    assert all(t == rows * max_new_tokens for t in tokens), (tokens, rows * max_new_tokens)
    common.emit({"side": side, "times": times, "cpu_times": cpu, "seq_per_s": rows / common.median(times),
                 "tokens_per_s": rows * max_new_tokens / common.median(times), "rss_setup_mb": rss_setup})


def measure(rounds: int = 3, reps: int = 2, prompts: int = 16, n: int = 16, max_new_tokens: int = 64,
            sides: tuple[str, ...] = SIDES, log=print) -> dict:
    args = ["--prompts", str(prompts), "--n", str(n), "--max-new-tokens", str(max_new_tokens), "--reps", str(reps)]
    common.model_dir()  # built once, outside the measured children
    res = common.alternate({s: ("benchmarks.sampling", ["--side", s, *args]) for s in sides}, rounds, log=log)
    summary = {
        s: {
            "seq_per_s": common.median([prompts * n / x for r in res[s] for x in r["times"]]),
            "seq_per_cpu_s": common.median([prompts * n / x for r in res[s] for x in r["cpu_times"]]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in res[s]),
            "rss_setup_mb": max(r["rss_setup_mb"] for r in res[s]),
            "runs": len(res[s]) * reps,
        }
        for s in sides
    }
    out = {"settings": {"prompts": prompts, "n": n, "rows": prompts * n, "max_new_tokens": max_new_tokens,
                        "threads": 1, "rounds": rounds, "reps_per_round": reps}, "sides": summary}
    if "generate" in summary:
        for s in sides:
            if s != "generate":
                out[f"ratio_{s}_vs_generate"] = summary[s]["seq_per_cpu_s"] / summary["generate"]["seq_per_cpu_s"]
                out[f"wall_ratio_{s}_vs_generate"] = summary[s]["seq_per_s"] / summary["generate"]["seq_per_s"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--child", action="store_true")
    p.add_argument("--side", choices=SIDES)
    p.add_argument("--prompts", type=int, default=16)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    if a.child:
        _child(a.side, a.prompts, a.n, a.max_new_tokens, a.reps, None)
    else:
        import json

        print(json.dumps(measure(a.rounds, a.reps, a.prompts, a.n, a.max_new_tokens), indent=2))


if __name__ == "__main__":
    main()
