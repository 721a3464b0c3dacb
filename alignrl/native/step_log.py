"""One ``train_log.csv`` row per training step, from a :class:`alignrl.native.grpo.StepResult`.

Kept apart from the trainer so the regime statistics (clip split, style shares, lenient accuracy) grow
without growing the training loop; the columns are :data:`alignrl.trace.run_record.LOG_COLUMNS`.
"""
from __future__ import annotations

from typing import Any

from alignrl.claims.styles import CAREFUL, SHORTCUT
from alignrl.native.grpo import StepResult, _mean

__all__ = ["log_row"]


def log_row(step: int, res: StepResult, lr: float, val_acc: float | None, seconds: float) -> dict[str, Any]:
    groups, upd = res.groups, res.updates
    tokens = sum(upd["tokens"])
    styles = [s for g in groups for s in g.styles]

    def weighted(key: str) -> float | None:
        return sum(upd[key]) / tokens if tokens else None

    def style_share(style: str | None) -> float | None:
        return _mean([float(s == style) for s in styles])

    return {
        "step": step,
        "reward_mean": _mean([r for g in groups for r in g.rewards]),
        "accuracy": _mean([float(c) for g in groups for c in g.correct]),
        "format_rate": _mean([float(f) for g in groups for f in g.formatted]),
        "kept_groups": res.kept,
        "generation_batches": res.generation_batches,
        "entropy": res.entropy,
        "response_length": _mean([float(len(r)) for g in groups for r in g.responses]),
        "clip_fraction": weighted("clip"),
        "dual_clip_fraction": weighted("dual"),
        "approx_kl": weighted("kl"),
        "loss": _mean(upd["loss"]),
        "grad_norm": _mean(upd["grad_norm"]),
        "lr": float(lr),
        "val_accuracy": val_acc,
        "seconds": seconds,
        "pseudo_label_accuracy": _mean([float(g.pseudo_ok) for g in groups]),
        "updates": len(upd["loss"]),
        "clip_fraction_low": weighted("clip_low"),
        "clip_fraction_high": weighted("clip_high"),
        "style_careful": style_share(CAREFUL),
        "style_shortcut": style_share(SHORTCUT),
        "style_none": style_share(None),
        "lenient_accuracy": _mean([float(c) for g in groups for c in g.lenient]),
    }
