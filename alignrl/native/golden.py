"""The golden run: a tiny pretraining, a few RL steps and an evaluation whose output hashes are committed.

It exercises every numeric path the embedded default uses (corpus, tokenizer, AdamW pretraining, the native
sampler, the GRPO loss and its backward pass, pass@k grading) in about half a minute on one thread, so a
change of CPU, library build or numeric mode that moves any bit of the default shows up here first
(``tests/test_numerics.py``; ``python -m alignrl.native.golden`` prints the hashes on a new machine, and
``--ops`` a fingerprint per op, which names the op that moved when a hash did).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

from alignrl.core.numerics import check_pinned, numerics_record
from alignrl.trace.provenance import sha256_file

SIZES = dict(hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=2, intermediate_size=64,
             max_position_embeddings=128, tie_word_embeddings=True)
# With answer and solution styles, so that the style draws of the corpus are under the golden hashes too.
CORPUS = dict(task_fractions={"math": 0.6, "logic": 0.1}, subskill_fraction=0.2, num_documents=600, seed=11,
              answer_styles={"requested": 0.6, "bare_boxed": 0.2, "sentence": 0.1, "tag_unboxed": 0.1},
              solution_styles={"math": {"careful": 0.8, "shortcut": 0.2}})
PRETRAIN = dict(steps=40, batch_size=8, seq_len=96, lr=1e-2, warmup_steps=4, weight_decay=0.01, seed=12)
RL = dict(steps=3, prompts_per_step=4, samples_per_prompt=4, mini_batches_per_step=2, lr=1e-3, warmup_steps=1,
          max_new_tokens=24, save_every=3, val_every=3, val_samples=1, keep_checkpoints=1,
          dynamic_sampling=False)
EVAL = dict(n=4, ks=[1, 4], temperature=1.0, top_p=1.0, max_new_tokens=24, batch_size=64, seed=13)
TASK_SEED = 14


def golden_run(workdir: str | os.PathLike) -> dict[str, str]:
    """Run the golden workload in ``workdir`` on one thread; returns name -> sha256 of each output."""
    import pandas as pd
    import torch

    from alignrl.claims.rows import problems_to_rows
    from alignrl.claims.tasks import make_splits
    from alignrl.native.evaluate import evaluate
    from alignrl.native.pretrain import pretrain
    from alignrl.native.trainer import train

    torch.set_num_threads(1)
    root = Path(workdir)
    splits = make_splits("math", {"train": 16, "val": 2, "test": 12}, seed=TASK_SEED)
    rows = {name: problems_to_rows(probs, "math", "math", name, "{question}") for name, probs in splits.items()}
    held = {p.question for name in ("val", "test") for p in splits[name]}
    base = root / "base"
    pretrain(out_dir=base, arch="qwen2", model_sizes=SIZES, corpus_cfg=CORPUS, train_cfg=PRETRAIN,
             exclude_questions=held, threads=1)
    train(model_dir=base, train_rows=rows["train"], val_rows=rows["val"], task_name="math", out_dir=root / "rl",
          checkpoint_dir=root / "ckpt", cfg=RL, seed=15, threads=1, log=lambda _msg: None)
    samples, _ = evaluate(root / "rl" / "model", rows["test"], threads=1, progress=False, **EVAL)
    graded = samples[["problem_id", "sample_index", "text", "correct"]].sort_values(["problem_id", "sample_index"])
    # the log minus its wall-clock column: everything else in it is a function of the numbers
    log = pd.read_csv(root / "rl" / "train_log.csv").drop(columns=["seconds"])
    return {
        "pretrained_weights": sha256_file(base / "model.safetensors"),
        "rl_weights": sha256_file(root / "rl" / "model" / "model.safetensors"),
        "rl_log": hashlib.sha256(log.to_csv(index=False).encode()).hexdigest(),
        "eval_samples": hashlib.sha256(graded.to_csv(index=False).encode()).hexdigest(),
    }


# Ops the golden run's path uses, one fingerprint each, so a moved golden hash can be traced to the op that moved.
# MKL serves the matrix products and the contiguous exp / log (its VML); ATen's vector kernels (Sleef) the rest.
GEMM_SHAPES = ((8, 32, 32), (96, 32, 96), (768, 32, 64), (768, 64, 32), (32, 768, 64), (768, 32, 512), (4, 7, 5))
# Not on the pipeline's path, kept as evidence: MKL VML's sqrt (and so torch.optim.AdamW unfused) under
# MKL_CBWR=COMPATIBLE uses the CPU's approximate reciprocal square root, whose bits differ between vendors.
OFF_PATH_OPS = ("sqrt_mkl_vml", "adamw_unfused")


def op_fingerprints() -> dict[str, str]:
    """sha256 (12 hex digits) of each op's output on fixed seeded inputs, on one thread."""
    import torch

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)

    def fp(*tensors: torch.Tensor) -> str:
        digest = hashlib.sha256()
        for t in tensors:
            digest.update(t.detach().contiguous().numpy().tobytes())
        return digest.hexdigest()[:12]

    out: dict[str, str] = {}
    for m, k, n in GEMM_SHAPES:
        a, b = torch.randn(m, k, generator=gen), torch.randn(k, n, generator=gen)
        out[f"matmul_{m}x{k}x{n}"] = fp(a @ b)
    # the portable GEMM's other paths: transposed operands, one-row and one-column products, batches (bmm)
    a, b = torch.randn(300, 40, generator=gen), torch.randn(300, 24, generator=gen)
    out["matmul_transposed_40x300x24"] = fp(a.t() @ b, b.t() @ a)
    q, keys = torch.randn(64, 1, 32, generator=gen), torch.randn(64, 40, 32, generator=gen)
    out["bmm_one_row_64x1x32x40"] = fp(q @ keys.transpose(1, 2), torch.randn(64, 1, 40, generator=gen) @ keys)
    out["matmul_one_column_40x32x1"] = fp(torch.randn(40, 32, generator=gen) @ torch.randn(32, 1, generator=gen))
    x = torch.randn(1 << 14, generator=gen) * 4
    positive = x.abs() + 1e-3
    for name, fn, inp in (("exp", torch.exp, x), ("log", torch.log, positive), ("sqrt_mkl_vml", torch.sqrt, positive),
                          ("rsqrt", torch.rsqrt, positive), ("cos", torch.cos, x), ("sin", torch.sin, x),
                          ("tanh", torch.tanh, x), ("sigmoid", torch.sigmoid, x),
                          ("silu", torch.nn.functional.silu, x), ("softmax", lambda t: t.view(64, -1).softmax(-1), x),
                          ("log_softmax", lambda t: t.view(64, -1).log_softmax(-1), x),
                          ("std", lambda t: t.view(64, -1).std(-1), x), ("cumsum", lambda t: t.cumsum(0), x)):
        out[name] = fp(fn(inp))
    probs = torch.softmax(torch.randn(16, 64, generator=gen), -1)
    out["multinomial"] = fp(torch.multinomial(probs, 4, replacement=True, generator=torch.Generator().manual_seed(1)))
    for fused in (True, False):
        g = torch.Generator().manual_seed(2)
        params = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in ((64, 32), (32,), (100, 7))]
        opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.1, fused=fused)
        for _ in range(5):
            for p in params:
                p.grad = torch.randn(p.shape, generator=g) * 1e-3
            opt.step()
        out["adamw_fused" if fused else "adamw_unfused"] = fp(*params)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check_pinned()  # a run that would not exercise the mode it names is refused, not hashed
    if args == ["--ops"]:
        json.dump({"ops": op_fingerprints(), "numerics": numerics_record()}, sys.stdout, indent=2)
        print()
        return 0
    if args:
        print("usage: python -m alignrl.native.golden [--ops]", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="alignrl-golden-") as tmp:
        hashes = golden_run(tmp)
    json.dump({"hashes": hashes, "numerics": numerics_record()}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
