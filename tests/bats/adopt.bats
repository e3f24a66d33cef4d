#!/usr/bin/env bats
# claudex mcp add and claudex mcp migrate (and migrate-mcp) as a shell sees them: exit codes, the
# error object, the text and JSON results, no secret on stdout or in a shared file, and files left
# byte for byte as they were after a failure, a dry run or a rollback.

bats_require_minimum_version 1.5.0

load test_helper
load mcp_helper

TOKEN="ghp_Batstest0123456789abcdefABCDEF0123"

setup() {
    setup_sandbox
    REG="$CLAUDEX_MCP_REGISTRY"
    init_registry
}

# home_snapshot: the checksum of every file under HOME except claudex's state and caches.
home_snapshot() {
    find "$HOME" -type f -not -path "$HOME/.local/*" -not -path "$HOME/.cache/*" -exec sha256sum {} + | LC_ALL=C sort
}

# client_home: a ~/.mcp.json with a secret-bearing server, and a Cursor file with a remote one.
client_home() {
    mkdir -p "$HOME/.cursor"
    cat >"$HOME/.mcp.json" <<JSON
{
  "other": {"keep": [1, 2, 3]},
  "mcpServers": {
    "github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
               "env": {"GITHUB_TOKEN": "$TOKEN"}}
  }
}
JSON
    cat >"$HOME/.cursor/mcp.json" <<'JSON'
{"mcpServers": {"docs": {"url": "https://mcp.example.com/mcp", "headers": {"X-Team": "blue"}}}}
JSON
}

# ---- add ------------------------------------------------------------------------------------

@test "add -- COMMAND: exit 0, one line, the secret in the user layer only" {
    run --separate-stderr claudex mcp add github --no-pin --env "GITHUB_TOKEN=$TOKEN" -- npx -y @modelcontextprotocol/server-github
    assert_status 0
    assert_stderr_empty
    [ "${lines[0]}" = "added github (stdio) in $REG/installed/github" ] || fail "unexpected first line"
    assert_stdout_contains "kept in your user layer (mode 600): GITHUB_TOKEN"
    [[ "$output" != *"$TOKEN"* ]] || fail "the secret was printed"
    ! grep -rq "$TOKEN" "$REG" || fail "the secret is in the registry"
    [ "$(stat -c %a "$XDG_CONFIG_HOME/claudex/mcp.json")" = 600 ] || fail "the user layer is not 600"
    [ "$(file_json "$REG/installed/github/manifest.json" 'doc["server"]["env"]')" = "{'GITHUB_TOKEN': '\${GITHUB_TOKEN}'}" ] ||
        fail "the manifest does not refer to the variable"
    run --separate-stderr claudex mcp validate "$REG/installed/github"
    assert_status 0
}

@test "add --url --json: the result object, secrets named by variable" {
    run --separate-stderr claudex mcp add docs --url https://mcp.example.com/sse --transport sse \
        --header "Authorization=Bearer sk-batstest-0123456789" --json
    assert_status 0
    assert_stderr_empty
    [ "$(json_eval '[doc["name"], doc["transport"], doc["location"], doc["secrets"]]')" = \
      "['docs', 'sse', 'installed', {'export': [], 'userLayer': ['DOCS_TOKEN']}]" ] || fail "unexpected result"
    [[ "$output" != *sk-batstest* ]] || fail "the secret was printed"
}

@test "add a name in use: exit 3 with a hint, nothing changed" {
    run claudex mcp add dup -- python3 a.py
    assert_status 0
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp add dup -- python3 b.py
    assert_status 3
    assert_stdout_empty
    assert_stderr_error already_installed
    [[ "$(stderr_error_field hint)" == *"uninstall dup"* ]] || fail "no hint"
    assert_registry_unchanged "$before"
}

@test "add without a command, or with an invalid name: exit 2" {
    run --separate-stderr claudex mcp add nothing
    assert_status 2
    assert_stderr_error no_command
    run --separate-stderr claudex mcp add Not_A_Name -- true
    assert_status 2
    assert_stderr_error invalid_name
    assert_no_traceback
}

# ---- migrate ------------------------------------------------------------------------------------

@test "migrate --dry-run: the plan on stdout, nothing changed" {
    client_home
    local before reg
    before="$(home_snapshot)"
    reg="$(registry_snapshot)"
    run --separate-stderr claudex mcp migrate --dry-run
    assert_status 0
    assert_stdout_contains "would add github (stdio, everywhere) from $HOME/.mcp.json#/mcpServers/github"
    assert_stdout_contains "secrets would be kept in your user layer: GITHUB_TOKEN"
    assert_stdout_contains "would rewrite $HOME/.cursor/mcp.json: /mcpServers/docs -> docs"
    [[ "$output" != *"$TOKEN"* ]] || fail "the secret was printed"
    [ "$before" = "$(home_snapshot)" ] || fail "the home changed"
    assert_registry_unchanged "$reg"
}

@test "migrate, then --rollback: launcher entries, then every file byte for byte" {
    client_home
    local before
    before="$(home_snapshot)"
    run --separate-stderr claudex mcp migrate --json
    assert_status 0
    [ "$(json_eval 'sorted(s["name"] for s in doc["servers"])')" = "['docs', 'github']" ] || fail "unexpected servers"
    [[ "$output" != *"$TOKEN"* ]] || fail "the secret was printed"
    [ "$(file_json "$HOME/.mcp.json" 'doc["mcpServers"]["github"]["args"][-3:]')" = "['mcp', 'run', 'github']" ] ||
        fail "no launcher entry: $(cat "$HOME/.mcp.json")"
    [ "$(file_json "$HOME/.mcp.json" 'doc["other"]')" = "{'keep': [1, 2, 3]}" ] || fail "another key changed"
    ! grep -q "$TOKEN" "$HOME/.mcp.json" || fail "the secret is still in the client file"
    run --separate-stderr claudex mcp migrate --list-backups
    assert_status 0
    assert_stdout_contains "complete  servers: docs, github"
    run --separate-stderr claudex mcp migrate --rollback
    assert_status 0
    assert_stdout_contains "removed server github"
    [ "$before" = "$(home_snapshot)" ] || fail "the files were not restored byte for byte"
    [ -z "$(ls "$REG/installed")" ] || fail "servers are left: $(ls "$REG/installed")"
}

@test "migrate-mcp is the same command" {
    client_home
    run --separate-stderr migrate-mcp --dry-run --json --from "$HOME/.cursor/mcp.json"
    assert_status 0
    [ "$(json_eval '[s["name"] for s in doc["servers"]]')" = "['docs']" ] || fail "unexpected plan"
}

@test "migrate --from an invalid file: exit 1, nothing changed" {
    client_home
    printf '{"mcpServers": {' >"$HOME/broken.json"
    local before
    before="$(home_snapshot)"
    run --separate-stderr claudex mcp migrate --from "$HOME/broken.json"
    assert_status 1
    assert_stdout_empty
    assert_stderr_error invalid_source
    [ "$before" = "$(home_snapshot)" ] || fail "the home changed"
}

@test "migrate --rollback with no backup: exit 4" {
    run --separate-stderr claudex mcp migrate --rollback
    assert_status 4
    assert_stderr_error no_backup
}
