"""End to end: the SDK's stdio client starts `python server.py`, which runs the REAL Codex CLI
(from npm) against the local Responses API on 127.0.0.1 (see responses_api.py)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import anyio
import pytest

from claudex_testing import text_of
from conftest import mcp_session

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def call(env: dict, *calls: tuple[str, dict], progress: list | None = None) -> list:
    """Run the tool calls in one session; return their results."""

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        if progress is not None:
            progress.append(message)

    async def main() -> list:
        results = []
        with anyio.fail_after(120):
            async with mcp_session(env) as session:
                for name, args in calls:
                    results.append(await session.call(name, args, progress_callback=on_progress))
        return results

    return anyio.run(main)


def processes_with(marker: str) -> list[int]:
    """Live processes whose environment mentions marker (our per-test CODEX_HOME)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state not in ("Z", "X"):
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_prompt_reaches_codex_literally_and_quiet_returns_only_the_message(codex_env, responses_api,
                                                                           sandbox):
    pwned = sandbox.project / "pwned"
    prompt = f'--not-a-flag "quoted" \'single\' $(touch {pwned}) `touch {pwned}`\nsecond line'
    [result] = call(codex_env, ("codex_consult", {"question": prompt, "quiet": True}))
    assert not result.is_error, text_of(result)
    assert responses_api.prompts()[-1] == prompt
    message, thread = (block.text for block in result.content)
    assert message == f"echo: {prompt}"
    data = result.structured_content
    assert UUID.match(data["thread_id"]) and thread == f"thread_id: {data['thread_id']} (continue with codex_reply)"
    assert data["activity"] == "" and data["message"] == message
    request = responses_api.requests[-1]
    assert request["headers"]["authorization"] == "Bearer sk-test-local"
    assert not pwned.exists()


def test_review_gives_agents_md_and_reports_activity_and_progress(codex_env, responses_api, sandbox):
    (sandbox.project / "AGENTS.md").write_text("AGENT-RULES-42: tabs are forbidden")
    progress: list = []
    [loud, bare] = call(codex_env,
                        ("codex_review", {"prompt": "RUN-COMMAND review foo.py"}),
                        ("codex_review", {"prompt": "plain review", "include_project_context": False,
                                          "quiet": True}),
                        progress=progress)
    assert not loud.is_error, text_of(loud)
    activity, message, _thread = (block.text for block in loud.content)
    assert message == "Final answer"
    assert "reasoning: **Planning** look around" in activity
    assert re.search(r"ran: .*echo hi-from-cmd.* \(exit 0\)", activity)
    first = responses_api.requests[0]["body"]
    assert "AGENT-RULES-42" in responses_api.prompts()[0] and "RUN-COMMAND review foo.py" in responses_api.prompts()[0]
    assert sum("AGENT-RULES-42" in str(item) for item in first["input"]) == 1  # ours only, not Codex's copy
    assert any(m and m.startswith("Codex thread") for m in progress)
    assert any(m and m.startswith("running:") for m in progress)
    assert not bare.is_error and "AGENT-RULES-42" not in str(responses_api.requests[-1]["body"])


def test_reply_continues_the_thread_and_history_lists_it(codex_env, responses_api, sandbox):
    async def main() -> tuple:
        with anyio.fail_after(120):
            return await steps()

    async def steps() -> tuple:
        async with mcp_session(codex_env) as session:
            first = await session.call("codex_consult", {"question": "remember 7"})
            tid = first.structured_content["thread_id"]
            second = await session.call("codex_reply", {"thread_id": tid, "prompt": "-what number?"})
            bad = await session.call("codex_reply", {"thread_id": "no such thread", "prompt": "x"})
            unknown = await session.call("codex_reply", {"thread_id": "01a20e58-0000-7000-8000-000000000000",
                                                              "prompt": "x"})
            history = await session.call("codex_history", {"limit": 5})
            return tid, second, bad, unknown, history

    tid, second, bad, unknown, history = anyio.run(main)
    assert not second.is_error, text_of(second)
    assert second.structured_content["thread_id"] == tid
    assert second.structured_content["message"] == "echo: -what number?"
    assert "remember 7" in str(responses_api.requests[-1]["body"]["input"])  # the thread's history went along
    assert bad.is_error and "thread_id" in text_of(bad)
    assert unknown.is_error and "no rollout found" in text_of(unknown)
    sessions = history.structured_content["sessions"]
    assert [s["thread_id"] for s in sessions] == [tid]
    assert sessions[0]["prompt"] == "remember 7" and sessions[0]["last_message"] == "echo: -what number?"
    assert sessions[0]["cwd"] == str(sandbox.project)


def test_status_runs_in_the_project_directory(codex_env, responses_api, sandbox):
    [result] = call(codex_env, ("codex_status", {}))
    assert not result.is_error, text_of(result)
    assert "Summarise the current state" in responses_api.prompts()[-1]
    assert str(sandbox.project) in str(responses_api.requests[-1]["body"]["input"])  # Codex's cwd


def test_an_api_failure_is_an_error_with_the_login_hint(codex_env, responses_api):
    [result] = call(codex_env, ("codex_consult", {"question": "FAIL-401"}))
    assert result.is_error
    text = text_of(result)
    assert "401 Unauthorized" in text and "codex login" in text and "thread_id:" in text


def test_a_hung_codex_times_out_and_leaves_no_process(codex_env, responses_api, sandbox):
    env = {**codex_env, "CODEX_TIMEOUT": "3"}
    started = time.monotonic()
    [result] = call(env, ("codex_consult", {"question": "HANG please"}))
    assert time.monotonic() - started < 30
    assert result.is_error and "timed out after 3 s" in text_of(result)
    deadline = time.monotonic() + 5
    while processes_with(str(sandbox.codex_home)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(str(sandbox.codex_home)) == []
