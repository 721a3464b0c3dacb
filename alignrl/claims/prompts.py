"""How a data row becomes the model's prompt tokens: the same for the native engine, vLLM and verl."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

__all__ = ["chat_messages", "load_tokenizer", "prompt_token_ids"]


def load_tokenizer(path: str | os.PathLike) -> Any:
    """Load the tokenizer of a model directory exactly as saved (never a model-specific class)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(path)


def chat_messages(row: Mapping[str, Any]) -> list[dict[str, str]]:
    # Rows read through pandas hold numpy arrays of dicts; the chat template wants plain lists.
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in row["prompt"]]


def prompt_token_ids(tokenizer: Any, row: Mapping[str, Any]) -> list[int]:
    # Render, then encode without adding specials: the template already holds them, and the trainer
    # builds its prompts the same way.
    text = tokenizer.apply_chat_template(chat_messages(row), add_generation_prompt=True, tokenize=False)
    return [int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]
