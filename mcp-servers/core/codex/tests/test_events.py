"""Parsing `codex exec --json` streams recorded from the real CLI (0.169) and rendering them."""

from __future__ import annotations

import json

from codex_cli import RunResult, Transcript
from conftest import RECORDED


def replay(name: str) -> tuple[Transcript, list[str]]:
    transcript, progress = Transcript(), []
    for line in (RECORDED / name).read_text().splitlines():
        message = transcript.feed(line)
        if message:
            progress.append(message)
    return transcript, progress


def test_a_turn_with_reasoning_and_a_command() -> None:
    t, progress = replay("command.jsonl")
    assert t.thread_id == "01a20e67-0b9f-7b42-8027-77c1c8cc7e6b"
    assert t.final_message == "Final answer" and t.completed and t.failure is None
    assert t.activity == ["reasoning: **Planning** I will list files",
                          "ran: /bin/bash -lc 'echo hi-from-cmd' (exit 0)"]
    assert t.usage["output_tokens"] == 2
    assert t.warnings and "Model metadata" in t.warnings[0]  # an `error` item is only a warning
    assert any(p.startswith("running: /bin/bash") for p in progress)
    assert progress[0].startswith("Codex thread 01a20e67")


def test_a_failed_turn_keeps_its_message() -> None:
    t, _ = replay("turn_failed_401.jsonl")
    assert t.failure and "401 Unauthorized" in t.failure
    result = RunResult(t, returncode=1, stderr_tail="Error: boom", timed_out=False, elapsed=0.1)
    text = result.failure_message(900)
    assert not result.ok
    assert text.startswith("Codex failed: unexpected status 401")
    assert "codex login" in text and "Error: boom" in text and t.thread_id in text


def test_the_summary_leaves_out_only_the_final_message() -> None:
    t = Transcript()
    for event in ({"type": "item.completed", "item": {"type": "agent_message", "text": "first"}},
                  {"type": "item.completed", "item": {"type": "file_change", "status": "completed",
                                                       "changes": [{"path": "a.py", "kind": "update"}]}},
                  {"type": "item.completed", "item": {"type": "todo_list",
                                                       "items": [{"text": "x", "completed": True}]}},
                  {"type": "item.completed", "item": {"type": "mcp_tool_call", "server": "s",
                                                       "tool": "t", "status": "completed"}},
                  {"type": "item.completed", "item": {"type": "web_search", "query": "q"}},
                  {"type": "item.completed", "item": {"type": "agent_message", "text": "last"}}):
        t.feed(json.dumps(event))
    assert t.final_message == "last"
    assert t.summary().splitlines() == ["file change (completed): update a.py", "plan: [x] x",
                                        "tool: s.t (completed)", "web search: q", "note: first"]


def test_noise_and_unknown_events_are_tolerated() -> None:
    t = Transcript()
    for line in ("", "not json", "[1, 2]", '{"type": "something.new"}',
                 '{"type": "item.completed", "item": "odd"}', '{"type": "error", "message": "Reconnecting... 1/5"}'):
        t.feed(line)
    assert t.stray == ["not json"] and t.errors == ["Reconnecting... 1/5"] and t.final_message == ""


def test_a_timeout_message_says_so_and_keeps_the_partial_output() -> None:
    t, _ = replay("command.jsonl")
    text = RunResult(t, None, "", timed_out=True, elapsed=5).failure_message(5)
    assert text.startswith("Codex timed out after 5 s")
    assert "partial output" in text and "Final answer" in text and "hi-from-cmd" in text
