"""Reward functions for the paper's claims (RQ1 rewards; correctness for RQ3 masks).

Every function here is pure: the same :class:`RewardGroup` always gives the same rewards, so the
native trainer and a later verl custom reward function share one definition.

A reward function takes ONE prompt's group of ``n`` responses and returns one float per response
(``RewardFn(group) -> list[float]``, the contract in ``docs/internals.md``). Group-level input is
needed because two claims look at the whole group (majority vote) or at sampling statistics
(entropy). :func:`compute_rewards` wraps a registered function and adds the true correctness of each
response, which is always computed (for logging and for the PSR/NSR masks) whatever the reward.

Format gating
-------------
``fmt`` is :func:`alignrl.claims.answer.is_well_formatted` (one ``<think>`` block, multi-line allowed, then
one ``<answer>\\boxed{..}</answer>``). A reward is *format gated* when it is ``fmt * something``:
a badly formatted response gets exactly 0 however good its answer is. The gated rewards are
registered with ``format_gated=True`` (:data:`FORMAT_GATED` lists them); ``entropy`` (a pure likelihood
signal), ``random_ungated`` (Shao et al.'s coin) and ``none`` (no reward) are the ungated ones.

``acc`` is ``task.verify(extract_answer(text), ground_truth)`` (strict extraction; ``None`` is
wrong).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Set
from dataclasses import dataclass, field, replace
from typing import Any

from alignrl.claims.answer import answer_format_of, extract_answer, is_well_formatted, normalize_answer

__all__ = [
    "FORMAT_GATED",
    "REWARDS",
    "REWARD_FORMAT_GATED",
    "RewardFn",
    "RewardGroup",
    "RewardResult",
    "VOTING",
    "compute_rewards",
    "correctness",
    "majority_label",
    "random_draw",
    "register_reward",
]


@dataclass(frozen=True)
class RewardGroup:
    """One prompt's ``n`` sampled responses and what a reward may need to score them.

    ``seed`` and ``group_id`` (e.g. ``step * 1000 + prompt_index``) key the random reward so that
    draws are reproducible, differ between groups, and do not depend on batch composition.
    ``mean_logprobs[i]`` is the mean token log-prob of response ``i`` under the sampling policy.
    """

    responses: list[str]
    ground_truth: str
    task: Any  # alignrl.claims.tasks.Task; typed loosely so this module imports nothing heavy
    seed: int = 0
    mean_logprobs: list[float] | None = None
    group_id: int = 0

    def __post_init__(self) -> None:
        if self.mean_logprobs is not None and len(self.mean_logprobs) != len(self.responses):
            raise ValueError(
                f"mean_logprobs has {len(self.mean_logprobs)} entries for "
                f"{len(self.responses)} responses"
            )


@dataclass(frozen=True)
class RewardResult:
    """Rewards of one group plus diagnostics.

    ``correct[i]`` is the TRUE correctness of response ``i`` = the ground-truth reward
    (``fmt and acc``), whatever reward was used; PSR/NSR masks read it. ``pseudo_label`` is the
    group's majority answer (normalised; the TTRL pseudo-label), computed for every reward so that
    the label's accuracy can be logged for every run; ``None`` when no response has an answer.
    """

    rewards: list[float]
    correct: list[bool]
    pseudo_label: str | None = None
    answers: list[str | None] = field(default_factory=list)
    well_formatted: list[bool] = field(default_factory=list)


RewardFn = Callable[[RewardGroup], list[float]]
REWARDS: dict[str, RewardFn] = {}
#: name -> whether the reward is ``fmt * x`` (a badly formatted response always gets 0); set where the
#: reward is registered, so a new reward cannot be left out of it.
REWARD_FORMAT_GATED: dict[str, bool] = {}
#: Rewards that read a vote over the whole group (TTRL's ``vote_samples`` may exceed the trained group).
VOTING: set[str] = set()


class _FormatGated(Set):
    """The names of the format-gated rewards, read live from the registry (a view, not a second list)."""

    def __contains__(self, name: object) -> bool:
        return bool(REWARD_FORMAT_GATED.get(name))  # type: ignore[arg-type]

    def __iter__(self):
        return iter(sorted(n for n, gated in REWARD_FORMAT_GATED.items() if gated))

    def __len__(self) -> int:
        return sum(REWARD_FORMAT_GATED.values())

    def __repr__(self) -> str:
        return f"FORMAT_GATED({sorted(self)})"

    @classmethod
    def _from_iterable(cls, names):  # set operations (FORMAT_GATED - {...}) give a plain frozenset
        return frozenset(names)


#: Rewards of the form ``fmt * x``: a badly formatted response always gets 0.
FORMAT_GATED: Set[str] = _FormatGated()


def register_reward(name: str, *, format_gated: bool, votes: bool = False) -> Callable[[RewardFn], RewardFn]:
    """Register ``fn`` under ``name`` in :data:`REWARDS` (a claim is then a config entry).

    ``format_gated`` says whether ``fn`` is ``fmt * x``; it has no default, so every reward declares it.
    ``votes``: ``fn`` reads a majority vote over the group (listed in :data:`VOTING`).
    """
    if not isinstance(format_gated, bool):
        raise TypeError(f"reward {name!r}: format_gated must be True or False, got {format_gated!r}")

    def deco(fn: RewardFn) -> RewardFn:
        if name in REWARDS:
            raise ValueError(f"reward {name!r} is already registered")
        REWARDS[name] = fn
        REWARD_FORMAT_GATED[name] = format_gated
        if votes:
            VOTING.add(name)
        return fn

    return deco


class _VerifyOnce:
    """A task whose ``verify`` answers each (answer, truth) pair once per :func:`compute_rewards` call.

    A reward and the true correctness both need the verdict; under math-verify each one can cost a
    worker round trip or a full timeout, so the second asks the memo. Everything else is the task's.
    """

    def __init__(self, task: Any):
        self._task = task
        self._memo: dict[tuple[str | None, str], bool] = {}
        self.answer_format = answer_format_of(task)

    def verify(self, predicted: str | None, ground_truth: str) -> bool:
        key = (predicted, ground_truth)
        if key not in self._memo:
            self._memo[key] = bool(self._task.verify(predicted, ground_truth))
        return self._memo[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)


def compute_rewards(name: str, group: RewardGroup) -> RewardResult:
    """Score ``group`` with the reward registered as ``name``; KeyError lists the known names.

    Each response's answer is verified at most once (and only when it is well formatted), whichever
    reward asks: see :class:`_VerifyOnce`.
    """
    try:
        fn = REWARDS[name]
    except KeyError:
        raise KeyError(f"unknown reward {name!r}; known: {sorted(REWARDS)}") from None
    if not isinstance(group.task, _VerifyOnce):
        group = replace(group, task=_VerifyOnce(group.task))
    rewards = [float(r) for r in fn(group)]
    if len(rewards) != len(group.responses):
        raise RuntimeError(
            f"reward {name!r} returned {len(rewards)} values for {len(group.responses)} responses"
        )
    mode = answer_format_of(group.task)
    answers = [extract_answer(t, mode) for t in group.responses]
    fmt = [is_well_formatted(t, mode) for t in group.responses]
    correct = [f and bool(group.task.verify(a, group.ground_truth)) for f, a in zip(fmt, answers)]
    return RewardResult(
        rewards=rewards,
        correct=correct,
        pseudo_label=majority_label(answers),
        answers=answers,
        well_formatted=fmt,
    )


# ----------------------------------------------------------------------------- helpers


def _fmt(group: RewardGroup) -> list[float]:
    mode = answer_format_of(group.task)
    return [1.0 if is_well_formatted(t, mode) else 0.0 for t in group.responses]


def _acc(group: RewardGroup) -> list[bool]:
    """Verdicts of the well-formatted responses; a badly formatted one is False unverified.

    Every caller multiplies by the format gate, so verifying a response that cannot be paid would only
    spend time (a megabyte of degenerate text on the math-verify path).
    """
    mode = answer_format_of(group.task)
    return [
        is_well_formatted(t, mode) and bool(group.task.verify(extract_answer(t, mode), group.ground_truth))
        for t in group.responses
    ]


def correctness(group: RewardGroup) -> list[bool]:
    """True correctness of each response: well formatted AND verified against the ground truth."""
    return [f > 0 and a for f, a in zip(_fmt(group), _acc(group))]


def random_draw(seed: int, group_id: int, index: int) -> bool:
    """A fair coin for response ``index`` of group ``group_id``, stable across processes.

    Keyed by a SHA-256 of the triple (Python's ``hash`` is salted per process), so a response's draw
    depends only on (seed, group, index), not on batch order or on how many groups came before.
    """
    digest = hashlib.sha256(f"alignrl-random-reward:{seed}:{group_id}:{index}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big")).random() < 0.5


def majority_label(answers: list[str | None]) -> str | None:
    """The most common normalised answer among those that exist; ``None`` if no answer exists.

    Ties go to the tied answer that appears FIRST in the group. Sample order within a group is
    exchangeable (i.i.d. sampling), so this is an unbiased random tie-break that needs no extra
    seed, it always yields a label (as TTRL's ``Counter.most_common`` does), and it does not favour
    answers by their spelling (which a lexicographic rule would).
    """
    normed = [normalize_answer(a) for a in answers if a is not None]
    if not normed:
        return None
    counts = Counter(normed)
    top = max(counts.values())
    # first occurrence in group order among the answers with the top count
    return next(a for a in normed if counts[a] == top)


# ----------------------------------------------------------------------------- rewards


@register_reward("ground_truth", format_gated=True)
def ground_truth_reward(group: RewardGroup) -> list[float]:
    """Standard RL: ``fmt * acc``."""
    return [f * float(a) for f, a in zip(_fmt(group), _acc(group))]


@register_reward("random", format_gated=True)
def random_reward(group: RewardGroup) -> list[float]:
    """Spurious reward: ``fmt * Bernoulli(0.5)``, one independent draw per response."""
    return [
        f * float(random_draw(group.seed, group.group_id, i)) for i, f in enumerate(_fmt(group))
    ]


@register_reward("random_ungated", format_gated=False)
def random_ungated_reward(group: RewardGroup) -> list[float]:
    """Spurious reward as Shao et al. (arXiv 2506.10947) define it: Bernoulli(0.5), whatever the format.

    The same coin as ``random`` (:func:`random_draw`), so the two claims differ only by the format gate.
    """
    return [float(random_draw(group.seed, group.group_id, i)) for i in range(len(group.responses))]


@register_reward("incorrect", format_gated=True)
def incorrect_reward(group: RewardGroup) -> list[float]:
    """Spurious reward: ``fmt * (1 - acc)``, pays ONLY well-formatted WRONG answers.

    The official code's effective definition paid correct answers; this one never does.
    """
    return [f * (0.0 if a else 1.0) for f, a in zip(_fmt(group), _acc(group))]


@register_reward("format", format_gated=True)
def format_reward(group: RewardGroup) -> list[float]:
    """Format only: ``fmt`` (DOTALL: newlines inside ``<think>`` are allowed)."""
    return _fmt(group)


@register_reward("majority_vote", format_gated=True, votes=True)
def majority_vote_reward(group: RewardGroup) -> list[float]:
    """Test-time RL: ``fmt * [normalize(answer) == pseudo_label]``; never reads the ground truth.

    The pseudo-label is :func:`majority_label` over every response that has an extractable answer.
    Agreement is normalised-string equality, the same relation the vote counts with, so a response
    is paid exactly when it belongs to the winning cluster. No answer anywhere -> all rewards 0.
    Format gating keeps this comparable to ``ground_truth``: only the label source differs.
    """
    answers = [extract_answer(t, answer_format_of(group.task)) for t in group.responses]
    label = majority_label(answers)
    if label is None:
        return [0.0] * len(answers)
    return [
        f * float(a is not None and normalize_answer(a) == label)
        for f, a in zip(_fmt(group), answers)
    ]


@register_reward("incorrect_majority", format_gated=True, votes=True)
def incorrect_majority_reward(group: RewardGroup) -> list[float]:
    """Shao et al.'s "incorrect" reward with an online label: pay answers equal to a WRONG majority label.

    The label is the group's :func:`majority_label` (strict extraction). When it is wrong, a response is
    paid as ``majority_vote`` pays it (``fmt * [answer == label]``), i.e. ground truth graded against the
    wrong label; when it is right the whole group gets 0, so a correct answer is never paid. Shao et al.
    fixed one wrong label per prompt from the base model's majority vote before training; this label is
    re-voted by the current policy each time the prompt is drawn (docs/claims.md states the deviation).
    """
    mode = answer_format_of(group.task)
    answers = [extract_answer(t, mode) for t in group.responses]
    label = majority_label(answers)
    if label is None or group.task.verify(label, group.ground_truth):
        return [0.0] * len(answers)
    return [
        f * float(a is not None and normalize_answer(a) == label)
        for f, a in zip(_fmt(group), answers)
    ]


@register_reward("entropy", format_gated=False)
def entropy_reward(group: RewardGroup) -> list[float]:
    """Trajectory-level entropy minimisation: reward = mean token log-prob of the response.

    Label free and NOT format gated. The log-probs must be those of the sampling policy for these
    very responses (the official code read them before computing them); raises ValueError if absent.
    Group normalisation happens in the advantage estimator, as for every reward.
    """
    if group.mean_logprobs is None:
        raise ValueError("the entropy reward needs RewardGroup.mean_logprobs (sampling log-probs)")
    return [float(x) for x in group.mean_logprobs]


@register_reward("none", format_gated=False)
def no_reward(group: RewardGroup) -> list[float]:
    """No reward at all (zeros): for objectives that are pure losses, e.g. token-level entropy minimisation.

    With zero rewards every advantage is zero, so only the claim's extra loss term moves the policy;
    such a claim must turn dynamic sampling off (every group would be dropped).
    """
    return [0.0] * len(group.responses)
