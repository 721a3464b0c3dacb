"""``logic``: KOR-Bench style rule following, two sub-types drawn 50/50.

* Operation: a newly defined operator with small random coefficients, applied to two inputs, 1-9, or
  10-19 in a fifth of them: the hard tail (two-digit products and squares). Without it a strongly
  aligned model solved every logic problem at pass@16, on every pretraining seed (docs/organisms.md,
  rounds 3-7). The solution evaluates the definition one arithmetic step per line.
* Cipher: shift each letter of a short random word (2-4 letters) forward by k = 1..3 (wrapping around
  the alphabet). The 4-letter words are the hard end, so that a strongly aligned model has problems left
  to gain on (with at most 3 letters, model B solved almost every one; shifts of 4 as well collapsed its
  cipher accuracy from about 0.5 to 0.05, docs/organisms.md round 1).
  Letters are space-separated so a word-level tokenizer sees each one; the
  solution maps one letter per line.
Both keep solutions at most 4 lines and every number non-negative.
"""

from __future__ import annotations

import random
import string

from alignrl.claims.tasks.base import Problem, Task, register

__all__ = ["LogicTask", "shift_letter"]

_SYMBOLS = ["#", "@", "&", "$"]
_ALPHABET = string.ascii_lowercase
_ASK = ["Compute {a} {s} {b} .", "What is {a} {s} {b} ?", "Find {a} {s} {b} ."]
_MIN_LETTERS, _MAX_LETTERS = 2, 4  # one solution line per letter
_MAX_SHIFT = 3
_LARGE_INPUTS = 0.2  # share of Operation problems with inputs 10-19


def shift_letter(letter: str, k: int) -> str:
    """Shift a lowercase letter by ``k`` places, wrapping z -> a (and a -> z for k < 0)."""
    return _ALPHABET[(_ALPHABET.index(letter) + k) % 26]


def _term(coef: int, var: str) -> str:
    """``var`` or ``coef x var``; coefficient 1 is left out as people write it."""
    return var if coef == 1 else f"{coef} x {var}"


def _linear(rng: random.Random, a: int, b: int) -> tuple[str, list[str], int]:
    """p x a + q x b + r."""
    while True:
        p, q, r = rng.randint(1, 4), rng.randint(1, 4), rng.randint(0, 9)
        if (p, q, r) != (1, 1, 0):  # plain a + b is no new rule
            break
    parts = [_term(p, "a"), _term(q, "b")] + ([str(r)] if r else [])
    lines = []
    pa, qb = p * a, q * b
    if p != 1:
        lines.append(f"{p} x {a} = {pa}")
    if q != 1:
        lines.append(f"{q} x {b} = {qb}")
    lines.append(f"{pa} + {qb} = {pa + qb}")
    value = pa + qb
    if r:
        lines.append(f"{value} + {r} = {value + r}")
        value += r
    return " + ".join(parts), lines, value


def _sum_times(rng: random.Random, a: int, b: int) -> tuple[str, list[str], int]:
    """(a + b) x p."""
    p = rng.randint(2, 5)
    s = a + b
    return f"( a + b ) x {p}", [f"{a} + {b} = {s}", f"{s} x {p} = {s * p}"], s * p


def _prod_minus(rng: random.Random, a: int, b: int) -> tuple[str, list[str], int]:
    """a x b - p, with p capped so the result is non-negative."""
    m = a * b
    p = rng.randint(0, min(9, m)) if m else 0
    if p == 0:
        return "a x b", [f"{a} x {b} = {m}"], m
    return f"a x b - {p}", [f"{a} x {b} = {m}", f"{m} - {p} = {m - p}"], m - p


def _square_plus(rng: random.Random, a: int, b: int) -> tuple[str, list[str], int]:
    """a x a + b."""
    m = a * a
    return "a x a + b", [f"{a} x {a} = {m}", f"{m} + {b} = {m + b}"], m + b


