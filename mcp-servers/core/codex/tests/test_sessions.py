"""codex_history's reader: Codex's rollout files under $CODEX_HOME/sessions, read-only."""

from __future__ import annotations

import json
import os
from pathlib import Path

import codex_cli


def rollout(codex_home: Path, day: str, tid: str, prompt: str, answer: str, mtime: float) -> Path:
    """A rollout file in the shape Codex 0.169 writes (session_meta first, then items)."""
    folder = codex_home / "sessions" / day.replace("-", "/")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rollout-{day}T10-00-00-{tid}.jsonl"
    records = [
        {"type": "session_meta", "payload": {"id": tid, "timestamp": f"{day}T10:00:00Z", "cwd": "/p",
                                             "source": "exec", "cli_version": "0.169.0"}},
        {"type": "response_item", "payload": {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "<environment_context>cwd</environment_context>"}]}},
        {"type": "response_item", "payload": {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": prompt}]}},
        {"type": "response_item", "payload": {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "draft"}]}},
        {"type": "event_msg", "payload": {"type": "task_complete", "last_agent_message": answer}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "{broken\n")
    os.utime(path, (mtime, mtime))
    return path


def test_newest_first_limited_and_summarised(sandbox):
    for i in range(4):
        rollout(sandbox.codex_home, f"2026-11-2{i}", f"id-{i}", f"prompt {i}", f"answer {i}", 1_800_000_000 + i)
    sessions = codex_cli.recent_sessions(sandbox.codex_home, 3)
    assert [s.thread_id for s in sessions] == ["id-3", "id-2", "id-1"]
    assert sessions[0].prompt == "prompt 3" and sessions[0].last_message == "answer 3"
    assert sessions[0].cwd == "/p" and sessions[0].source == "exec"


def test_files_are_not_modified_and_junk_is_skipped(sandbox):
    path = rollout(sandbox.codex_home, "2026-11-20", "id-a", "p", "a", 1_800_000_000)
    (path.parent / "rollout-junk.jsonl").write_text("not json\n")
    (path.parent / "notes.txt").write_text("x")
    before = path.read_bytes(), path.stat().st_mtime
    assert [s.thread_id for s in codex_cli.recent_sessions(sandbox.codex_home, 10)] == ["id-a"]
    assert (path.read_bytes(), path.stat().st_mtime) == before


def test_no_sessions_folder_is_an_empty_history(sandbox):
    assert codex_cli.recent_sessions(sandbox.codex_home / "missing", 5) == []
