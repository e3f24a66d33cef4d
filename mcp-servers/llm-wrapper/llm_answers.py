"""The llm-wrapper server's own logic, apart from MCP: the self-check, the log set-up, how often
streamed text becomes a progress notification, and the shape of each tool's answer. The
provider work (retries, limits, streaming, token counts) is the claudex_llm package's."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping

import claudex_llm
import claudex_server
from claudex_llm import LLMError, providers
from claudex_llm.client import default_model, provider_config, split_model
from claudex_llm.settings import Settings

PROGRESS_INTERVAL = 0.1   # seconds between two progress notifications of streamed text (the first goes at once)
PROGRESS_BYTES_PER_SECOND = 50_000   # each notification carries the whole text so far: a long answer
                                     # is sent less often, so the stdio pipe carries at most this much
# Loggers of the libraries below us: at DEBUG they print request bodies and headers.
_CHATTY_LOGGERS = ("openai", "anthropic", "httpx", "httpx2", "httpcore", "httpcore2")


def check(env: Mapping[str, str] | None = None) -> dict:
    """The self-test behind `server.py --check`: settings valid, the default model's provider has
    its key, each provider's state. ok is False (the server is degraded) when a call to the default
    model could not work; each problem names the variable to set."""
    env = dict(os.environ if env is None else env)
    report: dict = {"ok": False, "problems": [], "providers": {}}
    try:
        settings = Settings.from_env(env, providers.PROVIDERS)
    except LLMError as exc:
        report["problems"].append(str(exc))
        return report
    report.update(max_retries=settings.max_retries, deadline=settings.deadline,
                  stream_timeout=settings.stream_timeout)
    for name in providers.PROVIDERS:
        try:
            _key, url = provider_config(name, env)
            report["providers"][name] = {"usable": True, "base_url": url}
        except LLMError as exc:
            report["providers"][name] = {"usable": False, "problem": exc.message,
                                         "variable": getattr(exc, "variable", None)}
    try:
        model = default_model(env)
        provider, _ = split_model(model)
        report["default_model"] = model
        state = report["providers"][provider]
        if not state["usable"]:
            report["problems"].append(f"{state['problem']} The default model {model} cannot be used: "
                                      f"set {state['variable']}.")
    except LLMError as exc:
        report["problems"].append(f"LLM_WRAPPER_MODEL: {exc}")
    report["ok"] = not report["problems"]
    return report


def scrubber(env: Mapping[str, str] | None = None) -> claudex_server.Scrubber:
    """What every text leaving the server is scrubbed of: the providers' keys, credential header
    values and token shapes. A provider or a proxy may answer an error with the request it got,
    Authorization header included, and that text reaches tool errors, progress and the log."""
    names = [providers.get(name).KEY_VARIABLE for name in providers.PROVIDERS]
    return claudex_server.Scrubber.from_env(names, env, headers=True, shapes=True)


def configure_logging(env: Mapping[str, str] | None = None) -> None:
    """One line per call on stderr (the server's log); bodies only with LLM_WRAPPER_LOG_BODIES=1.
    The SDKs' and HTTP clients' loggers are held at WARNING so that nothing turns them up to
    DEBUG (which would print prompts and headers) behind our back."""
    env = os.environ if env is None else env
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s llm-wrapper %(levelname)s %(message)s"))
    root = logging.getLogger("claudex_llm")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False
    quiet = logging.WARNING if env.get("LLM_WRAPPER_LOG_BODIES", "").strip() != "1" else logging.INFO
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(quiet)


class Throttle:
    """Whether the streamed text should go out as a progress notification now: the first piece at
    once (time to first token is what a client sees), then at most one per PROGRESS_INTERVAL,
    or fewer as the text grows (PROGRESS_BYTES_PER_SECOND)."""

    def __init__(self, interval: float = PROGRESS_INTERVAL, rate: float = PROGRESS_BYTES_PER_SECOND,
                 clock=time.monotonic) -> None:
        self.interval = interval
        self.rate = rate
        self._clock = clock
        self._last: float | None = None

    def due(self, size: int = 0) -> bool:
        now = self._clock()
        if self._last is None or now - self._last >= max(self.interval, size / self.rate):
            self._last = now
            return True
        return False


def chat_reply(result: claudex_llm.ChatResult) -> dict:
    return {"text": result.text, "model": result.model, "provider": result.provider,
            "finish_reason": result.finish_reason,
            "usage": {"input_tokens": result.input_tokens, "output_tokens": result.output_tokens},
            "retries": result.retries, "waited_seconds": result.waited_seconds}


def models_text(entries: list[dict]) -> str:
    lines = []
    for entry in entries:
        state = "usable" if entry["usable"] else "NOT usable"
        lines.append(f"{entry['provider']} ({entry['base_url']}): {state}"
                     + (f" - {entry['problem']}" if entry.get("problem") else "")
                     + (f" {entry['hint']}" if entry.get("hint") else ""))
        names = [m["name"] + (" (default)" if m["default"] else "") for m in entry["models"]]
        lines.append(f"  models ({entry['source']}): " + (", ".join(names) or "none"))
    return "\n".join(lines)
