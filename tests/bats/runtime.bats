#!/usr/bin/env bats
# The verbs that read the registry and start servers, as a shell sees them: list, cache,
# config, generate, run, status, test and logs.

bats_require_minimum_version 1.5.0

load test_helper
load mcp_helper

setup() {
    setup_sandbox
    export CLAUDEX_PROJECTS_DIR="$SANDBOX/projects"
    REG="$CLAUDEX_MCP_REGISTRY"
    SRC="$SANDBOX/src"
    USER_LAYER="$XDG_CONFIG_HOME/claudex/mcp.json"
    LOGS="$XDG_STATE_HOME/claudex/logs"
    mkdir -p "$SRC" "$CLAUDEX_PROJECTS_DIR"
    init_registry
}

teardown() {
    stop_background
}

# A server that needs TINY_TOKEN (a secret: requiredEnv), started like make_server's.
make_token_server() {
    make_server "$1" "$2" 1.0.0 \
        '{"command": "python3", "args": ["${SERVER_DIR}/server.py", "a b"], "requiredEnv": ["TINY_TOKEN"]}'
}

# Three servers: alpha (installed), beta (disabled, 2.0.0) and gamma (core).
three_servers() {
    make_server "$SRC/alpha" alpha
    make_server "$SRC/beta" beta 2.0.0
    install_quiet "$SRC/alpha"
    install_quiet "$SRC/beta"
    claudex mcp disable beta >/dev/null
    make_server "$REG/core/gamma" gamma
}

# ---- list ---------------------------------------------------------------------------------

@test "list piped prints one tab-separated line per server, sorted, without a header" {
    three_servers
    run --separate-stderr claudex mcp list
    assert_status 0
    assert_stderr_empty
    [ "${#lines[@]}" -eq 3 ] || fail "expected three lines"
    [ "${lines[0]}" = $'alpha\tinstalled\t1.0.0\tyes\tok' ] || fail "alpha's line"
    [ "${lines[1]}" = $'beta\tdisabled\t2.0.0\tno\tok' ] || fail "beta's line"
    [ "${lines[2]}" = $'gamma\tcore\t1.0.0\tyes\tok' ] || fail "gamma's line"
}

@test "list --enabled leaves out disabled and invalid servers" {
    three_servers
    mkdir -p "$REG/installed/broken"
    echo '{' >"$REG/installed/broken/manifest.json"
    run --separate-stderr claudex mcp list
    assert_status 0
    [ "${#lines[@]}" -eq 4 ] || fail "expected four lines without --enabled"
    [[ "${lines[2]}" == $'broken\tinstalled\t-\tno\tinvalid: '*"invalid JSON"* ]] || fail "broken is not shown invalid"
    run --separate-stderr claudex mcp list --enabled
    assert_status 0
    [ "${#lines[@]}" -eq 2 ] || fail "expected two lines with --enabled"
    [[ "${lines[0]}" == alpha$'\t'* && "${lines[1]}" == gamma$'\t'* ]] || fail "--enabled does not list alpha and gamma"
}

@test "list --json prints an array of servers with their location, version, state and source" {
    three_servers
    run --separate-stderr claudex mcp list --json
    assert_status 0
    assert_stderr_empty
    [ "$(json_eval '[(r["name"], r["location"], r["version"], r["enabled"], r["valid"]) for r in doc]')" = \
        "[('alpha', 'installed', '1.0.0', True, True), ('beta', 'disabled', '2.0.0', False, True), ('gamma', 'core', '1.0.0', True, True)]" ] ||
        fail "unexpected servers"
    [ "$(json_eval 'doc[0]["source"] == {"type": "path", "path": "'"$SRC/alpha"'"} and doc[0]["folder"] == "'"$REG/installed/alpha"'"')" = True ] ||
        fail "alpha's source or folder"
    [[ "$output" == "["$'\n'"  {"* ]] || fail "the JSON is not indented by 2"
}

@test "list --jq prints each output of the filter, strings raw; a bad filter exits 2" {
    three_servers
    run --separate-stderr claudex mcp list --jq '.[].name'
    assert_status 0
    [ "$output" = $'alpha\nbeta\ngamma' ] || fail "unexpected --jq output"
    run --separate-stderr claudex mcp list --enabled --jq 'map(.name)'
    assert_status 0
    [ "$output" = $'[\n  "alpha",\n  "gamma"\n]' ] || fail "unexpected --jq output for a list"
    run --separate-stderr claudex mcp list --jq '.['
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
    [[ "$(stderr_error_field message)" == --jq:* ]] || fail "the message does not name --jq"
}

@test "list of an empty registry prints nothing; without a registry it exits 4 no_registry" {
    run --separate-stderr claudex mcp list
    assert_status 0
    assert_stdout_empty
    run --separate-stderr claudex mcp list --json
    assert_status 0
    [ "$(json_eval 'doc')" = "[]" ] || fail "expected an empty array"
    export CLAUDEX_MCP_REGISTRY="$SANDBOX/no-registry"
    run --separate-stderr claudex mcp list
    assert_status 4
    assert_stdout_empty
    assert_stderr_error no_registry
}

