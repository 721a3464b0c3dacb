"""Unbiased pass@k (Chen et al. 2021) and percentile-bootstrap confidence intervals over problems.

pass@k here is always the unbiased estimator from n >= k samples per problem,
``1 - C(n-c, k) / C(n, k)``, never "any of the first k" nor a with-replacement resample of samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from functools import lru_cache
from math import comb

import numpy as np

__all__ = ["pass_at_k", "per_problem_pass_at_k", "pass_at_k_table", "bootstrap_ci"]


def _check_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


@lru_cache(maxsize=65536)
def _pass_at_k(n: int, c: int, k: int) -> float:
    if n - c < k:
        # Every size-k subset holds at least one correct sample.
        return 1.0
    # Exact rational arithmetic, rounded once: no cancellation even when the ratio is close to 1.
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that a size-k subset of ``n`` samples, ``c`` of them correct, holds a correct one.

    Raises ValueError for negative arguments, ``k < 1``, ``k > n`` or ``c > n``.
    """
    n, c, k = _check_int("n", n), _check_int("c", c), _check_int("k", k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > n:
        raise ValueError(f"k={k} exceeds the number of samples n={n}: pass@k needs n >= k")
    if c > n:
        raise ValueError(f"c={c} correct samples exceeds n={n}")
    return _pass_at_k(n, c, k)


def per_problem_pass_at_k(correct_counts: Iterable[int], n: int, k: int) -> np.ndarray:
    """pass@k of every problem (one count of correct samples out of ``n`` per problem)."""
    return np.array([pass_at_k(n, c, k) for c in correct_counts], dtype=np.float64)


def pass_at_k_table(correct_counts: Iterable[int], n: int, ks: Iterable[int]) -> dict[int, float]:
    """Mean pass@k over problems for every k in ``ks``."""
    counts = list(correct_counts)
    if not counts:
        raise ValueError("pass@k needs at least one problem")
    return {int(k): float(per_problem_pass_at_k(counts, n, k).mean()) for k in ks}


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int,
) -> tuple[float, float]:
    """Percentile-bootstrap ``1 - alpha`` interval of the mean of per-problem ``values``.

    Problems (not samples) are resampled with replacement, since problems are the unit that varies
    between benchmarks; the samples of one problem stay together inside its value.
    """
    data = np.asarray(values, dtype=np.float64).ravel()
    if data.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot, dtype=np.float64)
    # Chunk the resamples so memory stays bounded for large benchmarks.
    chunk = max(1, 2_000_000 // data.size)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, data.size, size=(stop - start, data.size))
        means[start:stop] = data[idx].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)
