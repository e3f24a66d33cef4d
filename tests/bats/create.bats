#!/usr/bin/env bats
# claudex mcp create from a script: never asks, says where it made the server, refuses cleanly.

bats_require_minimum_version 1.5.0

load test_helper

setup() {
    setup_sandbox
}

@test "create without a terminal never asks and makes a server that validates" {
    run --separate-stderr claudex mcp create weather --template python </dev/null
    assert_status 0
    assert_stderr_empty
    [[ "$output" == *"Created server structure at $SANDBOX/weather/"* ]] || fail "unexpected message"
    [[ "$output" == *"claudex mcp test . --suite"* ]] || fail "no next steps"
    run --separate-stderr claudex mcp validate weather
    assert_status 0
    grep -qx "template: python" weather/.copier-answers.yml || fail "answers not recorded"
}

@test "create refuses a non-empty folder with exit 3 and leaves it as it was" {
    mkdir -p taken && echo mine > taken/file
    run --separate-stderr claudex mcp create weather --output taken --defaults
    assert_status 3
    [ -z "$output" ] || fail "stdout is not empty"
    assert_stderr_error exists
    [ "$(ls -A taken)" = "file" ] || fail "the folder changed"
}

@test "create refuses invalid tools with exit 2 before writing anything" {
    run --separate-stderr claudex mcp create weather --data 'tools=Greet;rm' --defaults
    assert_status 2
    assert_stderr_error invalid_tools
    [ ! -e weather ] || fail "weather was created"
    [ -z "$(ls -A "$SANDBOX" | grep create- || true)" ] || fail "a temporary folder was left"
}