# ---- cache --------------------------------------------------------------------------------

@test "cache stats counts a miss, then a hit" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    claudex mcp cache clear >/dev/null
    claudex mcp list >/dev/null  # a miss: the install invalidated the cache
    claudex mcp list >/dev/null  # a hit
    run --separate-stderr claudex mcp cache stats --json
    assert_status 0
    assert_stderr_empty
    [ "$(json_eval '[doc["hits"], doc["misses"], doc["hitRate"], doc["cached"], doc["file"]]')" = \
        "[1, 1, 0.5, True, '$XDG_CACHE_HOME/claudex/mcp-registry.json']" ] || fail "unexpected stats"
    run --separate-stderr claudex mcp cache stats
    assert_status 0
    [ "$output" = "1 hits, 1 misses, hit rate 50.0%; cached ($XDG_CACHE_HOME/claudex/mcp-registry.json, ttl 300 s)" ] ||
        fail "unexpected stats line"
}

@test "cache clear removes the cache and its counters" {
    claudex mcp list >/dev/null
    [ -f "$XDG_CACHE_HOME/claudex/mcp-registry.json" ] || fail "list did not write the cache"
    run --separate-stderr claudex mcp cache clear
    assert_status 0
    assert_stderr_empty
    [ "$output" = "cleared (2 files removed)" ] || fail "unexpected message"
    [ ! -e "$XDG_CACHE_HOME/claudex/mcp-registry.json" ] || fail "the cache file is still there"
    [ ! -e "$XDG_CACHE_HOME/claudex/mcp-registry.stats" ] || fail "the counters are still there"
    run --separate-stderr claudex mcp cache stats
    [ "$output" = "0 hits, 0 misses; empty ($XDG_CACHE_HOME/claudex/mcp-registry.json, ttl 300 s)" ] || fail "unexpected stats"
    run --separate-stderr claudex mcp cache clear --json
    assert_status 0
    [ "$(json_eval 'doc')" = "{'removed': []}" ] || fail "a second clear removed something"
}

@test "cache refresh rescans the registry and brings registry.json in line with the folders" {
    run --separate-stderr claudex mcp cache refresh
    assert_status 0
    [ "$output" = "rescanned $REG: 0 servers" ] || fail "unexpected message"
    make_server "$REG/installed/tiny" tiny
    make_server "$REG/core/corex" corex
    run --separate-stderr claudex mcp list --json
    assert_status 0
    [ "$(file_json "$REG/registry.json" 'sorted(doc["servers"])')" = "[]" ] || fail "list wrote registry.json"
    run --separate-stderr claudex mcp cache refresh --json
    assert_status 0
    assert_stderr_empty
    [ "$(json_eval 'doc')" = "{'reconciled': True, 'registry': '$REG', 'servers': 2}" ] || fail "unexpected result"
    [ "$(file_json "$REG/registry.json" 'sorted(doc["servers"])')" = "['corex', 'tiny']" ] || fail "registry.json not reconciled"
}

@test "cache with an unknown action exits 2; bare cache shows its stats" {
    run --separate-stderr claudex mcp cache bogus
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
    [[ "$(stderr_error_field message)" == *bogus* ]] || fail "the message does not name the action"
    claudex mcp list >/dev/null
    claudex mcp list >/dev/null
    run --separate-stderr claudex mcp cache
    assert_status 0
    assert_stderr_empty
    [[ "$output" == "1 hits, 1 misses, hit rate 50.0%; cached ("* ]] || fail "bare cache is not cache stats: $output"
    local stats
    stats="$(claudex mcp cache stats)"
    [ "$output" = "$stats" ] || fail "bare cache and cache stats differ"
}

# ---- config -------------------------------------------------------------------------------

@test "config show prints the effective config with secret values masked" {
    make_token_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    claudex mcp config set tiny env.TINY_TOKEN sk-live-123 >/dev/null
    claudex mcp config set tiny env.GREETING hello >/dev/null
    run --separate-stderr claudex mcp config show tiny
    assert_status 0
    assert_stderr_empty
    [[ "$output" != *sk-live-123* ]] || fail "the secret is shown"
    [ "${lines[0]}" = "tiny is enabled" ] || fail "the first line does not say whether tiny is enabled"
    assert_stdout_contains "  command: python3"
    assert_stdout_contains $'    args:\n      - "${SERVER_DIR}/server.py"\n      - "a b"\n    env:\n      GREETING: "hello"\n      TINY_TOKEN: "********"'
    run --separate-stderr claudex mcp config show tiny --json
    assert_status 0
    [[ "$output" != *sk-live-123* ]] || fail "the secret is shown with --json"
    [ "$(json_eval 'doc["config"]["env"]["TINY_TOKEN"]')" = "********" ] || fail "not masked with --json"
}

