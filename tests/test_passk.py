"""Tests of the unbiased pass@k estimator and the bootstrap over problems."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pytest

from alignrl.claims.passk import bootstrap_ci, pass_at_k, pass_at_k_table, per_problem_pass_at_k


def _brute_force(n: int, c: int, k: int) -> float:
    """Fraction of size-k subsets of n samples (the first c correct) that hold a correct sample."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


def test_known_values():
    assert pass_at_k(2, 1, 1) == 0.5
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 10, 3) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    # k = n: any of the n samples correct.
    assert pass_at_k(8, 1, 8) == 1.0 and pass_at_k(8, 0, 8) == 0.0
    assert pass_at_k(4, 2, 2) == pytest.approx(1 - 1 / 6)


@pytest.mark.parametrize("n", range(1, 9))
def test_matches_enumeration_over_subsets(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(_brute_force(n, c, k), abs=1e-12)


def test_matches_product_form_for_large_n():
    n = 256
    for c in (0, 1, 3, 40, 200, 256):
        for k in (1, 2, 16, 128, 256):
            product = 1.0 if n - c < k else 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))
            assert pass_at_k(n, c, k) == pytest.approx(product, rel=1e-9, abs=1e-12)
            assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), abs=1e-12)


def test_monotone_in_k_and_c():
    n = 16
    for c in range(n + 1):
        values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
        assert all(a <= b + 1e-15 for a, b in zip(values, values[1:]))
    for k in (1, 4, 16):
        values = [pass_at_k(n, c, k) for c in range(n + 1)]
        assert all(a <= b + 1e-15 for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("args", [(3, 1, 4), (3, 4, 1), (-1, 0, 1), (3, -1, 1), (3, 1, -1), (3, 1, 0)])
def test_invalid_arguments_raise(args):
    with pytest.raises(ValueError):
        pass_at_k(*args)


def test_non_integer_arguments_raise():
    with pytest.raises(TypeError):
        pass_at_k(4.0, 1, 1)  # type: ignore[arg-type]


def test_table_is_mean_over_problems():
    counts = [0, 1, 4, 2]
    table = pass_at_k_table(counts, 4, [1, 2, 4])
    assert table[1] == pytest.approx(np.mean([c / 4 for c in counts]))
    assert table[4] == pytest.approx(0.75)
    assert table[2] == pytest.approx(np.mean([pass_at_k(4, c, 2) for c in counts]))
    assert list(per_problem_pass_at_k(counts, 4, 1)) == [0.0, 0.25, 1.0, 0.5]
    with pytest.raises(ValueError):
        pass_at_k_table([], 4, [1])
    with pytest.raises(ValueError):
        pass_at_k_table([1], 4, [5])


def test_bootstrap_contains_mean_is_deterministic_and_shrinks():
    rng = np.random.default_rng(0)
    small = rng.random(20)
    large = rng.random(2000)
    lo, hi = bootstrap_ci(small, n_boot=500, seed=1)
    assert lo <= small.mean() <= hi
    assert bootstrap_ci(small, n_boot=500, seed=1) == (lo, hi)
    assert bootstrap_ci(small, n_boot=500, seed=2) != (lo, hi)
    lo2, hi2 = bootstrap_ci(large, n_boot=500, seed=1)
    assert lo2 <= large.mean() <= hi2
    assert hi2 - lo2 < (hi - lo) / 3
    # A wider confidence level gives a wider interval.
    lo3, hi3 = bootstrap_ci(small, n_boot=500, alpha=0.5, seed=1)
    assert lo <= lo3 <= hi3 <= hi


def test_bootstrap_resamples_problems_not_samples():
    # Constant values: every resample of problems has the same mean, so the interval has zero width.
    assert bootstrap_ci([0.25] * 10, n_boot=50, seed=0) == (0.25, 0.25)
    assert bootstrap_ci([0.7], n_boot=50, seed=0) == (0.7, 0.7)


def test_bootstrap_validation():
    with pytest.raises(ValueError):
        bootstrap_ci([], seed=0)
    with pytest.raises(ValueError):
        bootstrap_ci([0.1, 0.2], alpha=0.0, seed=0)
    with pytest.raises(ValueError):
        bootstrap_ci([0.1, 0.2], n_boot=0, seed=0)
