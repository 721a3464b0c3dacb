"""The golden run on emulated CPUs of both vendors (qemu-x86_64 user mode), so every machine checks both.

MKL picks its code path from the CPU's vendor and ISA (CPUID), which qemu emulates: under emulation MKL takes
the branch it takes on a real AMD EPYC. qemu computes every instruction exactly, including the approximate
reciprocal (square root) ones a real CPU answers in its own way; so the host agreeing with the emulation also
shows that nothing on the path depends on those. `make test-emulated` installs qemu-user (as root) and runs this
file with ALIGNRL_REQUIRE_QEMU=1; elsewhere it is skipped when qemu-x86_64 is missing.
"""
from __future__ import annotations

import json
import os
import shutil

import pytest
from test_numerics import GOLDEN, differing, golden_hashes_for, run_golden, run_ops

QEMU = shutil.which("qemu-x86_64")
pytestmark = pytest.mark.skipif(
    QEMU is None and not os.environ.get("ALIGNRL_REQUIRE_QEMU"),
    reason="qemu-x86_64 not installed (make test-emulated installs it)")
# qemu 7.2's TCG has AVX2 and FMA but no AVX-512: an EPYC-Milan (Zen 3) and a Haswell.
CPUS = {"AuthenticAMD": "EPYC-Milan", "GenuineIntel": "Haswell-noTSX"}


def _emulated(cpu: str) -> tuple[str, ...]:
    assert QEMU, "ALIGNRL_REQUIRE_QEMU is set but qemu-x86_64 is not on PATH"
    return (QEMU, "-cpu", cpu)


@pytest.mark.parametrize("vendor", sorted(CPUS))
def test_every_op_on_the_path_matches_under_portable_on_an_emulated_cpu(vendor):
    golden = json.loads(GOLDEN.read_text())
    got = run_ops("portable", _emulated(CPUS[vendor]))
    moved = differing(golden["ops"]["portable"], got["ops"])
    assert not moved, f"ops that moved under portable on an emulated {CPUS[vendor]}: {moved}"


@pytest.mark.slow
def test_the_golden_run_under_portable_is_the_same_on_an_emulated_amd_cpu():
    got = run_golden("portable", _emulated(CPUS["AuthenticAMD"]), timeout=3600)  # ~20-30 CPU minutes under emulation
    differ = differing(golden_hashes_for("portable", "AuthenticAMD"), got["hashes"])
    assert not differ, f"portable moved on an emulated EPYC-Milan (committed, here): {differ}"
