"""Anthropic's Messages API: the official `anthropic` SDK, streaming, with its retries off.
An `error` event inside a 200 stream raises (the SDK turns it into an APIStatusError); we map
its error type to the status it stands for, so overloaded or rate-limited streams are retried."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import anyio

from . import Failure, Reply, Request, from_sdk_error, retryable_status

NAME = "anthropic"
KEY_VARIABLE = "ANTHROPIC_API_KEY"
URL_VARIABLE = "ANTHROPIC_BASE_URL"
DEFAULT_URL = "https://api.anthropic.com"
DEFAULT_MODEL = "claude-haiku-4-5"
MAX_TEMPERATURE = 1.0
DEFAULT_MAX_TOKENS = 4096   # the Messages API requires max_tokens; used when the caller gives none
LABEL = "The Anthropic API"

# The error types of Anthropic's error events, as the HTTP status each stands for.
_STREAM_ERROR_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
                        "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429,
                        "api_error": 500, "overloaded_error": 529}
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def make_client(key: str, base_url: str, connect: float, read: float):
    from anthropic import AsyncAnthropic, Timeout

    return AsyncAnthropic(api_key=key, base_url=base_url, max_retries=0,
                          timeout=Timeout(connect=connect, read=read, write=30.0, pool=connect))


async def stream(client, request: Request, on_text: Callable[[str], Awaitable[None]]) -> Reply:
    args: dict = {"model": request.model, "messages": request.messages, "stream": True,
                  "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS}
    if request.system:
        args["system"] = request.system
    if request.temperature is not None:
        args["temperature"] = request.temperature
    if request.stop:
        args["stop_sequences"] = request.stop
    headers: dict = {}
    try:
        raw = await client.messages.with_raw_response.create(**args)
        headers = dict(raw.headers)
        events = raw.parse()
        if inspect.isawaitable(events):   # the SDKs' raw responses differ: legacy (sync) or async parse
            events = await events
        parts: list[str] = []
        model, finish, input_tokens, output_tokens, stopped = request.model, None, None, None, False
        try:
            async for event in events:
                kind = event.type
                if kind == "message_start":
                    model = event.message.model or model
                    input_tokens = _input_tokens(event.message.usage)
                    output_tokens = event.message.usage.output_tokens
                elif kind == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta":
                    parts.append(event.delta.text)
                    await on_text(event.delta.text)
                elif kind == "message_delta":
                    finish = event.delta.stop_reason or finish
                    if event.usage is not None and event.usage.output_tokens is not None:
                        output_tokens = event.usage.output_tokens
                elif kind == "message_stop":
                    stopped = True
        finally:
            with anyio.CancelScope(shield=True):   # also when the deadline cancelled us: free the connection
                await events.close()
    except Failure:
        raise
    except Exception as exc:
        failure = _stream_error(exc) or from_sdk_error(exc, LABEL)
        failure.headers = failure.headers or headers
        raise failure from None
    if not stopped:
        raise Failure(f"{LABEL} ended its stream before message_stop: the answer is incomplete.",
                      retryable=True, headers=headers)
    return Reply(text="".join(parts), model=model, finish_reason=_FINISH.get(finish or "", finish),
                 input_tokens=input_tokens, output_tokens=output_tokens, headers=headers)


def _input_tokens(usage) -> int | None:
    """Input tokens, cached ones included (they count against the context window too)."""
    if usage is None or usage.input_tokens is None:
        return None
    return (usage.input_tokens + (getattr(usage, "cache_creation_input_tokens", None) or 0)
            + (getattr(usage, "cache_read_input_tokens", None) or 0))


def _stream_error(exc: BaseException) -> Failure | None:
    """An `error` event inside a 200 stream: {"type": "error", "error": {"type", "message"}}."""
    if getattr(exc, "status_code", None) != 200:
        return None
    body = getattr(exc, "body", None)
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return Failure(f"{LABEL} sent an error event in its stream: {body}", retryable=False)
    status = _STREAM_ERROR_STATUS.get(str(err.get("type")), 0)
    return Failure(f"{LABEL} sent an error event in its stream ({err.get('type')}): {err.get('message', '')}",
                   status=status or None, retryable=bool(status) and retryable_status(status))


async def list_models(client) -> list[str]:
    page = await client.models.list(limit=1000)
    return sorted(m.id for m in page.data)
