"""``math``: multi-step integer arithmetic word problems.

A person starts with 1..50 objects, then 2-4 operations follow (add, subtract, double,
triple; added or removed amounts 1..30). Every intermediate result stays in [0, 100): two-digit
arithmetic keeps the task learnable by a ~1M-parameter model within the CPU budget. A share of the
problems, the generator option ``hard_share`` (config key ``tasks.<name>.generator_options.hard_share``),
can be a hard tail in three digits (start 100..500, amounts 1..300, results below 1000). No model of
rounds 8-9 solved a tail problem, so the tail caps strict pass@16 at 1 - its share; the default
``HARD_SHARE`` is 3% (docs/organisms.md, round 10): without a tail a strongly aligned model solved every
problem at pass@16 on some pretraining seeds (round 7), and a tenth or a twentieth also cost the model's
regular problems (rounds 8 and 9). At 0 no tail is drawn and no random number is spent.
The solution is one ``a op b = c`` line per operation, so it is at most 4 lines.
"""

from __future__ import annotations

import random
import re
from types import MappingProxyType

from alignrl.claims.answer import normalize_answer
from alignrl.claims.tasks.base import Problem, Task, register

__all__ = ["MathTask", "canonical_int", "HARD_SHARE", "LIMIT"]

LIMIT = 100  # every intermediate result is < LIMIT
MAX_AMOUNT = 30  # largest amount added or removed in one step
MAX_START = 50
# The hard tail: the default of its share of problems (option hard_share), and its (start range, largest
# amount, limit)
HARD_SHARE = 0.03
HARD_START, HARD_AMOUNT, HARD_LIMIT = (100, 500), 300, 1000
MIN_STEPS, MAX_STEPS = 2, 4

# (name, subject pronoun, object pronoun); a few of each keeps the vocabulary small.
_PEOPLE = [
    ("Mia", "She", "her"),
    ("Ava", "She", "her"),
    ("Lily", "She", "her"),
    ("Emma", "She", "her"),
    ("Tom", "He", "him"),
    ("Sam", "He", "him"),
    ("Ben", "He", "him"),
    ("Leo", "He", "him"),
]
_OBJECTS = ["marbles", "apples", "stickers", "coins", "cards", "books", "shells", "pens"]

_START = [
    "{name} has {n} {obj} .",
    "{name} starts with {n} {obj} .",
    "{name} owns {n} {obj} .",
]
# Step phrasings; {P} is the name or the pronoun, {o} the object pronoun.
_ADD = [
    "{P} finds {n} more .",
    "{P} buys {n} more .",
    "{P} gets {n} more .",
    "A friend gives {o} {n} more .",
]
_SUB = [
    "{P} loses {n} .",
    "{P} gives away {n} .",
    "{P} sells {n} .",
    "{P} gives {n} to a friend .",
]
_DOUBLE = ["Then the number doubles .", "Then {p} doubles the {obj} ."]
_TRIPLE = ["Then the number triples .", "Then {p} triples the {obj} ."]
_QUESTION = [
    "How many {obj} does {name} have now ?",
    "How many {obj} does {p} have now ?",
]

_INT_RE = re.compile(r"([+-]?)([0-9]+)")


def canonical_int(s: str) -> str | None:
    """Canonical decimal form of an integer string, or None if ``s`` is not one.

    Leading zeros and a ``+`` sign are accepted ("062" == "62"): the value is what is graded,
    and rejecting them would recreate the official code's exact-string comparison. Works on
    the digit string itself, so megabyte-long numbers never reach ``int()`` (which limits
    conversions to 4300 digits and would raise).
    """
    m = _INT_RE.fullmatch(normalize_answer(s))
    if m is None:
        return None
    digits = m.group(2).lstrip("0") or "0"
    sign = "-" if m.group(1) == "-" and digits != "0" else ""
    return sign + digits


