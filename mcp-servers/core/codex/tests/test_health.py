"""Without Codex (or without credentials, or with bad settings) the server still starts, each
Codex tool says how to fix it as an MCP error, and `server.py --check` reports it."""

from __future__ import annotations

import json
import subprocess
import sys

import anyio
import pytest

from claudex_testing import text_of
from conftest import FAKE_CODEX, SERVER_DIR, mcp_session

CODEX_TOOLS = {"codex_review": {"prompt": "p"}, "codex_consult": {"question": "q"},
               "codex_status": {}, "codex_reply": {"thread_id": "01a2-b3", "prompt": "p"}}


def every_tool(env: dict) -> tuple[list[str], dict]:
    async def main() -> tuple[list[str], dict]:
        with anyio.fail_after(60):
            async with mcp_session(env) as session:
                names = sorted(t.name for t in await session.list_tools())
                results = {name: await session.call(name, args) for name, args in CODEX_TOOLS.items()}
                results["codex_history"] = await session.call("codex_history", {})
                return names, results

    return anyio.run(main)


def test_without_codex_every_tool_gives_the_install_hint(sandbox):
    names, results = every_tool(sandbox.env(CODEX_BIN="codex-not-installed-anywhere", PATH="/usr/bin:/bin"))
    assert names == ["codex_consult", "codex_history", "codex_reply", "codex_review", "codex_status"]
    for name in CODEX_TOOLS:
        assert results[name].is_error, name
        assert "npm install -g @openai/codex" in text_of(results[name]), name
        assert text_of(results[name]).startswith(f"Error executing tool {name}: unavailable: The Codex CLI was not found")
    history = results["codex_history"]  # needs no binary: Codex's files only
    assert not history.is_error and "No Codex sessions" in text_of(history)


def test_without_credentials_every_tool_gives_the_login_hint(sandbox):
    _names, results = every_tool(sandbox.env(CODEX_BIN=str(FAKE_CODEX)))
    for name in CODEX_TOOLS:
        assert results[name].is_error and "codex login" in text_of(results[name]), name
        assert f"tool {name}: not_configured: " in text_of(results[name]), name


def test_bad_settings_do_not_stop_the_server(sandbox):
    _names, results = every_tool(sandbox.env(CODEX_BIN=str(FAKE_CODEX), CODEX_TIMEOUT="soon"))
    for name in CODEX_TOOLS:
        assert results[name].is_error and "CODEX_TIMEOUT" in text_of(results[name]), name
        assert f"tool {name}: invalid_input: CODEX_TIMEOUT='soon'" in text_of(results[name]), name


def check(env: dict) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, str(SERVER_DIR / "server.py"), "--check"], env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return proc.returncode, json.loads(proc.stdout)


def test_check_reports_a_missing_codex(sandbox):
    code, report = check(sandbox.env(CODEX_BIN="/nonexistent/codex"))
    assert code == 1 and not report["ok"] and "npm install -g @openai/codex" in report["problems"][0]


def test_check_reports_missing_credentials_then_passes_with_a_key(sandbox):
    code, report = check(sandbox.env(CODEX_BIN=str(FAKE_CODEX)))
    assert code == 1 and report["logged_in"] is False and "codex login" in report["problems"][0]
    code, report = check(sandbox.env(CODEX_BIN=str(FAKE_CODEX), OPENAI_API_KEY="sk-x"))
    assert code == 0 and report["ok"] and report["version"] == "codex-cli 0.0.0-fake"
    assert report["sandbox"] == "read-only" and report["approval_policy"] == "never"
    assert report["project_dir"] == str(sandbox.project)


def test_a_custom_provider_needs_its_env_key(sandbox):
    (sandbox.codex_home / "config.toml").write_text(
        'model_provider = "gw"\n[model_providers.gw]\nbase_url = "http://x"\nenv_key = "GW_KEY"\n')
    code, report = check(sandbox.env(CODEX_BIN=str(FAKE_CODEX)))
    assert code == 1 and "$GW_KEY" in report["problems"][0]
    assert check(sandbox.env(CODEX_BIN=str(FAKE_CODEX), GW_KEY="k"))[0] == 0


def test_auth_json_counts_as_logged_in(sandbox):
    (sandbox.codex_home / "auth.json").write_text("{}")
    assert check(sandbox.env(CODEX_BIN=str(FAKE_CODEX)))[0] == 0


@pytest.mark.parametrize("args, code", [(["--bogus"], 2)])
def test_unknown_arguments_are_a_usage_error(args, code, sandbox):
    proc = subprocess.run([sys.executable, str(SERVER_DIR / "server.py"), *args], env=sandbox.env(),
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == code and proc.stdout == "" and "usage" in proc.stderr
