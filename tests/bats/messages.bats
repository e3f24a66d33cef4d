#!/usr/bin/env bats
# What a person reads at a terminal when something goes wrong, through a real pty (`script`):
# an error said once, did-you-mean for server names, run's message and Ctrl-C, an upgrade's
# failed handshake with the server's own stderr.

bats_require_minimum_version 1.5.0

load test_helper
load mcp_helper

setup() {
    setup_sandbox
    REG="$CLAUDEX_MCP_REGISTRY"
    SRC="$SANDBOX/src"
    LOGS="$XDG_STATE_HOME/claudex/logs"
    mkdir -p "$SRC"
    init_registry
    command -v script >/dev/null || skip "script(1) is not installed (bsdutils)"
}

teardown() {
    stop_background
}

# on_tty COMMAND...: run it with stdin, stdout and stderr on a pseudo-terminal; $output is what
# the terminal showed (carriage returns dropped), $status its exit code.
on_tty() {
    local quoted
    printf -v quoted '%q ' "$@"
    run script -qec "$quoted" /dev/null </dev/null
    output="${output//$'\r'/}"
    mapfile -t lines <<<"$output"
}

@test "on a terminal an error is one readable line, with the closest server name in the hint" {
    make_server "$SRC/weather" weather
    install_quiet "$SRC/weather"
    NO_COLOR=1 on_tty claudex mcp uninstall weathr
    assert_status 4
    [ "${#lines[@]}" -eq 1 ] || fail "expected one line"
    [ "$output" = "claudex mcp uninstall: error: no server 'weathr' in the registry at $REG (hint: did you mean weather? 'claudex mcp list' shows the servers)" ] ||
        fail "unexpected line"
}

@test "on a terminal --json asks for the error as the JSON object" {
    on_tty claudex mcp logs nosuch --json
    assert_status 4
    [ "${#lines[@]}" -eq 1 ] || fail "expected one line"
    [[ "$output" == '{"error": {"code": "no_server", '* ]] || fail "not the JSON error object"
}

@test "piped, an error is the JSON object alone" {
    make_server "$SRC/weather" weather
    install_quiet "$SRC/weather"
    run --separate-stderr claudex mcp upgrade weathr
    assert_status 4
    assert_stdout_empty
    assert_stderr_error no_server
    [[ "$(stderr_error_field hint)" == "did you mean weather?"* ]] || fail "no suggestion in the hint"
}

@test "run on a terminal says it waits for an MCP client; Ctrl-C ends it without a traceback in the log" {
    make_echo_server "$SRC/echo" echo
    install_quiet "$SRC/echo"
    run script -qec "claudex mcp run echo" /dev/null < <(sleep 4; printf '\003'; sleep 2)
    output="${output//$'\r'/}"
    assert_status 130
    [[ "$output" == *"echo is running and waits for an MCP client on stdin"* ]] || fail "no waiting message"
    [[ "$output" == *"Ctrl-C ends it."* ]] || fail "no word on how to end it"
    grep -q "ended by Ctrl-C on the terminal" "$LOGS/echo.log" || fail "the log does not say it was ended by Ctrl-C"
    ! grep -qE "Traceback|KeyboardInterrupt" "$LOGS/echo.log" || fail "a traceback in the log: $(cat "$LOGS/echo.log")"
}

@test "an upgrade that fails its handshake shows the server's stderr on a terminal" {
    make_echo_server "$SRC/crash" crash 1.0.0
    install_quiet "$SRC/crash"
    make_crash_server "$SRC/crash" crash 1.1.0
    local before
    before="$(registry_snapshot)"
    NO_COLOR=1 on_tty claudex mcp upgrade crash
    assert_status 5
    local error
    error="$(printf '%s\n' "${lines[@]}" | grep -n "claudex mcp upgrade: error: ")" || fail "no error line"
    [[ "$error" == *"crash 1.1.0 failed its MCP handshake, so the upgrade was rolled back: crash exited"* ]] ||
        fail "unexpected error line"
    local at="${error%%:*}"
    [ "${lines[$at]}" = "  | fatal error: cannot open the database" ] || fail "the server's stderr does not follow"
    [[ "$output" != *'{"error"'* ]] || fail "the JSON object is printed on a terminal too"
    assert_registry_unchanged "$before"
}