@test "config explain names the layer of every value and what it shadows" {
    make_token_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    claudex mcp config set tiny env.TINY_TOKEN '${MY_TOKEN}' --global >/dev/null
    claudex mcp config set tiny env.TINY_TOKEN sk-live-123 >/dev/null
    run --separate-stderr claudex mcp config explain tiny --json
    assert_status 0
    assert_stderr_empty
    [[ "$output" != *sk-live-123* ]] || fail "the secret is shown"
    [ "$(json_eval '[(v["layer"], v["value"], [(s["layer"], s["value"]) for s in v["shadows"]]) for v in doc["values"] if v["key"] == "env.TINY_TOKEN"]')" = \
        "[('user', '********', [('global', '\${MY_TOKEN}')])]" ] || fail "unexpected explanation"
    [ "$(json_eval '[(l["layer"], l["exists"]) for l in doc["layers"]]')" = "[('global', True), ('user', True)]" ] ||
        fail "unexpected layers"
    run --separate-stderr claudex mcp config explain tiny
    assert_status 0
    [ "${lines[0]}" = "tiny is enabled" ] || fail "unexpected first line"
    assert_stdout_contains 'env.TINY_TOKEN = "********"'$'\n'"    from user: $USER_LAYER"$'\n'"    shadows \"\${MY_TOKEN}\" from global: $REG/config.json"
}

@test "config set writes the user layer by default, mode 600" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    run --separate-stderr claudex mcp config set tiny env.GREETING hello
    assert_status 0
    assert_stderr_empty
    [ "$output" = "tiny: env.GREETING = \"hello\" in the user layer ($USER_LAYER)" ] || fail "unexpected message"
    [ "$(stat -c %a "$USER_LAYER")" = 600 ] || fail "the user layer is not 600"
    [ "$(file_json "$USER_LAYER" 'doc == {"apiVersion": "v1", "servers": {"tiny": {"env": {"GREETING": "hello"}}}}')" = True ] ||
        fail "unexpected user layer: $(cat "$USER_LAYER")"
    # JSON values are typed; setting the same value again changes nothing.
    run --separate-stderr claudex mcp config set tiny settings.limit 3 --json
    assert_status 0
    [ "$(file_json "$USER_LAYER" 'doc["servers"]["tiny"]["settings"]')" = "{'limit': 3}" ] || fail "the value is not a number"
    run --separate-stderr claudex mcp config set tiny settings.limit 3 --json
    [ "$(json_eval 'doc["changed"]')" = False ] || fail "the same value was written again"
}

@test "config set --global writes \$CLAUDEX_MCP_REGISTRY/config.json; a reference to a secret is accepted" {
    make_token_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    run --separate-stderr claudex mcp config set tiny env.TINY_TOKEN '${MY_TOKEN}' --global
    assert_status 0
    [ "$output" = "tiny: env.TINY_TOKEN = \"\${MY_TOKEN}\" in the global layer ($REG/config.json)" ] || fail "unexpected message"
    [ "$(stat -c %a "$REG/config.json")" = 644 ] || fail "the global layer is not 644"
    [ "$(file_json "$REG/config.json" 'doc["servers"]["tiny"]')" = "{'env': {'TINY_TOKEN': '\${MY_TOKEN}'}}" ] ||
        fail "unexpected global layer"
    [ ! -e "$USER_LAYER" ] || fail "the user layer was written"
}

@test "config set --project NAME writes the project layer" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    mkdir -p "$CLAUDEX_PROJECTS_DIR/demo"
    local layer="$CLAUDEX_PROJECTS_DIR/demo/.claudex/mcp.json"
    run --separate-stderr claudex mcp config set tiny enabled false --project demo
    assert_status 0
    [ "$output" = "tiny: enabled = false in the project layer ($layer)" ] || fail "unexpected message"
    [ "$(file_json "$layer" 'doc["servers"]["tiny"]')" = "{'enabled': False}" ] || fail "unexpected project layer"
    run --separate-stderr claudex mcp config show tiny --project demo --json
    [ "$(json_eval '[doc["config"]["enabled"], doc["project"]["name"]]')" = "[False, 'demo']" ] || fail "the project layer is not applied"
    run --separate-stderr claudex mcp config set tiny enabled false --project nosuch
    assert_status 4
    assert_stderr_error no_project
}

