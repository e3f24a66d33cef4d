#!/usr/bin/env bats
# claudex mcp init: creating the registry layout, idempotently, and refusing bad states.

bats_require_minimum_version 1.5.0

load test_helper

setup() {
    setup_sandbox
}

# Every path under DIR with its mode, size and modification time, sorted.
# Every entry with its mode, size and mtime; a lock file only as the same file (inode) and mode:
# each holder writes who it is into it.
snapshot() {
    { find "$1" ! -name .lock -printf '%p %m %s %T@\n'; find "$1" -name .lock -printf '%p %m %i\n'; } | LC_ALL=C sort
}

assert_mode() {
    local want="$1" path="$2" got
    got="$(stat -c %a "$path")" || fail "cannot stat $path"
    [ "$got" = "$want" ] || fail "$path has mode $got, expected $want"
}

@test "init creates registry.json, core/, installed/ and disabled/ with modes 755/644 under umask 077" {
    local reg="$CLAUDEX_MCP_REGISTRY"
    run --separate-stderr bash -c 'umask 077 && exec claudex mcp init'
    assert_status 0
    assert_stderr_empty
    [ "$output" = "initialised the registry at $reg (5 created)" ] || fail "unexpected message"
    local dir
    for dir in "$reg" "$reg/core" "$reg/installed" "$reg/disabled"; do
        [ -d "$dir" ] && [ ! -L "$dir" ] || fail "$dir is not a directory"
        assert_mode 755 "$dir"
    done
    [ -f "$reg/registry.json" ] || fail "registry.json was not created"
    assert_mode 644 "$reg/registry.json"
}

@test "the new registry.json is an empty v1 registry that validates" {
    local reg="$CLAUDEX_MCP_REGISTRY"
    run --separate-stderr claudex mcp init
    assert_status 0
    run --separate-stderr cat "$reg/registry.json"
    [ "$(json_eval 'doc == {"apiVersion": "v1", "servers": {}}')" = True ] || fail "registry.json is not the empty registry"
    run --separate-stderr claudex mcp validate "$reg/registry.json"
    assert_status 0
    assert_stdout_contains "valid registry"
}

@test "init creates missing parent folders of the registry" {
    export CLAUDEX_MCP_REGISTRY="$SANDBOX/a/b/registry"
    run --separate-stderr bash -c 'umask 077 && exec claudex mcp init --json'
    assert_status 0
    [ -f "$SANDBOX/a/b/registry/registry.json" ] || fail "registry.json was not created"
    assert_mode 755 "$SANDBOX/a"
    assert_mode 755 "$SANDBOX/a/b"
    [ "$(json_eval '"'"$SANDBOX/a"'" in doc["created"]')" = True ] || fail "the parent is not listed as created"
}

@test "a second init changes nothing and says there is nothing to do" {
    local reg="$CLAUDEX_MCP_REGISTRY"
    run --separate-stderr claudex mcp init
    assert_status 0
    local before after
    before="$(snapshot "$SANDBOX")"
    sleep 0.05  # so that a rewritten file would get a different mtime
    run --separate-stderr claudex mcp init
    assert_status 0
    assert_stderr_empty
    [ "$output" = "the registry at $reg is ready; nothing to do" ] || fail "unexpected message"
    after="$(snapshot "$SANDBOX")"
    if [ "$before" != "$after" ]; then
        diff <(echo "$before") <(echo "$after") || true
        fail "the second run changed the file tree"
    fi
}

@test "init leaves an existing valid registry.json byte-identical" {
    local reg="$CLAUDEX_MCP_REGISTRY"
    mkdir -p "$reg"
    cp "$FIXTURES/registry/valid/mixed-sources.json" "$reg/registry.json"
    run --separate-stderr claudex mcp init --json
    assert_status 0
    cmp "$FIXTURES/registry/valid/mixed-sources.json" "$reg/registry.json" || fail "registry.json was rewritten"
    [ "$(json_eval 'sorted(doc["created"])')" = "['$reg/core', '$reg/disabled', '$reg/installed']" ] ||
        fail "created should list exactly the three missing folders"
}

@test "init --json prints one JSON object with registry and created" {
    local reg="$CLAUDEX_MCP_REGISTRY"
    run --separate-stderr claudex mcp init --json
    assert_status 0
    assert_stderr_empty
    [ "$(json_eval 'sorted(doc)')" = "['core', 'created', 'registry']" ] || fail "unexpected keys"
    [ "$(json_eval 'doc["registry"]')" = "$reg" ] || fail "registry is not \$CLAUDEX_MCP_REGISTRY"
    [ "$(json_eval 'sorted(doc["created"])')" = \
      "['$reg', '$reg/core', '$reg/disabled', '$reg/installed', '$reg/registry.json']" ] ||
        fail "created does not list what was created"

    run --separate-stderr claudex mcp init --json
    assert_status 0
    [ "$(json_eval 'doc["created"]')" = "[]" ] || fail "the second run reports created paths"
    [ "$(json_eval 'doc["registry"]')" = "$reg" ] || fail "registry is not \$CLAUDEX_MCP_REGISTRY"
}

