"""Shared pieces of the benchmarks: the benchmark model, prompts, child processes, machine facts.

Every measurement runs in its own child process (``python -m benchmarks.<name> --child ...``), so its
peak resident memory (``ru_maxrss``) is its own and one side's allocations never warm the other's. The
parent alternates the sides of a comparison round by round, so load from other processes on the machine
falls on both sides alike, and reports medians and the ratio of medians.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
RESULT_PREFIX = "BENCH-RESULT "

# The embedded default's model A (config.yaml): qwen2, hidden 128, 4 layers, 4 heads.
DEFAULT_SIZE = {"hidden_size": 128, "num_layers": 4, "num_heads": 4, "num_kv_heads": 4, "intermediate_size": 384,
                "max_position_embeddings": 256, "tie_word_embeddings": True}


def default_config() -> dict[str, Any]:
    """The embedded default's config.yaml, as written (no defaults filled in)."""
    import yaml

    with open(ROOT / "config.yaml") as fh:
        return yaml.safe_load(fh)


def size_from_config(model: str = "A") -> dict[str, Any]:
    """The model size of ``model`` in config.yaml (falls back to the documented default)."""
    try:
        return dict(default_config()["models"][model]["size"])
    except (OSError, KeyError):
        return dict(DEFAULT_SIZE)


def model_dir(size: dict[str, Any] | None = None, arch: str = "qwen2") -> Path:
    """A benchmark model directory (HF format, project tokenizer), built once and cached under OUT.

    Built by ``alignrl.native.pretrain.pretrain`` with 2 optimizer steps on a small corpus: the weights are
    close to their random initialisation, which is all a speed benchmark needs (every comparison fixes
    the number of generated tokens, so what the model says does not change the work).
    """
    size = dict(size or size_from_config())
    tag = f"{arch}-h{size['hidden_size']}-l{size['num_layers']}-a{size['num_heads']}-i{size['intermediate_size']}"
    path = OUT / "models" / tag
    if (path / "config.json").is_file():
        return path
    from alignrl.native.pretrain import pretrain

    path.parent.mkdir(parents=True, exist_ok=True)
    pretrain(
        out_dir=path, arch=arch, model_sizes=size,
        corpus_cfg={"task_fractions": {"math": 0.4, "logic": 0.4}, "subskill_fraction": 0.2,
                    "num_documents": 3000, "seed": 1},
        train_cfg={"steps": 2, "batch_size": 8, "seq_len": 128, "lr": 1e-3, "warmup_steps": 1, "seed": 2},
        threads=1, log_path=OUT / "models" / f"{tag}.log",
    )
    return path


def prompt_texts(count: int, seed: int = 0, task: str = "math") -> list[list[dict[str, str]]]:
    """``count`` chat prompts of real task problems (the lengths the pipeline samples from)."""
    from alignrl.claims.answer import build_prompt
    from alignrl.claims.tasks import get_task
    from alignrl.native.tokenizer import chat_prompt

    rng = random.Random(seed)
    t = get_task(task)
    return [chat_prompt(build_prompt(t.sample(rng).question, "{question}")) for _ in range(count)]


def prompt_ids(tokenizer: Any, chats: list[list[dict[str, str]]]) -> list[list[int]]:
    texts = tokenizer.apply_chat_template(chats, add_generation_prompt=True, tokenize=False)
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports ru_maxrss in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(result: dict[str, Any]) -> None:
    """A child's last line: its result as JSON (with its peak memory)."""
    import alignrl

    result = {**result, "peak_rss_mb": peak_rss_mb(), "alignrl": str(Path(alignrl.__file__).parent)}
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_child(module: str, args: list[str], *, python: str | None = None, timeout: float = 3600,
              alignrl_from: Path | None = None) -> dict[str, Any]:
    """Run ``python -m module --child args``; return its result dict (raises with its output on failure).

    ``alignrl_from``: a directory whose ``alignrl`` package is imported instead of this tree's (an
    exported older commit, for before/after comparisons of the same job).
    """
    env = dict(os.environ)
    paths = ([str(alignrl_from)] if alignrl_from else []) + [str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # one intra-op thread, like every pipeline job (config.yaml threads), and no oversubscription
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    cmd = [python or sys.executable, "-m", module, "--child", *args]
    # not cwd=ROOT: `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH, and
    # this tree's alignrl would shadow ``alignrl_from``
    OUT.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=OUT, timeout=timeout)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
            if alignrl_from is not None and not str(result.get("alignrl", "")).startswith(str(alignrl_from)):
                raise RuntimeError(f"{module} imported {result.get('alignrl')}, not the alignrl of {alignrl_from}")
            return result
    raise RuntimeError(f"{' '.join(cmd)} failed (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def alternate(sides: dict[str, tuple], rounds: int, *, log=print) -> dict[str, list[dict]]:
    """Run every side once per round, in alternating order; return each side's results.

    A side is ``(module, args)``, ``(module, args, alignrl_from)`` or ``(module, args, alignrl_from, python)``
    (``python``: the interpreter of another venv, e.g. vLLM's; ``alignrl_from`` may be None).
    """
    out: dict[str, list[dict]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            module, args, *rest = sides[name]
            alignrl_from, python = (list(rest) + [None, None])[:2]
            t0 = time.time()
            res = run_child(module, args, alignrl_from=alignrl_from, python=python)
            out[name].append(res)
            log(f"  round {r + 1}/{rounds} {name}: {json.dumps({k: v for k, v in res.items() if k != 'times'})} "
                f"({time.time() - t0:.0f} s)")
    return out


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def machine_info() -> dict[str, Any]:
    import torch
    import transformers

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "load_average_at_start": os.getloadavg()[0],
    }
    try:
        import trl

        info["trl"] = trl.__version__
    except ImportError:
        info["trl"] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                    capture_output=True, text=True).stdout.strip())
        info["commit"] = commit + ("-dirty" if dirty else "")
    except OSError:
        info["commit"] = None
    return info


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def set_threads(n: int = 1) -> None:
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def export_rev(rev: str) -> Path:
    """``git archive`` of ``rev`` under OUT (cached): its ``alignrl`` package, for before/after runs."""
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    dest = OUT / f"rev-{commit}"
    if not (dest / "alignrl").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit, "alignrl"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest
