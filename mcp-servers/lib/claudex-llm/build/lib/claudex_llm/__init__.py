"""claudex_llm: one door to OpenAI-compatible and Anthropic chat models, with retries, rate
limits, token counts and streaming. Shared by the llm-wrapper server and codequery's cq_chat.

    from claudex_llm import chat, ChatResult, LLMError, NotConfigured
    result = await chat(prompt="Hello", model="openai/gpt-4o-mini")
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from .client import ChatResult, Client, ProgressCallback, default_client, default_model, split_model
from .errors import DeadlineExceeded, InvalidRequest, LimitExceeded, LLMError, NotConfigured, ProviderError
from .tokens import TokenCount

logging.getLogger(__name__).addHandler(logging.NullHandler())  # a library: the application decides

__all__ = ["chat", "count_tokens", "list_models", "usage", "ChatResult", "TokenCount", "Client",
           "default_client", "default_model", "split_model", "ProgressCallback", "LLMError", "NotConfigured",
           "InvalidRequest", "LimitExceeded", "ProviderError", "DeadlineExceeded"]


async def chat(prompt: str | None = None, messages: list | None = None, model: str | None = None,
               system: str | None = None, max_tokens: int | None = None, temperature: float | None = None,
               stop: str | list[str] | None = None, on_progress: ProgressCallback | None = None,
               environ: Mapping[str, str] | None = None) -> ChatResult:
    """One chat completion through the process-wide client (streamed; retried; rate-limited).

    Give `prompt` (one user message) or `messages` ([{"role", "content"}]); `model` is
    "provider/model" (default: LLM_WRAPPER_MODEL). `on_progress(text_so_far, note)` is awaited
    for each streamed piece (note None) and for each wait or retry (note says what). `environ`
    replaces os.environ for the settings and keys. Raises LLMError (NotConfigured when a
    variable is missing) with a message and a hint."""
    return await default_client().chat(prompt=prompt, messages=messages, model=model, system=system,
                                       max_tokens=max_tokens, temperature=temperature, stop=stop,
                                       on_progress=on_progress, environ=environ)


def count_tokens(text: str | None = None, messages: list | None = None, model: str | None = None,
                 environ: Mapping[str, str] | None = None) -> TokenCount:
    """Tokens of `text` or `messages` for `model`: exact for OpenAI encodings, else an estimate (said so)."""
    return default_client().count_tokens(text=text, messages=messages, model=model, environ=environ)


async def list_models(environ: Mapping[str, str] | None = None) -> list[dict]:
    """The providers: usable or why not, and their models (the model list endpoint, else the known table)."""
    return await default_client().list_models(environ=environ)


def usage() -> dict:
    """Per model since the process started: requests, tokens, retries, waits, errors and cost."""
    return default_client().usage()
