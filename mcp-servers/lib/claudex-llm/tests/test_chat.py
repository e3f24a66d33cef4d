"""chat() against the local fake APIs: what reached them, retries, limits, streaming, errors."""

from __future__ import annotations

import time

import pytest

from claudex_llm import (DeadlineExceeded, InvalidRequest, LimitExceeded, NotConfigured, ProviderError)
from claudex_llm.fake_api import Plan

from conftest import run

OPENAI = "openai/gpt-4o-mini"
ANTHROPIC = "anthropic/claude-haiku-4-5"


def test_openai_streams_and_sends_the_real_request(client, env, openai_api):
    seen = []

    async def progress(text, note):
        seen.append((text, note))

    openai_api.script(Plan(text="Hello from the fake", chunks=4, model="gpt-4o-mini-2024-07-18"))
    result = run(client.chat, prompt="Say hello", model=OPENAI, system="Be brief", max_tokens=50,
                 temperature=0.2, stop="\n\n", on_progress=progress, environ=env)
    assert result.text == "Hello from the fake" and result.finish_reason == "stop"
    assert result.model == "openai/gpt-4o-mini-2024-07-18" and result.provider == "openai"
    assert (result.input_tokens, result.output_tokens, result.retries) == (7, 4, 0)
    [request] = openai_api.chat_requests()
    assert request.headers["authorization"] == f"Bearer {openai_api.key}"
    assert request.headers["x-stainless-retry-count"] == "0"
    assert request.body == {"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
                            "messages": [{"role": "system", "content": "Be brief"},
                                         {"role": "user", "content": "Say hello"}],
                            "max_tokens": 50, "temperature": 0.2, "stop": ["\n\n"]}
    texts = [t for t, note in seen if note is None]
    assert texts[0] == "Hello" and texts[-1] == "Hello from the fake" and len(texts) == 4


def test_anthropic_messages_system_and_ping_events(client, env, anthropic_api):
    messages = [{"role": "system", "content": "Answer in French"}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "salut"}, {"role": "user", "content": "again"}]
    result = run(client.chat, messages=messages, model=ANTHROPIC, environ=env)
    assert result.text == "You said: again" and result.finish_reason == "stop"
    assert result.input_tokens == 6 and result.output_tokens == 3
    [request] = anthropic_api.chat_requests()
    assert request.body["system"] == "Answer in French"
    assert request.body["messages"] == messages[1:]
    assert request.body["max_tokens"] == 4096 and request.body["stream"] is True
    assert anthropic_api.key in (request.headers.get("x-api-key"), request.headers.get("authorization", "")[7:])
    assert "anthropic-version" in request.headers


@pytest.mark.parametrize("headers", [{"retry-after-ms": "300"}, {"retry-after": "1"}])
def test_429_waits_as_told_then_succeeds(client, env, openai_api, headers):
    notes = []

    async def progress(text, note):
        if note:
            notes.append(note)

    openai_api.script(Plan(status=429, headers=headers))
    started = time.monotonic()
    result = run(client.chat, prompt="x", model=OPENAI, on_progress=progress, environ=env)
    wanted = 0.3 if "retry-after-ms" in headers else 1.0
    assert result.retries == 1 and result.waited_seconds >= wanted * 0.9
    assert time.monotonic() - started >= wanted * 0.9
    assert len(openai_api.chat_requests()) == 2
    assert any("429" in n and "retrying" in n for n in notes) and any("waiting" in n for n in notes)


@pytest.mark.parametrize("plan", [Plan(status=500), Plan(status=503), Plan(status=408), Plan(status=409),
                                  Plan(malformed=True), Plan(cut_after=1)],
                         ids=["500", "503", "408", "409", "malformed-json", "stream-cut"])
def test_retryable_failures_are_retried(client, env, openai_api, plan):
    openai_api.script(plan, Plan(text="second time lucky"))
    result = run(client.chat, prompt="x", model=OPENAI, environ=env)
    assert result.text == "second time lucky" and result.retries == 1
    assert len(openai_api.chat_requests()) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_never_retried(client, env, openai_api, status):
    openai_api.script(Plan(status=status))
    with pytest.raises(ProviderError) as caught:
        run(client.chat, prompt="x", model=OPENAI, environ=env)
    assert caught.value.status == status and not caught.value.retryable
    assert f"HTTP {status}" in caught.value.message and caught.value.hint
    assert len(openai_api.chat_requests()) == 1


