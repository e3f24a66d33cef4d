"""The call: validate, check the limits, wait for the rate limiter, stream from the provider,
retry what is worth retrying, count usage. A Client keeps the rate limiters, the SDK clients and
the usage counters; `default_client()` is the process-wide one that the module functions use."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from . import catalog, providers, tokens
from .errors import DeadlineExceeded, InvalidRequest, LimitExceeded, LLMError, NotConfigured, ProviderError
from .limits import Limiter
from .providers import Failure, Request
from .settings import CONNECT_TIMEOUT, DEFAULT_OUTPUT_CEILING, Settings

log = logging.getLogger("claudex_llm")

ProgressCallback = Callable[[str, "str | None"], Awaitable[None]]

BACKOFF_BASE = 0.5       # seconds before the first retry (doubled each time, with jitter)
BACKOFF_MAX = 30.0
LIST_MODELS_TIMEOUT = 5.0
ESTIMATE_MARGIN = 0.85   # an estimated prompt size is trusted down to this share before refusing it
_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]*(/[A-Za-z0-9._:@+-]+)*$")
_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class ChatResult:
    text: str
    model: str               # provider/model as the provider named it in its answer
    provider: str
    finish_reason: str | None   # "stop", "length", or the provider's own word
    input_tokens: int | None
    output_tokens: int | None
    retries: int
    waited_seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def split_model(name: str) -> tuple[str, str]:
    """("openai", "gpt-4o-mini") from "openai/gpt-4o-mini"; the model part may hold more slashes."""
    name = name.strip()
    provider, sep, model = name.partition("/")
    if not sep or not model or len(name) > 200 or not _MODEL_RE.match(name):
        raise InvalidRequest(f"Model {name!r} is not named provider/model.",
                             f"Name it like openai/gpt-4o-mini or anthropic/claude-haiku-4-5 "
                             f"(providers: {', '.join(providers.PROVIDERS)}).")
    providers.get(provider)
    return provider, model


def default_model(env: Mapping[str, str]) -> str:
    """LLM_WRAPPER_MODEL, else the default model of the first provider with a key (openai first)."""
    chosen = (env.get("LLM_WRAPPER_MODEL") or "").strip()
    if chosen:
        return chosen
    for name in providers.PROVIDERS:
        module = providers.get(name)
        if (env.get(module.KEY_VARIABLE) or "").strip():
            return f"{name}/{module.DEFAULT_MODEL}"
    first = providers.get(providers.PROVIDERS[0])
    return f"{first.NAME}/{first.DEFAULT_MODEL}"


def provider_config(name: str, env: Mapping[str, str]) -> tuple[str, str]:
    """(key, base URL) of a provider; NotConfigured naming the variable when the key is missing
    or the URL is not an http(s) URL."""
    module = providers.get(name)
    key = (env.get(module.KEY_VARIABLE) or "").strip()
    url = (env.get(module.URL_VARIABLE) or "").strip() or module.DEFAULT_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotConfigured(module.URL_VARIABLE, f"{module.URL_VARIABLE}={url!r} is not an http(s) URL.",
                            f"Set {module.URL_VARIABLE} to the API's base URL (default {module.DEFAULT_URL}), "
                            "or unset it.")
    if not key:
        others = [f"{providers.get(p).KEY_VARIABLE} for {p}/..." for p in providers.PROVIDERS if p != name]
        raise NotConfigured(module.KEY_VARIABLE, f"The {name} provider has no key: {module.KEY_VARIABLE} is not set.",
                            f"Set {module.KEY_VARIABLE} in the server's environment (any non-empty value for "
                            f"a local server that takes none), or use another provider ({', '.join(others)}).")
    return key, url


def chat_messages(prompt: str | None, messages: list | None, system: str | None) -> tuple[list[dict], str | None]:
    """The messages of a call (system messages moved into the system text), validated."""
    if (prompt is None) == (messages is None):
        raise InvalidRequest("Give either prompt or messages, not " + ("both." if prompt is not None else "neither."),
                             'prompt="..." for one question; messages=[{"role": "user", "content": "..."}] for a conversation.')
    if prompt is not None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidRequest("prompt is empty.", "Give the question as a non-empty string.")
        return [{"role": "user", "content": prompt}], system
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list.", 'Give [{"role": "user", "content": "..."}].')
    systems = [system] if system else []
    out: list[dict] = []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if role not in _ROLES:
            raise InvalidRequest(f"messages[{i}] has role {role!r}.", f"Use one of {', '.join(_ROLES)}.")
        if not isinstance(content, (str, list)):
            raise InvalidRequest(f"messages[{i}] has no text content.",
                                 'Give "content" as a string (or a list of {"type": "text", "text": ...} parts).')
        text = tokens.message_text(message)
        if role == "system":
            systems.append(text)
        else:
            out.append({"role": role, "content": text})
    if not out:
        raise InvalidRequest("messages holds only system messages.", "Add a user message.")
    return out, "\n\n".join(systems) if systems else None


def output_ceiling(info: catalog.ModelInfo | None, settings: Settings) -> tuple[int, str]:
    """(ceiling for max_tokens, where it comes from)."""
    known = info.max_output if info else None
    if settings.max_output_tokens and known:
        if settings.max_output_tokens < known:
            return settings.max_output_tokens, "LLM_WRAPPER_MAX_OUTPUT_TOKENS"
        return known, "the model's output limit"
    if settings.max_output_tokens:
        return settings.max_output_tokens, "LLM_WRAPPER_MAX_OUTPUT_TOKENS"
    if known:
        return known, "the model's output limit"
    return DEFAULT_OUTPUT_CEILING, "the default ceiling for a model of unknown limits"


class Client:
    """Rate limiters, SDK clients and usage counters that outlive one call."""

    def __init__(self, *, rng: Callable[[], float] = random.random) -> None:
        self._limiters: dict[str, Limiter] = {}
        self._sdk: dict[tuple, tuple[object, object]] = {}
        self._usage: dict[str, dict] = {}
        self._rng = rng
        self.started = time.time()

    # -- the call ---------------------------------------------------------------------------

    async def chat(self, prompt: str | None = None, messages: list | None = None, model: str | None = None,
                   system: str | None = None, max_tokens: int | None = None, temperature: float | None = None,
                   stop: str | list[str] | None = None, on_progress: ProgressCallback | None = None,
                   environ: Mapping[str, str] | None = None) -> ChatResult:
        """One chat completion, streamed from the provider; see the package README."""
        settings = Settings.from_env(environ, providers.PROVIDERS)
        name = (model or "").strip() or default_model(settings.environ)
        provider_name, model_id = split_model(name)
        module = providers.get(provider_name)
        msgs, system_text = chat_messages(prompt, messages, system)
        request = Request(provider=provider_name, model=model_id, messages=msgs, system=system_text,
                          max_tokens=_max_tokens(max_tokens), temperature=_temperature(temperature, module),
                          stop=_stop(stop, provider_name))
        key, base_url = provider_config(provider_name, settings.environ)
        info = catalog.lookup(provider_name, model_id)
        ceiling, why = output_ceiling(info, settings)
        if request.max_tokens is not None and request.max_tokens > ceiling:
            raise LimitExceeded(f"max_tokens={request.max_tokens} is above the ceiling of {ceiling} for "
                                f"{provider_name}/{model_id} ({why}); nothing was sent.",
                                f"Ask for at most {ceiling} tokens"
                                + (", or raise LLM_WRAPPER_MAX_OUTPUT_TOKENS." if why != "the model's output limit" else "."))
        if request.max_tokens is None and provider_name == "anthropic":
            request.max_tokens = min(module.DEFAULT_MAX_TOKENS, ceiling)
        counted = tokens.count(provider_name, model_id, messages=msgs, system=system_text)
        reserve = request.max_tokens or 0
        if info is not None:
            prompt_floor = counted.tokens if counted.exact else int(counted.tokens * ESTIMATE_MARGIN)
            if prompt_floor + reserve > info.context_window:
                raise LimitExceeded(
                    f"The prompt ({counted.tokens} tokens, {counted.method.split(':')[0]}) plus max_tokens "
                    f"({reserve}) does not fit the {info.context_window}-token context window of "
                    f"{provider_name}/{model_id}; nothing was sent.",
                    "Shorten the prompt or the conversation, lower max_tokens, or use a model with a larger window.")
        usage_key = f"{provider_name}/{model_id}"
        started = time.monotonic()
        if settings.log_bodies:
            log.info("chat %s request: system=%r messages=%r", usage_key, system_text, msgs)
        try:
            result = await self._attempts(module, request, settings, key, base_url, counted.tokens + reserve,
                                          on_progress)
        except LLMError as exc:
            self._count(usage_key, info, requests=1, errors=1, retries=getattr(exc, "retries", 0),
                        waited=getattr(exc, "waited", 0.0))
            log.warning("chat %s failed after %.2f s: %s", usage_key, time.monotonic() - started,
                        type(exc).__name__ if not settings.log_bodies else exc)
            raise
        if result.input_tokens is None:  # a compatible server that does not report usage
            result = _replace(result, input_tokens=counted.tokens)
        if result.output_tokens is None:
            result = _replace(result, output_tokens=tokens.count(provider_name, model_id, text=result.text).tokens)
        self._count(usage_key, info, requests=1, input_tokens=result.input_tokens,
                    output_tokens=result.output_tokens, retries=result.retries, waited=result.waited_seconds)
        log.info("chat %s: %s in %.2f s, %s+%s tokens, %d retries, %.2f s waited", usage_key,
                 result.finish_reason, time.monotonic() - started, result.input_tokens, result.output_tokens,
                 result.retries, result.waited_seconds)
        if settings.log_bodies:
            log.info("chat %s answer: %r", usage_key, result.text)
        return result

    async def _attempts(self, module, request: Request, settings: Settings, key: str, base_url: str,
                        token_estimate: int, on_progress: ProgressCallback | None) -> ChatResult:
        import anyio

        limiter = self._limiter(module.NAME, settings)
        deadline = time.monotonic() + settings.deadline
        label = f"{module.NAME}/{request.model}"
        retries, waited = 0, 0.0
        so_far = ""

        async def note(message: str) -> None:
            if on_progress is not None:
                await on_progress(so_far, message)

        async def on_text(delta: str) -> None:
            nonlocal so_far
            so_far += delta
            if on_progress is not None:
                await on_progress(so_far, None)

        def fail(exc: LLMError) -> LLMError:
            exc.retries, exc.waited = retries, round(waited, 3)
            return exc

        while True:
            # Wait our turn: local buckets, and what the provider told us (headers, Retry-After).
            while True:
                seconds, why = limiter.wait_for(token_estimate)
                if seconds <= 0:
                    limiter.take(token_estimate)
                    break
                left = deadline - time.monotonic()
                if seconds > left:
                    raise fail(DeadlineExceeded(
                        f"{label}: waiting {seconds:.1f} s for {why} would pass the deadline "
                        f"({max(left, 0):.1f} s left of LLM_WRAPPER_DEADLINE={settings.deadline:g} s); nothing more was sent.",
                        "Try again later, raise LLM_WRAPPER_DEADLINE, or lower the request rate."))
                await note(f"waiting {seconds:.1f} s for {why}")
                slept = time.monotonic()
                await anyio.sleep(seconds)
                waited += time.monotonic() - slept
            sdk = self._sdk_client(module, key, base_url, settings)
            so_far = ""
            left = deadline - time.monotonic()
            try:
                with anyio.fail_after(max(left, 0.001)):
                    reply = await module.stream(sdk, request, on_text)
            except TimeoutError:
                raise fail(DeadlineExceeded(
                    f"{label}: no complete answer within LLM_WRAPPER_DEADLINE={settings.deadline:g} s "
                    f"({retries} retries, {waited:.1f} s waited).",
                    "Raise LLM_WRAPPER_DEADLINE for long answers, or ask for fewer tokens.")) from None
            except Failure as failure:
                limiter.observe(failure.headers)
                limiter.settle(token_estimate, 0)
                if not failure.retryable or retries >= settings.max_retries:
                    tried = f" (after {retries} retries)" if retries else ""
                    raise fail(ProviderError(f"{label}: {failure.message}{tried}", _hint(module, failure),
                                             status=failure.status, retryable=failure.retryable,
                                             retry_after=failure.retry_after)) from None
                left = deadline - time.monotonic()
                if failure.retry_after is not None:
                    if failure.retry_after > left:
                        raise fail(DeadlineExceeded(
                            f"{label}: the provider asks to wait {failure.retry_after:.1f} s before retrying "
                            f"(HTTP {failure.status}), more than the {max(left, 0):.1f} s left of "
                            f"LLM_WRAPPER_DEADLINE={settings.deadline:g} s.",
                            "Try again later, or raise LLM_WRAPPER_DEADLINE."))
                    limiter.block_for(failure.retry_after, f"the provider's Retry-After (HTTP {failure.status})")
                    delay = 0.0    # the limiter makes this call (and every other) wait
                else:
                    delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** retries) * (0.5 + self._rng() / 2)
                    if delay > left:
                        raise fail(DeadlineExceeded(
                            f"{label}: {failure.message}; no time left to retry within "
                            f"LLM_WRAPPER_DEADLINE={settings.deadline:g} s ({retries} retries).",
                            "Try again later, or raise LLM_WRAPPER_DEADLINE."))
                retries += 1
                await note(f"attempt {retries} failed ({failure.message}); retrying"
                           + (f" in {delay:.1f} s" if delay else ""))
                if delay:
                    slept = time.monotonic()
                    await anyio.sleep(delay)
                    waited += time.monotonic() - slept
                continue
            limiter.observe(reply.headers)
            used = (reply.input_tokens or 0) + (reply.output_tokens or 0)
            if used:
                limiter.settle(token_estimate, used)
            return ChatResult(text=reply.text, model=f"{module.NAME}/{reply.model}", provider=module.NAME,
                              finish_reason=reply.finish_reason, input_tokens=reply.input_tokens,
                              output_tokens=reply.output_tokens, retries=retries, waited_seconds=round(waited, 3))

    async def aclose(self) -> None:
        """Close the SDK clients (their connection pools) made in the running event loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for cache_key, (owner, sdk) in list(self._sdk.items()):
            if owner is loop:
                del self._sdk[cache_key]
                await sdk.close()

    # -- the rest -------------------------------------------------------------------------------

    def count_tokens(self, text: str | None = None, messages: list | None = None, model: str | None = None,
                     environ: Mapping[str, str] | None = None) -> tokens.TokenCount:
        """Tokens of a text or of messages for a model: exact for OpenAI encodings, else an estimate."""
        import os

        env = os.environ if environ is None else environ
        provider_name, model_id = split_model((model or "").strip() or default_model(env))
        if (text is None) == (messages is None):
            raise InvalidRequest("Give either text or messages, not " + ("both." if text is not None else "neither."),
                                 'text="..." or messages=[{"role": "user", "content": "..."}].')
        if messages is not None:
            msgs, system = chat_messages(None, messages, None)
            return tokens.count(provider_name, model_id, messages=msgs, system=system)
        if not isinstance(text, str):
            raise InvalidRequest("text must be a string.", "Give the text to count as a string.")
        return tokens.count(provider_name, model_id, text=text)

    async def list_models(self, environ: Mapping[str, str] | None = None) -> list[dict]:
        """Each provider: usable or why not, and its models (from its model list when reachable)."""
        import anyio

        settings = Settings.from_env(environ, providers.PROVIDERS)
        default = default_model(settings.environ)
        out = []
        for name in providers.PROVIDERS:
            module = providers.get(name)
            entry: dict = {"provider": name, "usable": False, "key_variable": module.KEY_VARIABLE,
                           "url_variable": module.URL_VARIABLE,
                           "base_url": (settings.environ.get(module.URL_VARIABLE) or "").strip() or module.DEFAULT_URL,
                           "problem": None, "hint": None, "source": "known table", "models": []}
            ids: list[str] | None = None
            try:
                key, url = provider_config(name, settings.environ)
                entry["usable"] = True
                sdk = self._sdk_client(module, key, url, settings)
                with anyio.move_on_after(LIST_MODELS_TIMEOUT):
                    ids = await module.list_models(sdk)
                if ids is None:
                    entry["problem"] = f"its model list did not answer within {LIST_MODELS_TIMEOUT:g} s"
            except NotConfigured as exc:
                entry.update(problem=exc.message, hint=exc.hint)
            except Exception as exc:  # an unreachable or refusing endpoint: fall back to the table
                failure = providers.from_sdk_error(exc, module.LABEL)
                entry["problem"] = f"its model list failed: {failure.message}"
                if failure.status in (401, 403):
                    entry.update(usable=False, hint=f"Check {module.KEY_VARIABLE}.")
            if ids is not None:
                entry["source"] = "endpoint"
            for model_id in ids if ids is not None else catalog.known_models(name):
                info = catalog.lookup(name, model_id)
                entry["models"].append({"name": f"{name}/{model_id}",
                                        "context_window": info.context_window if info else None,
                                        "max_output_tokens": info.max_output if info else None,
                                        "default": f"{name}/{model_id}" == default})
            out.append(entry)
        return out

    def usage(self) -> dict:
        """Per model since this client started: requests, tokens, retries, waits, errors, cost."""
        models = {k: dict(v, cost_usd=round(v["cost_usd"], 8) if v["cost_usd"] is not None else None)
                  for k, v in sorted(self._usage.items())}
        costs = [v["cost_usd"] for v in models.values() if v["cost_usd"] is not None]
        return {"since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)), "models": models,
                "total_cost_usd": round(sum(costs), 8) if costs else None}

    def _count(self, key: str, info: catalog.ModelInfo | None, *, requests: int = 0, errors: int = 0,
               input_tokens: int | None = 0, output_tokens: int | None = 0, retries: int = 0,
               waited: float = 0.0) -> None:
        row = self._usage.setdefault(key, {"requests": 0, "errors": 0, "input_tokens": 0, "output_tokens": 0,
                                           "retries": 0, "waited_seconds": 0.0,
                                           "cost_usd": 0.0 if catalog.cost(info, 0, 0) is not None else None})
        row["requests"] += requests
        row["errors"] += errors
        row["input_tokens"] += input_tokens or 0
        row["output_tokens"] += output_tokens or 0
        row["retries"] += retries
        row["waited_seconds"] = round(row["waited_seconds"] + waited, 3)
        spent = catalog.cost(info, input_tokens or 0, output_tokens or 0)
        if spent is not None:
            row["cost_usd"] += spent

    def _limiter(self, provider: str, settings: Settings) -> Limiter:
        limiter = self._limiters.setdefault(provider, Limiter())
        limiter.configure(settings.rpm.get(provider), settings.tpm.get(provider))
        return limiter

    def _sdk_client(self, module, key: str, base_url: str, settings: Settings):
        """One SDK client per provider, key, URL and event loop (its connection pool belongs to the loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        cache_key = (module.NAME, key, base_url, settings.stream_timeout, id(loop))
        cached = self._sdk.get(cache_key)
        if cached is not None and cached[0] is loop:
            return cached[1]
        client = module.make_client(key, base_url, CONNECT_TIMEOUT, settings.stream_timeout)
        if len(self._sdk) >= 8:
            self._sdk.pop(next(iter(self._sdk)))
        self._sdk[cache_key] = (loop, client)
        return client


def _hint(module, failure: Failure) -> str:
    status = failure.status
    if status in (401, 403):
        return f"The provider refused the key: check {module.KEY_VARIABLE} (and {module.URL_VARIABLE})."
    if status == 404:
        return f"Check the model name (llm_models lists them) and {module.URL_VARIABLE}."
    if status in (400, 413, 422):
        return "The provider refused the request as invalid: check the arguments (model, max_tokens, temperature, stop)."
    if status == 429:
        return "Rate limited: try again later, or set LLM_WRAPPER_RPM / LLM_WRAPPER_TPM below your quota."
    return f"The provider failed: try again later, or check {module.URL_VARIABLE} points at a working API."


def _max_tokens(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"max_tokens={value!r} is not a whole number of at least 1.", "Give e.g. max_tokens=512.")
    return value


def _temperature(value: float | None, module) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= module.MAX_TEMPERATURE:
        raise InvalidRequest(f"temperature={value!r} is out of range for {module.NAME}.",
                             f"Give a number from 0 to {module.MAX_TEMPERATURE:g}.")
    return float(value)


def _stop(value: str | list[str] | None, provider: str) -> list[str] | None:
    if value is None:
        return None
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise InvalidRequest("stop must be a non-empty string or a list of them.", 'Give e.g. stop=["\\n\\n"].')
    if provider == "openai" and len(stops) > 4:
        raise InvalidRequest(f"stop has {len(stops)} sequences; OpenAI takes at most 4.", "Give at most 4.")
    return stops or None


def _replace(result: ChatResult, **changes) -> ChatResult:
    from dataclasses import replace

    return replace(result, **changes)


_default: Client | None = None


def default_client() -> Client:
    """The process-wide client: its rate limiters and usage counters are shared by every call."""
    global _default
    if _default is None:
        _default = Client()
    return _default
