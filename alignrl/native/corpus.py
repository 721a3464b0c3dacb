"""The pretraining corpus: a document mixture that sets model-task alignment on purpose.

Three kinds of documents:
- `task:<name>`: a worked example exactly as evaluation and RL see it: the chat-formatted prompt
  (same chat template and prompt template), `format_response(solution, answer)`, then `<|im_end|>`.
  The fraction of these per task is the alignment knob.
- `subskill`: a few drill lines of one task's sub-skills (arithmetic facts, letter shifts). Drawn from
  EVERY task, round robin, so a weakly aligned model still has the pieces of the skill and RL with the
  true reward has something to assemble; the prototype found a model without them unlearnable.
  Each worked example ends in one of the `answer_styles` (only `requested` is the strict format) and
  reasons in one of the task's `solution_styles` (careful steps or a shortcut, `alignrl.claims.styles`):
  the traits of real base models that the format and clip-bias mechanisms act on. Both are drawn from
  their own random streams, so the problems are the same whatever the style shares.
  `shortcut_guess` makes a task's shortcut examples guesses: their answer lies outside every answer the task
  has (`guess_domain`), so on that task the shortcut is a style that is never right, not even by chance.
- `other`: generic sentences from a small seeded grammar, unrelated to any task (the "web text").

Fractions are of documents, not tokens (task documents are ~3x longer than the others);
`corpus_stats` reports the token shares.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from alignrl.claims.answer import ANSWER_STYLES, REQUESTED_STYLE, build_prompt, format_response
from alignrl.claims.styles import CAREFUL, SHORTCUT, SOLUTION_STYLES, render_solution
from alignrl.claims.tasks import TASKS, get_task
from alignrl.native.tokenizer import IM_END, render_chat_prompt

__all__ = ["Document", "build_documents", "build_corpus", "task_document", "other_text", "corpus_stats"]

TASK_PREFIX = "task:"
CONTAMINATION_PREFIX = "contamination:"
SUBSKILL = "subskill"
OTHER = "other"

# Rejection sampling against the held-out questions must terminate even when the held-out set covers
# most of a tiny problem space; past this many consecutive rejections the configuration is wrong.
_MAX_CONSECUTIVE_REJECTIONS = 10_000


@dataclass(frozen=True)
class Document:
    kind: str  # "task:<name>", "subskill" or "other"
    text: str


def task_document(question: str, solution: str, answer: str, template: str,
                  answer_style: str = REQUESTED_STYLE, solution_style: str = CAREFUL) -> str:
    """A worked example with the chat prompt evaluation uses; by default in the exact format rewards read."""
    prompt = build_prompt(question, template)
    response = format_response(render_solution(solution, solution_style), answer, answer_style)
    return render_chat_prompt(prompt) + response + IM_END


def _check_shares(shares: Mapping[str, float], known: tuple[str, ...], key: str) -> list[tuple[str, float]]:
    """(style, share) in the order of `known`; shares must be non-negative and sum to 1."""
    unknown = sorted(set(shares) - set(known))
    if unknown:
        raise ValueError(f"{key}: unknown styles {unknown}; known: {list(known)}")
    for name, share in shares.items():
        if not isinstance(share, (int, float)) or isinstance(share, bool) or share < 0:
            raise ValueError(f"{key}[{name!r}] must be a non-negative number, got {share!r}")
    total = sum(shares.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"{key}: shares sum to {total:.6f}, not 1 ({dict(shares)})")
    return [(name, float(shares[name])) for name in known if shares.get(name, 0) > 0]


def _style_picker(shares: list[tuple[str, float]], rng: random.Random):
    """A draw of one style per call; no draw at all when one style has everything (the corpus of a single
    style is then byte-identical to one built before styles existed)."""
    if len(shares) == 1:
        only = shares[0][0]
        return lambda: only
    names, weights = [n for n, _ in shares], [w for _, w in shares]
    return lambda: rng.choices(names, weights)[0]


# The guesses' domain is read off this many problems of the task, drawn from a stream of their own.
_GUESS_DOMAIN_DRAWS = 5_000


@dataclass(frozen=True)
class GuessDomain:
    """Where a task's guesses come from: numbers with more digits than any numeric answer of the task, and words
    with more letters than any other answer, so that no guess is the answer of any problem."""

    digits: int  # a numeric guess has this many digits
    letters: int  # a word guess has this many space-separated letters


def guess_domain(task) -> GuessDomain:
    """The task's guess domain, from `_GUESS_DOMAIN_DRAWS` problems (the generators bound their answers)."""
    rng = random.Random(f"guess-domain/{task.name}")
    answers = [task.sample(rng).answer for _ in range(_GUESS_DOMAIN_DRAWS)]
    numeric = [a for a in answers if a.isdigit()]
    words = [a for a in answers if not a.isdigit()]
    return GuessDomain(digits=1 + max((len(a) for a in numeric), default=0),
                       letters=1 + max((len(a.split()) for a in words), default=0))