@test "a secret literal is refused in the global and project layers: exit 1 secret_in_shared_layer, nothing written" {
    make_token_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    mkdir -p "$CLAUDEX_PROJECTS_DIR/demo"
    claudex mcp config set tiny env.GREETING hello --global >/dev/null
    local before
    before="$(registry_snapshot)"
    local key
    for key in env.TINY_TOKEN env.OTHER_API_KEY headers.Authorization; do
        run --separate-stderr claudex mcp config set tiny "$key" sk-live-123 --global
        assert_status 1
        assert_stdout_empty
        assert_stderr_error secret_in_shared_layer
        [[ "${stderr}" != *sk-live-123* ]] || fail "the error repeats the secret"
        run --separate-stderr claudex mcp config set tiny "$key" sk-live-123 --project demo
        assert_status 1
        assert_stderr_error secret_in_shared_layer
    done
    assert_registry_unchanged "$before"
    [ ! -e "$CLAUDEX_PROJECTS_DIR/demo/.claudex" ] || fail "the project layer was written"
    # The user layer is where literals go.
    run --separate-stderr claudex mcp config set tiny env.TINY_TOKEN sk-live-123 --user
    assert_status 0
    [ "$output" = "tiny: env.TINY_TOKEN = \"********\" in the user layer ($USER_LAYER)" ] || fail "the secret is not masked"
}

@test "a secret literal inside an object value is refused in the global layer too" {
    make_token_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp config set tiny env '{"TINY_TOKEN": "sk-live-123"}' --global
    assert_status 1
    assert_stdout_empty
    assert_stderr_error secret_in_shared_layer
    assert_registry_unchanged "$before"
}

@test "config set with --global and --project-dir together is a usage error" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    mkdir -p "$CLAUDEX_PROJECTS_DIR/demo"
    run --separate-stderr claudex mcp config set tiny enabled false --global --project-dir "$CLAUDEX_PROJECTS_DIR/demo"
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
    [ ! -e "$CLAUDEX_PROJECTS_DIR/demo/.claudex/mcp.json" ] || fail "the project layer was written"
}

@test "config of an unknown server exits 4 no_server" {
    local action
    for action in show explain; do
        run --separate-stderr claudex mcp config "$action" nope
        assert_status 4
        assert_stdout_empty
        assert_stderr_error no_server
    done
    run --separate-stderr claudex mcp config set nope env.X y
    assert_status 4
    assert_stdout_empty
    assert_stderr_error no_server
    [ ! -e "$USER_LAYER" ] || fail "the user layer was written"
}

@test "config set with an unknown key or an invalid value exits 1; nothing is written" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    local key
    for key in bogus.x enabled.x args.x env. .env; do
        run --separate-stderr claudex mcp config set tiny "$key" y
        assert_status 1
        assert_stdout_empty
        assert_stderr_error unknown_key
    done
    run --separate-stderr claudex mcp config set tiny enabled maybe
    assert_status 1
    assert_stdout_empty
    assert_stderr_error invalid_value
    [ ! -e "$USER_LAYER" ] || fail "the user layer was written"
}

@test "config without an action, or set without a value, exits 2" {
    run --separate-stderr claudex mcp config
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
    run --separate-stderr claudex mcp config set tiny enabled
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
}

# ---- generate -----------------------------------------------------------------------------

@test "generate --output - prints the client config and writes no file" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    run --separate-stderr claudex mcp generate --output -
    assert_status 0
    assert_stderr_empty
    [ "$(json_eval 'doc == {"mcpServers": {"tiny": {"type": "stdio", "command": "'"$REPO/.venv/bin/claudex"'", "args": ["mcp", "run", "tiny"], "env": {"CLAUDEX_MCP_REGISTRY": "'"$REG"'"}}}}')" = True ] ||
        fail "unexpected entry"
    [ ! -e "$HOME/.mcp.json" ] || fail "~/.mcp.json was written"
    [ ! -e "$XDG_STATE_HOME/claudex/generated.json" ] || fail "the generate record was written"
}

@test "generate writes ~/.claude.json, ~/.mcp.json and Codex's config; a second run changes nothing" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    export CODEX_HOME="$SANDBOX/codex-home"
    run --separate-stderr claudex mcp generate
    assert_status 0
    assert_stderr_empty
    [ "${lines[0]}" = "wrote  $HOME/.claude.json (claude-code, user scope)" ] || fail "unexpected first line"
    [ "${lines[1]}" = "  servers: tiny" ] || fail "unexpected second line"
    [ "${lines[2]}" = "wrote  $HOME/.mcp.json (claude-code, default scope)" ] || fail "unexpected third line"
    [ "${lines[4]}" = "wrote  $CODEX_HOME/config.toml (codex, user scope)" ] || fail "unexpected fifth line"
    [ "$(stat -c %a "$HOME/.claude.json")" = 600 ] || fail "a new ~/.claude.json is not 600"
    [ "$(file_json "$HOME/.mcp.json" 'doc["mcpServers"]["tiny"]["args"]')" = "['mcp', 'run', 'tiny']" ] || fail "no tiny entry"
    [ "$(stat -c %a "$HOME/.mcp.json")" = 644 ] || fail "~/.mcp.json is not 644"
    local before
    before="$(stat -c '%i %Y %s' "$HOME/.mcp.json")"
    sleep 0.05
    run --separate-stderr claudex mcp generate --json
    assert_status 0
    [ "$(json_eval '[[t["changed"], t["target"], t["servers"], t["backup"]] for t in doc["targets"]][1]')" = "[False, '$HOME/.mcp.json', ['tiny'], None]" ] ||
        fail "the second run is not a no-op"
    [ "$(stat -c '%i %Y %s' "$HOME/.mcp.json")" = "$before" ] || fail "~/.mcp.json was rewritten"
}

