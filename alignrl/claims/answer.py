"""The response text format shared by tasks, corpus, rewards and evaluation.

A response is ``<think>\\n{reasoning}\\n</think>\\n<answer>\\boxed{ANSWER}</answer>``.

Two answer formats (``docs/internals.md``, "Text format"): ``boxed`` (the embedded default) reads only a box
inside the answer block; ``answer_tag`` (the official prompt's ``<answer> answer here </answer>``) also
accepts a bare answer as the whole block. The grader of a task carries its format
(:func:`answer_format_of`).

Every function here takes arbitrary model output, so each one is total (never raises on a
``str``) and runs in linear time: RL rollouts can be megabytes of degenerate text such as
``\\boxed{`` repeated, and one slow or crashing reward call stalls a whole training step.
"""

from __future__ import annotations

import re

__all__ = [
    "THINK_OPEN",
    "THINK_CLOSE",
    "ANSWER_OPEN",
    "ANSWER_CLOSE",
    "BOX_OPEN",
    "format_response",
    "extract_answer",
    "is_well_formatted",
    "build_prompt",
    "normalize_answer",
    "ANSWER_FORMATS",
    "MAX_BARE_ANSWER_CHARS",
    "answer_format_of",
    "ANSWER_STYLES",
    "REQUESTED_STYLE",
    "extract_answer_lenient",
]

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"
BOX_OPEN = "\\boxed{"

# One token per match: a box opening or a bare brace. Scanning only these (not every
# character) keeps the Python-level loop proportional to the number of braces.
_BRACE_TOKEN_RE = re.compile(r"\\boxed\{|[{}]")
_WS_RE = re.compile(r"\s+")
_QUESTION_FIELD = "{question}"
_TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)

#: ``boxed``: the answer is the box in the answer block. ``answer_tag``: the official format; the answer block
#: is either one box or, as a whole, a bare answer.
ANSWER_FORMATS: tuple[str, ...] = ("boxed", "answer_tag")
#: A bare answer longer than this is not an answer (a whole solution pasted into the tags, or degenerate text).
MAX_BARE_ANSWER_CHARS = 1000


def answer_format_of(task: object) -> str:
    """The answer format a task's grader reads (``boxed`` unless the grader says otherwise)."""
    fmt = getattr(task, "answer_format", "boxed")
    if fmt not in ANSWER_FORMATS:
        raise ValueError(f"{task!r}: unknown answer_format {fmt!r}; known: {list(ANSWER_FORMATS)}")
    return fmt


def _check_format(answer_format: str) -> None:
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"unknown answer format {answer_format!r}; known: {list(ANSWER_FORMATS)}")


#: How a worked example may end (a corpus knob, ``models.*.corpus.answer_styles``). Only ``requested`` is
#: the format the strict reader and the format-gated rewards accept; the others are the habits real base
#: models have (a bare box, a sentence, a tag without the box), which the lenient reader still reads.
REQUESTED_STYLE = "requested"
ANSWER_STYLES: tuple[str, ...] = (REQUESTED_STYLE, "bare_boxed", "sentence", "tag_unboxed")
_SENTENCE_OPEN = "The answer is "
_SENTENCE_CLOSE = " ."


def format_response(solution: str, answer: str, style: str = REQUESTED_STYLE) -> str:
    """Wrap worked reasoning and a final answer; ``style`` picks how the answer is written (:data:`ANSWER_STYLES`)."""
    think = f"{THINK_OPEN}\n{solution}\n{THINK_CLOSE}\n"
    if style == REQUESTED_STYLE:
        return f"{think}{ANSWER_OPEN}{BOX_OPEN}{answer}}}{ANSWER_CLOSE}"
    if style == "bare_boxed":
        return f"{think}{BOX_OPEN}{answer}}}"
    if style == "sentence":
        return f"{think}{_SENTENCE_OPEN}{answer}{_SENTENCE_CLOSE}"
    if style == "tag_unboxed":
        return f"{think}{ANSWER_OPEN}{answer}{ANSWER_CLOSE}"
    raise ValueError(f"unknown answer style {style!r}; known: {list(ANSWER_STYLES)}")


