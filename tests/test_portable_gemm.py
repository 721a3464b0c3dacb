"""The portable mode's GEMM: its fast path computes exactly its definition (one ascending FMA chain per element),
torch's products run in it, and a process where they do not is refused."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from alignrl.core import numerics, portable_gemm

ROOT = Path(__file__).resolve().parents[1]
F = ctypes.POINTER(ctypes.c_float)


@pytest.fixture(scope="module")
def lib():
    handle = ctypes.CDLL(str(portable_gemm.build()))
    handle.alignrl_sgemm_reference.argtypes = [ctypes.c_char, ctypes.c_char, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                               ctypes.c_float, F, ctypes.c_int, F, ctypes.c_int, ctypes.c_float, F,
                                               ctypes.c_int]
    return handle


def _ptr(x: np.ndarray):
    return x.ctypes.data_as(F)


def _ref(v, kind=ctypes.c_int):
    return ctypes.byref(kind(v))


def fast(lib, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    lib.sgemm_(b"T" if ta else b"N", b"T" if tb else b"N", _ref(m), _ref(n), _ref(k), _ref(alpha, ctypes.c_float),
               _ptr(a), _ref(lda), _ptr(b), _ref(ldb), _ref(beta, ctypes.c_float), _ptr(c), _ref(ldc))


def reference(lib, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    lib.alignrl_sgemm_reference(b"T" if ta else b"N", b"T" if tb else b"N", m, n, k, alpha, _ptr(a), lda, _ptr(b),
                                ldb, beta, _ptr(c), ldc)


def _case(rng, m, n, k, ta, tb):
    lda = (k if ta else m) + int(rng.integers(0, 3))
    ldb = (n if tb else k) + int(rng.integers(0, 3))
    ldc = m + int(rng.integers(0, 3))
    a = rng.standard_normal(lda * (m if ta else k)).astype(np.float32)
    b = rng.standard_normal(ldb * (k if tb else n)).astype(np.float32)
    c = rng.standard_normal(ldc * n).astype(np.float32)
    return a, lda, b, ldb, c, ldc


def test_the_blocked_avx2_path_gives_the_definitions_bits(lib):
    """Edges of every block (16-row and 6-column tiles, 128/256/3072 blocks), transposes, strides, alpha, beta."""
    rng = np.random.default_rng(0)
    shapes = [(1, 1, 1), (16, 6, 1), (17, 7, 3), (5, 3, 0), (128, 12, 256), (129, 13, 257), (40, 30, 700),
              (3, 3100, 20), (300, 20, 64), (1, 40, 33), (50, 1, 70), (1, 1, 300), (9, 1, 5),
              (1, 17, 600)]
    shapes += [tuple(int(v) for v in rng.integers(1, 60, 3)) for _ in range(40)]
    for m, n, k in shapes:
        for ta in (0, 1):
            for tb in (0, 1):
                alpha, beta = float(rng.choice([1.0, -0.7])), float(rng.choice([0.0, 1.0, 0.3]))
                a, lda, b, ldb, c, ldc = _case(rng, m, n, k, ta, tb)
                got, want = c.copy(), c.copy()
                fast(lib, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, got, ldc)
                reference(lib, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)
                assert got.tobytes() == want.tobytes(), (m, n, k, ta, tb, alpha, beta)


def test_the_definition_is_a_product_summed_in_ascending_order(lib):
    """A product at all (against float64), and summed as one chain: 1e8 + 1 - 1e8 is 0 in float32 in that order."""
    rng = np.random.default_rng(1)
    m, n, k = 23, 11, 37
    a = rng.standard_normal((k, m)).astype(np.float32)  # column-major m x k
    b = rng.standard_normal((n, k)).astype(np.float32)
    c = np.zeros((n, m), np.float32)
    reference(lib, 0, 0, m, n, k, 1.0, a, m, b, k, 0.0, c, m)
    exact = a.T.astype(np.float64) @ b.T.astype(np.float64)
    assert np.abs(c.T - exact).max() < 1e-4
    row = np.array([1e8, 1.0, -1e8], np.float32)
    ones = np.ones(3, np.float32)
    out = np.full(1, 7.0, np.float32)
    fast(lib, 0, 0, 1, 1, 3, 1.0, row, 1, ones, 3, 0.0, out, 1)
    assert out[0] == 0.0  # a pairwise or reordered sum gives 1.0


def test_the_golden_hashes_name_this_definition_of_the_product(lib):
    """A change of the arithmetic (not of its speed) must bump the version, and with it the golden hashes."""
    import json

    golden = json.loads((ROOT / "tests" / "data" / "golden_hashes.json").read_text())
    lib.alignrl_gemm_version.restype = ctypes.c_int
    assert lib.alignrl_gemm_version() == golden["packages"]["portable_gemm_version"]
    assert numerics.numerics_record()["gemm"]["built_from_this_source"] is True


def test_beta_zero_never_reads_c(lib):
    a = np.ones(4 * 3, np.float32)
    b = np.ones(3 * 5, np.float32)
    c = np.full(4 * 5, np.nan, np.float32)
    fast(lib, 0, 0, 4, 5, 3, 2.0, a, 4, b, 3, 0.0, c, 4)
    assert np.all(c == 6.0)


def test_torch_runs_its_products_here_in_the_portable_mode(lib):
    """conftest pins the default mode before torch loads, as a job does: mm, bmm and a linear layer run here."""
    assert os.environ[numerics.MODE_VAR] == "portable"
    numerics.check_pinned()
    gen = torch.Generator().manual_seed(3)
    x, w = torch.randn(37, 53, generator=gen), torch.randn(53, 29, generator=gen)
    got = (x @ w).numpy()
    # torch is row-major: x @ w is, column-major, w^T-as-stored times x^T-as-stored
    want = np.zeros((37, 29), np.float32)
    reference(lib, 0, 0, 29, 37, 53, 1.0, w.numpy().copy(), 29, x.numpy().copy(), 53, 0.0, want, 29)
    assert got.tobytes() == want.tobytes()
    counter = ctypes.CDLL(os.environ[portable_gemm.LIBRARY_VAR])
    counter.alignrl_gemm_calls.restype = ctypes.c_uint64
    before = counter.alignrl_gemm_calls()
    torch.bmm(torch.randn(4, 40, 40), torch.randn(4, 40, 40))
    torch.nn.functional.linear(torch.randn(8, 16), torch.randn(32, 16), torch.randn(32))
    assert counter.alignrl_gemm_calls() >= before + 2


def test_a_process_where_torch_loaded_first_is_refused():
    code = ("import torch\n"
            "from alignrl.core import numerics\n"
            "numerics.pin_environment('portable')\n"
            "try:\n"
            "    numerics.check_pinned()\n"
            "except numerics.NumericsError as e:\n"
            "    print('refused:', e)\n")
    env = {k: v for k, v in os.environ.items() if k not in (numerics.MODE_VAR, *numerics.PINNED_ENV)}
    portable_gemm.set_preload(env, None)
    env["ATEN_CPU_CAPABILITY"] = "avx2"  # so that only the GEMM is missing
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "refused:" in out.stdout and "LD_PRELOAD" in out.stdout


def test_preload_puts_ours_first_and_other_modes_take_it_out(tmp_path):
    lib_path = tmp_path / f"{portable_gemm.STEM}-new.so"
    env = {"LD_PRELOAD": f"/x/libother.so /old/{portable_gemm.STEM}-old.so"}
    portable_gemm.set_preload(env, lib_path)
    assert env["LD_PRELOAD"].split() == [str(lib_path), "/x/libother.so"]
    assert env[portable_gemm.LIBRARY_VAR] == str(lib_path)
    numerics.pin_environment("pinned", env, cpu={"has_required_flags": True})
    assert env["LD_PRELOAD"] == "/x/libother.so" and portable_gemm.LIBRARY_VAR not in env
    env = {"LD_PRELOAD": str(lib_path)}
    numerics.pin_environment("native", env)
    assert "LD_PRELOAD" not in env


def test_portable_without_a_compiler_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv(portable_gemm.CACHE_VAR, str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(portable_gemm.shutil, "which", lambda _name: None)
    with pytest.raises(portable_gemm.KernelBuildError, match="needs a C compiler"):
        portable_gemm.build()
    assert not list(tmp_path.iterdir())


def test_the_build_is_cached_per_source_and_flags(tmp_path, monkeypatch):
    monkeypatch.setenv(portable_gemm.CACHE_VAR, str(tmp_path))
    first = portable_gemm.build()
    stamp = first.stat().st_mtime_ns
    assert portable_gemm.build() == first and first.stat().st_mtime_ns == stamp
    assert first.parent == tmp_path and first.name.startswith(portable_gemm.STEM)
