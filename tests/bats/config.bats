#!/usr/bin/env bats
# claudex mcp config: values read as their key needs them, messages in JSON, config get.

bats_require_minimum_version 1.5.0

load test_helper

setup() {
    setup_sandbox
}

@test "config set reads a number as text for env and refuses a non-boolean for enabled, quoting JSON" {
    claudex mcp init >/dev/null
    mkdir -p "$CLAUDEX_MCP_REGISTRY/installed/codex"
    printf '%s\n' '{"apiVersion": "v1", "metadata": {"name": "codex", "version": "1.0.0", "description": "ok"},' \
        '"server": {"command": "python3", "args": ["${SERVER_DIR}/server.py"]}}' >"$CLAUDEX_MCP_REGISTRY/installed/codex/manifest.json"
    touch "$CLAUDEX_MCP_REGISTRY/installed/codex/server.py"
    run --separate-stderr claudex mcp config set codex env.CODEX_TIMEOUT 60
    assert_status 0
    run --separate-stderr claudex mcp config get codex env.CODEX_TIMEOUT
    assert_status 0
    [ "$output" = "60" ] || fail "config get does not print 60"
    run --separate-stderr claudex mcp config set codex enabled yes
    assert_status 1
    assert_stdout_empty
    assert_stderr_contains 'enabled takes true or false (or null); \"yes\" is text that is not JSON'
}
