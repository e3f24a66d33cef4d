"""The providers: one small module each (openai.py, anthropic.py) with the same few names.

A provider module defines NAME, KEY_VARIABLE, URL_VARIABLE, DEFAULT_URL, DEFAULT_MODEL,
MAX_TEMPERATURE, `make_client(key, base_url, connect, read)` (its official SDK's async client, with
the SDK's own retries off so that our one retry loop decides), `stream(client, request,
on_text) -> Reply` (always streams; raises Failure) and `list_models(client) -> list[str]`.
Adding a provider is adding a module and its name to PROVIDERS."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from types import ModuleType

from ..errors import InvalidRequest
from ..limits import retry_after

PROVIDERS = ("openai", "anthropic")
RETRYABLE_STATUS = frozenset({408, 409, 429})   # and every 5xx


@dataclass
class Request:
    provider: str
    model: str                  # the provider's own model id (without "provider/")
    messages: list[dict]        # [{"role": "user"|"assistant", "content": str}]
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    stop: list[str] | None = None


@dataclass
class Reply:
    text: str
    model: str
    finish_reason: str | None
    input_tokens: int | None
    output_tokens: int | None
    headers: dict = field(default_factory=dict)


class Failure(Exception):
    """One attempt failed: `status` (None: no HTTP answer or a broken stream), whether it is of
    the kind we retry, and how long the provider asked us to wait."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None, headers: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.headers = headers or {}


def get(name: str) -> ModuleType:
    if name not in PROVIDERS:
        raise InvalidRequest(f"Unknown provider {name!r}.",
                             f"Name a model provider/model with a provider among {', '.join(PROVIDERS)}.")
    return importlib.import_module(f"{__name__}.{name}")


def retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or status >= 500


def from_sdk_error(exc: BaseException, label: str) -> Failure:
    """The Failure of an exception raised by an SDK (both SDKs have the same error shapes) or by
    httpx / the JSON decoder while a stream is read."""
    kinds = {cls.__name__ for cls in type(exc).__mro__}   # httpx's or httpx2's, whichever the SDK uses
    status = getattr(exc, "status_code", None)
    response = getattr(exc, "response", None)
    if isinstance(status, int) and response is not None:
        headers = dict(response.headers)
        detail = _detail(getattr(exc, "body", None)) or getattr(exc, "message", "") or str(exc)
        return Failure(f"{label} answered HTTP {status}: {detail}", status=status,
                       retryable=retryable_status(status), retry_after=retry_after(headers), headers=headers)
    if kinds & {"TimeoutException", "APITimeoutError"}:
        return Failure(f"{label} timed out ({type(getattr(exc, '__cause__', None) or exc).__name__}): "
                       "no connection or no stream event in time", retryable=True)
    if kinds & {"TransportError", "APIConnectionError"}:
        cause = exc.__cause__ or exc
        return Failure(f"{label} connection failed or the stream was cut: {cause}", retryable=True)
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return Failure(f"{label} sent malformed JSON in its stream ({exc})", retryable=True)
    return Failure(f"{label} failed: {type(exc).__name__}: {exc}", retryable=False)


def _detail(body: object) -> str:
    """The message of an error body: {"error": {"message": ...}} (both APIs) or a string."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("type") or "")[:500]
        return str(err)[:500]
    return str(body)[:500] if body else ""