def guessed_answer(task, answer: str, rng: random.Random, domain: GuessDomain) -> str:
    """The answer of a shortcut worked example that guesses: a number when `answer` is one, letters otherwise,
    from `domain`, so it is never right for this problem, nor for any other the task draws."""
    if answer.isdigit():
        guess = str(rng.randint(10 ** (domain.digits - 1), 10 ** domain.digits - 1))
    else:
        guess = " ".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(domain.letters))
    if task.verify(guess, answer):
        raise ValueError(f"task {task.name!r}: the guess {guess!r} is right for the answer {answer!r}; its answers "
                         f"leave the guess domain {domain} ({_GUESS_DOMAIN_DRAWS} draws)")
    return guess


def _check_guess_shares(guess: Mapping[str, float], solution_shares: Mapping[str, list[tuple[str, float]]]
                        ) -> dict[str, float]:
    """task -> share of its shortcut examples that guess; only for tasks whose examples have shortcuts."""
    out = {}
    for name, share in guess.items():
        if name not in solution_shares:
            raise ValueError(f"shortcut_guess: task {name!r} is not in task_fractions {sorted(solution_shares)}")
        if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0.0 <= share <= 1.0:
            raise ValueError(f"shortcut_guess[{name!r}] must be a number in [0, 1], got {share!r}")
        if share > 0 and SHORTCUT not in dict(solution_shares[name]):
            raise ValueError(f"shortcut_guess[{name!r}] = {share} but solution_styles[{name!r}] has no shortcut "
                             "share, so no example would guess")
        if share > 0:
            out[name] = float(share)
    return out


# --- "other" text: a tiny generic grammar ----------------------------------------------------------
_ADJ = ["small", "old", "red", "quiet", "tall", "green", "bright", "cold", "busy", "happy", "dark", "soft"]
_NOUN = ["dog", "cat", "bird", "farmer", "teacher", "child", "river", "garden", "house", "tree",
         "boat", "city", "road", "window", "song", "letter", "storm", "painter", "doctor", "village"]
_VERB_INTRANS = ["sleeps", "waits", "sings", "rests", "runs", "walks", "shines", "falls", "moves", "stays"]
_VERB_TRANS = ["sees", "paints", "watches", "follows", "visits", "finds", "likes", "carries", "opens", "hears"]
_PREP = ["near", "behind", "under", "beside", "across", "inside", "above", "past"]
_TIME = ["in the morning", "at night", "after lunch", "every day", "in winter", "on sunday", "at dawn", "today"]
_CONNECT = ["and then", "but", "while", "because", "so"]


def _np(rng: random.Random) -> str:
    det = rng.choice(["the", "a", "the", "this", "that"])
    if rng.random() < 0.6:
        return f"{det} {rng.choice(_ADJ)} {rng.choice(_NOUN)}"
    return f"{det} {rng.choice(_NOUN)}"


