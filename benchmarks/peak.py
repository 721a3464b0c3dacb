"""The machine's peak and the fraction of it each job type reaches (issue 18, goal 3).

    python -m benchmarks.peak [--rounds 3] [--write]   # --write: docs/benchmarks_peak.md

Peak: fp32 matrix products (``torch.mm``) on one thread, square sizes 256-2048, under two numeric modes:
``pinned`` (MKL's AVX2 GEMM, the fastest fp32 product torch has on this CPU) and the mode the embedded default
runs (``numerics:`` in ``config.yaml``; ``portable``: our GEMM, whose bits are the same on every CPU). The best
size's median over rounds, over both modes, is the machine's peak; the best in the default's mode is that
mode's own ceiling. The same is measured at the shapes of the jobs' own linear layers (model A: hidden 128,
MLP 384), which shows how much of the gap is the shape alone.

Jobs: one unit of each job type, at the embedded default's settings and model size, on the benchmark model
of ``benchmarks.common`` (near its random initialisation; end-of-sequence is disabled, so every completion
has exactly ``max_new_tokens`` tokens and the work is fixed):

- ``pretrain``: one optimizer step, batch 32 x 128 tokens (forward, backward, AdamW);
- ``rl_step``: one GRPO step of the config's ``training:`` (8 prompts x 16 samples, 8 updates per rollout
  batch), every group kept (a label-free reward, no dynamic sampling): the most work a step can do
  with one generation batch;
- ``evaluate``: one sampling batch of evaluation (16 problems x 16 samples = 256 rows x 64 tokens);
- ``large_k``: one batch of the large-k job (1 problem x 256 samples x 64 tokens).

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` on an identical, separately seeded run of
the same unit: the matrix products (``mm``, ``addmm``, ``bmm``), forward and backward. It does not count
the fused CPU attention kernel that the Hugging Face forward uses in pretraining (an estimate: 4 x T x d
FLOPs per token and layer against 2 x the layer's weights, halved by the causal mask, about 8% more at 128
tokens), nor elementwise work, so a job's fraction of peak is a lower bound.
The jobs run in the default's mode, as in the pipeline; a fraction is given of the machine's peak (the
physical anchor) and of the mode's own ceiling (what the kernel allows).
CPU seconds (``time.process_time``) of the unit are medians over rounds, each child a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from benchmarks import common

SQUARE = (256, 512, 1024, 2048)
# (m, k, n) of model A's linear layers: q/k/v/o and MLP at the row counts of pretraining (32 x 128 tokens),
# an RL update (one group: ~40 + 16 x 64 tokens) and a decode step (256 rows)
JOB_SHAPES = {
    "pretrain: 4096 x 128 -> 384": (4096, 128, 384),
    "RL update: 1064 x 128 -> 384": (1064, 128, 384),
    "decode step: 256 x 128 -> 384": (256, 128, 384),
    "decode step: 256 x 128 -> 128": (256, 128, 128),
}
JOBS = ("pretrain", "rl_step", "evaluate", "large_k")
DOC = common.ROOT / "docs" / "benchmarks_peak.md"


def _gemm_child(reps_seconds: float) -> None:
    common.set_threads(1)
    import torch

    from alignrl.core.numerics import check_pinned

    check_pinned()
    out = {}
    shapes = {f"square {n}": (n, n, n) for n in SQUARE} | JOB_SHAPES
    for name, (m, k, n) in shapes.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        c = torch.empty(m, n)
        for _ in range(3):
            torch.mm(a, b, out=c)
        reps, start = 0, time.process_time()
        while time.process_time() - start < reps_seconds:
            torch.mm(a, b, out=c)
            reps += 1
        cpu = time.process_time() - start
        out[name] = {"shape": [m, k, n], "gflops": 2 * m * k * n * reps / cpu / 1e9}
    common.emit({"gemm": out, "capability": torch.backends.cpu.get_cpu_capability()})


def _unit(job: str):
    """A fresh, seeded closure that runs one unit of ``job`` (built outside the timed region)."""
    import torch

    from alignrl.native.sampling import sample
    from alignrl.native.tokenizer import load_tokenizer

    path = common.model_dir()
    if job == "pretrain":
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).train()
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
        gen = torch.Generator().manual_seed(0)
        batch = torch.randint(0, model.config.vocab_size, (32, 128), generator=gen)

        def run() -> None:
            loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return run
    if job == "rl_step":
        from alignrl.claims.rows import problems_to_rows
        from alignrl.claims.tasks import get_task, make_splits
        from alignrl.native.grpo import TrainConfig, Trainer, row_parts

        training = dict(common.default_config()["training"])
        task = get_task("math")
        rows = problems_to_rows(make_splits(task, {"train": 64}, seed=5)["train"], "math", task.ability, "train",
                                "{question}")
        parts = [row_parts(r, i, "math", "train") for i, r in enumerate(rows)]
        keep = {k: training[k] for k in ("prompts_per_step", "samples_per_prompt", "mini_batches_per_step",
                                         "ppo_epochs", "lr", "clip_low", "clip_high", "max_new_tokens")}
        cfg = TrainConfig(**keep, steps=100, warmup_steps=0, dynamic_sampling=False, reward="entropy",
                          val_every=0)
        trainer = Trainer(path, task, parts, [], cfg, seed=0)
        trainer.seed_fresh()
        trainer.eos_id = None  # fixed-length completions: fixed work per step
        counter = iter(range(1, 10 ** 6))
        return lambda: trainer.step(next(counter), lambda _m: None)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tok = load_tokenizer(path)
    prompts, n = (16, 16) if job == "evaluate" else (1, 256)
    ids = common.prompt_ids(tok, common.prompt_texts(prompts))
    seeds = iter(range(10 ** 6))
    return lambda: sample(model, ids, n=n, max_new_tokens=64, temperature=1.0, top_p=1.0, eos_id=None,
                          pad_id=tok.pad_token_id, generator=torch.Generator().manual_seed(next(seeds)),
                          batch_size=prompts * n)


def _job_child(job: str, reps: int) -> None:
    common.set_threads(1)
    from torch.utils.flop_counter import FlopCounterMode

    from alignrl.core.numerics import check_pinned

    check_pinned()
    # two identically seeded instances: one counts the FLOPs of units 2..reps+1, the other times the same units
    counted = _unit(job)
    counted()
    with FlopCounterMode(display=False) as fc:
        for _ in range(reps):
            counted()
    flops = fc.get_total_flops() / reps
    by_op = {str(k): int(v) for k, v in fc.get_flop_counts().get("Global", {}).items()}
    timed = _unit(job)
    timed()
    cpu = []
    for _ in range(reps):
        start = time.process_time()
        timed()
        cpu.append(time.process_time() - start)
    common.emit({"job": job, "flops": flops, "flops_by_op": by_op, "cpu_seconds": cpu, "time_shares": _profile(job)})


#: Operator categories of the profile: where a unit's time goes besides the dense products.
CATEGORIES = {"dense products (mm, addmm)": ("aten::mm", "aten::addmm"),
              "attention products (bmm, fused attention)": ("aten::bmm", "aten::_scaled_dot_product", "aten::_flash")}


def _profile(job: str) -> dict[str, float]:
    """Shares of self CPU time per operator category in one unit (a third, identically seeded instance).

    The profiler's own cost falls on every call, so ops called often (elementwise) read somewhat high."""
    from torch.profiler import ProfilerActivity, profile

    unit = _unit(job)
    unit()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        unit()
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    shares = {name: sum(e.self_cpu_time_total for e in events if e.key.startswith(prefixes)) / total
              for name, prefixes in CATEGORIES.items()}
    shares["everything else (elementwise, copies, softmax, norms)"] = 1.0 - sum(shares.values())
    return shares


