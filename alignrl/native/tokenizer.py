"""A small word-level tokenizer built locally with the `tokenizers` library.

Design (why, not what):
- Word level: task text is space separated, so a word vocabulary is tiny (~225 tokens) and every
  token is meaningful to a sub-million-parameter model. Every digit is its own token, so numbers are
  spelled digit by digit and no number is out of vocabulary; "\\n" is its own token; a run of
  punctuation ("->", ".", "#") is one token.
- Spacing is implicit by default: spaces are dropped when encoding and re-inserted by a fixed rule when
  decoding (see `_decoder`). So a letter, digit or word has ONE id wherever it stands. The alternative,
  folding the leading space into the token (Metaspace, "▁c" vs "c"), gives every line-initial or
  in-number symbol a second id. Measured on this machine (model A's corpus, 900 steps, 0.9 M
  parameters, seed 0, 200 test problems, T = 1): math pass@1 0.76 vs 0.27 with Metaspace (greedy
  0.89 vs 0.42, pass@16 0.99 vs 0.84); on the logic-heavy model B the gap is small (pass@1 0.87 vs
  0.78). Metaspace is kept as `spacing="metaspace"` because it round-trips ANY text, while implicit
  spacing round-trips only canonically spaced text (all task, corpus and response text is;
  `pretrain` checks every document).
- The decoder is chosen deliberately: WordPiece with `cleanup=False` and a prefix no token carries is
  exactly "join with single spaces" (the cleanup default is what mangles symbols such as " ." -> ".");
  then Fuse, then regex replacements on the whole text remove the spaces the canonical form does not
  have (around newlines, tags and special tokens, between the digits of a number).
- The response tags and `\\boxed{`/`}` are non-special added tokens: single ids, but kept by
  `decode(..., skip_special_tokens=True)` because they are part of the text a reward reads.
"""

from __future__ import annotations

import collections
import json
import os
import re
import string
from collections.abc import Iterable

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from alignrl.claims.prompts import load_tokenizer  # noqa: F401  (one loader for every engine)

PAD_TOKEN = "<|pad|>"
UNK_TOKEN = "<|unk|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD_TOKEN, UNK_TOKEN, IM_START, IM_END)
TAG_TOKENS: tuple[str, ...] = ("<think>", "</think>", "<answer>", "</answer>", "\\boxed{", "}")
SPACE_MARK = "\u2581"  # "▁", the Metaspace replacement character
SPACINGS = ("implicit", "metaspace")

# --- "implicit" spacing (default) ------------------------------------------------------------------
# Spaces are dropped when encoding and re-inserted by a fixed rule when decoding: one space between two
# tokens, except around "\n", around the tags and special tokens, and between two digits (one number).
# Every word, digit and letter then has ONE id wherever it stands; with spaces folded into tokens
# ("▁c" vs "c" at a line start, "▁2" vs "2" inside a number) a tiny model has to learn each fact twice.
# The price: only canonically spaced text round-trips (single spaces between tokens, none around
# newlines and tags, punctuation spaced like words, no two numbers separated by a lone space). All
# task, corpus and response text is canonical; `pretrain` checks every document.
_IMPLICIT_PIECES = r"\n|[0-9]|[A-Za-z]+|[^A-Za-z0-9\s]+|\s"
_GLUE = r"<think>|</think>|<answer>|</answer>|\\boxed\{|\}|<\|[a-z_]+\|>"
# WordPiece with cleanup=False and a prefix no token has is just "join with single spaces"; the
# cleanup=True default is what mangles punctuation (" ." -> "."). Fuse, then regexes on the whole text.
_NO_PREFIX = "\x00\x00"

# --- "metaspace" spacing (kept for comparison) -----------------------------------------------------
# A leading space is folded into the following token ("Mia has" -> "Mia", "▁has"); the Metaspace
# decoder maps "▁" back to " ", so any text round-trips, at the cost of two ids per word.
_METASPACE_PIECES = r"\n| ?[0-9]| ?[A-Za-z]+| ?[^A-Za-z0-9\s]|\s"

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Always in the vocabulary so a held-out number, a cipher letter, a symbol or a chat role never maps
# to <|unk|>, whatever the corpus happened to contain.
_ALWAYS_CHARS = string.digits + string.ascii_lowercase + string.punctuation
_ROLES = ("user", "assistant", "system")

_PROTECTED = re.compile("|".join(re.escape(t) for t in sorted(SPECIAL_TOKENS + TAG_TOKENS, key=len, reverse=True)))


def _pre_tokenizer(spacing: str) -> pre_tokenizers.PreTokenizer:
    if spacing == "implicit":
        return pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(" ", behavior="removed"),
                pre_tokenizers.Split(Regex(_IMPLICIT_PIECES), behavior="isolated"),
            ]
        )
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_METASPACE_PIECES), behavior="isolated"),
            pre_tokenizers.Metaspace(replacement=SPACE_MARK, prepend_scheme="never", split=False),
        ]
    )