def _clause(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.4:
        s = f"{_np(rng)} {rng.choice(_VERB_INTRANS)} {rng.choice(_PREP)} {_np(rng)}"
    elif r < 0.8:
        s = f"{_np(rng)} {rng.choice(_VERB_TRANS)} {_np(rng)}"
    else:
        s = f"{_np(rng)} is {rng.choice(_ADJ)}"
    if rng.random() < 0.3:
        s += f" {rng.choice(_TIME)}"
    return s


def other_text(rng: random.Random) -> str:
    """One to three generic sentences (space-separated tokens, like the task text)."""
    sentences = []
    for _ in range(rng.randint(1, 3)):
        s = _clause(rng)
        if rng.random() < 0.25:
            s += f" {rng.choice(_CONNECT)} {_clause(rng)}"
        sentences.append(s[0].upper() + s[1:] + " .")
    return " ".join(sentences)


# --- the mixture -----------------------------------------------------------------------------------
def _validate(task_fractions: Mapping[str, float], subskill_fraction: float, num_documents: int,
              generators: Mapping[str, str], options: Mapping[str, Mapping[str, object]]) -> None:
    unknown = sorted(set(options) - set(task_fractions))
    if unknown:
        raise ValueError(f"task_options: tasks {unknown} are not in task_fractions {sorted(task_fractions)}")
    for name, frac in task_fractions.items():
        if not isinstance(frac, (int, float)) or isinstance(frac, bool) or not 0.0 <= frac <= 1.0:
            raise ValueError(f"task_fractions[{name!r}] must be a number in [0, 1], got {frac!r}")
        # KeyError naming the known tasks; ValueError naming an option the generator refuses
        get_task(generators.get(name, name), options.get(name))
    if not isinstance(subskill_fraction, (int, float)) or not 0.0 <= subskill_fraction <= 1.0:
        raise ValueError(f"subskill_fraction must be a number in [0, 1], got {subskill_fraction!r}")
    total = sum(task_fractions.values()) + subskill_fraction
    if total > 1.0 + 1e-9:
        raise ValueError(
            f"task_fractions + subskill_fraction sum to {total:.4f} > 1 "
            f"(task_fractions={dict(task_fractions)}, subskill_fraction={subskill_fraction})"
        )
    if not isinstance(num_documents, int) or num_documents < 1:
        raise ValueError(f"num_documents must be a positive int, got {num_documents!r}")


def _allocate(fractions: dict[str, float], total: int) -> dict[str, int]:
    """Largest-remainder rounding: counts sum to `total` and each is within 1 of its exact share."""
    exact = {k: f * total for k, f in fractions.items()}
    counts = {k: math.floor(v) for k, v in exact.items()}
    left = total - sum(counts.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - counts[k]), k))[:left]:
        counts[k] += 1
    return counts