def default_mode() -> str:
    """The numeric mode of the embedded default (``numerics:`` in config.yaml), which every job there runs."""
    from alignrl.workflow.config import load_config  # finalized, so the schema's default fills a missing key

    return load_config(common.ROOT / "config.yaml")["numerics"]


def _alternate_under(mode: str, sides: dict, rounds: int, log) -> dict:
    """``common.alternate`` with every child started under numeric mode ``mode``; the parent's environment is
    restored after (pin_environment refuses a variable another mode set, so modes cannot be stacked)."""
    from alignrl.core.numerics import pin_environment

    saved = dict(os.environ)
    try:
        pin_environment(mode, os.environ)  # the children inherit it; a conflicting variable is refused
        return common.alternate(sides, rounds, log=log)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def peaks(gemm: dict[str, dict[str, float]], mode: str) -> tuple[float, str, float]:
    """(the machine's peak, where it was reached, the best of ``mode``) from GFLOP/s per mode and product;
    only the square products count, the job-shaped ones show the shapes' cost."""
    squares = [(g, m, n) for m, table in gemm.items() for n, g in table.items() if n.startswith("square")]
    peak, peak_mode, peak_name = max(squares)
    return peak, f"{peak_name}, {peak_mode}", max(g for g, m, _ in squares if m == mode)


