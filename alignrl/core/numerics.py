"""One numeric mode on every x86-64 CPU: which kernels torch, MKL and oneDNN may use is fixed before torch loads.

Left alone, each library picks its code path from the CPU it finds: ATen its widest vector kernels (AVX-512 where
the CPU has it, else AVX2), MKL a branch per vendor and ISA (its AVX-512 GEMM on a Xeon, another one on an EPYC),
oneDNN its widest JIT ISA. Each path sums in another order, so the same seed gives other weights on another CPU,
and the embedded default's conclusions moved with them (issue 15). The modes:

- ``portable`` (the default): ``ATEN_CPU_CAPABILITY=avx2`` (ATen's AVX2 kernels and their Sleef transcendental
  functions on every CPU, AVX-512 ones included), ``MKL_CBWR=COMPATIBLE`` (the MKL branch Intel documents as
  giving the same results on Intel and non-Intel CPUs), ``ONEDNN_MAX_CPU_ISA=AVX2``, and torch's matrix products
  in our own GEMM (:mod:`alignrl.core.portable_gemm`), whose bits follow from IEEE 754 alone: MKL's
  ``COMPATIBLE`` GEMM runs SSE2 code at a quarter of the speed. The same bytes on Intel and AMD: the golden run
  agrees on a Xeon and on emulated AMD and Intel CPUs (``tests/test_numerics.py``,
  ``tests/test_numerics_emulated.py``).
- ``pinned``: as ``portable``, but ``MKL_CBWR=AVX2``. That branch exists on Intel CPUs only; elsewhere MKL runs its
  ``AUTO`` dispatch, whose GEMM and exp / log differ. So the bytes are the same among the CPUs of one vendor
  (every AMD EPYC measured, Zen 3 to Zen 5), not across vendors.
- ``native``: each library picks its fastest path; results depend on the CPU.

The one MKL function whose ``COMPATIBLE`` result still depends on the CPU is VML's ``sqrt`` (it refines the CPU's
approximate reciprocal square root); the trainers' AdamW runs fused, which uses ATen's exact vector sqrt instead
(``docs/numerics.md``).

Thread counts matter too: reductions split across threads add in another order. The workflow runs every
job on the threads its config names (``threads.*``, default 1), and provenance records them.

The variables are read when torch (and MKL inside it) first loads, so :func:`pin_environment` must run before
anything imports torch: the Snakefile calls it at parse time, which covers local jobs, the jobs the job server
forks (it starts from the Snakefile's environment) and SLURM jobs (each re-parses the Snakefile).
:func:`check_pinned` then verifies, inside a job, that torch really took the pinned path.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import Any

from alignrl.core import portable_gemm
from alignrl.core.errors import ConfigError

MODES = ("pinned", "portable", "native")
# The config's default (schemas/config.schema.yaml): the one mode whose bytes do not depend on the CPU's vendor.
DEFAULT_MODE = "portable"
MODE_VAR = "ALIGNRL_NUMERICS"
MODE_ENV: Mapping[str, Mapping[str, str]] = {
    "pinned": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "portable": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "native": {},
}
# Every variable some mode sets (a job's record lists them all, set or not).
PINNED_ENV: tuple[str, ...] = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")
# What the pinned path needs from the CPU (flag names of /proc/cpuinfo).
REQUIRED_FLAGS = ("avx2", "fma")
# ISA flags worth recording: the ones that change which kernels a library would pick on its own.
RECORDED_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                  "avx512_bf16", "avx_vnni", "amx_bf16", "amx_tile")


class NumericsError(ConfigError):
    """The numeric mode cannot be pinned here, or a job runs in another mode than the one asked for."""


def cpu_info(path: str = "/proc/cpuinfo") -> dict[str, Any]:
    """Vendor, model name, family/model/stepping and the recorded ISA flags of the first CPU (Linux)."""
    info: dict[str, Any] = {"vendor": None, "model_name": None, "family": None, "model": None, "stepping": None,
                            "flags": []}
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError:
        return info
    keys = {"vendor_id": "vendor", "model name": "model_name", "cpu family": "family", "model": "model",
            "stepping": "stepping"}
    flags: set[str] = set()
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key in keys:
            info[keys[key]] = value
        elif key == "flags":
            flags = set(value.split())
    info["flags"] = [f for f in RECORDED_FLAGS if f in flags]
    info["has_required_flags"] = all(f in flags for f in REQUIRED_FLAGS) if flags else None
    return info


def pin_environment(mode: str = DEFAULT_MODE, environ: MutableMapping[str, str] | None = None,
                    cpu: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Set the numeric mode's variables in ``environ`` (default ``os.environ``); returns what was set.

    ``native`` leaves the libraries to choose (and records that it did). A variable already set to another value
    is an error rather than silently overridden or silently kept: either would hide which path ran.
    """
    in_process = environ is None or environ is os.environ
    environ = os.environ if environ is None else environ
    if mode not in MODES:
        raise NumericsError(f"config key 'numerics': unknown mode {mode!r}; choose one of {list(MODES)}")
    environ[MODE_VAR] = mode
    if mode != "portable":
        portable_gemm.set_preload(environ, None)
    if mode == "native":
        return {MODE_VAR: mode}
    wanted = MODE_ENV[mode]
    cpu = cpu_info() if cpu is None else cpu
    if cpu.get("has_required_flags") is False:
        raise NumericsError(
            f"config key 'numerics': {mode!r} needs a CPU with {' and '.join(f.upper() for f in REQUIRED_FLAGS)}, "
            f"and this one ({cpu.get('model_name')}) lacks them; set numerics: native (results then depend on the CPU)")
    for name, value in wanted.items():
        have = environ.get(name)
        if have is not None and have != value:
            raise NumericsError(
                f"environment variable {name}={have!r} conflicts with numerics: {mode}, which sets {value!r}; "
                f"unset it, or set numerics: native to let the libraries choose")
        environ[name] = value
    if mode != "portable":
        return {MODE_VAR: mode, **wanted}
    library = portable_gemm.build(environ)
    portable_gemm.set_preload(environ, library)  # every process started from here on
    if in_process:
        portable_gemm.load_here(library)  # this one, if torch is not loaded yet (check_pinned tells)
    return {MODE_VAR: mode, **wanted, portable_gemm.LIBRARY_VAR: str(library)}


