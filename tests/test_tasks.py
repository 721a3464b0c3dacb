"""Task generators: determinism, disjoint splits, correct solutions, verifiers."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignrl.claims.answer import extract_answer, format_response
from alignrl.claims.tasks import TASKS, Problem, Task, get_task, make_splits
from alignrl.claims.tasks.logic_puzzles import shift_letter

_ARITH = re.compile(r"(\d+) ([-+x]) (\d+) = (\d+)")
_CIPHER = re.compile(r"([a-z]) -> ([a-z])")
_N = 300  # problems per task for the property checks: enough to hit every form, still fast


def _problems(task: Task | str, n: int = _N) -> list[Problem]:
    return make_splits(task, {"train": n}, seed=123)["train"]


def _check_arith(line: str) -> int:
    m = _ARITH.fullmatch(line)
    assert m, f"not an arithmetic line: {line!r}"
    a, op, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
    assert c == {"+": a + b, "-": a - b, "x": a * b}[op], line
    assert 0 <= c < 1000
    return c


def test_registry_and_get_task():
    assert {"math", "logic"} <= set(TASKS)
    assert get_task("math").name == "math" and get_task("logic").ability == "logic"
    with pytest.raises(KeyError, match="known tasks.*logic.*math"):
        get_task("chess")


@pytest.mark.parametrize("name", ["math", "logic"])
def test_deterministic_and_seed_dependent(name):
    a = make_splits(name, {"train": 20, "test": 10}, seed=7)
    b = make_splits(get_task(name), {"train": 20, "test": 10}, seed=7)
    c = make_splits(name, {"train": 20, "test": 10}, seed=8)
    assert a == b
    assert [p.question for p in a["train"]] != [p.question for p in c["train"]]
    # sample() uses only the given rng.
    t = get_task(name)
    assert t.sample(random.Random(3)) == t.sample(random.Random(3))


@pytest.mark.parametrize("name", ["math", "logic"])
def test_splits_disjoint_unique_and_stable(name):
    sizes = {"train": 200, "validation": 30, "test": 50}
    splits = make_splits(name, sizes, seed=0)
    assert list(splits) == list(sizes)
    assert {k: len(v) for k, v in splits.items()} == sizes
    questions = [p.question for ps in splits.values() for p in ps]
    assert len(set(questions)) == len(questions)
    uids = [p.uid for ps in splits.values() for p in ps]
    assert len(set(uids)) == len(uids)
    assert all(re.fullmatch(rf"{name}-\d{{6}}", u) for u in uids)
    # Evaluation splits do not move when only the training size changes.
    bigger = make_splits(name, {**sizes, "train": 300}, seed=0)
    assert bigger["test"] == splits["test"] and bigger["validation"] == splits["validation"]


def test_make_splits_rejects_bad_sizes():
    with pytest.raises(ValueError):
        make_splits("math", {"train": -1}, seed=0)


@pytest.mark.parametrize("name", ["math", "logic"])
def test_response_round_trip_and_text_shape(name):
    task = get_task(name)
    for p in _problems(name):
        response = format_response(p.solution, p.answer)
        assert task.verify(extract_answer(response), p.answer), p
        for text in (p.question, p.solution, p.answer):
            # Single-space-separated tokens: no doubled or edge spaces, punctuation split off.
            for line in text.split("\n"):
                assert line and line == " ".join(line.split()), repr(line)
            assert not re.search(r"\w[.,?:]|[.,?:]\w", text), repr(text)
        assert 1 <= len(p.solution.split("\n")) <= 4
        assert len(p.question.split()) <= 45


@pytest.mark.parametrize("hard_share", [0.0, 0.03, 0.1])
def test_math_solutions_are_correct(hard_share):
    """No tail, the default 3% (organism round 10) and round 8's tenth in the three-digit tail."""
    hard = 0
    problems = _problems(get_task("math", {"hard_share": hard_share}))
    for p in problems:
        lines = p.solution.split("\n")
        assert 2 <= len(lines) <= 4
        start = int(re.search(r"\d+", p.question)[0])
        assert int(lines[0].split()[0]) == start
        in_tail = start >= 100  # the hard tail: three-digit numbers
        assert 100 <= start <= 500 if in_tail else 1 <= start <= 50
        hard += in_tail
        value = None
        for line in lines:
            m = _ARITH.fullmatch(line)
            assert m, line
            if value is not None:
                assert int(m[1]) == value, "each step continues from the last result"
            if m[2] == "x":
                assert m[3] in {"2", "3"}
            else:
                assert 1 <= int(m[3]) <= (300 if in_tail else 30)
            value = _check_arith(line)
            assert 0 <= value < (1000 if in_tail else 100)
        assert str(value) == p.answer
    if hard_share:
        assert 0.5 * hard_share < hard / len(problems) < 1.5 * hard_share, "the tail's share of problems"
    else:
        assert hard == 0


