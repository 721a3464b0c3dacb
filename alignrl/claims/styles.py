"""Solution styles: how a worked example reasons, a trait of the base model set by its corpus.

Real base models reason in more than one style, of different accuracy (Qwen2.5-Math's code reasoning
against plain text, Shao et al. 2506.10947), and RL tricks that sharpen the frequent style (the clip
bias of a random reward) help only where that style is the accurate one. The embedded corpora write
every worked example in one of two styles:

* ``careful``: the task's solution, one computation per line (the text the task generator writes);
* ``shortcut``: no computation at all, only :data:`SHORTCUT_THINK`, then the answer: the model has to
  produce the answer in one go, so it is much less accurate wherever the task takes several steps.

:func:`solution_style` reads the style back from any response, so evaluation can report each style's
share and accuracy, and training can log the shares per step.
"""

from __future__ import annotations

from alignrl.claims.answer import THINK_CLOSE, THINK_OPEN

__all__ = ["SOLUTION_STYLES", "CAREFUL", "SHORTCUT", "SHORTCUT_THINK", "render_solution", "solution_style"]

CAREFUL = "careful"
SHORTCUT = "shortcut"
SOLUTION_STYLES: tuple[str, ...] = (CAREFUL, SHORTCUT)
#: The whole reasoning of a shortcut solution (one line, two word-level tokens).
SHORTCUT_THINK = "quick ."


def render_solution(solution: str, style: str) -> str:
    """The reasoning text of a worked example written in ``style``."""
    if style == CAREFUL:
        return solution
    if style == SHORTCUT:
        return SHORTCUT_THINK
    raise ValueError(f"unknown solution style {style!r}; known: {list(SOLUTION_STYLES)}")


def solution_style(text: str) -> str | None:
    """``shortcut`` when the reasoning is the shortcut line, ``careful`` when it holds anything else, None
    when there is no closed think block at the start of the response (no style can be read)."""
    if not isinstance(text, str):
        return None
    s = text.lstrip()
    if not s.startswith(THINK_OPEN):
        return None
    close = s.find(THINK_CLOSE, len(THINK_OPEN))
    if close < 0:
        return None
    reasoning = s[len(THINK_OPEN):close].strip()
    if not reasoning:
        return None
    return SHORTCUT if reasoning == SHORTCUT_THINK else CAREFUL
