"""What the pinned numeric mode costs, and which library's code path moves the bits (issue 15).

    python -m benchmarks.numerics [--rounds 3]

Each mode runs the same workload at the embedded default's model size (model A: pretraining steps, one RL
step, an evaluation batch) in a fresh process, modes alternating round by round so drift hits them alike. It
reports the CPU seconds (user + sys, robust to other load on the machine) per part, and the sha256 of the
pretrained and RL weights and of the evaluation samples, so the table shows which variable changes results
on this CPU. Raw numbers: ``benchmarks/out/numerics.json``; the markdown table is printed.
``python -m benchmarks.run`` runs it as its part ``numerics`` and puts the table in ``docs/benchmarks.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from alignrl.core import portable_gemm
from alignrl.core.numerics import MODE_ENV, MODE_VAR, PINNED_ENV, cpu_info, pin_environment
from benchmarks import common

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "numerics.json"


def _variables_only(env: dict, variables: dict) -> None:
    """A mode's variables without the mode's check (for the variants no config can ask for)."""
    env.update(variables)


# name -> how a child's environment is set up; the workflow's modes through pin_environment, as jobs get them
MODES = {
    "native (libraries choose)": lambda env: pin_environment("native", env),
    "pinned": lambda env: pin_environment("pinned", env),
    "portable (our GEMM, MKL_CBWR=COMPATIBLE for the rest)": lambda env: pin_environment("portable", env),
    "portable before, MKL's COMPATIBLE GEMM": lambda env: _variables_only(env, MODE_ENV["portable"]),
    "pinned, but ATen's scalar kernels": lambda env: _variables_only(
        env, {**MODE_ENV["pinned"], "ATEN_CPU_CAPABILITY": "default"}),
}


def workload(workdir: str) -> dict:
    """One process: pretrain, one RL step, evaluate; CPU seconds of each part and hashes of what they made."""
    import hashlib
    import time

    import torch

    from alignrl.claims.rows import problems_to_rows
    from alignrl.claims.tasks import make_splits
    from alignrl.native.evaluate import evaluate
    from alignrl.native.pretrain import pretrain
    from alignrl.native.trainer import train

    torch.set_num_threads(1)
    root = Path(workdir)
    sizes = dict(hidden_size=128, num_layers=4, num_heads=4, num_kv_heads=4, intermediate_size=384,
                 max_position_embeddings=256, tie_word_embeddings=True)
    splits = make_splits("math", {"train": 64, "val": 2, "test": 16}, seed=5)
    rows = {n: problems_to_rows(p, "math", "math", n, "{question}") for n, p in splits.items()}
    parts: dict = {}

    def timed(name, fn):
        start = time.process_time()
        fn()
        parts[name] = round(time.process_time() - start, 3)

    timed("pretrain_20_steps", lambda: pretrain(
        out_dir=root / "base", arch="qwen2", model_sizes=sizes,
        corpus_cfg=dict(task_fractions={"math": 0.55, "logic": 0.05}, subskill_fraction=0.2, num_documents=3000,
                        seed=1),
        train_cfg=dict(steps=20, batch_size=32, seq_len=128, lr=3e-3, warmup_steps=5, weight_decay=0.01, seed=2),
        threads=1))
    timed("rl_2_steps", lambda: train(
        model_dir=root / "base", train_rows=rows["train"], val_rows=rows["val"], task_name="math",
        out_dir=root / "rl", checkpoint_dir=root / "ckpt", seed=3, threads=1, log=lambda _m: None,
        cfg=dict(steps=2, prompts_per_step=8, samples_per_prompt=16, mini_batches_per_step=2, lr=3e-5,
                 warmup_steps=1, max_new_tokens=64, save_every=2, val_every=2, val_samples=1,
                 dynamic_sampling=False)))
    samples: list = []
    timed("evaluate_16x16", lambda: samples.append(evaluate(
        root / "base", rows["test"], n=16, ks=[1, 16], temperature=1.0, top_p=1.0, max_new_tokens=64,
        batch_size=256, seed=4, threads=1, progress=False)[0]))

    def sha(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]

    return {"cpu_seconds": parts, "capability": torch.backends.cpu.get_cpu_capability(),
            "hashes": {"pretrained": sha(root / "base" / "model.safetensors"),
                       "rl": sha(root / "rl" / "model" / "model.safetensors"),
                       "samples": hashlib.sha256(samples[0][["text", "correct"]].to_csv().encode()).hexdigest()[:12]}}


def _run_mode(setup, tmp: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (*PINNED_ENV, MODE_VAR)}
    portable_gemm.set_preload(env, None)
    setup(env)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-m", "benchmarks.numerics", "--workload", tmp], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_cpu_seconds"] = round((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 2)
    return result


def measure(rounds: int = 3) -> dict:
    """Every mode, ``rounds`` times, modes alternating; the raw runs and the CPU they ran on."""
    import tempfile

    runs: dict[str, list] = {m: [] for m in MODES}
    for r in range(rounds):
        for mode, setup in MODES.items():
            with tempfile.TemporaryDirectory(prefix="alignrl-numerics-") as tmp:
                runs[mode].append(_run_mode(setup, tmp))
            print(f"round {r + 1}/{rounds} {mode}: {runs[mode][-1]['cpu_seconds']}", file=sys.stderr)
    return {"cpu": cpu_info(), "rounds": rounds, "runs": runs}


def markdown(data: dict) -> list[str]:
    """The section of docs/benchmarks.md: median CPU seconds per part and mode, ratio to native, hashes."""
    runs, rounds, cpu = data["runs"], data["rounds"], data["cpu"]
    parts = list(runs["pinned"][0]["cpu_seconds"])

    def median(rs: list, part: str) -> float:
        return common.median([r["cpu_seconds"][part] for r in rs])

    lines = ["## Numeric mode", "",
             "`python -m benchmarks.numerics` (issue 15, `docs/numerics.md`): the same workload at model A's size in a "
             "fresh process per mode, one thread, median CPU seconds over "
             f"{rounds} round(s) and the ratio to native. The hashes say which setting changes the bits on this CPU: "
             f"{cpu['model_name']} ({cpu['vendor']}, family {cpu['family']} model {cpu['model']}; flags "
             f"{' '.join(cpu['flags'])}).", "",
             "| mode | ATen kernels | " + " | ".join(parts) + " | pretrained weights | RL weights | samples |",
             "|---|---|" + "---|" * (len(parts) + 3)]
    native = {p_: median(runs["native (libraries choose)"], p_) for p_ in parts}
    for mode, rs in runs.items():
        cells = [f"{median(rs, p_):.2f} s ({median(rs, p_) / native[p_]:.2f}x)" for p_ in parts]
        same = {k: len({r["hashes"][k] for r in rs}) == 1 for k in rs[0]["hashes"]}
        hashes = [rs[0]["hashes"][k] + ("" if same[k] else " (varies!)") for k in ("pretrained", "rl", "samples")]
        lines.append(f"| {mode} | {rs[0]['capability']} | " + " | ".join(cells + hashes) + " |")
    return lines + [""]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workload", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.workload:
        print(json.dumps(workload(a.workload)))
        return
    data = measure(a.rounds)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=2) + "\n")
    print("\n".join(markdown(data)))


if __name__ == "__main__":
    main()
