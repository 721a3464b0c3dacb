"""Provenance records: what went into a result, with which code, packages, hardware and seeds.

Every ``metrics.json`` and checkpoint ``run_info.json`` embeds one ``provenance(...)`` dict so a number
can be traced back to exact input bytes (sha256), configuration (canonical-JSON hash) and code (git).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from alignrl.core.numerics import numerics_record

__all__ = [
    "DEFAULT_PACKAGES",
    "sha256_file",
    "sha256_tree",
    "config_hash",
    "canonical_json",
    "git_state",
    "package_versions",
    "hardware",
    "provenance",
]

# The packages whose versions can change a result.
DEFAULT_PACKAGES: tuple[str, ...] = (
    "alignrl",
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "numpy",
    "pandas",
    "pyarrow",
    "snakemake",
)

_CHUNK = 1 << 20
# Snakemake drops this (empty) marker into a directory output AFTER the job that wrote it has finished,
# so a hash taken inside the job could never match one taken later; it is bookkeeping, not content.
_BOOKKEEPING = frozenset({".snakemake_timestamp"})
_REPO_DIR = Path(__file__).resolve().parents[2]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(directory: str | os.PathLike[str]) -> str:
    """Hex sha256 of a directory: its files' relative POSIX paths and contents, in sorted order.

    Renaming, adding, removing or editing any file changes the hash; file timestamps, empty
    directories and Snakemake's ``.snakemake_timestamp`` marker do not.
    """
    root = Path(directory)
    if not root.is_dir():
        raise NotADirectoryError(f"sha256_tree needs a directory: {root}")
    files = sorted(
        (p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file() and p.name not in _BOOKKEEPING
    )
    digest = hashlib.sha256()
    for rel, path in files:
        # NUL and newline cannot be confused with path characters, so entries cannot run together.
        digest.update(rel.encode("utf-8") + b"\0" + sha256_file(path).encode("ascii") + b"\n")
    return digest.hexdigest()


def _json_default(obj: Any) -> Any:
    """Map the few non-JSON types that occur in configs onto JSON ones."""
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=lambda x: json.dumps(x, sort_keys=True, default=_json_default))
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", None) == 0:
        return obj.item()  # numpy / torch scalars
    if hasattr(obj, "tolist") and callable(obj.tolist):
        return obj.tolist()
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"config_hash cannot serialise {type(obj).__name__}: {obj!r}")


def canonical_json(obj: Any) -> str:
    """Key-sorted, whitespace-free JSON: equal configs give equal strings."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True, default=_json_default
    )


def config_hash(obj: Any) -> str:
    """Hex sha256 of ``obj``'s canonical JSON (key order does not matter; tuples equal lists)."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def _git(repo_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo_dir), *args], capture_output=True, text=True, timeout=30, check=False
    )


def git_state(repo_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``{"commit", "dirty", "note"}`` of the repository holding ``repo_dir`` (default: this package's).

    Never raises: when git is missing, the directory is not a repository or has no commit yet, the
    unknown fields are None and ``note`` says why. ``dirty`` counts untracked (non-ignored) files too,
    because an uncommitted new module changes behaviour as much as an edit does.
    """
    repo = Path(repo_dir) if repo_dir is not None else _REPO_DIR
    state: dict[str, Any] = {"commit": None, "dirty": None, "note": None}
    try:
        inside = _git(repo, "rev-parse", "--is-inside-work-tree")
    except FileNotFoundError:
        state["note"] = "git executable not found"
        return state
    except (OSError, subprocess.SubprocessError) as exc:
        state["note"] = f"git failed: {exc}"
        return state
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        state["note"] = f"not a git work tree: {repo} ({inside.stderr.strip() or 'no repository'})"
        return state
    head = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD")
    if head.returncode == 0:
        state["commit"] = head.stdout.strip()
    else:
        state["note"] = "repository has no commit yet"
    status = _git(repo, "status", "--porcelain")
    if status.returncode == 0:
        state["dirty"] = bool(status.stdout.strip())
    else:
        extra = f"git status failed: {status.stderr.strip()}"
        state["note"] = f"{state['note']}; {extra}" if state["note"] else extra
    return state


def package_versions(names: Iterable[str] = DEFAULT_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None when it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def hardware() -> dict[str, Any]:
    """Platform, Python, CPU (model, ISA flags), torch threads, numeric mode and build, CUDA device (or None)."""
    numerics = numerics_record()
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        # platform.processor() is empty on most Linux systems; /proc/cpuinfo names the CPU
        "processor": numerics["cpu"].get("model_name") or platform.processor() or None,
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": None,
        "cuda_device": None,
        "numerics": numerics,
    }
    try:
        import torch
    except ImportError:
        return info
    info["torch_threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(torch.cuda.current_device())
    return info


def _timestamp(value: dt.datetime | str | float | None) -> str | None:
    """ISO-8601 text for a datetime or epoch seconds (epoch seconds are read as UTC); strings pass through."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc).isoformat()
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"timestamp must be a datetime, epoch seconds or ISO string, got {type(value).__name__}")


def _hash_input(path: str | os.PathLike[str]) -> dict[str, str]:
    p = Path(path)
    if p.is_dir():
        return {"path": str(p), "kind": "directory", "sha256": sha256_tree(p)}
    if p.is_file():
        return {"path": str(p), "kind": "file", "sha256": sha256_file(p)}
    raise FileNotFoundError(f"provenance input does not exist: {p}")


def provenance(
    *,
    rule: str,
    wildcards: Mapping[str, Any],
    inputs: Mapping[str, str | os.PathLike[str] | Iterable[str | os.PathLike[str]]],
    config_subtree: Any,
    seeds: Any,
    started_at: dt.datetime | str | float | None = None,
    finished_at: dt.datetime | str | float | None = None,
    packages: Iterable[str] = DEFAULT_PACKAGES,
    repo_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """One JSON-serialisable record of a step: inputs (hashed), config (+hash), seeds, code, environment.

    ``inputs`` maps a name to a path (file -> sha256_file, directory -> sha256_tree) or to a list of
    paths (a Snakemake named input with several files). ``finished_at`` defaults to now (UTC).
    """
    hashed: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, (str, os.PathLike)):
            hashed[name] = _hash_input(value)
        else:
            hashed[name] = [_hash_input(v) for v in value]
    config = json.loads(canonical_json(config_subtree))
    return {
        "rule": rule,
        "wildcards": {str(k): v for k, v in dict(wildcards).items()},
        "inputs": hashed,
        "config": config,
        "config_hash": config_hash(config_subtree),
        "seeds": json.loads(canonical_json(seeds)),
        "git": git_state(repo_dir),
        "packages": package_versions(packages),
        "hardware": hardware(),
        "started_at": _timestamp(started_at),
        "finished_at": _timestamp(finished_at if finished_at is not None else dt.datetime.now(dt.timezone.utc)),
    }