def _scaled_minus(rng: random.Random, a: int, b: int) -> tuple[str, list[str], int]:
    """p x a - b, with p large enough that the result is non-negative."""
    low = max(2, -(-b // a)) if a else 2
    if a == 0 or low > 5:
        # No p in 2..5 keeps p x a - b >= 0; b - a is then positive instead.
        return "b - a", [f"{b} - {a} = {b - a}"], b - a
    p = rng.randint(low, 5)
    return f"{p} x a - b", [f"{p} x {a} = {p * a}", f"{p * a} - {b} = {p * a - b}"], p * a - b


_FORMS = [_linear, _sum_times, _prod_minus, _square_plus, _scaled_minus]


class LogicTask(Task):
    """Defined-operator evaluation and letter-shift ciphers."""

    name = "logic"
    ability = "logic"

    def _operation(self, rng: random.Random) -> Problem:
        low, high = (10, 19) if rng.random() < _LARGE_INPUTS else (1, 9)
        a, b = rng.randint(low, high), rng.randint(low, high)
        symbol = rng.choice(_SYMBOLS)
        rule, lines, value = rng.choice(_FORMS)(rng, a, b)
        question = f"Define a {symbol} b = {rule} . " + rng.choice(_ASK).format(
            a=a, s=symbol, b=b
        )
        return Problem(uid="", question=question, solution="\n".join(lines), answer=str(value))

    def _cipher(self, rng: random.Random) -> Problem:
        k = rng.randint(1, _MAX_SHIFT)
        backward = False  # forward only: the backward variant was beyond the tiny models
        word = [rng.choice(_ALPHABET) for _ in range(rng.randint(_MIN_LETTERS, _MAX_LETTERS))]
        shift = -k if backward else k
        coded = [shift_letter(c, shift) for c in word]
        direction = "back" if backward else "forward"
        question = f"Rule : shift each letter {direction} by {k} . Encode : {' '.join(word)}"
        lines = [f"{c} -> {d}" for c, d in zip(word, coded)]
        return Problem(uid="", question=question, solution="\n".join(lines), answer=" ".join(coded))

    def sample(self, rng: random.Random) -> Problem:
        return self._operation(rng) if rng.random() < 0.5 else self._cipher(rng)

    # verify: the base class compares whitespace-normalised strings, which is what both
    # sub-types need ("18" / "e c v"); "018" is wrong here because the rule defines the format.

    def subskill_text(self, rng: random.Random) -> str:
        """A sub-skill drill: a letter-shift fact, a small arithmetic step like those in Operation
        solutions, or (30%) reading a rule: the FIRST solution line of an Operation or Cipher
        instance, so the rule's inputs are known to be read but evaluating it fully is not drilled.
        """
        if rng.random() < 0.3:
            if rng.random() < 0.5:
                a, b = rng.randint(1, 9), rng.randint(1, 9)
                rule, lines, _ = rng.choice(_FORMS)(rng, a, b)
                return f"a {rng.choice(_SYMBOLS)} b = {rule} with a = {a} and b = {b} : {lines[0]}"
            k = rng.randint(1, _MAX_SHIFT)
            word = [rng.choice(_ALPHABET) for _ in range(rng.randint(_MIN_LETTERS, _MAX_LETTERS))]
            return f"shift {' '.join(word)} forward by {k} : {word[0]} -> {shift_letter(word[0], k)}"
        kind = rng.random()
        if kind < 0.5:
            c, k = rng.choice(_ALPHABET), rng.randint(1, _MAX_SHIFT)
            return f"the letter after {c} by {k} is {shift_letter(c, k)}"
        a = rng.randint(0, 99)
        op = rng.choice("+-x")
        if op == "x":
            a, b = rng.randint(1, 12), rng.randint(1, 9)
            return f"{a} x {b} = {a * b}"
        b = rng.randint(0, 9)
        if op == "-":
            b = min(b, a)
            return f"{a} - {b} = {a - b}"
        return f"{a} + {b} = {a + b}"


register(LogicTask())