def measure(rounds: int = 3, log=print, mode: str | None = None) -> dict:
    """The peak, the job-shaped products and each job type's fraction of the peak, children alternating."""
    from alignrl.core.numerics import cpu_info

    mode = mode or default_mode()
    common.model_dir()  # built once, outside the measured children
    gemm_side = {"gemm": ("benchmarks.peak", ["--gemm", "--seconds", "0.5"])}
    job_sides = {job: ("benchmarks.peak", ["--job", job, "--reps", "2"]) for job in JOBS}
    modes = list(dict.fromkeys(["pinned", mode]))
    gemm, capability = {}, None
    for m in modes:
        res = _alternate_under(m, gemm_side | (job_sides if m == mode else {}), rounds, log)
        gemm[m] = {name: common.median([r["gemm"][name]["gflops"] for r in res["gemm"]])
                   for name in res["gemm"][0]["gemm"]}
        capability = capability or res["gemm"][0]["capability"]
        if m == mode:
            job_results = res
    peak, peak_at, mode_peak = peaks(gemm, mode)
    jobs = {}
    for job in JOBS:
        flops = job_results[job][0]["flops"]
        assert all(r["flops"] == flops for r in job_results[job]), f"{job}: the counted FLOPs differ between rounds"
        cpu = common.median([c for r in job_results[job] for c in r["cpu_seconds"]])
        shares = {name: common.median([r["time_shares"][name] for r in job_results[job]])
                  for name in job_results[job][0]["time_shares"]}
        gflops = flops / cpu / 1e9
        jobs[job] = {"gflop_per_unit": flops / 1e9, "cpu_seconds_per_unit": cpu, "gflops": gflops,
                     "fraction_of_peak": gflops / peak, "fraction_of_mode_peak": gflops / mode_peak,
                     "flops_by_op": job_results[job][0]["flops_by_op"], "time_shares": shares}
    return {"cpu": cpu_info(), "capability": capability, "rounds": rounds, "mode": mode, "gemm_gflops": gemm,
            "peak_gflops": peak, "peak_at": peak_at, "mode_peak_gflops": mode_peak, "jobs": jobs}