@test "generate keeps entries it did not write and the previous file as .bak" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    echo '{"mcpServers": {"mine": {"command": "mine-server"}}}' >"$HOME/.mcp.json"
    local original
    original="$(cat "$HOME/.mcp.json")"
    run --separate-stderr claudex mcp generate
    assert_status 0
    assert_stdout_contains "previous file: $HOME/.mcp.json.bak"
    [ "$(file_json "$HOME/.mcp.json" 'sorted(doc["mcpServers"])')" = "['mine', 'tiny']" ] || fail "the user's entry was dropped"
    [ "$(file_json "$HOME/.mcp.json" 'doc["mcpServers"]["mine"]')" = "{'command': 'mine-server'}" ] || fail "the user's entry changed"
    [ "$(cat "$HOME/.mcp.json.bak")" = "$original" ] || fail "the .bak is not the previous file"
}

@test "generate never writes a secret value into the client config" {
    make_token_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    claudex mcp config set tiny env.TINY_TOKEN sk-live-123 >/dev/null
    run --separate-stderr claudex mcp generate
    assert_status 0
    ! grep -q sk-live-123 "$HOME/.mcp.json" || fail "the secret is in ~/.mcp.json"
    grep -q '"tiny"' "$HOME/.mcp.json" || fail "tiny is not in ~/.mcp.json"
}

@test "generate --client codex writes \$CODEX_HOME/config.toml" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    export CODEX_HOME="$SANDBOX/codex-home"
    run --separate-stderr claudex mcp generate --client codex
    assert_status 0
    assert_stderr_empty
    [ "${lines[0]}" = "wrote  $CODEX_HOME/config.toml (codex, user scope)" ] || fail "unexpected first line"
    [ ! -e "$HOME/.codex" ] || fail "~/.codex was written despite CODEX_HOME"
    [ "$(python3 -c '
import sys, tomllib
doc = tomllib.load(open(sys.argv[1], "rb"))
tiny = doc["mcp_servers"]["tiny"]
print(tiny["command"], tiny["args"], tiny["env"])
' "$CODEX_HOME/config.toml")" = "$REPO/.venv/bin/claudex ['mcp', 'run', 'tiny'] {'CLAUDEX_MCP_REGISTRY': '$REG'}" ] ||
        fail "unexpected config.toml: $(cat "$CODEX_HOME/config.toml")"
}

@test "generate --scope project without a project exits 2 no_project and writes nothing" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    run --separate-stderr claudex mcp generate --scope project
    assert_status 2
    assert_stdout_empty
    assert_stderr_error no_project
    [ ! -e "$HOME/.mcp.json" ] || fail "~/.mcp.json was written"
    [ -z "$(find "$SANDBOX" -name .mcp.json)" ] || fail "a .mcp.json was written"
}

@test "generate --project NAME --scope project writes the project's .mcp.json without what it disables" {
    make_server "$SRC/tiny" tiny
    make_server "$SRC/other" other
    install_quiet "$SRC/tiny"
    install_quiet "$SRC/other"
    mkdir -p "$CLAUDEX_PROJECTS_DIR/demo"
    claudex mcp disable other --project demo >/dev/null
    run --separate-stderr claudex mcp generate --project demo --scope project
    assert_status 0
    [ "${lines[0]}" = "wrote  $CLAUDEX_PROJECTS_DIR/demo/.mcp.json (claude-code, project scope)" ] || fail "unexpected first line"
    [ "$(file_json "$CLAUDEX_PROJECTS_DIR/demo/.mcp.json" 'sorted(doc["mcpServers"])')" = "['tiny']" ] ||
        fail "the project config does not hold only tiny"
}

@test "install and uninstall regenerate the client configs generated before" {
    make_server "$SRC/tiny" tiny
    make_server "$SRC/other" other
    install_quiet "$SRC/tiny"
    claudex mcp generate >/dev/null
    install_quiet "$SRC/other"
    [ "$(file_json "$HOME/.mcp.json" 'sorted(doc["mcpServers"])')" = "['other', 'tiny']" ] || fail "install did not regenerate"
    claudex mcp uninstall tiny >/dev/null
    [ "$(file_json "$HOME/.mcp.json" 'sorted(doc["mcpServers"])')" = "['other']" ] || fail "uninstall did not regenerate"
}

# ---- run ----------------------------------------------------------------------------------