def _decoder(spacing: str) -> decoders.Decoder:
    if spacing == "implicit":
        return decoders.Sequence(
            [
                decoders.WordPiece(prefix=_NO_PREFIX, cleanup=False),
                decoders.Fuse(),
                decoders.Replace(Regex(r" ?\n ?"), "\n"),
                decoders.Replace(Regex(r"(?<=[0-9]) (?=[0-9])"), ""),
                decoders.Replace(Regex(f" (?={_GLUE})"), ""),
                decoders.Replace(Regex(f"(?<={_GLUE}) "), ""),
            ]
        )
    return decoders.Metaspace(replacement=SPACE_MARK, prepend_scheme="never", split=False)


def _always(spacing: str) -> tuple[str, ...]:
    chars = list(_ALWAYS_CHARS)
    if spacing == "metaspace":
        chars += [SPACE_MARK + c for c in _ALWAYS_CHARS] + [SPACE_MARK]
    return tuple(chars + ["\n", *_ROLES])


def _count_pieces(texts: Iterable[str], pre_tok: pre_tokenizers.PreTokenizer) -> collections.Counter[str]:
    """Counts pre-tokenized pieces, cutting out special and tag tokens first (as encoding does)."""
    counts: collections.Counter[str] = collections.Counter()
    for text in texts:
        for chunk in _PROTECTED.split(text):
            if chunk:
                counts.update(piece for piece, _ in pre_tok.pre_tokenize_str(chunk))
    return counts


def build_tokenizer(
    texts: Iterable[str], *, min_frequency: int = 1, spacing: str = "implicit"
) -> PreTrainedTokenizerFast:
    """Build the word-level tokenizer from `texts` (deterministic: ids depend only on the counts).

    `spacing`: "implicit" (default; see the module notes) or "metaspace".

    Ids: specials first (`<|pad|>`=0, `<|unk|>`=1, `<|im_start|>`=2, `<|im_end|>`=3), then the tags,
    then the always-present digits/letters/roles, then the remaining pieces by descending frequency
    (ties broken alphabetically).
    """
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    pre_tok = _pre_tokenizer(spacing)
    counts = _count_pieces(texts, pre_tok)
    vocab: dict[str, int] = {}
    for tok in SPECIAL_TOKENS + TAG_TOKENS + _always(spacing):
        vocab.setdefault(tok, len(vocab))
    for piece, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if count >= min_frequency and piece not in vocab:
            vocab[piece] = len(vocab)

    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    backend.pre_tokenizer = _pre_tokenizer(spacing)
    backend.decoder = _decoder(spacing)
    # normalized=False: tags are matched verbatim in the raw text, before any pre-tokenization.
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])

    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=UNK_TOKEN,
        pad_token=PAD_TOKEN,
        eos_token=IM_END,
        bos_token=None,
        additional_special_tokens=[IM_START],
        clean_up_tokenization_spaces=False,  # the default clean-up would break the exact round trip
        padding_side="left",  # generation pads prompts on the left
        model_max_length=4096,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def chat_prompt(prompt: str) -> list[dict[str, str]]:
    """The chat list for one user prompt, as stored in the data rows."""
    return [{"role": "user", "content": prompt}]


def render_chat_prompt(prompt: str) -> str:
    """The text `CHAT_TEMPLATE` renders for one user message with the generation prompt.

    Lets the corpus be written before any tokenizer exists; a test checks it equals
    `apply_chat_template(..., add_generation_prompt=True, tokenize=False)`.
    """
    return f"{IM_START}user\n{prompt}{IM_END}\n{IM_START}assistant\n"


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, out_dir: str | os.PathLike, *, arch: str | None = None) -> None:
    """`save_pretrained`, made safe for `AutoTokenizer` in a model directory of architecture `arch`.

    transformers 5.24 lists `qwen2` among models whose Hub `tokenizer_class` is "incorrect" and then
    builds a `Qwen2Tokenizer` (byte-level BPE rebuilt from our vocabulary) instead of reading
    tokenizer.json: silently different ids. Its loader skips that substitution when the tokenizer config
    carries an `auto_map` and `trust_remote_code` is not set, falling back to the declared
    `TokenizersBackend`; a placeholder auto_map does exactly that (and `trust_remote_code=True` fails
    loudly rather than mis-tokenizing). `load_tokenizer` needs none of this.
    """
    tokenizer.save_pretrained(out_dir)
    if arch == "qwen2":
        path = os.path.join(out_dir, "tokenizer_config.json")
        with open(path) as fh:
            cfg = json.load(fh)
        cfg["auto_map"] = {"AutoTokenizer": [None, "TokenizersBackend"]}
        with open(path, "w") as fh:
            json.dump(cfg, fh, indent=2, sort_keys=True)
            fh.write("\n")
