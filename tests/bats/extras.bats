#!/usr/bin/env bats
# info, call and completion as a shell and a terminal see them.

bats_require_minimum_version 1.5.0

load test_helper
load mcp_helper

setup() {
    setup_sandbox
    init_registry
    make_echo_server "$CLAUDEX_MCP_REGISTRY/installed/echo" echo
    keyed_dir="$CLAUDEX_MCP_REGISTRY/installed/keyed"
    make_echo_server "$keyed_dir" keyed
    python3 - "$keyed_dir/manifest.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["server"]["requiredEnv"] = [{"name": "KEYED_TOKEN", "description": "the key", "secret": True}]
open(sys.argv[1], "w").write(json.dumps(doc))
PY
}

teardown() {
    stop_background
}

@test "info on a terminal: the server, its variables and why its tools are not listed, in colour" {
    run script -qec "claudex mcp info keyed" /dev/null
    assert_status 0
    [[ "$output" == *$'\e[1mkeyed\e[0m 1.0.0'* ]] || fail "the name is not bold"
    [[ "$output" == *"KEYED_TOKEN  [required, secret]  "$'\e[31mnot set'* ]] || fail "the missing variable is not red"
    [[ "$output" == *"not listed: keyed needs KEYED_TOKEN"* ]] || fail "no word on why the tools are not listed"
}

@test "info with NO_COLOR on a terminal has no colour; piped it has none either" {
    run script -qec "NO_COLOR=1 claudex mcp info echo" /dev/null
    assert_status 0
    [[ "$output" != *$'\e['* ]] || fail "colour despite NO_COLOR"
    run --separate-stderr claudex mcp info echo
    assert_status 0
    [[ "$output" != *$'\e['* ]] || fail "colour in a pipe"
}

@test "info never prints a secret value" {
    run --separate-stderr claudex mcp config set keyed env.KEYED_TOKEN sk-live-abcdef123456
    assert_status 0
    run --separate-stderr claudex mcp info keyed --json
    assert_status 0
    [[ "$output" != *sk-live-abcdef123456* ]] || fail "the secret is in info --json"
    run --separate-stderr claudex mcp info keyed
    [[ "$output" != *sk-live-abcdef123456* ]] || fail "the secret is in info"
    assert_stdout_contains "KEYED_TOKEN  [required, secret]  set (user layer)"
}

@test "call prints the tool's text; --args - reads stdin" {
    run --separate-stderr claudex mcp call echo add --args '{"a": 1, "b": 2}'
    assert_status 0
    [ "$output" = "3" ] || fail "expected 3"
    assert_stderr_empty
    run --separate-stderr bash -c 'echo "{\"text\": \"from stdin\"}" | claudex mcp call echo echo --args -'
    assert_status 0
    [ "$output" = "from stdin" ] || fail "expected the piped text"
}

@test "call of an unknown tool exits 4 with did you mean; a tool error exits 1" {
    run --separate-stderr claudex mcp call echo ech
    assert_status 4
    assert_stdout_empty
    assert_stderr_error no_tool
    [[ "$(stderr_error_field hint)" == "did you mean echo?"* ]] || fail "no suggestion"
    run --separate-stderr claudex mcp call echo add --args '{"a": 1}'
    assert_status 1
    assert_stdout_empty
    assert_stderr_error tool_error
}

@test "call of a server whose required variable is missing says how to set it" {
    run script -qec "claudex mcp call keyed echo" /dev/null
    assert_status 1
    [[ "$output" == *"keyed needs KEYED_TOKEN"* ]] || fail "the variable is not named"
    run --separate-stderr env KEYED_TOKEN=t claudex mcp call keyed echo --args '{"text": "ok"}'
    assert_status 0
    [ "$output" = "ok" ] || fail "expected ok"
}

@test "bash completes server names from the registry" {
    run bash --norc --noprofile -c 'source <(claudex mcp completion bash)
        COMP_WORDS=(claudex mcp info ke); COMP_CWORD=3; _claudex; printf "%s\n" "${COMPREPLY[@]}"'
    assert_status 0
    [ "$output" = "keyed" ] || fail "ke did not complete to keyed"
}