def _in_tail(p: Problem) -> bool:
    return any(int(n) >= 100 for n in re.findall(r"\d+", p.question))


def test_math_hard_share_is_a_generator_option():
    math = get_task("math")
    assert dict(math.options) == {"hard_share": 0.03}
    assert not any(map(_in_tail, _problems(math.with_options(hard_share=0), 500))), "hard_share 0: no tail"
    half = sum(map(_in_tail, _problems(math.with_options(hard_share=0.5), 500))) / 500
    assert 0.4 < half < 0.6, half
    # a configured copy; the registered task keeps the default
    assert get_task("math").options["hard_share"] == 0.03 and TASKS["math"] is math


def test_math_default_hard_share_draws_as_before_the_option():
    math = get_task("math")
    sizes = {"train": 40, "test": 10}
    assert make_splits(math, sizes, seed=101) == make_splits(math.with_options(hard_share=0.03), sizes, seed=101)
    first = make_splits("math", {"train": 1}, seed=101)["train"][0]
    assert (first.question, first.answer) == (
        "Tom starts with 39 apples . He sells 19 . A friend gives him 21 more . Then he doubles the apples . "
        "How many apples does Tom have now ?", "82")
    # the fourth draw of this stream is a tail problem: the default's tail draw is unchanged too
    rng = random.Random(5)
    fourth = [math.sample(rng) for _ in range(4)][-1]
    assert (fourth.question, fourth.answer) == (
        "Ben starts with 312 cards . He loses 136 . He gets 170 more . How many cards does Ben have now ?", "346")


def test_generator_options_refuse_unknown_names_and_bad_values():
    with pytest.raises(ValueError, match=r"task 'math'.*\['hard_shar'\].*known: \['hard_share'\]"):
        get_task("math").with_options(hard_shar=0.1)
    with pytest.raises(ValueError, match=r"task 'logic'.*\['hard_share'\].*known: none"):
        get_task("logic", {"hard_share": 0.1})
    for bad in (-0.1, 1.0, 1.5, float("nan"), True, "0.1", None):
        with pytest.raises(ValueError, match=r"task 'math'.*'hard_share'.*\[0, 1\)"):
            get_task("math").with_options(hard_share=bad)
    assert get_task("math", {}) is get_task("math") and get_task("math", None) is get_task("math")


def test_logic_solutions_are_correct_and_mixed():
    kinds = {"operation": 0, "cipher": 0}
    two_digit = 0
    for p in _problems("logic"):
        lines = p.solution.split("\n")
        if p.question.startswith("Define"):
            kinds["operation"] += 1
            value = None
            for line in lines:
                value = _check_arith(line)
            assert str(value) == p.answer and int(p.answer) >= 0
            # Recompute from the stated rule, independently of the solution lines.
            m = re.fullmatch(
                r"Define a (\S) b = (.+) \. \w+(?: is)? (\d+) \1 (\d+) [.?]", p.question
            )
            assert m, p.question
            a, b = int(m[3]), int(m[4])
            # inputs both 1-9, or both 10-19 (the hard tail)
            assert (1 <= a <= 9 and 1 <= b <= 9) or (10 <= a <= 19 and 10 <= b <= 19), p.question
            two_digit += a >= 10
            expr = m[2].replace("x", "*")
            assert eval(expr, {}, {"a": a, "b": b}) == int(p.answer), p  # noqa: S307
        else:
            kinds["cipher"] += 1
            m = re.fullmatch(
                r"Rule : shift each letter (forward|back) by (\d) \. Encode : ([a-z ]+)", p.question
            )
            assert m, p.question
            k = int(m[2]) * (1 if m[1] == "forward" else -1)
            word = m[3].split()
            assert [_CIPHER.fullmatch(line).groups() for line in lines] == [
                (c, shift_letter(c, k)) for c in word
            ]
            assert p.answer == " ".join(shift_letter(c, k) for c in word)
    assert min(kinds.values()) > 0.35 * _N, kinds
    assert 0.1 < two_digit / kinds["operation"] < 0.3, "about a fifth of the operations take two-digit inputs"


