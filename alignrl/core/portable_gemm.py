"""The portable mode's matrix product: build, load and check ``kernels/portable_gemm.c``.

MKL's only vendor-independent GEMM (``MKL_CBWR=COMPATIBLE``) runs SSE2 code at about a quarter of its AVX2
speed, and matrix products are most of the embedded default's work. ``portable_gemm.c`` defines each output
element as one FMA chain in ascending order, so its bits follow from IEEE 754 alone, on any CPU with AVX2 and
FMA, and it runs those chains with AVX2. It replaces the two GEMM entry points torch calls through its
procedure linkage table (``sgemm_``, ``cblas_sgemm_batch``) when it is loaded ahead of torch: through
``LD_PRELOAD`` in every process the workflow starts, and with ``RTLD_GLOBAL`` in the process that pins the
mode, if torch is not imported yet.

The library is compiled once per source and flags, into a cache directory (``ALIGNRL_KERNEL_CACHE``, else
``$XDG_CACHE_HOME/alignrl/kernels``, else ``~/.cache/alignrl/kernels``), by a temporary file and a rename, so
jobs that start together never load half a file.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from alignrl.core.errors import ConfigError

SOURCE = Path(__file__).with_name("kernels") / "portable_gemm.c"
# -ffp-contract=off: the compiler may fuse nothing the source does not fuse; the kernel's FMAs are explicit.
CFLAGS = ("-O3", "-mavx2", "-mfma", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared")
LIBRARY_VAR = "ALIGNRL_GEMM_LIBRARY"
CACHE_VAR = "ALIGNRL_KERNEL_CACHE"
STEM = "alignrl_portable_gemm"


class KernelBuildError(ConfigError):
    """The portable GEMM cannot be compiled here."""


def cache_dir(environ: MutableMapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if environ.get(CACHE_VAR):
        return Path(environ[CACHE_VAR])
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "alignrl" / "kernels"


def _compiler() -> str:
    for name in (os.environ.get("CC"), "gcc", "cc"):
        if name and shutil.which(name):
            return name
    raise KernelBuildError(
        "config key 'numerics': 'portable' compiles its matrix product (alignrl/core/kernels/portable_gemm.c) and "
        "needs a C compiler: install gcc (apt-get install gcc), or set numerics: pinned (the same bytes only among "
        "CPUs of one vendor)")


def library_path(environ: MutableMapping[str, str] | None = None) -> Path:
    """Where the library for this source and these flags lives (built or not)."""
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(CFLAGS).encode()).hexdigest()[:16]
    return cache_dir(environ) / f"{STEM}-{digest}.so"


def build(environ: MutableMapping[str, str] | None = None) -> Path:
    """The compiled library, compiling it first if this source and these flags have not been built here."""
    target = library_path(environ)
    if target.exists():
        return target
    compiler = _compiler()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        # -lm after the source: fmaf in the reference chain
        done = subprocess.run([compiler, *CFLAGS, "-o", tmp, str(SOURCE), "-lm"], capture_output=True, text=True)
        if done.returncode != 0:
            raise KernelBuildError(f"compiling {SOURCE} with {compiler} failed:\n{done.stderr[-2000:]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def set_preload(environ: MutableMapping[str, str], library: Path | None) -> None:
    """Put ``library`` first in ``environ``'s LD_PRELOAD (None: take any portable GEMM out of it)."""
    kept = [p for p in environ.get("LD_PRELOAD", "").replace(":", " ").split() if not Path(p).name.startswith(STEM)]
    if library is not None:
        kept.insert(0, str(library))
        environ[LIBRARY_VAR] = str(library)
    else:
        environ.pop(LIBRARY_VAR, None)
    if kept:
        environ["LD_PRELOAD"] = " ".join(kept)
    else:
        environ.pop("LD_PRELOAD", None)


def load_here(library: Path) -> bool:
    """Load the library into this process ahead of torch; False if torch is already loaded (too late here)."""
    if "torch" in sys.modules:
        return False
    ctypes.CDLL(str(library), mode=os.RTLD_GLOBAL | os.RTLD_NOW)
    return True


def _handle(library: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(library, mode=os.RTLD_GLOBAL | os.RTLD_NOW)
    lib.alignrl_gemm_calls.restype = ctypes.c_uint64
    lib.alignrl_gemm_version.restype = ctypes.c_int
    return lib


def torch_runs_it(library: str) -> bool:
    """Whether torch's matrix products run in ``library``: a product must reach its call counter."""
    import torch

    lib = _handle(library)
    before = lib.alignrl_gemm_calls()
    torch.mm(torch.ones(3, 2), torch.ones(2, 4))
    return lib.alignrl_gemm_calls() > before


def record(environ: MutableMapping[str, str] | None = None) -> dict[str, Any] | None:
    """What provenance says about the GEMM: the library, its source's hash, its version; None if not in use."""
    environ = os.environ if environ is None else environ
    library = environ.get(LIBRARY_VAR)
    if not library:
        return None
    # the library's name carries the digest of the source and flags it was built from
    info: dict[str, Any] = {"library": library, "source_sha256": hashlib.sha256(SOURCE.read_bytes()).hexdigest(),
                            "cflags": list(CFLAGS),
                            "built_from_this_source": Path(library).name == library_path(environ).name}
    try:
        info["version"] = _handle(library).alignrl_gemm_version()
    except OSError as exc:
        info["version"] = None
        info["error"] = str(exc)
    return info
