"""Tokenizer: exact round trip on task text, single-token tags, specials, chat template, save/load."""
from __future__ import annotations

import random

import pytest
from transformers import AutoTokenizer

from alignrl.claims.answer import build_prompt, extract_answer, format_response
from alignrl.claims.tasks import get_task
from alignrl.native.corpus import build_corpus, other_text, task_document
from alignrl.native.tokenizer import (
    CHAT_TEMPLATE,
    IM_END,
    IM_START,
    PAD_TOKEN,
    TAG_TOKENS,
    UNK_TOKEN,
    build_tokenizer,
    render_chat_prompt,
)

TEMPLATE = "Solve step by step . {question}"


def _task_texts(n: int = 60, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for name in ("math", "logic"):
        task = get_task(name)
        for _ in range(n):
            p = task.sample(rng)
            texts.append(task_document(p.question, p.solution, p.answer, TEMPLATE))
            texts.append(format_response(p.solution, p.answer))
            texts.append(task.subskill_text(rng))
    texts.extend(other_text(rng) for _ in range(n))
    return texts


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return build_corpus(
        task_fractions={"math": 0.4, "logic": 0.3}, subskill_fraction=0.2, num_documents=600, seed=3,
        template=TEMPLATE,
    )


@pytest.fixture(scope="module")
def tok(corpus):
    return build_tokenizer(corpus)


def test_round_trip_on_corpus_and_fresh_task_text(tok, corpus):
    # Fresh problems (other seed) may hold numbers and letters the corpus never had: digits and
    # letters are always in the vocabulary, so the round trip still holds.
    for text in corpus + _task_texts(seed=99):
        ids = tok.encode(text, add_special_tokens=False)
        assert tok.decode(ids) == text
        assert tok.unk_token_id not in ids, text


def test_one_id_per_word_whatever_the_spacing(tok):
    # Implicit spacing: the same letter/digit/word has the same id at a line start, after a space,
    # inside a number or inside a box.
    ids = tok.encode("c a t\nc -> e\n<answer>\\boxed{c 3}</answer> 33", add_special_tokens=False)
    toks = tok.convert_ids_to_tokens(ids)
    assert toks.count("c") == 3 and toks.count("3") == 3
    assert "->" in toks  # a punctuation run is one token


def test_non_canonical_spacing_is_normalised(tok):
    # Documented limit of implicit spacing: only canonically spaced text round-trips.
    for text, canonical in [("a  b", "a b"), ("a\n b", "a\nb"), ("x.", "x ."), ("2 3", "23")]:
        assert tok.decode(tok.encode(text, add_special_tokens=False)) == canonical


def test_metaspace_spacing_round_trips_anything(corpus):
    tok = build_tokenizer(corpus, spacing="metaspace")
    for text in ["\n\na  b 2 .\n", " 7", "a\n b", "{ 3 }", "2 3", "x.",
                 "<think>\n</think>\n<answer>\\boxed{1 2}</answer>"]:
        assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    for text in corpus[:50]:
        assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    with pytest.raises(ValueError, match="spacing"):
        build_tokenizer(corpus, spacing="bytes")


def test_digits_newline_and_tags_are_single_tokens(tok):
    ids = tok.encode("123\n4", add_special_tokens=False)
    assert [tok.decode([i]) for i in ids] == ["1", "2", "3", "\n", "4"]
    for tag in TAG_TOKENS:
        ids = tok.encode(tag, add_special_tokens=False)
        assert len(ids) == 1, tag
    resp = format_response("3 + 4 = 7", "7")
    ids = tok.encode(resp, add_special_tokens=False)
    # Tags are not special: skipping special tokens keeps the text a reward reads.
    assert tok.decode(ids, skip_special_tokens=True) == resp
    assert extract_answer(tok.decode(ids, skip_special_tokens=True)) == "7"


def test_special_tokens(tok):
    assert tok.eos_token == IM_END and tok.pad_token == PAD_TOKEN and tok.unk_token == UNK_TOKEN
    assert tok.bos_token is None
    assert len({tok.pad_token_id, tok.eos_token_id, tok.unk_token_id, tok.convert_tokens_to_ids(IM_START)}) == 4
    doc = render_chat_prompt("1 + 1") + IM_END
    ids = tok.encode(doc, add_special_tokens=False)
    assert ids[0] == tok.convert_tokens_to_ids(IM_START)
    assert tok.decode(ids, skip_special_tokens=True) == "user\n1 + 1\nassistant\n"
    # No BOS/EOS is added implicitly: the corpus and the prompts control every token.
    assert tok.encode("1", add_special_tokens=True) == tok.encode("1", add_special_tokens=False)
    assert tok.encode("zebraquux", add_special_tokens=False) == [tok.unk_token_id]


def test_chat_template(tok):
    chat = [{"role": "user", "content": build_prompt("Mia has 3 apples .", TEMPLATE)}]
    text = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>user\nSolve step by step . Mia has 3 apples .<|im_end|>\n<|im_start|>assistant\n"
    assert text == render_chat_prompt(chat[0]["content"])
    ids = tok.apply_chat_template(chat, add_generation_prompt=True, return_dict=False)
    assert ids == tok.encode(text, add_special_tokens=False)
    no_gen = tok.apply_chat_template(chat, add_generation_prompt=False, tokenize=False)
    assert no_gen == "<|im_start|>user\nSolve step by step . Mia has 3 apples .<|im_end|>\n"


def test_deterministic_vocab(corpus):
    a, b = build_tokenizer(corpus), build_tokenizer(list(corpus))
    assert a.get_vocab() == b.get_vocab()


def test_save_and_reload(tok, corpus, tmp_path):
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again.chat_template == CHAT_TEMPLATE
    assert (again.eos_token_id, again.pad_token_id) == (tok.eos_token_id, tok.pad_token_id)
    for text in corpus[:100]:
        ids = again.encode(text, add_special_tokens=False)
        assert ids == tok.encode(text, add_special_tokens=False)
        assert again.decode(ids) == text
    chat = [{"role": "user", "content": "Compute 3 # 4 ."}]
    assert again.apply_chat_template(chat, add_generation_prompt=True, tokenize=False) == render_chat_prompt(
        "Compute 3 # 4 ."
    )