@test "without CLAUDEX_MCP_REGISTRY the registry goes to \$XDG_DATA_HOME/claudex/mcp-servers" {
    if [ -d /opt/mcp-servers ] && [ -w /opt/mcp-servers ]; then
        skip "/opt/mcp-servers exists and is writable: it would be the registry"
    fi
    unset CLAUDEX_MCP_REGISTRY
    run --separate-stderr claudex mcp init --json
    assert_status 0
    [ "$(json_eval 'doc["registry"]')" = "$XDG_DATA_HOME/claudex/mcp-servers" ] || fail "wrong default registry"
    [ -f "$XDG_DATA_HOME/claudex/mcp-servers/registry.json" ] || fail "registry.json was not created there"
    [ ! -e "$HOME/.local" ] || fail "init wrote under \$HOME/.local although XDG_DATA_HOME is set"
}

@test "a registry path that is a regular file: exit 1, and the file is unchanged" {
    local reg="$CLAUDEX_MCP_REGISTRY"
    printf 'not a registry\n' >"$reg"
    chmod 600 "$reg"
    cp -p "$reg" "$SANDBOX/original"
    run --separate-stderr claudex mcp init
    assert_status 1
    assert_stdout_empty
    assert_stderr_error not_a_directory
    [ "$(stderr_error_field path)" = "$reg" ] || fail "error.path is not the registry path"
    [ -f "$reg" ] || fail "the file was replaced"
    cmp "$SANDBOX/original" "$reg" || fail "the file's content changed"
    assert_mode 600 "$reg"
}

@test "an existing invalid registry.json: exit 1, and the file is byte-identical afterwards" {
    local reg="$CLAUDEX_MCP_REGISTRY"
    mkdir -p "$reg"
    printf '{"apiVersion": "v2", "servers": {"Bad Name": {}}}\n' >"$reg/registry.json"
    cp -p "$reg/registry.json" "$SANDBOX/original"
    run --separate-stderr claudex mcp init
    assert_status 1
    assert_stdout_empty
    assert_stderr_error invalid_registry
    [ "$(stderr_error_field path)" = "$reg/registry.json" ] || fail "error.path is not registry.json"
    [[ "$(stderr_error_field hint)" == *"claudex mcp validate"* ]] || fail "the hint does not suggest validate"
    cmp "$SANDBOX/original" "$reg/registry.json" || fail "registry.json changed"
    [ "$(stat -c %a "$reg/registry.json")" = "$(stat -c %a "$SANDBOX/original")" ] || fail "registry.json's mode changed"
    # A failed init creates nothing either: no core/, installed/, disabled/ beside the bad file.
    [ "$(ls -A "$reg" | grep -vx .lock)" = registry.json ] || fail "init created entries in the registry although it failed: $(ls -A "$reg")"
}

@test "an existing registry.json that is not JSON: exit 1, no traceback, file byte-identical" {
    local reg="$CLAUDEX_MCP_REGISTRY"
    mkdir -p "$reg"
    printf '{"apiVersion": "v1", "servers": {},}\n' >"$reg/registry.json"
    cp "$reg/registry.json" "$SANDBOX/original"
    run --separate-stderr claudex mcp init --json
    assert_status 1
    assert_stdout_empty
    assert_stderr_error invalid_registry
    assert_no_traceback
    cmp "$SANDBOX/original" "$reg/registry.json" || fail "registry.json changed"
}

@test "a registry folder entry that is not a directory: exit 1 with not_a_directory" {
    local reg="$CLAUDEX_MCP_REGISTRY"
    run --separate-stderr claudex mcp init
    assert_status 0
    rmdir "$reg/installed"
    printf 'x' >"$reg/installed"
    run --separate-stderr claudex mcp init
    assert_status 1
    assert_stdout_empty
    assert_stderr_error not_a_directory
    [ "$(stderr_error_field path)" = "$reg/installed" ] || fail "error.path is not the offending entry"
    [ "$(cat "$reg/installed")" = x ] || fail "the file was changed"
}

@test "init exits 3 with code locked while another process holds the registry lock" {
    local reg="$CLAUDEX_MCP_REGISTRY"
    command -v flock >/dev/null || skip "flock(1) is not installed"
    run --separate-stderr claudex mcp init
    assert_status 0
    rm "$reg/registry.json"
    exec {lockfd}>"$reg/.lock"
    flock -n "$lockfd" || fail "could not take the lock for the test"
    CLAUDEX_MCP_LOCK_TIMEOUT=0.2 run --separate-stderr claudex mcp init
    exec {lockfd}>&-
    assert_status 3
    assert_stdout_empty
    assert_stderr_error locked
    [ ! -e "$reg/registry.json" ] || fail "init wrote registry.json without the lock"
}

@test "a registry path below a regular file: exit 1 with a clear error, not an internal error" {
    printf 'x' >"$SANDBOX/file"
    export CLAUDEX_MCP_REGISTRY="$SANDBOX/file/registry"
    run --separate-stderr claudex mcp init
    assert_status 1
    assert_stdout_empty
    assert_no_traceback
    assert_stderr_error not_a_directory
    [ "$(cat "$SANDBOX/file")" = x ] || fail "the file was changed"
}