def test_a_wrong_key_says_which_variable(client, env, anthropic_api):
    with pytest.raises(ProviderError) as caught:
        run(client.chat, prompt="x", model=ANTHROPIC, environ={**env, "ANTHROPIC_API_KEY": "sk-wrong"})
    assert caught.value.status == 401 and "ANTHROPIC_API_KEY" in caught.value.hint
    assert len(anthropic_api.chat_requests()) == 1


def test_retries_stop_at_the_limit(client, env, openai_api):
    openai_api.script(*[Plan(status=500)] * 5)
    with pytest.raises(ProviderError, match=r"HTTP 500.*after 2 retries"):
        run(client.chat, prompt="x", model=OPENAI, environ=env)
    assert len(openai_api.chat_requests()) == 3   # LLM_WRAPPER_MAX_RETRIES=2
    assert client.usage()["models"][OPENAI]["errors"] == 1


def test_an_error_event_in_a_200_stream_is_an_error(client, env, anthropic_api):
    anthropic_api.script(Plan(text="partial answer that must not be returned", stream_error="invalid_request_error"))
    with pytest.raises(ProviderError, match="error event"):
        run(client.chat, prompt="x", model=ANTHROPIC, environ=env)
    assert len(anthropic_api.chat_requests()) == 1


def test_an_overloaded_error_event_is_retried(client, env, anthropic_api):
    anthropic_api.script(Plan(text="half", stream_error="overloaded_error"), Plan(text="whole"))
    result = run(client.chat, prompt="x", model=ANTHROPIC, environ=env)
    assert result.text == "whole" and result.retries == 1


def test_a_wait_longer_than_the_deadline_fails_at_once(client, env, openai_api):
    openai_api.script(Plan(status=429, headers={"retry-after": "30"}))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="asks to wait 30.0 s"):
        run(client.chat, prompt="x", model=OPENAI, environ={**env, "LLM_WRAPPER_DEADLINE": "5"})
    assert time.monotonic() - started < 3 and len(openai_api.chat_requests()) == 1


def test_a_slow_server_cannot_hold_a_call_past_its_deadline(client, env, openai_api):
    openai_api.script(Plan(hang=20))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="LLM_WRAPPER_DEADLINE=1.5"):
        run(client.chat, prompt="x", model=OPENAI, environ={**env, "LLM_WRAPPER_DEADLINE": "1.5"})
    assert time.monotonic() - started < 4


def test_a_silent_stream_times_out_and_is_retried(client, env, openai_api):
    openai_api.script(Plan(delay=3), Plan(text="quick"))
    result = run(client.chat, prompt="x", model=OPENAI, environ={**env, "LLM_WRAPPER_STREAM_TIMEOUT": "0.5"})
    assert result.text == "quick" and result.retries == 1


def test_max_tokens_above_the_ceiling_is_refused_before_sending(client, env, openai_api):
    with pytest.raises(LimitExceeded, match="ceiling of 16384"):
        run(client.chat, prompt="x", model=OPENAI, max_tokens=20000, environ=env)
    with pytest.raises(LimitExceeded, match="ceiling of 100 .*LLM_WRAPPER_MAX_OUTPUT_TOKENS"):
        run(client.chat, prompt="x", model=OPENAI, max_tokens=101,
            environ={**env, "LLM_WRAPPER_MAX_OUTPUT_TOKENS": "100"})
    with pytest.raises(LimitExceeded, match="ceiling of 32768"):   # unknown model: the default ceiling
        run(client.chat, prompt="x", model="openai/local-llama", max_tokens=40000, environ=env)
    assert openai_api.chat_requests() == []


def test_a_prompt_beyond_the_context_window_is_refused_before_sending(client, env, openai_api):
    with pytest.raises(LimitExceeded, match="8192-token context window"):
        run(client.chat, prompt="word " * 9000, model="openai/gpt-4", environ=env)
    assert openai_api.chat_requests() == []


def test_a_missing_key_names_the_variable_and_sends_nothing(client, openai_api):
    with pytest.raises(NotConfigured) as caught:
        run(client.chat, prompt="x", model=OPENAI, environ={"OPENAI_BASE_URL": openai_api.base_url})
    assert caught.value.variable == "OPENAI_API_KEY" and "OPENAI_API_KEY" in str(caught.value)
    assert openai_api.requests == []