class MathTask(Task):
    """Integer word problems with +, -, x 2 and x 3 steps."""

    name = "math"
    ability = "math"
    options = MappingProxyType({"hard_share": HARD_SHARE})

    def check_option(self, key: str, value: object) -> object:
        # every option of this task is hard_share (Task.with_options refuses the others)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"task {self.name!r}: generator option 'hard_share' (the share of problems from the "
                             f"three-digit tail) must be a number in [0, 1), got {value!r}")
        return float(value)

    def _steps(self, rng: random.Random, start: int, limit: int = LIMIT,
               max_amount: int = MAX_AMOUNT) -> list[tuple[str, int, int]]:
        """Draw (op, operand, result) steps whose results stay in [0, limit)."""
        steps: list[tuple[str, int, int]] = []
        value = start
        for _ in range(rng.randint(MIN_STEPS, MAX_STEPS)):
            ops = []
            if value + 1 < limit:
                ops.append("+")
            if value >= 1:
                ops.append("-")
            if 2 * value < limit:
                ops.append("x2")
            if 3 * value < limit:
                ops.append("x3")
            op = rng.choice(ops)
            if op == "+":
                n = rng.randint(1, min(max_amount, limit - 1 - value))
                value += n
            elif op == "-":
                n = rng.randint(1, min(max_amount, value))
                value -= n
            else:
                n = 2 if op == "x2" else 3
                value *= n
            steps.append((op, n, value))
        return steps

    def sample(self, rng: random.Random) -> Problem:
        name, subj, obj_pron = rng.choice(_PEOPLE)
        obj = rng.choice(_OBJECTS)
        hard_share = self.options["hard_share"]
        if hard_share > 0 and rng.random() < hard_share:
            start = rng.randint(*HARD_START)
            steps = self._steps(rng, start, HARD_LIMIT, HARD_AMOUNT)
        else:
            start = rng.randint(1, MAX_START)
            steps = self._steps(rng, start)

        sentences = [rng.choice(_START).format(name=name, n=start, obj=obj)]
        lines = []
        value = start
        for op, n, result in steps:
            # The start sentence names the person; steps refer back with a pronoun.
            who = subj
            if op == "+":
                text = rng.choice(_ADD).format(P=who, o=obj_pron, n=n)
                lines.append(f"{value} + {n} = {result}")
            elif op == "-":
                text = rng.choice(_SUB).format(P=who, o=obj_pron, n=n)
                lines.append(f"{value} - {n} = {result}")
            else:
                pool = _DOUBLE if op == "x2" else _TRIPLE
                text = rng.choice(pool).format(p=who.lower(), obj=obj)
                lines.append(f"{value} x {n} = {result}")
            sentences.append(text)
            value = result
        sentences.append(rng.choice(_QUESTION).format(obj=obj, name=name, p=subj.lower()))
        return Problem(
            uid="", question=" ".join(sentences), solution="\n".join(lines), answer=str(value)
        )

    def verify(self, predicted: str | None, ground_truth: str) -> bool:
        """Integer equality after whitespace normalisation; non-integers are wrong."""
        if predicted is None:
            return False
        pred, truth = canonical_int(predicted), canonical_int(ground_truth)
        return pred is not None and pred == truth

    def subskill_text(self, rng: random.Random) -> str:
        """A sub-skill drill: an arithmetic fact in the solution's line format, a doubling/tripling
        fact, or (30%) reading one step: a one-operation word problem and its single line.

        Reading and arithmetic are what a pretrained LLM brings to a math task it is weakly aligned
        with; chaining 2-4 steps in the answer format is what only the task's own examples teach.
        """
        kind = rng.random()
        if kind < 0.3:
            return self._one_step_drill(rng)
        kind = rng.random()
        # Left operands span the whole intermediate range, skewed small like real problems.
        a = rng.randint(0, LIMIT - 1)
        if kind < 0.35:
            b = rng.randint(0, min(MAX_AMOUNT, LIMIT - 1 - a))
            return f"{a} + {b} = {a + b}"
        if kind < 0.7:
            b = rng.randint(0, min(MAX_AMOUNT, a))
            return f"{a} - {b} = {a - b}"
        n = rng.choice((2, 3))
        a = rng.randint(0, (LIMIT - 1) // n)
        if kind < 0.9:
            return f"{a} x {n} = {a * n}"
        word = "doubled" if n == 2 else "tripled"
        return f"{a} {word} is {a * n}"

    def _one_step_drill(self, rng: random.Random) -> str:
        """``<start sentence> <one step sentence> : <its solution line>`` (no question, no tags)."""
        name, subj, obj_pron = rng.choice(_PEOPLE)
        obj = rng.choice(_OBJECTS)
        start = rng.randint(1, 50)
        ops = ["+", "-"] + (["x2"] if 2 * start < LIMIT else []) + (["x3"] if 3 * start < LIMIT else [])
        op = rng.choice(ops)
        first = rng.choice(_START).format(name=name, n=start, obj=obj)
        if op == "+":
            n = rng.randint(1, min(MAX_AMOUNT, LIMIT - 1 - start))
            text, line = rng.choice(_ADD).format(P=subj, o=obj_pron, n=n), f"{start} + {n} = {start + n}"
        elif op == "-":
            n = rng.randint(1, min(MAX_AMOUNT, start))
            text, line = rng.choice(_SUB).format(P=subj, o=obj_pron, n=n), f"{start} - {n} = {start - n}"
        else:
            n = 2 if op == "x2" else 3
            pool = _DOUBLE if op == "x2" else _TRIPLE
            text, line = rng.choice(pool).format(p=subj.lower(), obj=obj), f"{start} x {n} = {start * n}"
        return f"{first} {text} : {line}"


register(MathTask())
