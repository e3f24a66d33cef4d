"""The real llm-wrapper server over MCP stdio, against the fake APIs: the tools' results, the
progress notifications, and what reached the fake servers."""

from __future__ import annotations

import json
import re
import subprocess

import anyio
import pytest

from claudex_llm.fake_api import Plan
from claudex_testing import text_of
from conftest import claudex, mcp_session

TOOLS = ["llm_chat", "llm_count_tokens", "llm_models", "llm_usage"]


def session_run(env, body, timeout=90):
    async def main():
        with anyio.fail_after(timeout):
            async with mcp_session(env) as session:
                return await body(session)

    return anyio.run(main)


def test_chat_streams_progress_and_reports_usage(env, openai_api, anthropic_api):
    progress = []

    async def on_progress(value, total, message):
        progress.append((value, message))

    openai_api.script(Plan(text="one two three four five six", chunks=6, delay=0.15))

    async def body(session):
        tools = sorted(t.name for t in await session.list_tools())
        chat = await session.call("llm_chat", {"prompt": "count", "model": "openai/gpt-4o-mini",
                                                    "max_tokens": 64}, progress_callback=on_progress)
        claude = await session.call("llm_chat", {"messages": [{"role": "user", "content": "bonjour"}],
                                                      "system": "be kind", "model": "anthropic/claude-haiku-4-5"})
        usage = await session.call("llm_usage", {})
        return tools, chat, claude, usage

    tools, chat, claude, usage = session_run(env, body)
    assert tools == TOOLS
    assert not chat.is_error and text_of(chat) == "one two three four five six"
    reply = chat.structured_content
    assert reply["model"] == "openai/gpt-4o-mini" and reply["provider"] == "openai"
    assert reply["finish_reason"] == "stop" and reply["usage"] == {"input_tokens": 4, "output_tokens": 6}
    assert reply["retries"] == 0
    assert progress and progress[0][1] == "one t" and progress[-1][1].startswith("one two three")
    assert [p[0] for p in progress] == sorted(p[0] for p in progress)
    [request] = openai_api.chat_requests()
    assert request.body["max_tokens"] == 64 and request.body["stream"] is True
    assert request.headers["authorization"] == f"Bearer {openai_api.key}"
    assert claude.structured_content["text"] == "You said: bonjour"
    assert anthropic_api.chat_requests()[0].body["system"] == "be kind"
    models = usage.structured_content["models"]
    assert models["openai/gpt-4o-mini"]["requests"] == 1 and models["anthropic/claude-haiku-4-5"]["output_tokens"] == 3
    assert usage.structured_content["total_cost_usd"] > 0


def test_retries_and_errors_through_the_server(env, openai_api, anthropic_api):
    openai_api.script(Plan(status=429, headers={"retry-after-ms": "200"}), Plan(text="after the wait"),
                      Plan(status=401))
    anthropic_api.script(Plan(text="partial", stream_error="invalid_request_error"))
    notes = []

    async def on_progress(value, total, message):
        notes.append(message)

    async def body(session):
        waited = await session.call("llm_chat", {"prompt": "x"}, progress_callback=on_progress)
        refused = await session.call("llm_chat", {"prompt": "x"})
        stream_error = await session.call("llm_chat", {"prompt": "x", "model": "anthropic/claude-haiku-4-5"})
        too_big = await session.call("llm_chat", {"prompt": "x", "max_tokens": 100_000})
        bad_model = await session.call("llm_chat", {"prompt": "x", "model": "gpt-4o"})
        return waited, refused, stream_error, too_big, bad_model

    waited, refused, stream_error, too_big, bad_model = session_run(env, body)
    assert not waited.is_error and waited.structured_content["retries"] == 1
    assert waited.structured_content["waited_seconds"] >= 0.15
    assert any("429" in (n or "") for n in notes)
    assert refused.is_error and "HTTP 401" in text_of(refused) and "OPENAI_API_KEY" in text_of(refused)
    # a tool error starts with its code (claudex_server.tools), after the SDK's "Error executing tool ...: "
    assert text_of(refused).startswith("Error executing tool llm_chat: provider_error: ")
    assert stream_error.is_error and "error event" in text_of(stream_error) and "partial" not in text_of(stream_error)
    assert too_big.is_error and "ceiling of 16384" in text_of(too_big) and ": limit_exceeded: max_tokens" in text_of(too_big)
    assert bad_model.is_error and "provider/model" in text_of(bad_model) and ": invalid_input: " in text_of(bad_model)
    assert len(openai_api.chat_requests()) == 3 and len(anthropic_api.chat_requests()) == 1


