"""Contamination summaries and table: is a model's probe score on test questions above fresh problems?

The probe itself is defined in alignrl.claims.contamination and run by alignrl.native.probe.

The threshold is read from a null, never from the result it judges. Under "the model never saw the
test problems", the test set is just one more set of never-seen problems, so its gap to the reference
set is distributed like the gap between two never-seen sets of the same sizes. That distribution is
estimated from the model's scores on the two fresh sets alone (reference and null, both made before
any probe ran): resample a "test" and a "reference" set of the probed sizes from the pooled fresh scores
and take the difference of means. The threshold is its declared quantile (`contamination.null_quantile`),
so a clean model is flagged with probability about 1 - quantile per cell. The test scores are not used,
unlike a permutation over test and reference scores, whose null would widen with the very contamination
it is meant to detect. Fresh problems lie outside every split, not outside every corpus: excluding the
corpora would skew the fresh sets towards question types the generator makes rarely (see
docs/measured-runs.md), while a fresh problem a clean corpus happens to hold can only lower the gap.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from alignrl.claims.contamination import NULL, REFERENCE, TEST, check_null_quantile

__all__ = ["FIXED_THRESHOLD_KEY", "null_gap_threshold", "probe_table", "summarize_probe"]

FIXED_THRESHOLD_KEY = "contamination.fixed_threshold"
METRICS = ("exact_match", "rouge_l")


def _bootstrap_gap(test: np.ndarray, ref: np.ndarray, n_boot: int, alpha: float, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    gaps = (rng.choice(test, size=(n_boot, len(test))).mean(axis=1)
            - rng.choice(ref, size=(n_boot, len(ref))).mean(axis=1))
    return float(np.quantile(gaps, alpha / 2)), float(np.quantile(gaps, 1 - alpha / 2))


def null_gap_threshold(fresh: np.ndarray, n_test: int, n_reference: int, *, quantile: float, n_boot: int,
                       seed: int) -> float:
    """The `quantile` of the gap between two never-seen sets of `n_test` and `n_reference` problems,
    both resampled from the scores on fresh problems `fresh`."""
    quantile = check_null_quantile(quantile)
    fresh = np.asarray(fresh, dtype=float)
    if fresh.size < 2 or n_test < 1 or n_reference < 1:
        raise ValueError(f"the null needs at least 2 fresh scores and non-empty sets, got {fresh.size} fresh "
                         f"scores for {n_test} test and {n_reference} reference problems")
    rng = np.random.default_rng(seed)
    gaps = (rng.choice(fresh, size=(n_boot, n_test)).mean(axis=1)
            - rng.choice(fresh, size=(n_boot, n_reference)).mean(axis=1))
    return float(np.quantile(gaps, quantile))


def summarize_probe(frame: pd.DataFrame, *, null_quantile: float, n_boot: int, alpha: float, seed: int,
                    fixed_threshold: float | None = None) -> dict:
    """Means per set, the test-minus-reference gaps and the null-minus-reference gaps with bootstrap
    intervals, the null threshold per metric, and the flag: the ROUGE-L gap exceeds the threshold (the
    null's `null_quantile`, or `fixed_threshold` where one is given)."""
    null_quantile = check_null_quantile(null_quantile)
    if fixed_threshold is not None and (isinstance(fixed_threshold, bool)
                                        or not isinstance(fixed_threshold, (int, float))):
        raise ValueError(f"config key '{FIXED_THRESHOLD_KEY}' must be a number or null, got {fixed_threshold!r}")
    sets = {name: frame[frame["set"] == name] for name in (TEST, REFERENCE, NULL)}
    empty = [name for name, rows in sets.items() if rows.empty]
    if empty:
        raise ValueError(f"the probe needs test, reference and null problems; none of: {', '.join(empty)}")
    test, ref, null = sets[TEST], sets[REFERENCE], sets[NULL]
    out: dict[str, Any] = {"test_problems": len(test), "reference_problems": len(ref), "null_problems": len(null)}
    for j, metric in enumerate(METRICS):
        t, r, z = (part[metric].to_numpy(dtype=float) for part in (test, ref, null))
        out[f"test_{metric}"] = float(t.mean())
        out[f"reference_{metric}"] = float(r.mean())
        out[f"null_{metric}"] = float(z.mean())
        out[f"gap_{metric}"] = float(t.mean() - r.mean())
        out[f"gap_{metric}_ci_low"], out[f"gap_{metric}_ci_high"] = _bootstrap_gap(t, r, n_boot, alpha, seed + j)
        out[f"null_gap_{metric}"] = float(z.mean() - r.mean())
        out[f"null_gap_{metric}_ci_low"], out[f"null_gap_{metric}_ci_high"] = _bootstrap_gap(
            z, r, n_boot, alpha, seed + 10 + j)
        out[f"null_threshold_{metric}"] = null_gap_threshold(
            np.concatenate([r, z]), len(t), len(r), quantile=null_quantile, n_boot=n_boot, seed=seed + 20 + j)
    out["null_quantile"], out["null_draws"] = null_quantile, int(n_boot)
    out["fixed_threshold"] = None if fixed_threshold is None else float(fixed_threshold)
    if fixed_threshold is None:
        out["threshold"], out["threshold_source"] = out["null_threshold_rouge_l"], f"null q{null_quantile:g}"
    else:
        out["threshold"], out["threshold_source"] = float(fixed_threshold), FIXED_THRESHOLD_KEY
    out["flagged"] = bool(out["gap_rouge_l"] > out["threshold"])
    return out


def _threshold_sentence(df: pd.DataFrame) -> str:
    sources = sorted(set(df["threshold_source"]))
    if sources == [FIXED_THRESHOLD_KEY]:
        return (f"Threshold: fixed by hand ({FIXED_THRESHOLD_KEY} = {df['threshold'].iloc[0]:g}), NOT derived "
                "from the null; the null thresholds stand beside it for comparison.")
    if len(sources) > 1:
        return "Threshold: the cells disagree on its source (" + ", ".join(sources) + "); see threshold_source."
    q, draws = df["null_quantile"].iloc[0], df["null_draws"].iloc[0]
    return (f"Threshold: per cell, the {q:g} quantile of the null gap (null_threshold_rouge_l), declared in the "
            "config before any probe ran: the gap between two sets of never-seen problems of the probed "
            f"sizes, resampled ({draws} draws with replacement) from the model's own scores on the reference "
            "and null sets, two disjoint fresh sets from the task's generator outside every split. A clean model is "
            f"flagged by chance on about {1 - q:.0%} of cells.")


def probe_table(summaries: Sequence[dict]) -> tuple[pd.DataFrame, str]:
    """results/contamination.csv from the per-cell summaries (provenance dropped), and a markdown
    preamble: how the threshold was derived, whether the control and each clean model is flagged, and a
    warning when the control was missed or a clean model flagged."""
    df = pd.DataFrame([{k: v for k, v in s.items() if k != "provenance"} for s in summaries])
    needed = ("threshold", "threshold_source", "null_quantile", "null_draws", "null_gap_rouge_l")
    missing = [c for c in needed if c not in df]
    if missing:
        raise ValueError(f"contamination summaries lack {missing} (made before the null threshold?); "
                         "rerun the contamination_probe jobs")
    front = ["model", "task", "bench", "known_contaminated", "flagged", "threshold", "threshold_source",
             "test_problems", "reference_problems", "null_problems"]
    for metric in ("rouge_l", "exact_match"):
        front += [f"test_{metric}", f"reference_{metric}", f"null_{metric}", f"gap_{metric}",
                  f"gap_{metric}_ci_low", f"gap_{metric}_ci_high", f"null_gap_{metric}",
                  f"null_gap_{metric}_ci_low", f"null_gap_{metric}_ci_high", f"null_threshold_{metric}"]
    df = df[front + [c for c in df.columns if c not in front]]
    lines = ["A model is flagged on a task when its ROUGE-L on test-question remainders beats never-seen "
             "(reference) problems by more than the threshold.", _threshold_sentence(df), ""]
    for label, rows in (("Contaminated control", df[df["known_contaminated"]]),
                        ("Clean models", df[~df["known_contaminated"]])):
        if len(rows):
            lines.append(f"{label}: " + "; ".join(
                f"{r.model} x {r.task} {'FLAGGED' if r.flagged else 'not flagged'} (gap {r.gap_rouge_l:+.3f} "
                f"[{r.gap_rouge_l_ci_low:+.3f}, {r.gap_rouge_l_ci_high:+.3f}] "
                f"{'>' if r.flagged else '<='} threshold {r.threshold:.3f})" for r in rows.itertuples()) + ".")
    missed = df[df["known_contaminated"] & ~df["flagged"]]
    false_alarms = df[~df["known_contaminated"] & df["flagged"]]
    if len(missed):
        lines.append("WARNING: the contaminated control was NOT flagged on: "
                     + ", ".join(f"{r.model} x {r.task}" for r in missed.itertuples()) + ".")
    if len(false_alarms):
        lines.append("Flagged although its corpus excludes every test problem: "
                     + ", ".join(f"{r.model} x {r.task}" for r in false_alarms.itertuples()) + ".")
    return df, "\n\n".join(line for line in lines if line) + "\n\n"