def test_shift_letter_wraps():
    assert shift_letter("z", 1) == "a" and shift_letter("y", 3) == "b"
    assert shift_letter("a", -1) == "z" and shift_letter("c", 2) == "e"


@pytest.mark.parametrize(
    "pred, truth, ok",
    [
        ("62", "62", True),
        (" 62 ", "62", True),
        ("062", "62", True),  # decided: integer value is graded, leading zeros accepted
        ("+62", "62", True),
        ("-0", "0", True),
        ("63", "62", False),
        ("62.0", "62", False),  # not an integer literal
        ("6 2", "62", False),
        ("sixty two", "62", False),
        ("", "62", False),
        (None, "62", False),
        ("62", "not a number", False),
        ("9" * 10_000, "9" * 10_000, True),  # beyond int()'s 4300-digit limit: no crash
    ],
)
def test_math_verify(pred, truth, ok):
    assert get_task("math").verify(pred, truth) is ok


@pytest.mark.parametrize(
    "pred, truth, ok",
    [
        ("e c v", "e c v", True),
        ("  e  c\nv ", "e c v", True),
        ("ecv", "e c v", False),
        ("18", "18", True),
        ("018", "18", False),  # decided: logic answers are compared as normalised strings
        (None, "18", False),
    ],
)
def test_logic_verify(pred, truth, ok):
    assert get_task("logic").verify(pred, truth) is ok


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.text()), st.text())
def test_verify_never_raises(pred, truth):
    for task in TASKS.values():
        assert isinstance(task.verify(pred, truth), bool)


def _check_reading_drill(name: str, line: str) -> None:
    """A reading drill pairs one step of a problem with its correct solution line, never more."""
    context, answer = line.rsplit(" : ", 1)
    if name == "math":
        m = re.fullmatch(r"\w+ (?:has|starts with|owns) (\d+) \w+ \. (.+)", context)
        assert m, line
        a, op, b, c = re.fullmatch(r"(\d+) ([-+x]) (\d+) = (\d+)", answer).groups()
        assert a == m[1] and answer.count("=") == 1
        _check_arith(answer)
        step = m[2]
        if op == "x":
            assert ("doubles" in step) == (b == "2") and ("triples" in step) == (b == "3")
        else:
            assert re.search(rf"\b{b}\b", step), line
    elif context.startswith("shift "):
        m = re.fullmatch(r"shift ((?:[a-z] ?)+) forward by (\d)", context)
        assert m, line
        first, coded = answer.split(" -> ")
        assert first == m[1].split()[0] and shift_letter(first, int(m[2])) == coded
    else:
        m = re.fullmatch(r"a . b = (.+) with a = (\d) and b = (\d)", context)
        assert m, line
        assert _ARITH.fullmatch(answer), line
        _check_arith(answer)


@pytest.mark.parametrize("name", ["math", "logic"])
def test_subskill_text(name):
    task = get_task(name)
    rng = random.Random(0)
    lines = [task.subskill_text(rng) for _ in range(300)]
    assert lines == [task.subskill_text(r) for r in [random.Random(0)] for _ in range(300)]
    questions = {p.question for p in _problems(name)}
    for line in lines:
        assert line and "\n" not in line and line == " ".join(line.split())
        assert line not in questions
        if " : " in line:
            _check_reading_drill(name, line)
        elif _ARITH.fullmatch(line):
            _check_arith(line)
        elif "letter" in line:
            m = re.fullmatch(r"the letter (after|before) ([a-z]) by (\d) is ([a-z])", line)
            assert m, line
            k = int(m[3]) * (1 if m[1] == "after" else -1)
            assert shift_letter(m[2], k) == m[4]
        else:
            m = re.fullmatch(r"(\d+) (doubled|tripled) is (\d+)", line)
            assert m, line
            assert int(m[1]) * (2 if m[2] == "doubled" else 3) == int(m[3])
