"""The seed-aware interval of a cell: a two-stage percentile bootstrap over RL seeds and problems.

A cell holds ``S`` seeds, each evaluated on the same ``P`` problems, as an array ``values[s, p, k]`` (the
unbiased pass@k of problem p under seed s, or for a gain that minus the base model's). One replicate draws
``S`` seeds with replacement, then ``P`` problems with replacement, and averages the drawn seeds' values
over the drawn problems. The seeds' variance is thus in the interval.

The problem draw of a replicate is shared by every seed drawn in it. The seeds are evaluated on the same
problems, so a hard problem is hard for each of them: drawing problems independently per seed would treat
the benchmark as S different benchmarks and shrink the problem part of the interval by sqrt(S) (S identical
copies of one seed would look S times as informative as the seed alone). Shared draws keep the design
crossed: identical copies give exactly the one-seed, problem-only interval. Because a gain is bootstrapped
on the claim-minus-base array, a drawn seed's claim values and the base's use the same resampled problems
(the pairing); a claim identical to its base gains exactly 0 in every replicate.

Everything is linear in ``values``, so a replicate is a weighted sum: problem counts (n_boot x P) times
the values gives every seed's resampled mean at once, and seed counts (n_boot x S) weight those.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["CellBootstrap", "Interval"]


@dataclass(frozen=True)
class Interval:
    """Point estimate and percentile interval, one entry per column (k) of the values."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def _row_counts(draws: np.ndarray, size: int) -> np.ndarray:
    """(rows x draws) indices in [0, size) -> (rows x size) how often each index was drawn, as floats."""
    rows = draws.shape[0]
    flat = draws + size * np.arange(rows)[:, None]
    return np.bincount(flat.ravel(), minlength=rows * size).reshape(rows, size).astype(np.float64)


class CellBootstrap:
    """The resampling of one cell, drawn once from the configured bootstrap seed.

    The problem draws depend on (seed, n_boot, P) only, the seed draws on (seed, n_boot, number of seeds
    drawn from) only: adding a k, a seed subset or a claim never shifts another interval, and every cell
    of a table with P problems sees the same problem draws.
    """

    def __init__(self, n_problems: int, *, n_boot: int, alpha: float, seed: int) -> None:
        if n_problems < 1:
            raise ValueError("a bootstrap needs at least one problem")
        if n_boot < 1:
            raise ValueError(f"n_boot must be >= 1, got {n_boot}")
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        self.n_problems, self.n_boot, self.alpha, self.seed = n_problems, n_boot, alpha, seed
        draws = np.random.default_rng(seed).integers(0, n_problems, size=(n_boot, n_problems))
        self._problem_weights = _row_counts(draws, n_problems) / n_problems  # (n_boot, P), rows sum to 1

    def _seed_weights(self, n_seeds: int) -> np.ndarray:
        if n_seeds == 1:  # nothing to resample: every replicate holds the one seed
            return np.ones((self.n_boot, 1))
        draws = np.random.default_rng([self.seed, 1, n_seeds]).integers(0, n_seeds, size=(self.n_boot, n_seeds))
        return _row_counts(draws, n_seeds) / n_seeds

    def per_seed_replicates(self, values: np.ndarray) -> np.ndarray:
        """(n_boot, S, K): every seed's mean over each replicate's problem draw."""
        values = self._check(values)
        return np.einsum("bp,spk->bsk", self._problem_weights, values)

    def interval(self, values: np.ndarray, seeds: Sequence[int] | None = None) -> Interval:
        """The two-stage interval of ``values`` (S x P x K) pooled over ``seeds`` (indices into S; all by
        default). The point estimate is the plain mean over those seeds and the problems."""
        values = self._check(values)
        chosen = list(range(values.shape[0])) if seeds is None else list(seeds)
        if not chosen:
            raise ValueError("an interval needs at least one seed")
        sub = values[chosen]
        per_seed = np.einsum("bp,spk->bsk", self._problem_weights, sub)
        replicates = np.einsum("bs,bsk->bk", self._seed_weights(len(chosen)), per_seed)
        low, high = np.quantile(replicates, [self.alpha / 2.0, 1.0 - self.alpha / 2.0], axis=0)
        return Interval(sub.mean(axis=(0, 1)), low, high)

    def _check(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 3 or values.shape[1] != self.n_problems:
            raise ValueError(f"values must be seeds x {self.n_problems} problems x ks, got shape {values.shape}")
        return values
