"""The numeric modes: what they set, what they refuse, what provenance records, and the golden run.

The golden run (alignrl.native.golden) is a tiny pretraining, three RL steps and an evaluation; its output hashes
are committed in tests/data/golden_hashes.json. Under 'portable' (the default) they must come out the same on every
x86-64 CPU with AVX2 and FMA, Intel or AMD; under 'pinned' they are the same among the CPUs of one MKL dispatch
family (Intel, or not Intel), so the file keeps one set per family. It also says where each set was verified, on
hardware or under emulation (tests/test_numerics_emulated.py runs the golden run on emulated Intel and AMD CPUs).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alignrl.core import numerics
from alignrl.core.errors import ConfigError
from alignrl.trace.provenance import hardware

GOLDEN = Path(__file__).parent / "data" / "golden_hashes.json"
ROOT = Path(__file__).resolve().parents[1]

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
stepping\t: 8
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw amx_tile

processor\t: 1
vendor_id\t: GenuineIntel
"""


def test_pinned_sets_every_variable_and_native_sets_none():
    env: dict[str, str] = {}
    numerics.pin_environment("pinned", env, cpu={"has_required_flags": True})
    assert env == {numerics.MODE_VAR: "pinned", "ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2",
                   "ONEDNN_MAX_CPU_ISA": "AVX2"}
    env = {}
    numerics.pin_environment("portable", env, cpu={"has_required_flags": True})
    assert env["MKL_CBWR"] == "COMPATIBLE" and env["ATEN_CPU_CAPABILITY"] == "avx2"
    env = {}
    numerics.pin_environment("native", env, cpu={"has_required_flags": True})
    assert env == {numerics.MODE_VAR: "native"}


def test_conflicting_variable_is_refused_not_overridden():
    env = {"MKL_CBWR": "AVX512"}
    with pytest.raises(ConfigError, match="MKL_CBWR='AVX512' conflicts"):
        numerics.pin_environment("pinned", env, cpu={"has_required_flags": True})
    assert env["MKL_CBWR"] == "AVX512"
    env = {"MKL_CBWR": "AVX2"}  # the same value is no conflict (a SLURM job inherits it, then re-pins)
    numerics.pin_environment("pinned", env, cpu={"has_required_flags": True})


def test_unknown_mode_and_cpu_without_avx2_name_the_key():
    with pytest.raises(ConfigError, match="config key 'numerics': unknown mode 'fast'"):
        numerics.pin_environment("fast", {})
    with pytest.raises(ConfigError, match="needs a CPU with AVX2 and FMA"):
        numerics.pin_environment("pinned", {}, cpu={"has_required_flags": False, "model_name": "old"})


