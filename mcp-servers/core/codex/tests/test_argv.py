"""argv building: the prompt is always one literal argument after `--`, never shell text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import codex_cli
from codex_cli import CodexError, Settings
from conftest import FAKE_CODEX

NASTY = ['say "hi" and \'bye\'', "$(rm -rf /) `id` $HOME", "line one\nline two\n", "--help",
         "-c model=evil", "--", "; echo pwned | cat", "ünïcode ✓", "*", ""]


@pytest.mark.parametrize("prompt", NASTY)
def test_a_prompt_is_one_literal_argument_after_the_separator(prompt: str) -> None:
    argv = codex_cli.exec_argv("codex", prompt, Settings())
    assert argv[:3] == ["codex", "exec", "--json"]
    assert argv[-2:] == ["--", prompt]
    assert argv.count("--") == 1 or prompt == "--"


@pytest.mark.parametrize("prompt", NASTY)
def test_the_process_receives_the_prompt_byte_for_byte(prompt: str, tmp_path: Path) -> None:
    """Run the argv for real (no shell anywhere): the child sees exactly what was built."""
    record = tmp_path / "argv.json"
    argv = codex_cli.exec_argv(str(FAKE_CODEX), prompt, Settings())
    subprocess.run(argv, env={"FAKE_CODEX_ARGV": str(record), "PATH": "/usr/bin:/bin"},
                   stdin=subprocess.DEVNULL, check=True, timeout=30)
    seen = json.loads(record.read_text())
    assert seen["argv"] == argv[1:] and seen["argv"][-1] == prompt


def test_resume_puts_the_thread_id_and_prompt_after_the_separator() -> None:
    argv = codex_cli.exec_argv("codex", "-x", Settings(), thread_id="0199-abc")
    assert argv[:4] == ["codex", "exec", "resume", "--json"]
    assert argv[-3:] == ["--", "0199-abc", "-x"]


def test_sandbox_approval_model_and_config_overrides() -> None:
    settings = Settings(sandbox="workspace-write", approval="on-request", model="gpt-x")
    argv = codex_cli.exec_argv("codex", "p", settings, config=[("project_doc_max_bytes", "0")])
    pairs = [argv[i + 1] for i, a in enumerate(argv) if a == "-c"]
    assert pairs == ['sandbox_mode="workspace-write"', 'approval_policy="on-request"',
                     "project_doc_max_bytes=0"]
    assert argv[argv.index("--model") + 1] == "gpt-x"
    assert "--skip-git-repo-check" in argv


def test_defaults_are_read_only_never_and_900_seconds() -> None:
    settings = Settings.from_env({"HOME": "/h"})
    assert (settings.sandbox, settings.approval, settings.timeout) == ("read-only", "never", 900.0)
    assert settings.codex_home == Path("/h/.codex") and settings.codex_bin == "codex"


@pytest.mark.parametrize("env, word", [({"CODEX_SANDBOX": "yolo"}, "CODEX_SANDBOX"),
                                       ({"CODEX_APPROVAL_POLICY": "always"}, "CODEX_APPROVAL_POLICY"),
                                       ({"CODEX_TIMEOUT": "soon"}, "CODEX_TIMEOUT"),
                                       ({"CODEX_TIMEOUT": "-5"}, "CODEX_TIMEOUT")])
def test_bad_settings_are_refused_with_the_variable_named(env: dict, word: str) -> None:
    with pytest.raises(CodexError, match=word):
        Settings.from_env(env)


def test_project_dir_prefers_codex_then_claudex_then_pwd(tmp_path: Path) -> None:
    a, b, c = (tmp_path / n for n in "abc")
    for d in (a, b, c):
        d.mkdir()
    env = {"CODEX_PROJECT_DIR": str(a), "CLAUDEX_PROJECT_DIR": str(b), "PWD": str(c)}
    assert codex_cli.project_dir_from_env(env) == a
    assert codex_cli.project_dir_from_env({**env, "CODEX_PROJECT_DIR": str(tmp_path / "no")}) == b
    assert codex_cli.project_dir_from_env({"PWD": str(c)}) == c
    assert codex_cli.project_dir_from_env({}, cwd=str(a)) == a


@pytest.mark.parametrize("bad", ["", "-rf", "a b", "x" * 200, "id;rm"])
def test_thread_ids_that_cannot_be_ids_are_refused(bad: str) -> None:
    with pytest.raises(CodexError, match="thread_id"):
        codex_cli.check_thread_id(bad)


def test_review_prompt_embeds_agents_md_before_claude_md(tmp_path: Path) -> None:
    (tmp_path / "CLAUDE.md").write_text("claude rules")
    assert codex_cli.agent_instructions(tmp_path) == ("CLAUDE.md", "claude rules")
    (tmp_path / "AGENTS.md").write_text("agent rules")
    prompt = codex_cli.review_prompt("check foo()", codex_cli.agent_instructions(tmp_path))
    assert "<AGENTS.md>\nagent rules\n</AGENTS.md>" in prompt and prompt.endswith("check foo()")
    assert "AGENTS.md" not in codex_cli.review_prompt("check foo()", None)


def test_a_huge_instructions_file_is_cut(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("x" * (codex_cli.MAX_CONTEXT_BYTES + 10))
    name, text = codex_cli.agent_instructions(tmp_path)
    assert text.startswith("x" * 100) and "cut at" in text