@test "run execs the server in its folder with its args, piping stdin to stdout" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    run --separate-stderr bash -c 'printf "hello\nworld\n" | claudex mcp run tiny'
    assert_status 0
    assert_stderr_empty  # the server's stderr goes to its log
    [ "${#lines[@]}" -eq 3 ] || fail "expected three lines"
    [ "${lines[1]}" = hello ] && [ "${lines[2]}" = world ] || fail "stdin did not come through"
    local first="${lines[0]}"
    output="$first"
    [ "$(json_eval '[doc["argv"], doc["cwd"], doc["env"]["SERVER_DIR"]]')" = "[['a b'], '$REG/installed/tiny', '$REG/installed/tiny']" ] ||
        fail "unexpected argv, folder or SERVER_DIR: $first"
}

@test "run appends the server's stderr to its log" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    run --separate-stderr bash -c 'claudex mcp run tiny </dev/null'
    assert_status 0
    [ -f "$LOGS/tiny.log" ] || fail "no log at $LOGS/tiny.log"
    [ "$(stat -c %a "$LOGS/tiny.log")" = 600 ] || fail "the log is not 600"
    grep -q '^--- .* claudex mcp run tiny (pid [0-9]*) ---$' "$LOGS/tiny.log" || fail "no start line in the log"
    grep -qx 'tiny: started' "$LOGS/tiny.log" || fail "the server's stderr is not in the log"
    [ "$(file_json "$XDG_STATE_HOME/claudex/run/tiny.json" '[doc["name"], doc["cwd"]]')" = "['tiny', '$REG/installed/tiny']" ] ||
        fail "no run record"
}

@test "run without a required variable exits 1 with one readable line naming it; the server does not start" {
    make_token_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    run --separate-stderr bash -c 'claudex mcp run tiny </dev/null'
    assert_status 1
    assert_stdout_empty
    assert_stderr_human "tiny needs TINY_TOKEN"
    assert_stderr_contains "claudex mcp config set tiny env.TINY_TOKEN VALUE"
    [ ! -e "$LOGS/tiny.log" ] || fail "the server was started"
    # From the environment, it starts.
    run --separate-stderr bash -c 'TINY_TOKEN=from-env claudex mcp run tiny </dev/null'
    assert_status 0
    [ "$(json_eval 'doc["env"]["TINY_TOKEN"]')" = from-env ] || fail "the server did not get TINY_TOKEN"
}

@test "run expands \${VAR} references from the config layers" {
    make_token_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    claudex mcp config set tiny env.TINY_TOKEN '${MY_TOKEN}' --global >/dev/null
    claudex mcp config set tiny env.GREETING 'hi ${USER_NAME:-there}' >/dev/null
    run --separate-stderr bash -c 'MY_TOKEN=s3cret claudex mcp run tiny </dev/null'
    assert_status 0
    assert_stderr_empty
    [ "$(json_eval 'doc["env"]')" = "{'GREETING': 'hi there', 'SERVER_DIR': '$REG/installed/tiny', 'TINY_TOKEN': 's3cret'}" ] ||
        fail "the references were not expanded"
    # The reference to an unset variable leaves TINY_TOKEN missing.
    run --separate-stderr bash -c 'claudex mcp run tiny </dev/null'
    assert_status 1
    assert_stderr_human "TINY_TOKEN"
}

@test "run of an unknown server exits 4 with one readable line" {
    run --separate-stderr bash -c 'claudex mcp run nope </dev/null'
    assert_status 4
    assert_stdout_empty
    assert_stderr_human "no server 'nope'"
}

@test "run of a disabled server exits 1; of a server whose command is missing exits 4" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    claudex mcp disable tiny >/dev/null
    run --separate-stderr bash -c 'claudex mcp run tiny </dev/null'
    assert_status 1
    assert_stdout_empty
    assert_stderr_human "tiny is disabled here"
    write_manifest "$REG/installed/ghost" ghost 1.0.0 '{"command": "no-such-command-xyz"}'
    run --separate-stderr bash -c 'claudex mcp run ghost </dev/null'
    assert_status 4
    assert_stdout_empty
    assert_stderr_human "no-such-command-xyz"
}

# ---- status -------------------------------------------------------------------------------

@test "status with a healthy and a crashing server exits 1 and reports each state" {
    make_echo_server "$SRC/echo" echo
    make_crash_server "$SRC/crash" crash
    install_quiet "$SRC/echo"
    install_quiet "$SRC/crash"
    run --separate-stderr claudex mcp status --json
    assert_status 1
    assert_stderr_empty
    [ "$(json_eval '[(r["name"], r["state"]) for r in doc]')" = "[('crash', 'unhealthy'), ('echo', 'healthy')]" ] ||
        fail "unexpected states"
    [ "$(json_eval '[doc[0]["cause"], doc[1]["tools"], doc[1]["toolNames"], doc[1]["serverInfo"]["name"]]')" = \
        "['crashed', 2, ['add', 'echo'], 'echo']" ] || fail "unexpected details"
    [ "$(json_eval '"fatal error: cannot open the database" in doc[0]["stderr"]')" = True ] || fail "the crash's stderr is not reported"
    # The table, piped: tab-separated, one line per server (results reused from the run above).
    run --separate-stderr claudex mcp status
    assert_status 1
    [ "${#lines[@]}" -eq 2 ] || fail "expected two lines"
    [[ "${lines[0]}" == $'crash\tunhealthy\t-\t-\t-\t'*$' s ago\t'*"exited before completing the MCP handshake"* ]] || fail "crash's line"
    [[ "${lines[1]}" =~ ^echo$'\t'healthy$'\t'[0-9]+\ ms$'\t'2$'\t'-$'\t'[0-9]+\ s\ ago$'\t' ]] || fail "echo's line"
}

