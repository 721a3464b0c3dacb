"""Corpus: mixture fractions, determinism, document format, and no held-out question ever leaks in."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from alignrl.claims.answer import build_prompt, extract_answer, format_response, is_well_formatted
from alignrl.claims.tasks import get_task, make_splits
from alignrl.native.corpus import (
    OTHER,
    SUBSKILL,
    GuessDomain,
    build_corpus,
    build_documents,
    corpus_stats,
    guess_domain,
    guessed_answer,
    task_document,
)
from alignrl.native.tokenizer import IM_END, render_chat_prompt

TEMPLATE = "Q : {question}"


def _docs(**kw):
    args = dict(task_fractions={"math": 0.5, "logic": 0.05}, subskill_fraction=0.2, num_documents=2000,
                seed=0, template=TEMPLATE)
    args.update(kw)
    return build_documents(**args)


def test_fractions_exact_within_one_document():
    docs = _docs(num_documents=1999)
    counts = Counter(d.kind for d in docs)
    for kind, frac in {"task:math": 0.5, "task:logic": 0.05, SUBSKILL: 0.2, OTHER: 0.25}.items():
        assert abs(counts[kind] - frac * 1999) <= 1, kind
    assert sum(counts.values()) == 1999


def test_zero_fraction_and_no_other_text():
    counts = Counter(d.kind for d in _docs(task_fractions={"math": 0.8, "logic": 0.0}))
    assert counts["task:logic"] == 0 and counts["task:math"] == 1600 and counts[OTHER] == 0


def test_deterministic_and_seed_dependent():
    assert _docs() == _docs()
    assert build_corpus(task_fractions={"math": 0.5}, subskill_fraction=0.1, num_documents=300, seed=4) == \
        build_corpus(task_fractions={"math": 0.5}, subskill_fraction=0.1, num_documents=300, seed=4)
    assert [d.text for d in _docs(seed=1)] != [d.text for d in _docs()]


def test_task_documents_have_eval_format():
    for d in _docs(num_documents=400):
        if not d.kind.startswith("task:"):
            continue
        assert d.text.startswith(render_chat_prompt(build_prompt("", TEMPLATE))[: len("<|im_start|>user\nQ : ")])
        assert d.text.endswith("</answer>" + IM_END)
        prompt, response = d.text.split("<|im_start|>assistant\n")
        assert is_well_formatted(response[: -len(IM_END)])
        assert extract_answer(response) is not None
    p = get_task("math").sample(__import__("random").Random(0))
    doc = task_document(p.question, p.solution, p.answer, TEMPLATE)
    prompt = render_chat_prompt(build_prompt(p.question, TEMPLATE))
    assert doc == prompt + format_response(p.solution, p.answer) + IM_END


def _tail_documents(docs) -> int:
    """Worked math examples whose question has a three-digit number (the hard tail)."""
    import re

    questions = [d.text.split("<|im_start|>assistant")[0] for d in docs if d.kind == "task:math"]
    return sum(any(int(n) >= 100 for n in re.findall(r"\d+", q)) for q in questions)


def test_task_options_configure_the_worked_examples():
    assert _docs(task_options={"math": {"hard_share": 0.03}}) == _docs(), "the default draws as without options"
    assert _tail_documents(_docs(task_options={"math": {"hard_share": 0}})) == 0
    half = _docs(task_options={"math": {"hard_share": 0.5}})
    assert 0.4 < _tail_documents(half) / sum(d.kind == "task:math" for d in half) < 0.6
    # only the math examples move: the other kinds draw from their own streams
    assert [d for d in half if d.kind != "task:math"] == [d for d in _docs() if d.kind != "task:math"]
    with pytest.raises(ValueError, match=r"task_options: tasks \['poetry'\]"):
        _docs(task_options={"poetry": {}})
    with pytest.raises(ValueError, match="'hard_share'"):
        _docs(task_options={"math": {"hard_share": 1.0}})


def test_subskills_cover_every_task_and_other_text_is_generic():
    docs = _docs(task_fractions={"math": 0.1}, num_documents=600)
    sub = [d.text for d in docs if d.kind == SUBSKILL]
    # math drills write "a + b = c"-style lines only; logic writes letter facts as well
    assert any("the letter" in t for t in sub), "logic sub-skills missing though logic has no examples"
    assert any(" doubled is " in t or " tripled is " in t or " x 2 = " in t for t in sub)
    assert all(2 <= len(t.split("\n")) <= 4 for t in sub)
    other = [d.text for d in docs if d.kind == OTHER]
    assert other and not any(tag in t for t in other for tag in ("<think>", "\\boxed{", "<|im_start|>"))
    assert not any(ch.isdigit() for t in other for ch in t)


def _questions(docs) -> set[str]:
    out = set()
    for d in docs:
        if d.kind.startswith("task:"):
            prompt = d.text.split("<|im_start|>user\n", 1)[1].split("<|im_end|>", 1)[0]
            out.add(prompt[len("Q : "):])
    return out


def test_held_out_questions_never_appear():
    kw = dict(task_fractions={"math": 0.3, "logic": 0.6}, subskill_fraction=0.1, num_documents=2000, seed=0,
              template=TEMPLATE)
    # The same seed would regenerate exactly these questions, so excluding them is a real test.
    first = _questions(build_documents(**kw))
    splits = {t: make_splits(t, {"val": 64, "test": 200}, seed=0) for t in ("math", "logic")}
    held_out = {p.question for t in splits for s in splits[t].values() for p in s}
    excluded = set(list(sorted(first))[::2]) | held_out
    docs = build_documents(**kw, exclude_questions=excluded)
    assert not _questions(docs) & excluded
    assert _questions(docs) & first  # the non-excluded ones are still drawn
    counts = Counter(d.kind for d in docs)
    assert counts["task:logic"] == 1200 and counts["task:math"] == 600  # rejected draws are replaced


def test_exclusion_of_everything_fails_loudly(monkeypatch):
    task = get_task("logic")
    monkeypatch.setattr(task, "sample",
                        lambda rng: get_task("logic").__class__.sample(task, __import__("random").Random(0)))
    only = task.sample(None).question
    with pytest.raises(ValueError, match="held-out"):
        build_documents(task_fractions={"logic": 0.5}, subskill_fraction=0.0, num_documents=10, seed=0,
                        exclude_questions={only})


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(task_fractions={"math": 1.2}), "math"),
        (dict(task_fractions={"logic": -0.1}), "logic"),
        (dict(task_fractions={"math": 0.6, "logic": 0.5}), "sum"),
        (dict(task_fractions={"math": 0.5}, subskill_fraction=0.6), "sum"),
        (dict(subskill_fraction=1.5), "subskill_fraction"),
        (dict(num_documents=0), "num_documents"),
    ],
)
def test_validation(kw, match):
    args = dict(task_fractions={"math": 0.1}, subskill_fraction=0.1, num_documents=10, seed=0)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        build_documents(**args)


def test_unknown_task():
    with pytest.raises(KeyError, match="known tasks"):
        build_documents(task_fractions={"chess": 0.1}, subskill_fraction=0.0, num_documents=10, seed=0)


def test_stats():
    docs = _docs(num_documents=100)
    stats = corpus_stats(docs, [2] * len(docs))
    assert stats["documents"] == 100 and stats["tokens"] == 200
    assert sum(stats["documents_per_kind"].values()) == 100


# --- answer and solution styles: the traits format rewards and clip bias act on ----------------------
from alignrl.claims.answer import extract_answer_lenient  # noqa: E402
from alignrl.claims.styles import CAREFUL, SHORTCUT, SHORTCUT_THINK, solution_style  # noqa: E402


def _responses(docs, kind):
    return [d.text.split("<|im_start|>assistant\n")[1][: -len(IM_END)] for d in docs if d.kind == kind]


def test_answer_styles_set_the_strict_format_rate_but_every_answer_stays_readable():
    docs = _docs(num_documents=4000, answer_styles={"requested": 0.5, "bare_boxed": 0.2, "sentence": 0.2,
                                                    "tag_unboxed": 0.1})
    responses = _responses(docs, "task:math")
    strict = sum(is_well_formatted(r) for r in responses) / len(responses)
    assert abs(strict - 0.5) < 0.05  # only the requested style is the strict format
    assert all(extract_answer_lenient(r) is not None for r in responses)
    assert any(r.endswith("The answer is " + extract_answer_lenient(r) + " .") for r in responses)
    assert any(r.endswith("}") and "<answer>" not in r for r in responses)  # a bare box


def test_solution_styles_are_per_task_and_read_back():
    docs = _docs(num_documents=4000, solution_styles={"math": {CAREFUL: 0.8, SHORTCUT: 0.2},
                                                      "logic": {CAREFUL: 0.3, SHORTCUT: 0.7}})
    for kind, want in (("task:math", 0.2), ("task:logic", 0.7)):
        styles = [solution_style(r) for r in _responses(docs, kind)]
        assert None not in styles
        assert abs(styles.count(SHORTCUT) / len(styles) - want) < 0.1, kind
    shortcut = next(r for r in _responses(docs, "task:math") if solution_style(r) == SHORTCUT)
    assert shortcut.startswith(f"<think>\n{SHORTCUT_THINK}\n</think>\n")


def test_styles_never_change_the_problems_and_one_style_is_the_old_corpus():
    plain = _docs()
    assert _docs(answer_styles={"requested": 1.0}, solution_styles={"math": {CAREFUL: 1.0}}) == plain
    styled = _docs(answer_styles={"requested": 0.5, "sentence": 0.5}, solution_styles={"math": {SHORTCUT: 1.0}})
    questions = [d.text.split("<|im_start|>assistant\n")[0] for d in plain]
    assert [d.text.split("<|im_start|>assistant\n")[0] for d in styled] == questions


@pytest.mark.parametrize("kw, match", [
    ({"answer_styles": {"requested": 0.5}}, "answer_styles: shares sum"),
    ({"answer_styles": {"requested": 0.5, "shout": 0.5}}, "unknown styles"),
    ({"solution_styles": {"chess": {CAREFUL: 1.0}}}, "not in task_fractions"),
    ({"solution_styles": {"math": {CAREFUL: 1.5, SHORTCUT: -0.5}}}, "non-negative"),
])
def test_style_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        _docs(**kw)


# --- shortcut guesses: a style that is never right on a task ------------------------------------------
def _answers(docs, kind):
    """(question, response) of every worked example of `kind`."""
    out = []
    for d in docs:
        if d.kind == kind:
            prompt, response = d.text.split("<|im_start|>assistant\n")
            out.append((prompt, response[: -len(IM_END)]))
    return out


def test_guessing_shortcuts_are_never_right_and_careful_ones_always_are():
    styles = {"math": {CAREFUL: 0.5, SHORTCUT: 0.5}, "logic": {CAREFUL: 0.5, SHORTCUT: 0.5}}
    docs = _docs(num_documents=4000, solution_styles=styles, shortcut_guess={"logic": 1.0})
    plain = _docs(num_documents=4000, solution_styles=styles)
    truth = {prompt: extract_answer_lenient(r) for prompt, r in _answers(plain, "task:logic")}
    logic = get_task("logic")
    every_answer = {logic.sample(random.Random(i)).answer for i in range(3000)}
    right = {CAREFUL: [], SHORTCUT: []}
    for prompt, response in _answers(docs, "task:logic"):
        got = extract_answer_lenient(response)
        right[solution_style(response)].append(logic.verify(got, truth[prompt]))
        if solution_style(response) == SHORTCUT:
            # a number for a number, letters for letters, and never an answer any problem has (no lucky guess)
            assert got.isdigit() == truth[prompt].isdigit()
            assert got not in every_answer
    assert len(right[SHORTCUT]) > 50 and not any(right[SHORTCUT])
    assert len(right[CAREFUL]) > 50 and all(right[CAREFUL])
    # the other task is untouched, and so is every problem and every style draw
    assert _answers(docs, "task:math") == _answers(plain, "task:math")
    assert [p for p, _ in _answers(docs, "task:logic")] == [p for p, _ in _answers(plain, "task:logic")]
    assert [solution_style(r) for _, r in _answers(docs, "task:logic")] == \
        [solution_style(r) for _, r in _answers(plain, "task:logic")]


def test_the_guess_domain_lies_past_every_answer_of_the_task():
    for name in ("math", "logic"):
        task = get_task(name)
        domain = guess_domain(task)
        answers = [task.sample(random.Random(i)).answer for i in range(3000)]
        assert all(len(a) < domain.digits for a in answers if a.isdigit()), name
        assert all(len(a.split()) < domain.letters for a in answers if not a.isdigit()), name


def test_a_partial_guess_share_guesses_that_share_and_zero_is_the_old_corpus():
    styles = {"math": {CAREFUL: 0.2, SHORTCUT: 0.8}}
    plain = _docs(num_documents=4000, solution_styles=styles)
    assert _docs(num_documents=4000, solution_styles=styles, shortcut_guess={"math": 0.0}) == plain
    half = _docs(num_documents=4000, solution_styles=styles, shortcut_guess={"math": 0.5})
    changed = [a != b for a, b in zip(_answers(half, "task:math"), _answers(plain, "task:math"))]
    shortcuts = sum(solution_style(r) == SHORTCUT for _, r in _answers(plain, "task:math"))
    assert abs(sum(changed) / shortcuts - 0.5) < 0.08


@pytest.mark.parametrize("kw, match", [
    ({"shortcut_guess": {"chess": 1.0}}, "not in task_fractions"),
    ({"shortcut_guess": {"math": 1.5}, "solution_styles": {"math": {SHORTCUT: 1.0}}}, r"in \[0, 1\]"),
    ({"shortcut_guess": {"math": 1.0}}, "has no shortcut share"),
])
def test_guess_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        _docs(**kw)


def test_a_guess_that_would_be_right_is_refused_not_written():
    class AnythingGoes:
        name = "anything"

        def verify(self, predicted, ground_truth):
            return True

    with pytest.raises(ValueError, match="is right for the answer"):
        guessed_answer(AnythingGoes(), "7", random.Random(0), GuessDomain(digits=2, letters=2))