def test_without_keys_the_server_starts_and_says_which_variable(base_env):
    async def body(session):
        chat = await session.call("llm_chat", {"prompt": "x"})
        claude = await session.call("llm_chat", {"prompt": "x", "model": "anthropic/claude-haiku-4-5"})
        models = await session.call("llm_models", {})
        counted = await session.call("llm_count_tokens", {"text": "hello world"})
        return chat, claude, models, counted

    chat, claude, models, counted = session_run(base_env, body)
    assert chat.is_error and "OPENAI_API_KEY" in text_of(chat) and ": not_configured: " in text_of(chat)
    assert claude.is_error and "ANTHROPIC_API_KEY" in text_of(claude)
    providers = {p["provider"]: p for p in models.structured_content["providers"]}
    assert not providers["openai"]["usable"] and "OPENAI_API_KEY" in providers["openai"]["problem"]
    assert providers["openai"]["source"] == "known table" and providers["openai"]["models"]
    assert counted.structured_content == {"tokens": 2, "method": "exact: tiktoken o200k_base"}


def test_models_from_the_endpoints(env, openai_api, anthropic_api):
    async def body(session):
        return await session.call("llm_models", {})

    models = session_run({**env, "LLM_WRAPPER_MODEL": "anthropic/claude-haiku-4-5-20251001"}, body)
    providers = {p["provider"]: p for p in models.structured_content["providers"]}
    assert providers["openai"]["source"] == providers["anthropic"]["source"] == "endpoint"
    assert [m["name"] for m in providers["anthropic"]["models"]] == ["anthropic/claude-haiku-4-5-20251001"]
    assert providers["anthropic"]["models"][0]["default"] is True
    assert "claude-haiku-4-5-20251001 (default)" in text_of(models)
    assert [r.path for r in openai_api.requests] == ["/v1/models"]
    assert anthropic_api.requests[0].path.startswith("/v1/models")


def test_count_tokens_exact_and_estimate(base_env):
    async def body(session):
        exact = await session.call("llm_count_tokens", {"messages": [{"role": "user", "content": "hi"}],
                                                             "model": "openai/gpt-4o"})
        estimate = await session.call("llm_count_tokens", {"text": "hello world",
                                                                "model": "anthropic/claude-haiku-4-5"})
        bad = await session.call("llm_count_tokens", {})
        return exact, estimate, bad

    exact, estimate, bad = session_run(base_env, body)
    assert exact.structured_content["tokens"] == 8 and exact.structured_content["method"].startswith("exact")
    assert estimate.structured_content["method"].startswith("estimate")
    assert bad.is_error and "text or messages" in text_of(bad) and ": invalid_input: Give either" in text_of(bad)


@pytest.mark.parametrize("log_bodies", [False, True])
def test_the_log_holds_no_key_prompt_or_answer_unless_asked(env, openai_api, installed, log_bodies):
    """The server's log: its stderr, which `claudex mcp run` writes to the logs folder."""
    openai_api.script(Plan(text="the-secret-answer"))
    extra = {"LLM_WRAPPER_LOG_BODIES": "1"} if log_bodies else {}

    async def body(session):
        return await session.call("llm_chat", {"prompt": "the-secret-prompt"})

    result = session_run({**env, **extra}, body)
    assert not result.is_error
    text = installed.log.read_text()
    assert "openai/gpt-4o-mini" in text and openai_api.key not in text
    assert ("the-secret-prompt" in text and "the-secret-answer" in text) is log_bodies
    assert ("the-secret-prompt" not in text and "the-secret-answer" not in text) is (not log_bodies)


def test_status_is_degraded_naming_the_missing_key(base_env):
    proc = claudex(base_env, "status", "llm-wrapper", "--refresh", "--json", timeout=120)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0   # degraded is not a failure: the server works, a call says what is missing
    assert report["state"] == "degraded" and "OPENAI_API_KEY" in report["error"], proc.stdout + proc.stderr
    assert sorted(report["toolNames"]) == TOOLS


def test_status_is_healthy_with_a_key(env):
    proc = claudex(env, "status", "llm-wrapper", "--refresh", "--json", timeout=120)
    report = json.loads(proc.stdout)
    assert report["state"] == "healthy", proc.stdout + proc.stderr