def test_cpu_info_reads_the_first_cpu_and_keeps_the_isa_flags(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    info = numerics.cpu_info(str(path))
    assert info["vendor"] == "GenuineIntel" and info["model_name"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert (info["family"], info["model"], info["stepping"]) == ("6", "143", "8")
    assert info["flags"] == ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "amx_tile"]
    assert info["has_required_flags"] is True
    assert numerics.cpu_info(str(tmp_path / "missing"))["model_name"] is None


def test_check_pinned_catches_torch_on_other_kernels(monkeypatch):
    import torch

    monkeypatch.setenv(numerics.MODE_VAR, "pinned")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    with pytest.raises(numerics.NumericsError, match="torch runs 'AVX512'"):
        numerics.check_pinned()
    monkeypatch.setenv(numerics.MODE_VAR, "native")
    numerics.check_pinned()


def test_this_test_process_runs_the_default_mode_and_avx2_kernels():
    import torch

    assert os.environ[numerics.MODE_VAR] == numerics.DEFAULT_MODE  # conftest pins before torch loads
    assert torch.backends.cpu.get_cpu_capability() == "AVX2"


def test_provenance_names_cpu_mode_and_blas_build():
    hw = hardware()
    rec = hw["numerics"]
    assert hw["processor"] and rec["cpu"]["model_name"] == hw["processor"]
    assert rec["mode"] == numerics.DEFAULT_MODE
    assert rec["environment"]["MKL_CBWR"] == numerics.MODE_ENV[numerics.DEFAULT_MODE]["MKL_CBWR"]
    assert rec["torch_build"]["blas"] and rec["torch_build"]["cpu_capability"] == "AVX2"
    assert "avx2" in rec["cpu"]["flags"]


def golden_hashes_for(mode: str, vendor: str | None) -> dict[str, str]:
    """The committed hashes of ``mode`` on a CPU of ``vendor``: 'pinned' keeps one set per MKL dispatch family."""
    want = json.loads(GOLDEN.read_text())["hashes"][mode]
    if mode == "pinned":
        want = want["intel" if vendor == "GenuineIntel" else "non_intel"]
    return want


def _golden_module(mode: str, args: tuple[str, ...], prefix: tuple[str, ...], timeout: float) -> dict:
    """``python -m alignrl.native.golden ARGS`` in a fresh process under ``mode``, optionally behind a command
    prefix (an emulator); returns its JSON."""
    env = {k: v for k, v in os.environ.items() if k not in (numerics.MODE_VAR, *numerics.PINNED_ENV)}
    numerics.pin_environment(mode, env)
    out = subprocess.run([*prefix, sys.executable, "-m", "alignrl.native.golden", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout)
    assert got["numerics"]["mode"] == mode
    return got


def run_golden(mode: str, prefix: tuple[str, ...] = (), timeout: float = 600) -> dict:
    """The golden run: its output hashes."""
    return _golden_module(mode, (), prefix, timeout)


def run_ops(mode: str, prefix: tuple[str, ...] = (), timeout: float = 600) -> dict:
    """The per-op fingerprints (``--ops``)."""
    return _golden_module(mode, ("--ops",), prefix, timeout)


def differing(want: dict[str, str], got: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    return {k: (v, got.get(k)) for k, v in want.items() if got.get(k) != v}


@pytest.mark.parametrize("mode", ["pinned", "portable"])
def test_golden_run_reproduces_the_committed_hashes(mode):
    """Both modes: 'portable' must hold on any CPU, 'pinned' on any CPU of a family whose hashes are committed."""
    golden = json.loads(GOLDEN.read_text())
    got = run_golden(mode)
    cpu = got["numerics"]["cpu"]
    differ = differing(golden_hashes_for(mode, cpu["vendor"]), got["hashes"])
    assert not differ, (
        f"numerics: {mode}: the golden run's bytes moved on {cpu['model_name']} ({cpu['vendor']}, flags "
        f"{cpu['flags']}); verified on {[(c['model_name'], c['how']) for c in golden['verified_on']]}. Differing "
        f"(committed, here): {differ}. A torch/transformers/MKL change or a CPU path the mode does not pin moves "
        "them; `python -m alignrl.native.golden --ops` names the ops that moved; read docs/numerics.md before "
        "updating tests/data/golden_hashes.json.")


def test_every_op_on_the_path_matches_its_committed_fingerprint_under_portable():
    """Names the op when the golden run moved: a matrix product, MKL's exp / log, or one of ATen's kernels."""
    golden = json.loads(GOLDEN.read_text())
    want = golden["ops"]["portable"]
    got = run_ops("portable")
    moved = differing(want, got["ops"])
    assert not moved, f"ops that moved under portable on {got['numerics']['cpu']['model_name']}: {moved}"
    assert set(got["ops"]) == set(want) | set(golden["off_path_ops"])


def test_the_configs_default_mode_is_the_vendor_independent_one():
    import yaml

    schema = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
    assert schema["properties"]["numerics"]["default"] == numerics.DEFAULT_MODE == "portable"
    assert yaml.safe_load((ROOT / "config.yaml").read_text())["numerics"] == numerics.DEFAULT_MODE
