"""The Codex process: stdin closed, JSONL read as it comes, timeout and cancellation kill the
whole process group (no orphans), failures keep the stderr tail."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import pytest

import codex_cli
from conftest import FAKE_CODEX, RECORDED


def alive(pid: int) -> bool:
    """Whether pid is a live process (a zombie waiting for its reaper counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_dead(pid: int, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def run(env: dict, timeout: float = 30, **kwargs) -> codex_cli.RunResult:
    progress: list[str] = []

    async def on_progress(message: str) -> None:
        progress.append(message)

    async def main() -> codex_cli.RunResult:
        return await codex_cli.run_codex([str(FAKE_CODEX), "exec", "--json", "--", "hi"], cwd=os.getcwd(),
                                         env={"PATH": "/usr/bin:/bin", **env}, timeout=timeout,
                                         on_progress=on_progress, **kwargs)

    result = anyio.run(main)
    result.progress = progress  # for the asserts
    return result


def test_a_recorded_run_is_parsed_and_reported(tmp_path: Path) -> None:
    record = tmp_path / "argv.json"
    result = run({"FAKE_CODEX_EVENTS": str(RECORDED / "command.jsonl"), "FAKE_CODEX_ARGV": str(record)})
    assert result.ok and result.returncode == 0 and not result.timed_out
    assert result.transcript.final_message == "Final answer"
    assert "Codex is working" in result.progress and "Codex finished" in result.progress
    assert '"stdin": ""' in record.read_text()  # stdin is closed: the child reads EOF at once


def test_a_failure_keeps_the_stderr_tail() -> None:
    stderr = "".join(f"line {i}\n" for i in range(50)) + "Error: model not found\n"
    result = run({"FAKE_CODEX_STDERR": stderr, "FAKE_CODEX_EXIT": "1"})
    assert not result.ok and result.returncode == 1
    assert result.stderr_tail.splitlines()[-1] == "Error: model not found"
    assert len(result.stderr_tail.splitlines()) == codex_cli.STDERR_TAIL_LINES
    assert "exited with status 1" in result.failure_message(900)


def test_a_turn_failed_with_exit_0_is_still_a_failure() -> None:
    result = run({"FAKE_CODEX_EVENTS": str(RECORDED / "turn_failed_401.jsonl")})
    assert result.returncode == 0 and not result.ok


def test_timeout_kills_the_whole_group_and_keeps_partial_output(tmp_path: Path) -> None:
    child_file = tmp_path / "child.pid"
    started = time.monotonic()
    result = run({"FAKE_CODEX_EVENTS": str(RECORDED / "command.jsonl"), "FAKE_CODEX_SLEEP": "300",
                  "FAKE_CODEX_CHILD": str(child_file)}, timeout=1.5)
    assert time.monotonic() - started < 10
    assert result.timed_out and not result.ok
    assert result.transcript.final_message == "Final answer"  # what came before the timeout
    assert "timed out after 1.5 s" in result.failure_message(1.5)
    assert wait_dead(int(child_file.read_text())), "the grandchild outlived the timeout"
    assert not codex_cli._LIVE_GROUPS


def test_leftover_children_are_killed_after_a_normal_exit(tmp_path: Path) -> None:
    child_file = tmp_path / "child.pid"
    result = run({"FAKE_CODEX_CHILD": str(child_file)})
    assert result.ok
    assert wait_dead(int(child_file.read_text()))


def test_cancellation_kills_the_group(tmp_path: Path) -> None:
    child_file = tmp_path / "child.pid"

    async def main() -> None:
        with anyio.move_on_after(1.5):
            await codex_cli.run_codex([str(FAKE_CODEX)], cwd=os.getcwd(), timeout=300,
                                      env={"PATH": "/usr/bin:/bin", "FAKE_CODEX_SLEEP": "300",
                                           "FAKE_CODEX_CHILD": str(child_file)})

    anyio.run(main)
    assert wait_dead(int(child_file.read_text()))
    assert not codex_cli._LIVE_GROUPS


def test_heartbeat_progress_while_codex_is_quiet() -> None:
    result = run({"FAKE_CODEX_SLEEP": "1.2"}, heartbeat=0.3)
    assert sum("still working" in p for p in result.progress) >= 2


def test_a_missing_executable_raises_oserror() -> None:
    async def main() -> None:
        await codex_cli.run_codex(["/nonexistent/codex"], cwd=os.getcwd(), env={}, timeout=5)

    with pytest.raises(OSError):
        anyio.run(main)
