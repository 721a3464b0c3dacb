"""Small runtime helpers shared by the workflow scripts: logging to the rule's log, threads, atomic writes."""
from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def log_to(path: str | os.PathLike | None) -> Iterator[None]:
    """Send stdout and stderr (tqdm included) to the rule's log file, appending."""
    if path is None:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1) as fh:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = fh
        try:
            yield
        finally:
            sys.stdout, sys.stderr = old_out, old_err


def set_threads(n: int) -> None:
    """Pin torch's intra-op threads to what Snakemake granted: oversubscription is ~8x slower here.

    Every job calls this first, so it is also where a job checks that torch runs the pinned numeric mode.
    """
    import torch

    from alignrl.core.numerics import check_pinned

    check_pinned()

    n = max(1, int(n))
    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def write_json_atomic(obj: Any, path: str | os.PathLike) -> None:
    """Write JSON through a temporary file and rename, so a partial file is never taken as complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, default=_json_default)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as fh:
        return json.load(fh)


class NoGPUError(RuntimeError):
    """A GPU rule started where no CUDA device is visible."""


def visible_gpus() -> int:
    """CUDA devices this process can use (0 without CUDA, or when CUDA_VISIBLE_DEVICES hides them all)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def require_gpu(rule: str, backend: str, needed: int = 1, count: int | None = None) -> int:
    """Refuse to start a GPU job without GPUs, instead of letting it crawl (or fail late) on CPU.

    ``count`` overrides the detected number of devices (tests). Returns the number of visible devices.
    """
    have = visible_gpus() if count is None else int(count)
    if have < needed:
        hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise NoGPUError(
            f"rule '{rule}' uses the {backend} backend and needs {needed} GPU(s), but {have} CUDA device(s) are "
            f"visible (CUDA_VISIBLE_DEVICES={hidden!r}). Run it on a GPU node (e.g. --profile profiles/slurm) "
            "or set backend.training / backend.sampling to 'native' in the config."
        )
    return have