def check_pinned() -> None:
    """Inside a job: raise if a pinned mode was asked for but torch runs other kernels.

    That happens when torch was imported before :func:`pin_environment` ran (ATen reads its variable once).
    """
    if os.environ.get(MODE_VAR) not in ("pinned", "portable"):
        return
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    if capability != "AVX2":
        raise NumericsError(
            f"numerics: {os.environ.get(MODE_VAR)} asks for ATen's AVX2 kernels, but torch runs {capability!r}: "
            f"torch was imported before the mode was pinned "
            f"(ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY')!r})")
    if os.environ.get(MODE_VAR) == "portable":
        library = os.environ.get(portable_gemm.LIBRARY_VAR)
        if not library or not portable_gemm.torch_runs_it(library):
            raise NumericsError(
                f"numerics: portable runs torch's matrix products in {library or 'its own GEMM'}, but torch runs "
                f"another one: torch was imported before the mode was pinned, or the process started without "
                f"LD_PRELOAD={os.environ.get('LD_PRELOAD')!r} (alignrl.core.portable_gemm)")


def _torch_build() -> dict[str, Any]:
    import torch

    build: dict[str, Any] = {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    show = torch.__config__.show()
    for line in show.splitlines():
        line = line.strip(" -")
        if line.startswith("Intel(R) oneAPI Math Kernel Library Version"):
            build["mkl"] = line.removeprefix("Intel(R) oneAPI Math Kernel Library Version").strip()
        elif line.startswith("Intel(R) MKL-DNN"):
            build["onednn"] = line.removeprefix("Intel(R) MKL-DNN").strip()
        elif line.startswith("Build settings:"):
            settings = dict(part.strip().split("=", 1) for part in line.removeprefix("Build settings:").split(", ")
                            if "=" in part)
            build["blas"] = settings.get("BLAS_INFO")
            build["lapack"] = settings.get("LAPACK_INFO")
    build["mkl_available"] = torch.backends.mkl.is_available()
    build["mkldnn_available"] = torch.backends.mkldnn.is_available()
    return build


def numerics_record() -> dict[str, Any]:
    """What a provenance block says about numerics: CPU, ISA flags, mode, pinned variables, torch's BLAS build."""
    record: dict[str, Any] = {
        "cpu": cpu_info(),
        "mode": os.environ.get(MODE_VAR),
        "environment": {name: os.environ.get(name) for name in (*PINNED_ENV, "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        "gemm": portable_gemm.record() if os.environ.get(MODE_VAR) == "portable" else None,
    }
    try:
        record["torch_build"] = _torch_build()
    except ImportError:
        record["torch_build"] = None
    return record