def _answer_block(text: str) -> str | None:
    """Content of the last ``<answer>...</answer>`` block after the last ``</think>``.

    Blocks inside the reasoning are ignored so that a model cannot be scored on an answer it
    only mentioned while thinking.
    """
    think_end = text.rfind(THINK_CLOSE)
    start = 0 if think_end < 0 else think_end + len(THINK_CLOSE)
    open_at = text.rfind(ANSWER_OPEN, start)
    if open_at < 0:
        return None
    content_start = open_at + len(ANSWER_OPEN)
    close_at = text.find(ANSWER_CLOSE, content_start)
    if close_at < 0:
        return None
    return text[content_start:close_at]


def _last_box(block: str) -> tuple[int, int] | None:
    """Span of the content of the box that closes last in ``block``.

    Returns None unless every brace in ``block`` is balanced. For nested boxes the outer one
    closes last, so ``\\boxed{\\boxed{1}}`` yields ``\\boxed{1}``, which
    :func:`extract_answer` refuses: degenerate nesting is not rewarded.
    """
    # Cheap C-level rejection before the Python loop; also catches most garbage quickly.
    if block.count("{") != block.count("}") or BOX_OPEN not in block:
        return None
    # Stack of open braces: content start for a box opening, -1 for a plain brace.
    stack: list[int] = []
    best: tuple[int, int] | None = None
    for m in _BRACE_TOKEN_RE.finditer(block):
        if m.group() == "}":
            if not stack:
                return None
            opened = stack.pop()
            if opened >= 0:
                best = (opened, m.start())
        elif len(m.group()) > 1:
            stack.append(m.end())
        else:
            stack.append(-1)
    if stack:
        return None
    return best


def _balanced(text: str) -> bool:
    depth = 0
    for m in _BRACE_TOKEN_RE.finditer(text):
        depth += -1 if m.group() == "}" else 1
        if depth < 0:
            return False
    return depth == 0


def _bare_answer(block: str) -> str | None:
    """The official format's bare answer: the whole stripped block, or None when it is no answer.

    Refused: empty, longer than :data:`MAX_BARE_ANSWER_CHARS`, holding a tag or a box opening, or with
    unbalanced braces (graders wrap the answer in a box; ``1} \\boxed{2`` must not become a second box).
    One pair of ``$...$`` around the answer is dropped, as the official prompt's answers often carry it.
    """
    content = block.strip()
    if content.startswith("$$") and content.endswith("$$") and len(content) > 4:
        content = content[2:-2].strip()
    elif content.startswith("$") and content.endswith("$") and len(content) > 2:
        content = content[1:-1].strip()
    if not content.strip("$").strip() or len(content) > MAX_BARE_ANSWER_CHARS or BOX_OPEN in content:
        return None
    if any(tag in content for tag in _TAGS) or not _balanced(content):
        return None
    return content


def extract_answer(text: str, answer_format: str = "boxed") -> str | None:
    """Strictly extract the final answer, or None.

    ``boxed``: the (whitespace-stripped) content of the last balanced ``\\boxed{...}`` inside the last
    ``<answer>...</answer>`` block that follows the reasoning. None when there is no such block, any brace
    in the block is unbalanced, the box is empty, or the box holds another box (degenerate nesting is
    never an answer). Backslash-escaped braces are not special: the synthetic tasks never produce them.

    ``answer_tag``: the same block; if it holds a box, the boxed rule applies but the block must hold
    exactly one box (several are a hedge, not an answer); otherwise the whole block is the answer
    (:func:`_bare_answer`).
    """
    _check_format(answer_format)
    if not isinstance(text, str):
        return None
    block = _answer_block(text)
    if block is None:
        return None
    if answer_format == "answer_tag":
        if BOX_OPEN not in block:
            return _bare_answer(block)
        if block.count(BOX_OPEN) != 1:
            return None
    span = _last_box(block)
    if span is None:
        return None
    content = block[span[0] : span[1]].strip()
    if BOX_OPEN in content:
        return None
    return content or None


