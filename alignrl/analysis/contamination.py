"""Contamination summaries and table: is a model's probe score on test questions above fresh problems?

The probe itself is defined in alignrl.claims.contamination and run by alignrl.native.probe.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from alignrl.claims.contamination import REFERENCE, TEST

__all__ = ["probe_table", "summarize_probe"]


def _bootstrap_gap(test: np.ndarray, ref: np.ndarray, n_boot: int, alpha: float, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    gaps = (rng.choice(test, size=(n_boot, len(test))).mean(axis=1)
            - rng.choice(ref, size=(n_boot, len(ref))).mean(axis=1))
    return float(np.quantile(gaps, alpha / 2)), float(np.quantile(gaps, 1 - alpha / 2))


def summarize_probe(frame: pd.DataFrame, *, min_gap: float, n_boot: int, alpha: float, seed: int) -> dict:
    """Means per set, the test-minus-reference gaps with bootstrap intervals, and the flag (ROUGE-L gap
    >= min_gap with its interval above 0)."""
    test = frame[frame["set"] == TEST]
    ref = frame[frame["set"] == REFERENCE]
    if test.empty or ref.empty:
        raise ValueError("the probe needs both test and reference problems")
    out: dict[str, Any] = {"test_problems": len(test), "reference_problems": len(ref)}
    for j, metric in enumerate(("exact_match", "rouge_l")):
        t, r = test[metric].to_numpy(dtype=float), ref[metric].to_numpy(dtype=float)
        out[f"test_{metric}"] = float(t.mean())
        out[f"reference_{metric}"] = float(r.mean())
        out[f"gap_{metric}"] = float(t.mean() - r.mean())
        out[f"gap_{metric}_ci_low"], out[f"gap_{metric}_ci_high"] = _bootstrap_gap(t, r, n_boot, alpha, seed + j)
    out["flagged"] = bool(out["gap_rouge_l"] >= min_gap and out["gap_rouge_l_ci_low"] > 0)
    return out


def probe_table(summaries: Sequence[dict]) -> tuple[pd.DataFrame, str]:
    """results/contamination.csv from the per-cell summaries (provenance dropped), and a markdown
    preamble that warns when the contaminated control was missed or a clean model was flagged."""
    df = pd.DataFrame([{k: v for k, v in s.items() if k != "provenance"} for s in summaries])
    front = ["model", "task", "bench", "known_contaminated", "flagged", "test_problems", "reference_problems"]
    for metric in ("rouge_l", "exact_match"):
        front += [f"test_{metric}", f"reference_{metric}", f"gap_{metric}",
                  f"gap_{metric}_ci_low", f"gap_{metric}_ci_high"]
    df = df[front + [c for c in df.columns if c not in front]]
    lines = ["The probe flags a model when its ROUGE-L on test-question remainders beats never-seen problems "
             "by at least min_gap with a bootstrap interval above 0."]
    missed = df[df["known_contaminated"] & ~df["flagged"]]
    false_alarms = df[~df["known_contaminated"] & df["flagged"]]
    if len(missed):
        lines.append("WARNING: the contaminated control was NOT flagged on: "
                     + ", ".join(f"{r.model} x {r.task}" for r in missed.itertuples()) + ".")
    if len(false_alarms):
        lines.append("Flagged although its corpus excludes every test problem: "
                     + ", ".join(f"{r.model} x {r.task}" for r in false_alarms.itertuples()) + ".")
    return df, "\n".join(lines) + "\n\n"
