"""What we know about models without asking the provider: context window, output limit,
tokenizer and price. Matched by the longest known prefix, so dated snapshots
(gpt-4o-2024-08-06, claude-haiku-4-5-20251001) find their family. Prices are USD per million
tokens as published by the providers when this table was written; treat costs as estimates."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    provider: str
    name: str
    context_window: int
    max_output: int
    encoding: str | None          # tiktoken encoding name; None when the tokenizer is not public
    input_price: float | None     # USD per 1M input tokens
    output_price: float | None    # USD per 1M output tokens


def _m(provider: str, name: str, context: int, output: int, encoding: str | None,
       price_in: float | None, price_out: float | None) -> ModelInfo:
    return ModelInfo(provider, name, context, output, encoding, price_in, price_out)


KNOWN: tuple[ModelInfo, ...] = (
    _m("openai", "gpt-5", 400_000, 128_000, "o200k_base", 1.25, 10.00),
    _m("openai", "gpt-5-mini", 400_000, 128_000, "o200k_base", 0.25, 2.00),
    _m("openai", "gpt-5-nano", 400_000, 128_000, "o200k_base", 0.05, 0.40),
    _m("openai", "gpt-4.1", 1_047_576, 32_768, "o200k_base", 2.00, 8.00),
    _m("openai", "gpt-4.1-mini", 1_047_576, 32_768, "o200k_base", 0.40, 1.60),
    _m("openai", "gpt-4.1-nano", 1_047_576, 32_768, "o200k_base", 0.10, 0.40),
    _m("openai", "gpt-4o", 128_000, 16_384, "o200k_base", 2.50, 10.00),
    _m("openai", "gpt-4o-mini", 128_000, 16_384, "o200k_base", 0.15, 0.60),
    _m("openai", "o3", 200_000, 100_000, "o200k_base", 2.00, 8.00),
    _m("openai", "o4-mini", 200_000, 100_000, "o200k_base", 1.10, 4.40),
    _m("openai", "gpt-4-turbo", 128_000, 4_096, "cl100k_base", 10.00, 30.00),
    _m("openai", "gpt-4", 8_192, 8_192, "cl100k_base", 30.00, 60.00),
    _m("openai", "gpt-3.5-turbo", 16_385, 4_096, "cl100k_base", 0.50, 1.50),
    _m("anthropic", "claude-opus-4-5", 200_000, 64_000, None, 5.00, 25.00),
    _m("anthropic", "claude-opus-4-1", 200_000, 32_000, None, 15.00, 75.00),
    _m("anthropic", "claude-opus-4-0", 200_000, 32_000, None, 15.00, 75.00),
    _m("anthropic", "claude-opus-4", 200_000, 32_000, None, 15.00, 75.00),
    _m("anthropic", "claude-sonnet-4-5", 200_000, 64_000, None, 3.00, 15.00),
    _m("anthropic", "claude-sonnet-4-0", 200_000, 64_000, None, 3.00, 15.00),
    _m("anthropic", "claude-sonnet-4", 200_000, 64_000, None, 3.00, 15.00),
    _m("anthropic", "claude-haiku-4-5", 200_000, 64_000, None, 1.00, 5.00),
    _m("anthropic", "claude-3-7-sonnet", 200_000, 64_000, None, 3.00, 15.00),
    _m("anthropic", "claude-3-5-haiku", 200_000, 8_192, None, 0.80, 4.00),
)


def lookup(provider: str, model: str) -> ModelInfo | None:
    """The known entry for provider/model: exact name, else the longest name that prefixes it
    followed by '-' (a snapshot date or a tag)."""
    best: ModelInfo | None = None
    for info in KNOWN:
        if info.provider != provider:
            continue
        if model == info.name:
            return info
        if model.startswith(info.name + "-") and (best is None or len(info.name) > len(best.name)):
            best = info
    return best


def known_models(provider: str) -> list[str]:
    return [info.name for info in KNOWN if info.provider == provider]


def cost(info: ModelInfo | None, input_tokens: int, output_tokens: int) -> float | None:
    if info is None or info.input_price is None or info.output_price is None:
        return None
    return (input_tokens * info.input_price + output_tokens * info.output_price) / 1_000_000