def markdown(data: dict) -> list[str]:
    """The section of docs/benchmarks.md."""
    cpu, mode, modes = data["cpu"], data["mode"], list(data["gemm_gflops"])
    peak = data["peak_gflops"]
    lines = ["## Peak and fraction of peak", "",
             f"`python -m benchmarks.peak` (issue 18): fp32 `torch.mm` on one thread (ATen {data['capability']}), "
             f"median of {data['rounds']} rounds, on {cpu['model_name']} ({cpu['vendor']}, family {cpu['family']} "
             f"model {cpu['model']}), under the numeric modes {', '.join(f'`{m}`' for m in modes)}. The machine's "
             f"peak: **{peak:.1f} GFLOP/s** ({data['peak_at']}). The default's mode, `{mode}`, reaches "
             f"{data['mode_peak_gflops']:.1f} GFLOP/s at best ({data['mode_peak_gflops'] / peak:.2f} of the peak).",
             "",
             "| matrix product | " + " | ".join(f"GFLOP/s `{m}`" for m in modes) + " | "
             + " | ".join(f"fraction of peak `{m}`" for m in modes) + " |",
             "|---|" + "---|" * (2 * len(modes))]
    for name in data["gemm_gflops"][modes[0]]:
        values = [data["gemm_gflops"][m][name] for m in modes]
        lines.append(f"| {name} | " + " | ".join(f"{g:.1f}" for g in values) + " | "
                     + " | ".join(f"{g / peak:.2f}" for g in values) + " |")
    lines += ["", f"One unit of each job type at the default's settings and in its mode, `{mode}` (module docstring); "
              "FLOPs of the matrix products counted by `FlopCounterMode`, so each fraction is a lower bound.", "",
              "| job | unit | GFLOP per unit | CPU s per unit | GFLOP/s | fraction of peak | "
              f"fraction of `{mode}`'s best |",
              "|---|---|---|---|---|---|---|"]
    units = {"pretrain": "one optimizer step, 32 x 128 tokens", "rl_step": "one GRPO step, 8 x 16 samples, 8 updates",
             "evaluate": "one batch, 256 rows x 64 tokens", "large_k": "one batch, 1 x 256 rows x 64 tokens"}
    for job, j in data["jobs"].items():
        lines.append(f"| {job} | {units[job]} | {j['gflop_per_unit']:.2f} | {j['cpu_seconds_per_unit']:.3f} | "
                     f"{j['gflops']:.1f} | {j['fraction_of_peak']:.2f} | {j['fraction_of_mode_peak']:.2f} |")
    names = list(next(iter(data["jobs"].values())).get("time_shares", {}))
    if names:
        lines += ["", "Where each unit's time goes (`torch.profiler`, self CPU time of aten operators, shares):", "",
                  "| job | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for job, j in data["jobs"].items():
            lines.append(f"| {job} | " + " | ".join(f"{j['time_shares'][n]:.2f}" for n in names) + " |")
    return lines + [""]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--gemm", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--job", choices=JOBS, help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=0.5, help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, default=2, help=argparse.SUPPRESS)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--write", action="store_true", help="also write docs/benchmarks_peak.md")
    p.add_argument("--mode", help="the jobs' numeric mode (default: config.yaml's numerics)")
    a = p.parse_args()
    if a.child and a.gemm:
        _gemm_child(a.seconds)
    elif a.child:
        _job_child(a.job, a.reps)
    else:
        machine = common.machine_info()
        data = measure(a.rounds, log=lambda m: print(m, file=sys.stderr), mode=a.mode)
        data["machine"] = machine
        out = common.OUT / "peak.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2) + "\n")
        text = "\n".join(markdown(data))
        if a.write:
            DOC.write_text("\n".join([
                "# Peak and fraction of peak", "",
                "Generated by `python -m benchmarks.peak --write`; do not edit by hand (raw numbers: "
                "`benchmarks/out/peak.json`). `python -m benchmarks.run` runs the same measurement as its part "
                "`peak` and puts it in `docs/benchmarks.md`.", "",
                f"Commit `{machine.get('commit')}`, torch {machine['torch']}; load average at start "
                f"{machine['load_average_at_start']:.1f} (CPU seconds are the measured process's own, so other load "
                "moves them less than wall time).", "",
                *text.splitlines()[2:]]) + "\n")
        print(text)


if __name__ == "__main__":
    main()
