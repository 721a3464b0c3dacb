"""The lenient answer reader and the solution-style reader: what they credit, what they refuse, and that
they stay total and linear on hostile text (they run on every evaluated and every trained response)."""
from __future__ import annotations

import time

import pytest

from alignrl.claims.answer import (
    ANSWER_STYLES,
    REQUESTED_STYLE,
    extract_answer,
    extract_answer_lenient,
    format_response,
    is_well_formatted,
)
from alignrl.claims.styles import CAREFUL, SHORTCUT, SHORTCUT_THINK, render_solution, solution_style


@pytest.mark.parametrize("style", ANSWER_STYLES)
def test_every_answer_style_is_read_leniently_and_only_the_requested_one_strictly(style):
    text = format_response("2 + 3 = 5", "5", style)
    assert extract_answer_lenient(text) == "5"
    strict = style == REQUESTED_STYLE
    assert (extract_answer(text) == "5") is strict
    assert is_well_formatted(text) is strict


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>x</think>\n\\boxed{12}", "12"),  # bare box
        ("<think>x</think>\\boxed{1} then \\boxed{2}", "2"),  # the last box
        ("<think>x</think>\nThe answer is 7 .", "7"),  # sentence up to " ."
        ("<think>x</think>The answer is 5\nmore text", "5"),  # sentence up to the line's end
        ("The answer is 7", "7"),  # no think block: the whole text is read
        ("<think>x</think><answer>9</answer>", "9"),  # tag without box
        ("<think>x</think><answer>\\boxed{1}</answer> The answer is 9 .", "1"),  # the strict answer first
    ],
)
def test_lenient_reads_the_answer_wherever_it_stands(text, expected):
    assert extract_answer_lenient(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "<think>x</think>",  # nothing after the reasoning
        "<think>x</think>\n  ",
        "<think>\\boxed{4} The answer is 4 .</think> nothing",  # an answer only inside the reasoning
        "<think>x</think>\\boxed{\\boxed{3}}",  # degenerate nesting
        "<think>x</think>\\boxed{}",  # empty box
        "<think>x</think><answer></answer>",
        "<think>x</think><answer>a <think> b</answer>",  # a tag inside the bare answer
        "<think>x</think>The answer is  .",
        "<think>x</think>The answer is " + "9" * 2000,  # longer than any answer
        "",
    ],
)
def test_lenient_refuses_what_is_no_answer(text):
    assert extract_answer_lenient(text) is None


@pytest.mark.parametrize("value", [None, 5, b"\\boxed{1}", ["<answer>1</answer>"]])
def test_degenerate_inputs_are_no_answer_and_no_style(value):
    assert extract_answer_lenient(value) is None
    assert solution_style(value) is None


def test_solution_styles_round_trip_and_unreadable_styles_are_none():
    assert solution_style(format_response(render_solution("2 + 3 = 5", CAREFUL), "5")) == CAREFUL
    assert solution_style(format_response(render_solution("2 + 3 = 5", SHORTCUT), "5", "sentence")) == SHORTCUT
    assert render_solution("anything", SHORTCUT) == SHORTCUT_THINK
    assert solution_style("<think> </think>\\boxed{3}") is None  # empty reasoning
    assert solution_style("<think>unclosed") is None
    assert solution_style("\\boxed{3}") is None  # no think block
    with pytest.raises(ValueError, match="unknown solution style"):
        render_solution("x", "sloppy")


@pytest.mark.parametrize(
    "text",
    [
        "<think>x</think>" + "\\boxed{" * 150_000,
        "<think>x</think>" + "The answer is " * 80_000,
        "<think>x</think>" + "<answer>" * 120_000 + "</answer>" * 3,
        "<think>x</think>" + "{" * 500_000 + "\\boxed{1}" + "}" * 500_000,
        "<think>" * 100_000 + "</think>" * 100_000,
        "x" * 1_000_000,
    ],
)
def test_lenient_and_style_readers_stay_linear_on_a_megabyte_of_garbage(text):
    t0 = time.perf_counter()
    extract_answer_lenient(text)
    solution_style(text)
    assert time.perf_counter() - t0 < 2.0