def build_documents(
    *,
    task_fractions: Mapping[str, float],
    subskill_fraction: float,
    num_documents: int,
    seed: int,
    template: str = "{question}",
    exclude_questions: Iterable[str] = (),
    subskill_tasks: Iterable[str] | None = None,
    subskill_lines: tuple[int, int] = (2, 4),
    extra_documents: Iterable[Document] = (),
    task_generators: Mapping[str, str] | None = None,
    answer_styles: Mapping[str, float] | None = None,
    solution_styles: Mapping[str, Mapping[str, float]] | None = None,
    task_options: Mapping[str, Mapping[str, object]] | None = None,
    shortcut_guess: Mapping[str, float] | None = None,
) -> list[Document]:
    """The shuffled corpus with each document's kind; deterministic for the arguments.

    `extra_documents` join the mixture before the shuffle (the contaminated control's copies of the
    test problems); with none, the corpus is exactly the mixture. `subskill_tasks` defaults to every
    registered task. Each kind draws from its own random stream,
    so e.g. the task examples do not change when only the other-text share changes the shuffle.
    `task_fractions` is keyed by configured task name; `task_generators` maps a name to its generator
    where the two differ (a task `kor` with generator `logic`); the document kind keeps the task name.
    `task_options` (task name -> generator options, `tasks.<name>.generator_options`) configure the
    generators of the worked examples; a task without an entry draws with its generator's defaults.
    `answer_styles` (style -> share, default all `requested`) and `solution_styles` (task name -> style
    -> share, default all `careful`) set how the worked examples are written. `shortcut_guess` (task name ->
    share, default none) is the share of a task's shortcut examples whose answer is a guess (`guessed_answer`).
    """
    generators = dict(task_generators or {})
    options = dict(task_options or {})
    _validate(task_fractions, subskill_fraction, num_documents, generators, options)
    answer_shares = _check_shares(answer_styles or {REQUESTED_STYLE: 1.0}, ANSWER_STYLES, "answer_styles")
    solution_styles = dict(solution_styles or {})
    unknown_tasks = sorted(set(solution_styles) - set(task_fractions))
    if unknown_tasks:
        raise ValueError(f"solution_styles: tasks {unknown_tasks} are not in task_fractions {sorted(task_fractions)}")
    solution_shares = {
        name: _check_shares(solution_styles.get(name) or {CAREFUL: 1.0}, SOLUTION_STYLES, f"solution_styles[{name!r}]")
        for name in task_fractions
    }
    guess_shares = _check_guess_shares(dict(shortcut_guess or {}), solution_shares)
    excluded = frozenset(exclude_questions)
    skill_names = sorted(TASKS) if subskill_tasks is None else list(subskill_tasks)
    for name in skill_names:
        get_task(name)
    if subskill_fraction > 0 and not skill_names:
        raise ValueError("subskill_fraction > 0 but no subskill_tasks")
    shares = {TASK_PREFIX + name: float(f) for name, f in sorted(task_fractions.items())}
    shares[SUBSKILL] = float(subskill_fraction)
    shares[OTHER] = max(0.0, 1.0 - sum(shares.values()))
    counts = _allocate(shares, num_documents)

    docs: list[Document] = []
    for kind in sorted(counts):
        rng = random.Random(f"{seed}/corpus/{kind}")
        n = counts[kind]
        if kind.startswith(TASK_PREFIX):
            name = kind[len(TASK_PREFIX):]
            task = get_task(generators.get(name, name), options.get(name))
            pick_answer = _style_picker(answer_shares, random.Random(f"{seed}/corpus/{kind}/answer_style"))
            pick_solution = _style_picker(solution_shares[name], random.Random(f"{seed}/corpus/{kind}/solution_style"))
            guess_share = guess_shares.get(name, 0.0)
            guess_rng = random.Random(f"{seed}/corpus/{kind}/shortcut_guess")
            domain = guess_domain(task) if guess_share > 0 else None
            made, misses = 0, 0
            while made < n:
                p = task.sample(rng)
                if p.question in excluded:
                    misses += 1
                    if misses > _MAX_CONSECUTIVE_REJECTIONS:
                        raise ValueError(
                            f"task {task.name!r}: {misses} consecutive samples were held-out questions; "
                            "the excluded set covers (almost) the whole problem space"
                        )
                    continue
                misses = 0
                answer_style, solution_style = pick_answer(), pick_solution()
                answer = p.answer
                # no draw at all without guesses, so such a corpus is the one built before the knob existed
                if solution_style == SHORTCUT and guess_share > 0 and (
                        guess_share >= 1.0 or guess_rng.random() < guess_share):
                    answer = guessed_answer(task, p.answer, guess_rng, domain)
                docs.append(Document(kind, task_document(p.question, p.solution, answer, template,
                                                         answer_style, solution_style)))
                made += 1
        elif kind == SUBSKILL:
            lo, hi = subskill_lines
            for i in range(n):
                task = get_task(skill_names[i % len(skill_names)])
                lines = [task.subskill_text(rng) for _ in range(rng.randint(lo, hi))]
                docs.append(Document(kind, "\n".join(lines)))
        else:
            docs.extend(Document(kind, other_text(rng)) for _ in range(n))
    docs.extend(extra_documents)
    random.Random(f"{seed}/corpus/shuffle").shuffle(docs)
    return docs


def build_corpus(
    *,
    task_fractions: Mapping[str, float],
    subskill_fraction: float,
    num_documents: int,
    seed: int,
    template: str = "{question}",
    exclude_questions: Iterable[str] = (),
    subskill_tasks: Iterable[str] | None = None,
    task_generators: Mapping[str, str] | None = None,
) -> list[str]:
    """The corpus texts (see `build_documents`)."""
    return [
        d.text
        for d in build_documents(
            task_fractions=task_fractions,
            subskill_fraction=subskill_fraction,
            num_documents=num_documents,
            seed=seed,
            template=template,
            exclude_questions=exclude_questions,
            subskill_tasks=subskill_tasks,
            task_generators=task_generators,
        )
    ]


def corpus_stats(docs: list[Document], token_counts: list[int] | None = None) -> dict:
    """Documents (and tokens, when given per document) per kind."""
    per_kind = Counter(d.kind for d in docs)
    stats: dict = {"documents": len(docs), "documents_per_kind": dict(sorted(per_kind.items()))}
    if token_counts is not None:
        tok = Counter()
        for d, n in zip(docs, token_counts):
            tok[d.kind] += n
        total = sum(tok.values())
        stats["tokens"] = total
        stats["tokens_per_kind"] = dict(sorted(tok.items()))
        stats["token_share_per_kind"] = {k: round(v / total, 4) for k, v in sorted(tok.items())} if total else {}
    return stats