@pytest.mark.parametrize("kwargs, match", [
    ({}, "neither"), ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "both"),
    ({"prompt": "x", "model": "gpt-4o"}, "provider/model"), ({"prompt": "x", "model": "cohere/x"}, "Unknown provider"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "role"), ({"prompt": "x", "temperature": 1.5,
                                                                 "model": ANTHROPIC}, "temperature"),
    ({"prompt": "x", "max_tokens": 0}, "max_tokens"), ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "at most 4"),
])
def test_bad_arguments_are_refused_before_sending(client, env, openai_api, anthropic_api, kwargs, match):
    with pytest.raises(InvalidRequest, match=match):
        run(client.chat, environ=env, **kwargs)
    assert openai_api.requests == [] and anthropic_api.requests == []


def test_provider_rate_limit_headers_make_the_next_call_wait(client, env, openai_api):
    notes = []

    async def progress(text, note):
        if note:
            notes.append(note)

    openai_api.script(Plan(headers={"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "400ms",
                                    "x-ratelimit-limit-requests": "10"}))
    run(client.chat, prompt="x", model=OPENAI, environ=env)
    result = run(client.chat, prompt="y", model=OPENAI, on_progress=progress, environ=env)
    assert result.waited_seconds >= 0.3 and any("requests limit" in n for n in notes)


def test_local_requests_per_minute_bucket(client, env, openai_api):
    limited = {**env, "LLM_WRAPPER_RPM": "2", "LLM_WRAPPER_DEADLINE": "5"}
    run(client.chat, prompt="1", model=OPENAI, environ=limited)
    run(client.chat, prompt="2", model=OPENAI, environ=limited)
    with pytest.raises(DeadlineExceeded, match=r"requests-per-minute limit \(2\)"):
        run(client.chat, prompt="3", model=OPENAI, environ=limited)   # 30 s to wait, 5 s of deadline
    assert len(openai_api.chat_requests()) == 2


def test_usage_counts_per_model(client, env, openai_api, anthropic_api):
    run(client.chat, prompt="one two", model=OPENAI, environ=env)
    run(client.chat, prompt="one two", model=OPENAI, environ=env)
    anthropic_api.script(Plan(status=500), Plan(text="ok"))
    run(client.chat, prompt="x", model=ANTHROPIC, environ=env)
    usage = client.usage()["models"]
    assert usage[OPENAI] == {"requests": 2, "errors": 0, "input_tokens": 10, "output_tokens": 8, "retries": 0,
                             "waited_seconds": 0.0, "cost_usd": pytest.approx((10 * 0.15 + 8 * 0.60) / 1e6)}
    assert usage[ANTHROPIC]["retries"] == 1 and usage[ANTHROPIC]["waited_seconds"] > 0


def test_models_from_the_endpoint_or_the_table(client, env, openai_api):
    entries = {e["provider"]: e for e in run(client.list_models, environ=env)}
    assert entries["openai"]["source"] == "endpoint" and entries["openai"]["usable"]
    assert [m["name"] for m in entries["openai"]["models"]] == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    without = {e["provider"]: e for e in run(client.list_models, environ={"OPENAI_API_KEY": "k",
                                                                          "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})}
    assert without["openai"]["usable"] and without["openai"]["source"] == "known table"
    assert "openai/gpt-4o-mini" in [m["name"] for m in without["openai"]["models"]]
    assert not without["anthropic"]["usable"] and "ANTHROPIC_API_KEY" in without["anthropic"]["problem"]


def test_a_refused_connection_is_retried_then_reported(client):
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "LLM_WRAPPER_MAX_RETRIES": "1"}
    with pytest.raises(ProviderError, match="connection failed.*after 1 retries") as caught:
        run(client.chat, prompt="x", model=OPENAI, environ=env)
    assert caught.value.status is None and caught.value.retryable and "OPENAI_BASE_URL" in caught.value.hint


def test_anthropic_529_is_retried(client, env, anthropic_api):
    anthropic_api.script(Plan(status=529), Plan(text="fine"))
    assert run(client.chat, prompt="x", model=ANTHROPIC, environ=env).text == "fine"
    assert len(anthropic_api.chat_requests()) == 2