def is_well_formatted(text: str, answer_format: str = "boxed") -> bool:
    """True iff ``text`` is one think block then one answer block holding exactly one box.

    Reasoning may span lines (the official regex lacked DOTALL and scored every multi-line
    response 0). Only whitespace may surround the blocks, separate them, or surround the box.
    Exactly one box means one ``\\boxed{`` in the block: ``\\boxed{\\boxed{1}}`` is not formatted.
    Under ``answer_tag`` the block may instead be a bare answer (:func:`_bare_answer`).
    Implemented with counts and finds instead of a backtracking regex so it stays linear.
    """
    _check_format(answer_format)
    if not isinstance(text, str):
        return False
    s = text.strip()
    if not (s.startswith(THINK_OPEN) and s.endswith(ANSWER_CLOSE)):
        return False
    for tag in _TAGS:
        if s.count(tag) != 1:
            return False
    think_close = s.find(THINK_CLOSE)
    answer_open = s.find(ANSWER_OPEN)
    if answer_open < think_close or s[think_close + len(THINK_CLOSE) : answer_open].strip():
        return False
    block = s[answer_open + len(ANSWER_OPEN) : len(s) - len(ANSWER_CLOSE)].strip()
    if answer_format == "answer_tag" and BOX_OPEN not in block:
        return _bare_answer(block) is not None
    if not block.startswith(BOX_OPEN) or block.count(BOX_OPEN) != 1:
        return False
    span = _last_box(block)
    # The box that closes last must be the one opening the block and must end it.
    return (
        span is not None
        and span[0] == len(BOX_OPEN)
        and span[1] == len(block) - 1
        and bool(block[span[0] : span[1]].strip())
    )


def extract_answer_lenient(text: str) -> str | None:
    """The final answer read wherever it stands, or None: what a lenient grader would credit.

    Looks only after the last ``</think>`` (the whole text when there is none), and takes the first of:
    the strict answer (:func:`extract_answer`); the last balanced box; the last ``<answer>`` block as a
    bare answer; the text after the last "The answer is" up to " ." or the line's end. The gap between
    lenient and strict correctness is the part of accuracy that only the format stands between.
    """
    if not isinstance(text, str):
        return None
    strict = extract_answer(text)
    if strict is not None:
        return strict
    think_end = text.rfind(THINK_CLOSE)
    tail = text if think_end < 0 else text[think_end + len(THINK_CLOSE):]
    box_at = tail.rfind(BOX_OPEN)
    if box_at >= 0:
        span = _last_box(tail[box_at:])
        if span is not None:
            content = tail[box_at + span[0] : box_at + span[1]].strip()
            if content and BOX_OPEN not in content:
                return content
    open_at = tail.rfind(ANSWER_OPEN)
    if open_at >= 0:
        close_at = tail.find(ANSWER_CLOSE, open_at)
        if close_at >= 0:
            bare = _bare_answer(tail[open_at + len(ANSWER_OPEN) : close_at])
            if bare is not None:
                return bare
    said_at = tail.rfind(_SENTENCE_OPEN)
    if said_at >= 0:
        rest = tail[said_at + len(_SENTENCE_OPEN):]
        stop = [i for i in (rest.find(_SENTENCE_CLOSE), rest.find("\n")) if i >= 0]
        content = (rest[: min(stop)] if stop else rest).strip()
        if content and len(content) <= MAX_BARE_ANSWER_CHARS and not any(t in content for t in _TAGS):
            return content
    return None


def build_prompt(question: str, template: str) -> str:
    """Insert ``question`` into the configured ``prompt_template``.

    Plain substitution rather than ``str.format`` because templates legitimately contain other
    braces (for example an instruction mentioning ``\\boxed{}``).
    """
    if _QUESTION_FIELD not in template:
        raise ValueError(
            f"prompt_template must contain the field {_QUESTION_FIELD!r}; got {template!r}"
        )
    return template.replace(_QUESTION_FIELD, question)


def normalize_answer(s: str) -> str:
    """Strip and collapse internal whitespace runs to single spaces."""
    return _WS_RE.sub(" ", s).strip()
