"""The environment variables of claudex_llm, read once per call into a Settings."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import NotConfigured

DEFAULT_MAX_RETRIES = 4
DEFAULT_DEADLINE = 120.0           # seconds for one call: every attempt, backoff and rate-limit wait
DEFAULT_STREAM_TIMEOUT = 60.0      # seconds of silence allowed between two stream events
CONNECT_TIMEOUT = 10.0             # seconds to open a connection to the provider
DEFAULT_OUTPUT_CEILING = 32_768    # max_tokens ceiling for a model whose output limit is unknown


@dataclass(frozen=True)
class Settings:
    default_model: str | None
    max_retries: int
    deadline: float
    stream_timeout: float
    rpm: Mapping[str, float | None]   # provider -> requests per minute (None: no local limit)
    tpm: Mapping[str, float | None]   # provider -> tokens per minute
    max_output_tokens: int | None
    log_bodies: bool
    environ: Mapping[str, str]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, providers: tuple[str, ...] = ()) -> Settings:
        env = dict(os.environ if environ is None else environ)
        rpm = {p: _number(env, f"LLM_WRAPPER_{p.upper()}_RPM", None, positive=True) for p in providers}
        tpm = {p: _number(env, f"LLM_WRAPPER_{p.upper()}_TPM", None, positive=True) for p in providers}
        all_rpm = _number(env, "LLM_WRAPPER_RPM", None, positive=True)
        all_tpm = _number(env, "LLM_WRAPPER_TPM", None, positive=True)
        ceiling = _number(env, "LLM_WRAPPER_MAX_OUTPUT_TOKENS", None, positive=True, integer=True)
        return cls(
            default_model=(env.get("LLM_WRAPPER_MODEL") or "").strip() or None,
            max_retries=int(_number(env, "LLM_WRAPPER_MAX_RETRIES", DEFAULT_MAX_RETRIES, integer=True,
                                    maximum=20)),
            deadline=_number(env, "LLM_WRAPPER_DEADLINE", DEFAULT_DEADLINE, positive=True, maximum=86_400),
            stream_timeout=_number(env, "LLM_WRAPPER_STREAM_TIMEOUT", DEFAULT_STREAM_TIMEOUT, positive=True,
                                   maximum=3_600),
            rpm={p: (v if v is not None else all_rpm) for p, v in rpm.items()},
            tpm={p: (v if v is not None else all_tpm) for p, v in tpm.items()},
            max_output_tokens=int(ceiling) if ceiling is not None else None,
            log_bodies=env.get("LLM_WRAPPER_LOG_BODIES", "").strip() == "1",
            environ=env,
        )


def _number(env: Mapping[str, str], name: str, default: float | None, *, positive: bool = False,
            integer: bool = False, maximum: float | None = None) -> float | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    kind = "a whole number" if integer else "a number"
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = None
    bad = (value is None or not math.isfinite(value) or value < 0 or (positive and value == 0)
           or (maximum is not None and value > maximum))
    if bad:
        low = "more than 0" if positive else "0 or more"
        high = f" and at most {maximum:g}" if maximum is not None else ""
        raise NotConfigured(name, f"{name}={raw!r} is not {kind} {low}{high}.",
                            f"Set {name} to {kind} {low}{high}, or unset it for the default"
                            + (f" ({default:g})." if default is not None else " (no limit)."))
    return value
