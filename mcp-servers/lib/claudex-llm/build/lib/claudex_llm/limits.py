"""Client-side rate limits: a token bucket for requests and one for tokens per minute, per
provider, also fed by what the provider says (its rate-limit headers, a 429's Retry-After),
so that a call waits here instead of being refused there."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone


class Bucket:
    """`per_minute` units refill continuously; a full bucket holds one minute's worth."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.level = per_minute
        self._clock = clock
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.level = min(self.per_minute, self.level + (now - self._stamp) * self.per_minute / 60.0)
        self._stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` units are there (an amount above the capacity waits for a full bucket)."""
        self._refill()
        missing = min(amount, self.per_minute) - self.level
        return max(0.0, missing * 60.0 / self.per_minute)

    def take(self, amount: float) -> None:
        self._refill()
        self.level -= min(amount, self.per_minute)

    def give_back(self, amount: float) -> None:
        self._refill()
        self.level = min(self.per_minute, self.level + amount)

    def at_most(self, remaining: float) -> None:
        """The provider says only `remaining` are left: believe it when that is fewer than ours."""
        self._refill()
        self.level = min(self.level, remaining)


class Limiter:
    """The limits of one provider: local buckets (from LLM_WRAPPER_RPM/TPM) and a time before
    which the provider asked us not to call (from its headers)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.requests: Bucket | None = None
        self.tokens: Bucket | None = None
        self.blocked_until = 0.0
        self.blocked_by = ""

    def configure(self, rpm: float | None, tpm: float | None) -> None:
        if (self.requests.per_minute if self.requests else None) != rpm:
            self.requests = Bucket(rpm, self._clock) if rpm else None
        if (self.tokens.per_minute if self.tokens else None) != tpm:
            self.tokens = Bucket(tpm, self._clock) if tpm else None

    def wait_for(self, tokens: int) -> tuple[float, str]:
        """(seconds to wait before a request of `tokens` may go, and why)."""
        waits = [(self.blocked_until - self._clock(), self.blocked_by or "the provider's rate limit")]
        if self.requests:
            waits.append((self.requests.wait_for(1), f"the requests-per-minute limit ({self.requests.per_minute:g})"))
        if self.tokens:
            waits.append((self.tokens.wait_for(tokens), f"the tokens-per-minute limit ({self.tokens.per_minute:g})"))
        seconds, why = max(waits, key=lambda w: w[0])
        return max(0.0, seconds), why

    def take(self, tokens: int) -> None:
        if self.requests:
            self.requests.take(1)
        if self.tokens:
            self.tokens.take(tokens)

    def settle(self, estimated: int, actual: int) -> None:
        """Correct the tokens bucket once the real usage is known."""
        if self.tokens and actual != estimated:
            if actual < estimated:
                self.tokens.give_back(estimated - actual)
            else:
                self.tokens.take(actual - estimated)

    def block_for(self, seconds: float, why: str) -> None:
        until = self._clock() + seconds
        if until > self.blocked_until:
            self.blocked_until, self.blocked_by = until, why

    def observe(self, headers: Mapping[str, str]) -> None:
        """Feed the provider's rate-limit headers (OpenAI's x-ratelimit-*, Anthropic's
        anthropic-ratelimit-*): what remains lowers our buckets, none remaining blocks until the reset."""
        for kind, remaining, reset in _rate_headers(headers):
            if remaining is None:
                continue
            bucket = self.requests if kind == "requests" else self.tokens
            if bucket is not None:
                bucket.at_most(remaining)
            if remaining <= 0 and reset is not None and reset > 0:
                self.block_for(reset, f"the provider's {kind} limit (none left, reset in {reset:.1f} s)")


_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")


def _rate_headers(headers: Mapping[str, str]) -> list[tuple[str, float | None, float | None]]:
    lower = {k.lower(): v for k, v in headers.items()}
    found = []
    # OpenAI: x-ratelimit-remaining-requests / x-ratelimit-reset-requests ("6m0s")
    for kind in ("requests", "tokens"):
        if f"x-ratelimit-remaining-{kind}" in lower:
            found.append((kind, _float(lower.get(f"x-ratelimit-remaining-{kind}")),
                          parse_duration(lower.get(f"x-ratelimit-reset-{kind}"))))
    # Anthropic: anthropic-ratelimit-requests-remaining / -reset (RFC 3339); input/output tokens too
    for kind, key in (("requests", "requests"), ("tokens", "tokens"), ("tokens", "input-tokens"),
                      ("tokens", "output-tokens")):
        if f"anthropic-ratelimit-{key}-remaining" in lower:
            found.append((kind, _float(lower.get(f"anthropic-ratelimit-{key}-remaining")),
                          _until(lower.get(f"anthropic-ratelimit-{key}-reset"))))
    return found


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the provider asks us to wait: retry-after-ms, else Retry-After (seconds or an HTTP date)."""
    lower = {k.lower(): v for k, v in headers.items()}
    ms = _float(lower.get("retry-after-ms"))
    if ms is not None and ms >= 0:
        return ms / 1000.0
    raw = (lower.get("retry-after") or "").strip()
    seconds = _float(raw)
    if seconds is not None:
        return max(0.0, seconds)
    if raw:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    return None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(raw: str | None) -> float | None:
    """OpenAI's reset durations: '1s', '6m0s', '20ms', '1h2m3.5s'."""
    if not raw:
        return None
    raw = raw.strip()
    parts = _DURATION.findall(raw)
    if not parts or "".join(n + u for n, u in parts) != raw:
        return _float(raw)
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def _until(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - datetime.now(timezone.utc)).total_seconds()


def _float(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and value == value and value not in (float("inf"), float("-inf")) else None
