"""OpenAI Chat Completions, and every server that speaks it (vLLM, Ollama, LM Studio,
llama.cpp): the official `openai` SDK, streaming, with its retries off."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import anyio

from . import Failure, Reply, Request, from_sdk_error

NAME = "openai"
KEY_VARIABLE = "OPENAI_API_KEY"
URL_VARIABLE = "OPENAI_BASE_URL"
DEFAULT_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
MAX_TEMPERATURE = 2.0
LABEL = "The OpenAI-compatible API"


def make_client(key: str, base_url: str, connect: float, read: float):
    from openai import AsyncOpenAI, Timeout

    return AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0,
                       timeout=Timeout(connect=connect, read=read, write=30.0, pool=connect))


def _official(base_url: str) -> bool:
    return (urlsplit(base_url).hostname or "").endswith("api.openai.com")


async def stream(client, request: Request, on_text: Callable[[str], Awaitable[None]]) -> Reply:
    messages = ([{"role": "system", "content": request.system}] if request.system else []) + request.messages
    args: dict = {"model": request.model, "messages": messages, "stream": True,
                  "stream_options": {"include_usage": True}}
    if request.max_tokens is not None:
        # OpenAI's reasoning models refuse max_tokens; the compatible servers know max_tokens.
        args["max_completion_tokens" if _official(str(client.base_url)) else "max_tokens"] = request.max_tokens
    if request.temperature is not None:
        args["temperature"] = request.temperature
    if request.stop:
        args["stop"] = request.stop
    headers: dict = {}
    try:
        raw = await client.chat.completions.with_raw_response.create(**args)
        headers = dict(raw.headers)
        events = raw.parse()
        if inspect.isawaitable(events):   # the SDKs' raw responses differ: legacy (sync) or async parse
            events = await events
        parts: list[str] = []
        model, finish, usage = request.model, None, None
        try:
            async for chunk in events:
                model = getattr(chunk, "model", None) or model
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices or []:
                    if choice.index != 0:
                        continue
                    if choice.delta is not None and choice.delta.content:
                        parts.append(choice.delta.content)
                        await on_text(choice.delta.content)
                    if choice.finish_reason:
                        finish = choice.finish_reason
        finally:
            with anyio.CancelScope(shield=True):   # also when the deadline cancelled us: free the connection
                await events.close()
    except Failure:
        raise
    except Exception as exc:  # the SDK's, httpx's and the JSON decoder's errors, translated
        failure = from_sdk_error(exc, LABEL)
        failure.headers = failure.headers or headers
        raise failure from None
    if finish is None:
        raise Failure(f"{LABEL} ended its stream before the answer was complete (no finish_reason).",
                      retryable=True, headers=headers)
    return Reply(text="".join(parts), model=model, finish_reason=finish,
                 input_tokens=getattr(usage, "prompt_tokens", None),
                 output_tokens=getattr(usage, "completion_tokens", None), headers=headers)


async def list_models(client) -> list[str]:
    page = await client.models.list()
    return sorted(m.id for m in page.data)