# strip_escapes TEXT: TEXT without colour escapes and carriage returns (what a terminal shows).
strip_escapes() {
    local text="${1//$'\r'/}"
    sed -E $'s/\x1b\\[[0-9;]*m//g' <<<"$text"
}

@test "status on a terminal: coloured cells line up with the header, rows fit the width, NO_COLOR and TERM=dumb" {
    make_echo_server "$SRC/echo" echo
    make_crash_server "$SRC/crash" crash
    install_quiet "$SRC/echo"
    install_quiet "$SRC/crash"
    claudex mcp status --refresh >/dev/null || true
    run script -qec "TERM=xterm COLUMNS=72 claudex mcp status" /dev/null
    assert_status 1
    [[ "$output" == *$'\e[32mhealthy'* && "$output" == *$'\e[31munhealthy'* ]] || fail "no colour on a terminal: $output"
    local shown header row
    shown="$(strip_escapes "$output")"
    header="$(sed -n 1p <<<"$shown")"
    [[ "$header" =~ ^NAME\ \ \ STATE\ \ \ \ \ \ LATENCY\ +TOOLS\ +PID\ +CHECKED\ +DETAIL$ ]] || fail "header: $header"
    [ "$(wc -l <<<"$shown")" -eq 3 ] || fail "a row took more than one line: $shown"
    while IFS= read -r row; do
        [ "${#row}" -le 72 ] || fail "wider than the terminal: $row"
        # Each cell starts where its header does, coloured or not.
        [ "${row:7:1}" != " " ] && [ "${row:6:1}" = " " ] || fail "STATE column misaligned: $row"
        [ "${row:18:1}" != " " ] || fail "LATENCY column misaligned: $row"
    done < <(sed -n '2,$p' <<<"$shown")
    [[ "$(sed -n 2p <<<"$shown")" == "crash  unhealthy  -        -      -    "*" s ago"*" crash exited"*"…" ]] ||
        fail "crash's row is not cut with an ellipsis: $shown"
    run script -qec "NO_COLOR=1 TERM=xterm COLUMNS=72 claudex mcp status" /dev/null
    [[ "$output" != *$'\e['* ]] || fail "colour despite NO_COLOR"
    run script -qec "TERM=dumb COLUMNS=72 claudex mcp status" /dev/null
    [[ "$output" != *$'\e['* ]] || fail "colour on a dumb terminal"
    # Piped: tab-separated and plain, unless colour is forced; the full detail, never cut.
    run --separate-stderr claudex mcp status
    [[ "$output" != *$'\e['* && "$output" != *"…"* && "$output" == *"handshake (its stderr says why)"* ]] ||
        fail "piped output: $output"
    FORCE_COLOR=1 run --separate-stderr claudex mcp status
    [[ "$output" == *$'\e[32mhealthy\e[0m\t'* ]] || fail "FORCE_COLOR does not colour a pipe: $output"
    CLICOLOR_FORCE=1 run --separate-stderr claudex mcp status
    [[ "$output" == *$'\e[31munhealthy\e[0m\t'* ]] || fail "CLICOLOR_FORCE does not colour a pipe: $output"
}

@test "status of healthy servers exits 0; status NAME --json is one object" {
    make_echo_server "$SRC/echo" echo
    install_quiet "$SRC/echo"
    run --separate-stderr claudex mcp status echo --json
    assert_status 0
    assert_stderr_empty
    [ "$(json_eval '[doc["name"], doc["state"], doc["tools"], doc["location"]]')" = "['echo', 'healthy', 2, 'installed']" ] ||
        fail "unexpected result"
    run --separate-stderr claudex mcp status echo
    assert_status 0
    [[ "${lines[0]}" =~ ^echo:\ healthy\ \(checked\ [0-9]+\ s\ ago\)$ ]] || fail "unexpected first line"  # the kept result
    assert_stdout_contains "  tools: add, echo"
}

