"""The contamination probe run on the native engine: greedy completion of each question's first part."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from alignrl.claims.answer import build_prompt
from alignrl.claims.contamination import PROBE_COLUMNS, rouge_l, split_question
from alignrl.native.tokenizer import render_chat_prompt

__all__ = ["probe"]


def probe(
    model_dir: str | Path,
    problems: Sequence[tuple[str, str, str]],
    *,
    template: str,
    prefix_fraction: float,
    batch_size: int = 64,
    threads: int | None = None,
) -> pd.DataFrame:
    """Greedy completion of each question's prefix. `problems`: (problem_id, set, question).
    Returns one row per problem (PROBE_COLUMNS)."""
    import torch
    from transformers import AutoModelForCausalLM

    from alignrl.native.sampling import sample
    from alignrl.native.tokenizer import load_tokenizer

    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))
    tokenizer = load_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    eos_id = tokenizer.eos_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id
    prompts, parts, budget = [], [], 0
    for _, _, question in problems:
        prefix, remainder = split_question(question, prefix_fraction)
        chat = render_chat_prompt(build_prompt(question, template))
        at = chat.index(question)
        context = chat[:at] + prefix
        ids = [int(i) for i in tokenizer(context, add_special_tokens=False)["input_ids"]]
        prompts.append(ids)
        parts.append((prefix, remainder, tokenizer.decode(ids, skip_special_tokens=True)))
        budget = max(budget, len(tokenizer(" " + remainder, add_special_tokens=False)["input_ids"]) + 2)
    limit = int(getattr(model.config, "max_position_embeddings", 10**9))
    budget = max(1, min(budget, limit - max(len(p) for p in prompts)))
    completions = sample(
        model, prompts, n=1, max_new_tokens=budget, temperature=0.0, top_p=1.0, eos_id=eos_id,
        pad_id=pad_id, generator=torch.Generator().manual_seed(0), batch_size=batch_size,
    )
    rows: list[dict[str, Any]] = []
    for (problem_id, which, _), (prefix, remainder, context_text), comp, ids in zip(
        problems, parts, completions, prompts
    ):
        # Decode prompt and completion together: with implicit spacing, a completion decoded alone
        # would lose the space at the boundary. Special tokens (the chat markers, eos) are not words.
        full = tokenizer.decode(ids + list(comp.token_ids), skip_special_tokens=True)
        if not full.startswith(context_text):
            raise ValueError(f"problem {problem_id}: decoding the prompt with its completion changed the prompt")
        text = full[len(context_text):]
        expected = remainder.split()
        got = text.split()[: len(expected)]
        rows.append({
            "problem_id": problem_id, "set": which, "prefix": prefix, "remainder": remainder,
            "completion": " ".join(got), "exact_match": got == expected, "rouge_l": rouge_l(got, expected),
        })
    return pd.DataFrame(rows, columns=list(PROBE_COLUMNS))