def test_check_names_the_missing_key(installed, base_env, env):
    def check(env):
        proc = subprocess.run([str(installed.python), str(installed.folder / "server.py"), "--check"], env=env,
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        return proc.returncode, json.loads(proc.stdout)

    code, report = check(base_env)
    assert code == 1 and not report["ok"] and "OPENAI_API_KEY" in report["problems"][0]
    code, report = check({**base_env, "ANTHROPIC_API_KEY": "k"})
    assert code == 0 and report["default_model"] == "anthropic/claude-haiku-4-5"
    code, report = check({**base_env, "ANTHROPIC_API_KEY": "k", "LLM_WRAPPER_MODEL": "openai/gpt-4o"})
    assert code == 1 and "set OPENAI_API_KEY" in report["problems"][0]
    code, report = check({**env, "LLM_WRAPPER_DEADLINE": "forever"})
    assert code == 1 and "LLM_WRAPPER_DEADLINE" in report["problems"][0]
    code, report = check(env)
    assert code == 0 and report["providers"]["openai"]["usable"] and report["problems"] == []


# Keys of two shapes: one a token shape, one plain text that only its value can give away.
OPENAI_KEY = "sk-proj-leakcheck0123456789abcdef"
ANTHROPIC_KEY = "plain-anthropic-secret-value-4711"


def test_no_key_leaves_the_server_when_a_provider_echoes_the_request(base_env, installed):
    """A provider (or a proxy before it) that answers 400/401/429/500, or an error inside its
    stream, with the request's headers: the Authorization / x-api-key values reach neither the
    tool results and errors, nor the progress notifications, nor the server's log."""
    from claudex_llm.fake_api import FakeAPI

    notes: list[str] = []

    async def on_progress(value, total, message):
        notes.append(message or "")

    with FakeAPI("openai", key=OPENAI_KEY) as openai, FakeAPI("anthropic", key=ANTHROPIC_KEY) as anthropic:
        openai.echo_headers = anthropic.echo_headers = True
        openai.script(Plan(status=429, headers={"retry-after-ms": "50"}), Plan(status=500), Plan(status=500),
                      Plan(status=400), Plan(text="partial", stream_error="server_error"))
        anthropic.script(Plan(status=401), Plan(text="half", stream_error="invalid_request_error"))
        env = {**base_env, **openai.env(), **anthropic.env(), "LLM_WRAPPER_LOG_BODIES": "1"}

        async def body(session):
            out = [await session.call("llm_chat", {"prompt": "x"}, progress_callback=on_progress)]
            out.append(await session.call("llm_chat", {"prompt": "x"}))
            out.append(await session.call("llm_chat", {"prompt": "x"}))
            for _ in range(2):
                out.append(await session.call("llm_chat", {"prompt": "x", "model": "anthropic/claude-haiku-4-5"}))
            return out

        results = session_run(env, body)
        log = installed.log.read_text()

        # The configured keys are not the ones the APIs take: every call, the model list too, is refused.
        wrong = {**base_env, "OPENAI_API_KEY": "wrong-openai-key-0042", "OPENAI_BASE_URL": openai.base_url,
                 "ANTHROPIC_API_KEY": "wrong-anthropic-key-0042", "ANTHROPIC_BASE_URL": anthropic.base_url}

        async def refused(session):
            return [await session.call("llm_chat", {"prompt": "x"}),
                    await session.call("llm_models", {})]

        results += session_run(wrong, refused)
        log += installed.log.read_text()
        assert openai.requests and all(r.headers["authorization"] for r in openai.requests)

    shown = [text_of(r) + json.dumps(r.structured_content) for r in results]
    assert [r.is_error for r in results] == [True] * 6 + [False]
    everything = "\n".join(shown + notes + [log])
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, "wrong-openai-key-0042", "wrong-anthropic-key-0042"):
        assert secret not in everything
    # The echoes did come back (masked), through each way out.
    def masked(text):
        return re.search(r"(authorization: bearer|x-api-key:) \*{8}", text, re.I) is not None

    assert "HTTP 500" in shown[0] and masked(shown[0])
    assert any("HTTP 429" in n and masked(n) for n in notes)
    assert "HTTP 400" in shown[1] and masked(shown[1]) and "fake stream error" in shown[2] and masked(shown[2])
    assert "HTTP 401" in shown[3] and masked(shown[3]) and "error event" in shown[4] and masked(shown[4])
    assert "HTTP 401" in shown[5] and masked(shown[5]) and masked(shown[6])
    assert "request headers" in log