@test "status: missing env is not healthy (exit 1); disabled servers show only with --all" {
    make_token_server "$SRC/tiny" tiny
    make_server "$SRC/off" off
    install_quiet "$SRC/tiny"
    install_quiet "$SRC/off"
    claudex mcp disable off >/dev/null
    run --separate-stderr claudex mcp status --json
    assert_status 1
    [ "$(json_eval '[(r["name"], r["state"], r.get("cause")) for r in doc]')" = "[('tiny', 'missing env', 'missing_env')]" ] ||
        fail "unexpected states"
    run --separate-stderr claudex mcp status --all --jq '.[] | "\(.name) \(.state)"'
    assert_status 1
    [ "$output" = $'off disabled\ntiny missing env' ] || fail "--all does not list the disabled server"
    run --separate-stderr claudex mcp status off --json
    assert_status 0  # disabled counts as fine
    [ "$(json_eval 'doc["state"]')" = disabled ] || fail "off is not disabled"
}

@test "status of an unknown server exits 4; of an empty registry exits 0" {
    run --separate-stderr claudex mcp status
    assert_status 0
    assert_stdout_empty
    run --separate-stderr claudex mcp status nope
    assert_status 4
    assert_stdout_empty
    assert_stderr_error no_server
}

# ---- test ---------------------------------------------------------------------------------

@test "test of a healthy server exits 0 with its name, protocol and tools" {
    make_echo_server "$SRC/echo" echo
    install_quiet "$SRC/echo"
    run --separate-stderr claudex mcp test echo
    assert_status 0
    assert_stderr_empty
    [[ "${lines[0]}" =~ ^healthy\ \ echo:\ echo\ 1\.0\.0,\ protocol\ [0-9-]+,\ [0-9]+\ ms$ ]] || fail "unexpected first line"
    [ "${lines[1]}" = "  tools: add, echo" ] || fail "unexpected tools line"
    run --separate-stderr claudex mcp test echo --jq .tools
    assert_status 0
    [ "$output" = $'[\n  "add",\n  "echo"\n]' ] || fail "unexpected --jq .tools"
}

@test "test of a crashing server exits 1 with the cause and its stderr" {
    make_crash_server "$SRC/crash" crash
    install_quiet "$SRC/crash"
    run --separate-stderr claudex mcp test crash
    assert_status 1
    [ "${lines[0]}" = "unhealthy  crash: crash exited before completing the MCP handshake" ] || fail "unexpected first line"
    assert_stdout_contains "  | fatal error: cannot open the database"
    run --separate-stderr claudex mcp test crash --json
    assert_status 1
    [ "$(json_eval '[doc["state"], doc["cause"]]')" = "['unhealthy', 'crashed']" ] || fail "unexpected result"
}

@test "test of a server folder starts it from its manifest, without installing it" {
    make_echo_server "$SRC/echo" echo
    run --separate-stderr claudex mcp test "$SRC/echo" --json
    assert_status 0
    [ "$(json_eval '[doc["state"], doc["folder"], doc["tools"]]')" = "['healthy', '$SRC/echo', ['add', 'echo']]" ] ||
        fail "unexpected result"
    [ -z "$(ls -A "$REG/installed")" ] || fail "the folder was installed"
}

@test "test of an unknown server exits 4" {
    run --separate-stderr claudex mcp test nope
    assert_status 4
    assert_stdout_empty
    assert_stderr_error no_server
}

# ---- logs ---------------------------------------------------------------------------------

@test "logs of a server that never ran exits 4 no_log" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    run --separate-stderr claudex mcp logs tiny
    assert_status 4
    assert_stdout_empty
    assert_stderr_error no_log
    [ "$(stderr_error_field path)" = "$LOGS/tiny.log" ] || fail "the error does not name the log file"
}

@test "logs after a run prints the server's stderr; -n 1 only the last line" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    echo | claudex mcp run tiny >/dev/null
    run --separate-stderr claudex mcp logs tiny
    assert_status 0
    assert_stderr_empty
    [ "${#lines[@]}" -eq 3 ] || fail "expected three lines"
    [[ "${lines[0]}" =~ ^---\ .*\ claudex\ mcp\ run\ tiny\ \(pid\ [0-9]+\)\ ---$ ]] || fail "unexpected start line"
    [ "${lines[1]}" = "tiny: started" ] && [ "${lines[2]}" = "tiny: stdin closed, bye" ] || fail "the server's stderr is not shown"
    run --separate-stderr claudex mcp logs tiny -n 1
    assert_status 0
    [ "$output" = "tiny: stdin closed, bye" ] || fail "-n 1 is not the last line"
    echo | claudex mcp run tiny >/dev/null
    run --separate-stderr claudex mcp logs tiny --lines 2 --json
    assert_status 0
    [ "$(json_eval '[doc["server"], doc["file"], doc["lines"]]')" = \
        "['tiny', '$LOGS/tiny.log', ['tiny: started', 'tiny: stdin closed, bye']]" ] || fail "unexpected --json"
    run --separate-stderr claudex mcp logs tiny -n 0
    assert_status 0
    assert_stdout_empty
}

@test "logs -n with a negative number or an invalid server name exits 2" {
    run --separate-stderr claudex mcp logs tiny -n -1
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
    run --separate-stderr claudex mcp logs ../../etc/passwd
    assert_status 2
    assert_stdout_empty
    assert_stderr_error invalid_name
}
