"""Token buckets, the providers' rate-limit headers, Retry-After, settings and the model table."""

from __future__ import annotations

import pytest

from claudex_llm import catalog
from claudex_llm.errors import NotConfigured
from claudex_llm.limits import Bucket, Limiter, parse_duration, retry_after
from claudex_llm.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_per_minute():
    clock = Clock()
    bucket = Bucket(60, clock)
    assert bucket.wait_for(60) == 0
    bucket.take(60)
    assert bucket.wait_for(1) == pytest.approx(1.0)
    clock.now += 0.5
    assert bucket.wait_for(1) == pytest.approx(0.5)
    assert bucket.wait_for(1000) == pytest.approx(59.5)   # more than the capacity waits for a full bucket
    clock.now += 1000
    assert bucket.level == 0.5 and bucket.wait_for(60) == 0 and bucket.level == 60


def test_limiter_waits_for_the_slowest_reason():
    clock = Clock()
    limiter = Limiter(clock)
    limiter.configure(rpm=120, tpm=1000)
    limiter.take(1000)
    seconds, why = limiter.wait_for(500)
    assert seconds == pytest.approx(30.0) and "tokens-per-minute" in why
    limiter.settle(estimated=1000, actual=400)   # the real usage was lower: tokens come back
    assert limiter.wait_for(500)[0] == 0
    limiter.block_for(5, "Retry-After")
    assert limiter.wait_for(1) == (5, "Retry-After")


def test_openai_headers():
    clock = Clock()
    limiter = Limiter(clock)
    limiter.configure(rpm=100, tpm=None)
    limiter.observe({"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "1s"})
    assert limiter.requests.level == 3 and limiter.wait_for(1)[0] == 0
    limiter.observe({"X-RateLimit-Remaining-Tokens": "0", "X-RateLimit-Reset-Tokens": "6m0s"})
    assert limiter.wait_for(1)[0] == pytest.approx(360)


def test_anthropic_headers():
    from datetime import datetime, timedelta, timezone

    limiter = Limiter()
    reset = (datetime.now(timezone.utc) + timedelta(seconds=20)).isoformat().replace("+00:00", "Z")
    limiter.observe({"anthropic-ratelimit-input-tokens-remaining": "0",
                     "anthropic-ratelimit-input-tokens-reset": reset})
    assert 18 < limiter.wait_for(1)[0] <= 20


@pytest.mark.parametrize("raw, seconds", [("1s", 1), ("6m0s", 360), ("20ms", 0.02), ("1h2m3.5s", 3723.5),
                                          ("2.5", 2.5), ("soon", None), (None, None)])
def test_durations(raw, seconds):
    assert parse_duration(raw) == (pytest.approx(seconds) if seconds is not None else None)


def test_retry_after_forms():
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after({"Retry-After": "3"}) == 3
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0   # in the past
    assert retry_after({"retry-after": "garbage"}) is None and retry_after({}) is None


def test_settings_defaults_and_overrides():
    s = Settings.from_env({}, ("openai", "anthropic"))
    assert (s.max_retries, s.deadline, s.rpm, s.max_output_tokens, s.log_bodies) == \
        (4, 120.0, {"openai": None, "anthropic": None}, None, False)
    s = Settings.from_env({"LLM_WRAPPER_RPM": "60", "LLM_WRAPPER_ANTHROPIC_RPM": "5",
                           "LLM_WRAPPER_LOG_BODIES": "1"}, ("openai", "anthropic"))
    assert s.rpm == {"openai": 60, "anthropic": 5} and s.log_bodies


@pytest.mark.parametrize("name, value", [("LLM_WRAPPER_MAX_RETRIES", "-1"), ("LLM_WRAPPER_MAX_RETRIES", "2.5"),
                                         ("LLM_WRAPPER_DEADLINE", "0"), ("LLM_WRAPPER_DEADLINE", "nan"),
                                         ("LLM_WRAPPER_RPM", "lots"), ("LLM_WRAPPER_MAX_OUTPUT_TOKENS", "0")])
def test_bad_settings_name_the_variable(name, value):
    with pytest.raises(NotConfigured) as caught:
        Settings.from_env({name: value}, ("openai",))
    assert caught.value.variable == name and name in caught.value.hint


def test_model_table_matches_snapshots_by_longest_prefix():
    assert catalog.lookup("openai", "gpt-4o-mini-2024-07-18").name == "gpt-4o-mini"
    assert catalog.lookup("openai", "gpt-4o-2024-08-06").name == "gpt-4o"
    assert catalog.lookup("openai", "gpt-4-turbo-2024-04-09").name == "gpt-4-turbo"
    assert catalog.lookup("anthropic", "claude-haiku-4-5-20251001").max_output == 64_000
    assert catalog.lookup("openai", "gpt-4oo") is None and catalog.lookup("openai", "llama3") is None
