"""Semantics of the shared response format: extraction, format check, prompts."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignrl.claims.answer import (
    build_prompt,
    extract_answer,
    format_response,
    is_well_formatted,
    normalize_answer,
)

# Text biased towards the characters that matter to the parser.
_PIECES = st.sampled_from(
    ["<think>", "</think>", "<answer>", "</answer>", "\\boxed{", "{", "}", "\n", " ", "1", "x"]
)
_TRICKY = st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=40).map("".join)


def test_format_response_layout():
    r = format_response("1 + 2 = 3\n3 x 2 = 6", "6")
    assert r == "<think>\n1 + 2 = 3\n3 x 2 = 6\n</think>\n<answer>\\boxed{6}</answer>"
    assert extract_answer(r) == "6"
    assert is_well_formatted(r)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>x</think><answer>\\boxed{62}</answer>", "62"),
        # Last box inside the answer block wins.
        ("<think>x</think><answer>\\boxed{1} or \\boxed{2}</answer>", "2"),
        # Boxes in the reasoning are ignored, even if later in a crude sense.
        ("<think>\\boxed{9}</think><answer>\\boxed{3}</answer>", "3"),
        ("<think>\\boxed{9}</think><answer>3</answer>", None),
        # An answer block inside the reasoning does not count.
        ("<think><answer>\\boxed{9}</answer></think>", None),
        ("<think><answer>\\boxed{9}</answer></think><answer>\\boxed{4}</answer>", "4"),
        # Nested braces.
        ("<answer>\\boxed{\\frac{1}{2}}</answer>", "\\frac{1}{2}"),
        ("<answer>\\boxed{{a}{b{c}}}</answer>", "{a}{b{c}}"),
        # Nested boxes are degenerate, never an answer.
        ("<answer>\\boxed{\\boxed{1}}</answer>", None),
        ("<answer>\\boxed{2 \\boxed{1}}</answer>", None),
        # Whitespace around the content is stripped; letters with spaces kept.
        ("<answer>\\boxed{ e c v }</answer>", "e c v"),
        # Missing / empty / unbalanced.
        ("\\boxed{5}", None),
        ("<answer>5</answer>", None),
        ("<answer>\\boxed{}</answer>", None),
        ("<answer>\\boxed{   }</answer>", None),
        ("<answer>\\boxed{5</answer>", None),
        ("<answer>\\boxed{5}}</answer>", None),
        ("<answer>}\\boxed{5}{</answer>", None),
        ("<answer>\\boxed{1} \\boxed{2</answer>", None),
        ("<answer>\\boxed{5}", None),
        ("", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        format_response("a\nb\n\nc", "7"),
        "<think>\nline one\nline two\n</think>\n<answer>\\boxed{7}</answer>",
        "  \n<think></think><answer>\\boxed{7}</answer>\n ",
        "<think>x</think>\n\n<answer> \\boxed{\\frac{1}{2}} </answer>",
        "<think>I tried \\boxed{3} first</think><answer>\\boxed{7}</answer>",
    ],
)
def test_well_formatted_accepts(text):
    assert is_well_formatted(text)


@pytest.mark.parametrize(
    "text",
    [
        "<answer>\\boxed{7}</answer>",  # no think
        "<think>x</think>",  # no answer
        "<think>x</think><answer>7</answer>",  # no box
        "<think>x</think><answer>\\boxed{}</answer>",  # empty box
        "<think>x</think><answer>\\boxed{7</answer>",  # unbalanced
        "<think>x</think><answer>\\boxed{7} \\boxed{8}</answer>",  # two boxes
        "<think>x</think><answer>so \\boxed{7}</answer>",  # text around the box
        "<think>x</think><answer>\\boxed{7}</answer> trailing",  # trailing garbage
        "preamble <think>x</think><answer>\\boxed{7}</answer>",  # leading garbage
        "<think>x</think> between <answer>\\boxed{7}</answer>",
        "<answer>\\boxed{7}</answer><think>x</think>",  # wrong order
        "<think>x</think><answer>\\boxed{7}</answer><answer>\\boxed{7}</answer>",
        "<think><think>x</think><answer>\\boxed{7}</answer>",
        "<think>x</think><answer>\\boxed{7}}{</answer>",
        "",
    ],
)
def test_well_formatted_rejects(text):
    assert not is_well_formatted(text)


def test_build_prompt():
    t = "Solve it . Put the answer in \\boxed{} .\n{question}"
    assert build_prompt("1 + 1 ?", t) == "Solve it . Put the answer in \\boxed{} .\n1 + 1 ?"
    with pytest.raises(ValueError, match="prompt_template"):
        build_prompt("q", "no field here")


def test_normalize_answer():
    assert normalize_answer("  e \n c\t\tv ") == "e c v"
    assert normalize_answer("") == ""


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), _TRICKY))
def test_never_raises(text):
    a = extract_answer(text)
    assert a is None or (isinstance(a, str) and a and a == a.strip())
    assert isinstance(is_well_formatted(text), bool)
    # Well-formatted implies an answer can be extracted.
    if is_well_formatted(text):
        assert extract_answer(text) is not None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="{}<>"), min_size=1).filter(str.strip),
       st.text(alphabet=st.characters(blacklist_characters="<>"), max_size=30))
def test_round_trip(answer, reasoning):
    r = format_response(reasoning, answer)
    assert extract_answer(r) == answer.strip()


@pytest.mark.parametrize(
    "text",
    [
        "\\boxed{" * 150_000,
        "<think></think><answer>" + "\\boxed{" * 150_000 + "</answer>",
        "<answer>" + "{" * 500_000 + "\\boxed{1}" + "}" * 500_000 + "</answer>",
        "<answer>" + "\\boxed{1}" * 120_000 + "</answer>",
        "<think>" + "</think><answer>" * 60_000,
        "<answer>\\boxed{" + "}{" * 500_000 + "}</answer>",
    ],
)
def test_fast_on_adversarial_megabyte(text):
    t0 = time.perf_counter()
    extract_answer(text)
    is_well_formatted(text)
    assert time.perf_counter() - t0 < 2.0


# ----------------------------------------------------------------------------- format gate: exactly one box

_ONE_BOX_VIOLATIONS = [
    "<think>x</think><answer>\\boxed{\\boxed{42}}</answer>",
    "<think>x</think><answer>\\boxed{\\boxed{\\boxed{42}}}</answer>",
    "<think>x</think><answer>\\boxed{4\\boxed{2}}</answer>",
    "<think>x</think><answer>\\boxed{42}\\boxed{42}</answer>",
    "<think>x</think><answer>\\boxed{{\\boxed{42}}}</answer>",
    "<think>x</think><answer>\\boxed{<think>42}</answer>",
    "<think>x</think><answer>\\boxed{</think>42}</answer>",
    "<think>x</think><answer>\\boxed{<answer>42}</answer>",
]


@pytest.mark.parametrize("fmt", ["boxed", "answer_tag"])
@pytest.mark.parametrize("text", _ONE_BOX_VIOLATIONS)
def test_nested_duplicated_boxes_and_tags_in_boxes_are_not_well_formatted(text, fmt):
    assert not is_well_formatted(text, fmt)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["\\boxed{", "}", "42", " ", "<answer>", "</think>", "{"]), max_size=12).map("".join))
def test_well_formatted_block_holds_exactly_one_box(inner):
    text = f"<think>x</think><answer>{inner}</answer>"
    for fmt in ("boxed", "answer_tag"):
        if is_well_formatted(text, fmt) and "\\boxed{" in inner:
            assert inner.count("\\boxed{") == 1
            answer = extract_answer(text, fmt)
            assert answer is not None and "\\boxed{" not in answer


# ----------------------------------------------------------------------------- the official answer format

OFFICIAL = "answer_tag"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>r</think> <answer> 42 </answer>", "42"),
        ("<think>r</think>\n<answer>\n42\n</answer>", "42"),
        ("<think>r</think><answer>\\frac{1}{2}</answer>", "\\frac{1}{2}"),
        ("<think>r</think><answer>$\\frac{1}{2}$</answer>", "\\frac{1}{2}"),
        ("<think>r</think><answer>e c v</answer>", "e c v"),
        ("<think>r</think><answer>\\boxed{42}</answer>", "42"),  # a box is still read
        ("<think>r</think><answer>so \\boxed{42}</answer>", "42"),
        # the last answer block after the reasoning, as in the boxed format
        ("<think><answer>1</answer></think><answer>2</answer>", "2"),
        ("<think>r</think><answer>1</answer><answer>2</answer>", "2"),
    ],
)
def test_official_format_extracts_the_bare_answer(text, expected):
    assert extract_answer(text, OFFICIAL) == expected


@pytest.mark.parametrize(
    "text",
    [
        "<think>r</think><answer></answer>",
        "<think>r</think><answer> \n </answer>",
        "<think>r</think><answer>$$</answer>",
        "<think>r</think><answer>" + "9" * 1001 + "</answer>",  # longer than any answer
        "<think>r</think><answer>1} \\boxed{2</answer>",  # would become a second box when graded
        "<think>r</think><answer>{1</answer>",
        "<think>r</think><answer>\\boxed{1} or \\boxed{2}</answer>",  # a hedge across boxes
        "<think>r</think><answer>\\boxed{\\boxed{1}}</answer>",
        "<think>r</think><answer>a <think> b</answer>",
        "<think>r</think>42",
        "<think>42</think>",
    ],
)
def test_official_format_refuses_garbage(text):
    assert extract_answer(text, OFFICIAL) is None
    assert not is_well_formatted(text, OFFICIAL)


def test_official_format_well_formatted_and_the_boxed_format_unchanged():
    bare = "<think>\nr\n</think>\n<answer>\n42\n</answer>"
    assert is_well_formatted(bare, OFFICIAL) and not is_well_formatted(bare)
    assert extract_answer(bare) is None  # the embedded default still reads only a box
    assert not is_well_formatted("<think>r</think><answer>so \\boxed{42}</answer>", OFFICIAL)  # text around a box
    assert not is_well_formatted("<think>r</think><answer>1</answer><answer>2</answer>", OFFICIAL)
    with pytest.raises(ValueError, match="answer format"):
        extract_answer(bare, "official")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), _TRICKY))
def test_official_format_never_raises_and_formatted_implies_an_answer(text):
    a = extract_answer(text, OFFICIAL)
    assert a is None or (isinstance(a, str) and a and a == a.strip() and len(a) <= 1000)
    if is_well_formatted(text, OFFICIAL):
        assert a is not None
    if is_well_formatted(text):  # the boxed format is a special case of the official one
        assert is_well_formatted(text, OFFICIAL) and a == extract_answer(text)
