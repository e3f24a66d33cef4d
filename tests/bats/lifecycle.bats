#!/usr/bin/env bats
# install, uninstall, upgrade, enable and disable as a shell sees them: exit codes, the error
# object on stderr, what lands in the registry, and a registry left byte for byte as it was
# after every failure.

bats_require_minimum_version 1.5.0

load test_helper
load mcp_helper

setup() {
    setup_sandbox
    export CLAUDEX_PROJECTS_DIR="$SANDBOX/projects"
    REG="$CLAUDEX_MCP_REGISTRY"
    SRC="$SANDBOX/src"
    mkdir -p "$SRC" "$CLAUDEX_PROJECTS_DIR"
    init_registry
}

teardown() {
    stop_background
}

# registry_json EXPR: evaluate a Python expression over `doc`, the registry's registry.json.
registry_json() {
    file_json "$REG/registry.json" "$1"
}

# manifest_version FOLDER: metadata.version of FOLDER/manifest.json.
manifest_version() {
    file_json "$1/manifest.json" 'doc["metadata"]["version"]'
}

# bare_git_server KIND: $SANDBOX/bare.git, a bare repository of server "gitty" (KIND: tiny or
# echo) with tags v1.0.0 and v1.1.0 (the head of main); sets URL to its file:// URL.
bare_git_server() {
    local work="$SANDBOX/gitwork"
    git_repo "$work"
    if [ "$1" = echo ]; then make_echo_server "$work" gitty 1.0.0; else make_server "$work" gitty 1.0.0; fi
    git -C "$work" add -A
    git -C "$work" commit -q -m "v1.0.0"
    git -C "$work" tag v1.0.0
    sed -i 's/"version": "1.0.0"/"version": "1.1.0"/' "$work/manifest.json"
    git -C "$work" commit -q -a -m "v1.1.0"
    git -C "$work" tag v1.1.0
    git clone -q --bare "$work" "$SANDBOX/bare.git"
    URL="file://$SANDBOX/bare.git"
}

# ---- install ------------------------------------------------------------------------------

@test "install from a folder: exit 0, the server in installed/ without VCS data or caches, its source recorded" {
    make_server "$SRC/tiny" tiny
    mkdir -p "$SRC/tiny/.git" "$SRC/tiny/__pycache__" "$SRC/tiny/.venv"
    echo x >"$SRC/tiny/.git/HEAD"
    echo x >"$SRC/tiny/__pycache__/server.cpython-312.pyc"
    chmod 600 "$SRC/tiny/server.py"
    run --separate-stderr claudex mcp install "$SRC/tiny"
    assert_status 0
    assert_stderr_empty
    [ "$output" = "installed tiny 1.0.0 in $REG/installed/tiny" ] || fail "unexpected message"
    [ -f "$REG/installed/tiny/manifest.json" ] && [ -f "$REG/installed/tiny/server.py" ] || fail "the files were not installed"
    local excluded
    for excluded in .git __pycache__ .venv; do
        [ ! -e "$REG/installed/tiny/$excluded" ] || fail "$excluded was copied into the registry"
    done
    [ "$(stat -c %a "$REG/installed/tiny/server.py")" = 600 ] || fail "server.py (600 in the source) is not kept owner-only"
    [ "$(stat -c %a "$REG/installed/tiny/manifest.json")" = 644 ] || fail "manifest.json is not 644"
    [ "$(registry_json 'doc["servers"]["tiny"]["source"] == {"type": "path", "path": "'"$SRC/tiny"'"}')" = True ] ||
        fail "registry.json does not record the folder source: $(cat "$REG/registry.json")"
    [ "$(registry_json 'doc["servers"]["tiny"]["location"], doc["servers"]["tiny"]["version"]')" = "('installed', '1.0.0')" ] ||
        fail "registry.json does not record the location and version"
}

@test "install --json prints the result object and nothing on stderr" {
    make_server "$SRC/tiny" tiny 1.2.3
    run --separate-stderr claudex mcp install --json "$SRC/tiny"
    assert_status 0
    assert_stderr_empty
    [ "$(json_eval '[doc["action"], doc["name"], doc["version"], doc["location"], doc["folder"], doc["source"]["type"], doc["warnings"]]')" = \
        "['install', 'tiny', '1.2.3', 'installed', '$REG/installed/tiny', 'path', []]" ] || fail "unexpected result"
}

@test "install from a local bare git repository at a tag (file://URL@tag)" {
    bare_git_server tiny
    local commit
    commit="$(git -C "$SANDBOX/bare.git" rev-parse 'v1.0.0^{commit}')"
    run --separate-stderr claudex mcp install "$URL@v1.0.0"
    assert_status 0
    assert_stderr_empty
    [ "$output" = "installed gitty 1.0.0 in $REG/installed/gitty" ] || fail "unexpected message"
    # The tag, not the head of main (1.1.0).
    [ "$(manifest_version "$REG/installed/gitty")" = 1.0.0 ] || fail "the installed version is not the tag's"
    [ ! -e "$REG/installed/gitty/.git" ] || fail ".git was copied into the registry"
    [ "$(registry_json 'doc["servers"]["gitty"]["source"] == {"type": "git", "url": "'"$URL"'", "ref": "v1.0.0", "commit": "'"$commit"'"}')" = True ] ||
        fail "registry.json does not record url, ref and commit: $(cat "$REG/registry.json")"
}

@test "install --ref REF takes the ref of a git URL" {
    bare_git_server tiny
    run --separate-stderr claudex mcp install "$URL" --ref v1.1.0 --json
    assert_status 0
    [ "$(json_eval '[doc["version"], doc["source"]["ref"]]')" = "['1.1.0', 'v1.1.0']" ] || fail "not installed at v1.1.0"
    [ "$(manifest_version "$REG/installed/gitty")" = 1.1.0 ] || fail "the installed version is not v1.1.0"
}

@test "a git ref that does not exist exits 5 no_ref and leaves the registry as it was" {
    bare_git_server tiny
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp install "$URL@v9.9.9"
    assert_status 5
    assert_stdout_empty
    assert_stderr_error no_ref
    assert_registry_unchanged "$before"
    [ ! -e "$REG/installed/gitty" ] || fail "gitty was installed"
}

@test "installing a server that is already installed exits 3 already_installed; the registry is unchanged" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    # The source moved on: the installed copy must not change either.
    make_server "$SRC/tiny" tiny 2.0.0
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp install "$SRC/tiny"
    assert_status 3
    assert_stdout_empty
    assert_stderr_error already_installed
    [[ "$(stderr_error_field hint)" == *"claudex mcp upgrade tiny"* ]] || fail "the hint does not point to upgrade"
    assert_registry_unchanged "$before"
}

@test "installing a server with a core server's name exits 3 core_name; the registry is unchanged" {
    make_server "$REG/core/corex" corex
    make_server "$SRC/corex" corex 9.0.0
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp install "$SRC/corex"
    assert_status 3
    assert_stdout_empty
    assert_stderr_error core_name
    assert_registry_unchanged "$before"
    [ ! -e "$REG/installed/corex" ] || fail "an installed corex shadows the core server"
}

@test "a source starting with '-' exits 2 invalid_source; the registry is unchanged" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"  # so that the registry has something to lose
    local before source
    before="$(registry_snapshot)"
    for source in --upload-pack=touch -x "-$SRC/tiny"; do
        run --separate-stderr claudex mcp install -- "$source"
        assert_status 2
        assert_stdout_empty
        assert_stderr_error invalid_source
        [[ "$(stderr_error_field message)" == *"start with '-'"* ]] || fail "the message does not say why"
        assert_registry_unchanged "$before"
    done
}

@test "ext:: and fd:: transports, plain http:// and git:// exit 1 invalid_source; nothing runs" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    local before source
    before="$(registry_snapshot)"
    for source in "ext::sh -c touch% $SANDBOX/pwned" "EXT::sh -c touch% $SANDBOX/pwned" "fd::7" \
        "http://example.invalid/x.git" "git://example.invalid/x.git"; do
        run --separate-stderr claudex mcp install "$source"
        assert_status 1
        assert_stdout_empty
        assert_stderr_error invalid_source
        assert_registry_unchanged "$before"
    done
    [ ! -e "$SANDBOX/pwned" ] || fail "the ext:: command ran"
}

@test "a folder that does not exist exits 4 not_found naming it; the registry is unchanged" {
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp install "$SRC/nowhere"
    assert_status 4
    assert_stdout_empty
    assert_stderr_error not_found
    [ "$(stderr_error_field path)" = "$SRC/nowhere" ] || fail "the error does not name the path"
    assert_registry_unchanged "$before"
}

@test "an invalid server folder exits 1 invalid_server; nothing is installed" {
    mkdir -p "$SRC/bad"
    echo '{"apiVersion": "v1", "metadata": {"name": "bad"}}' >"$SRC/bad/manifest.json"
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp install "$SRC/bad"
    assert_status 1
    assert_stdout_empty
    assert_stderr_error invalid_server
    assert_registry_unchanged "$before"
    [ -z "$(ls -A "$REG/installed")" ] || fail "something was installed"
}

@test "--ref with a folder source exits 2 git_option_without_git" {
    make_server "$SRC/tiny" tiny
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp install "$SRC/tiny" --ref v1
    assert_status 2
    assert_stdout_empty
    assert_stderr_error git_option_without_git
    assert_registry_unchanged "$before"
}

@test "install while another process holds the registry lock exits 3 locked after CLAUDEX_MCP_LOCK_TIMEOUT" {
    make_server "$SRC/tiny" tiny
    hold_registry_lock
    local before start elapsed
    before="$(registry_snapshot)"
    start="$(date +%s%N)"
    run --separate-stderr env CLAUDEX_MCP_LOCK_TIMEOUT=0.5 claudex mcp install "$SRC/tiny"
    elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
    assert_status 3
    assert_stdout_empty
    assert_stderr_error locked
    [ "$(stderr_error_field path)" = "$REG/.lock" ] || fail "the error does not name the lock file"
    (( elapsed >= 450 && elapsed < 10000 )) || fail "gave up after ${elapsed} ms, expected about 500 ms"
    assert_registry_unchanged "$before"
    [ ! -e "$REG/installed/tiny" ] || fail "tiny was installed despite the lock"
    # Reading the registry needs no lock.
    run --separate-stderr claudex mcp list
    assert_status 0
    # Once the lock is free, the same install works.
    stop_background
    run --separate-stderr claudex mcp install "$SRC/tiny"
    assert_status 0
}

@test "every registry mutation exits 3 locked while the lock is held" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    hold_registry_lock
    local before verb
    before="$(registry_snapshot)"
    export CLAUDEX_MCP_LOCK_TIMEOUT=0.3
    for verb in uninstall upgrade disable enable; do
        run --separate-stderr claudex mcp "$verb" tiny
        assert_status 3
        assert_stdout_empty
        assert_stderr_error locked
    done
    assert_registry_unchanged "$before"
}

@test "install, uninstall, upgrade, enable and disable without a registry exit 4 no_registry" {
    make_server "$SRC/tiny" tiny
    export CLAUDEX_MCP_REGISTRY="$SANDBOX/no-registry"
    run --separate-stderr claudex mcp install "$SRC/tiny"
    assert_status 4
    assert_stderr_error no_registry
    local verb
    for verb in uninstall upgrade enable disable; do
        run --separate-stderr claudex mcp "$verb" tiny
        assert_status 4
        assert_stdout_empty
        assert_stderr_error no_registry
    done
    [ ! -e "$SANDBOX/no-registry" ] || fail "a registry folder was created"
}

# ---- uninstall ----------------------------------------------------------------------------

@test "uninstall removes the folder and the record: exit 0" {
    make_server "$SRC/tiny" tiny
    make_server "$SRC/other" other
    install_quiet "$SRC/tiny"
    install_quiet "$SRC/other"
    run --separate-stderr claudex mcp uninstall tiny
    assert_status 0
    assert_stderr_empty
    [ "$output" = "uninstalled tiny" ] || fail "unexpected message"
    [ ! -e "$REG/installed/tiny" ] || fail "the folder is still in installed/"
    [ "$(registry_json 'sorted(doc["servers"])')" = "['other']" ] || fail "registry.json still lists tiny"
    run --separate-stderr claudex mcp list --json --jq '.[].name'
    [ "$output" = other ] || fail "list still shows tiny"
}

@test "uninstall keeps the server's user config; --purge removes it" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    local user="$XDG_CONFIG_HOME/claudex/mcp.json"
    claudex mcp config set tiny env.GREETING hello >/dev/null
    run --separate-stderr claudex mcp uninstall tiny --json
    assert_status 0
    [ "$(json_eval 'doc["purged"]')" = False ] || fail "purged without --purge"
    grep -q '"tiny"' "$user" || fail "the user config lost tiny without --purge"
    install_quiet "$SRC/tiny"
    run --separate-stderr claudex mcp uninstall tiny --purge
    assert_status 0
    [ "$output" = "uninstalled tiny and removed its user config" ] || fail "unexpected message"
    ! grep -q '"tiny"' "$user" || fail "--purge kept tiny in the user config"
}

@test "uninstall of an unknown server exits 4 no_server; the registry is unchanged" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp uninstall nope
    assert_status 4
    assert_stdout_empty
    assert_stderr_error no_server
    assert_registry_unchanged "$before"
}

@test "uninstall of an invalid server name exits 2 invalid_name" {
    run --separate-stderr claudex mcp uninstall ../installed
    assert_status 2
    assert_stdout_empty
    assert_stderr_error invalid_name
}

@test "a core server cannot be uninstalled: exit 3 core_server, the folder stays" {
    make_server "$REG/core/corex" corex
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp uninstall corex
    assert_status 3
    assert_stdout_empty
    assert_stderr_error core_server
    [[ "$(stderr_error_field hint)" == *"claudex mcp disable corex"* ]] || fail "the hint does not point to disable"
    assert_registry_unchanged "$before"
    [ -f "$REG/core/corex/manifest.json" ] || fail "the core server's folder is gone"
}

# ---- upgrade ------------------------------------------------------------------------------

@test "upgrade with neither a name nor --all, or with both, exits 2" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    run --separate-stderr claudex mcp upgrade
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
    run --separate-stderr claudex mcp upgrade tiny --all
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
}

@test "upgrade of an unchanged folder source says it is up to date and changes nothing" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp upgrade tiny --check
    assert_status 0
    assert_stderr_empty
    [ "$output" = "tiny 1.0.0: up to date (its folder has not changed)" ] || fail "unexpected --check message"
    run --separate-stderr claudex mcp upgrade tiny
    assert_status 0
    [ "$output" = "tiny 1.0.0: up to date (its folder has not changed)" ] || fail "unexpected message"
    assert_registry_unchanged "$before"
}

@test "upgrade --check of a changed folder reports the upgrade and changes nothing" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    echo "# changed" >>"$SRC/tiny/server.py"
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp upgrade tiny --check --json
    assert_status 0
    [ "$(json_eval '[doc["available"], doc["check"], doc["upgraded"], doc["from"]]')" = "[True, True, False, '1.0.0']" ] ||
        fail "--check does not report an available upgrade"
    assert_registry_unchanged "$before"
}

@test "upgrade --all --check reports every installed server; --check alone is the same" {
    make_server "$SRC/alpha" alpha
    make_server "$SRC/beta" beta
    install_quiet "$SRC/alpha"
    install_quiet "$SRC/beta"
    echo "# changed" >>"$SRC/beta/server.py"
    local before
    before="$(registry_snapshot)"
    for argv in "--all --check" "--check"; do
        # shellcheck disable=SC2086  # two words on purpose
        run --separate-stderr claudex mcp upgrade $argv
        assert_status 0
        assert_stderr_empty
        [ "${#lines[@]}" -eq 2 ] || fail "expected two lines from upgrade $argv"
        [ "${lines[0]}" = "alpha 1.0.0: up to date (its folder has not changed)" ] || fail "alpha's line ($argv)"
        [ "${lines[1]}" = "beta 1.0.0: an upgrade is available (re-copied from its folder)" ] || fail "beta's line ($argv)"
    done
    assert_registry_unchanged "$before"
}

@test "upgrade re-copies a changed folder after a real MCP handshake" {
    make_echo_server "$SRC/echo" echo 1.0.0
    install_quiet "$SRC/echo"
    sed -i 's/"version": "1.0.0"/"version": "1.1.0"/' "$SRC/echo/manifest.json"
    run --separate-stderr claudex mcp upgrade echo
    assert_status 0
    [ "$output" = "upgraded echo 1.0.0 -> 1.1.0 (re-copied from its folder)" ] || fail "unexpected message"
    [ "$(manifest_version "$REG/installed/echo")" = 1.1.0 ] || fail "the installed manifest is not 1.1.0"
    [ "$(registry_json 'doc["servers"]["echo"]["version"]')" = 1.1.0 ] || fail "registry.json does not say 1.1.0"
}

@test "an upgrade that fails the MCP handshake exits 5 and keeps the old version byte for byte" {
    make_crash_server "$SRC/crash" crash 1.0.0
    install_quiet "$SRC/crash"
    sed -i 's/"version": "1.0.0"/"version": "1.2.0"/' "$SRC/crash/manifest.json"
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp upgrade crash
    assert_status 5
    assert_stdout_empty
    assert_stderr_error crashed
    assert_registry_unchanged "$before"
}

@test "an upgrade to a lower version exits 3 downgrade without --force" {
    make_server "$SRC/tiny" tiny 2.0.0
    install_quiet "$SRC/tiny"
    make_server "$SRC/tiny" tiny 1.0.0
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp upgrade tiny
    assert_status 3
    assert_stdout_empty
    assert_stderr_error downgrade
    [[ "$(stderr_error_field hint)" == *--force* ]] || fail "the hint does not mention --force"
    assert_registry_unchanged "$before"
}

@test "upgrade of a git source at a tag: --check names the newer tag, then it moves there" {
    bare_git_server echo
    install_quiet "$URL@v1.0.0"
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp upgrade gitty --check
    assert_status 0
    [ "$output" = "gitty 1.0.0: an upgrade is available (tag v1.1.0)" ] || fail "unexpected --check message"
    assert_registry_unchanged "$before"
    run --separate-stderr claudex mcp upgrade gitty --json
    assert_status 0
    [ "$(json_eval '[doc["upgraded"], doc["from"], doc["to"], doc["source"]["ref"]]')" = "[True, '1.0.0', '1.1.0', 'v1.1.0']" ] ||
        fail "not upgraded to v1.1.0"
    [ "$(manifest_version "$REG/installed/gitty")" = 1.1.0 ] || fail "the installed manifest is not 1.1.0"
    [ "$(registry_json 'doc["servers"]["gitty"]["source"]["ref"]')" = v1.1.0 ] || fail "registry.json keeps the old ref"
}

@test "upgrade of an unknown server exits 4; of a core server exits 3 core_server" {
    make_server "$REG/core/corex" corex
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp upgrade nope
    assert_status 4
    assert_stdout_empty
    assert_stderr_error no_server
    run --separate-stderr claudex mcp upgrade corex
    assert_status 3
    assert_stdout_empty
    assert_stderr_error core_server
    assert_registry_unchanged "$before"
}

# ---- enable and disable -------------------------------------------------------------------

@test "disable moves an installed server to disabled/; enable moves it back" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    run --separate-stderr claudex mcp disable tiny
    assert_status 0
    assert_stderr_empty
    [ "$output" = "tiny disabled everywhere" ] || fail "unexpected message"
    [ -f "$REG/disabled/tiny/manifest.json" ] || fail "tiny is not in disabled/"
    [ ! -e "$REG/installed/tiny" ] || fail "tiny is still in installed/"
    [ "$(registry_json 'doc["servers"]["tiny"]["location"]')" = disabled ] || fail "registry.json does not say disabled"
    run --separate-stderr claudex mcp list --jq '.[] | "\(.name) \(.location) \(.enabled)"'
    [ "$output" = "tiny disabled false" ] || fail "list does not show tiny disabled"

    run --separate-stderr claudex mcp enable tiny
    assert_status 0
    [ "$output" = "tiny enabled everywhere" ] || fail "unexpected message"
    [ -f "$REG/installed/tiny/manifest.json" ] || fail "tiny is not back in installed/"
    [ ! -e "$REG/disabled/tiny" ] || fail "tiny is still in disabled/"
    [ "$(registry_json 'doc["servers"]["tiny"]["location"]')" = installed ] || fail "registry.json does not say installed"
}

@test "disabling a disabled server changes nothing and says so" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    claudex mcp disable tiny >/dev/null
    local before
    before="$(registry_snapshot)"
    run --separate-stderr claudex mcp disable tiny
    assert_status 0
    [ "$output" = "tiny already disabled everywhere" ] || fail "unexpected message"
    run --separate-stderr claudex mcp disable tiny --json
    assert_status 0
    [ "$(json_eval '[doc["changed"], doc["scope"]]')" = "[False, 'global']" ] || fail "changed is not false"
    assert_registry_unchanged "$before"
}

@test "a core server is disabled in the global layer and stays in core/; enable drops that" {
    make_server "$REG/core/corex" corex
    run --separate-stderr claudex mcp disable corex
    assert_status 0
    [ "$output" = "corex disabled everywhere" ] || fail "unexpected message"
    [ -f "$REG/core/corex/manifest.json" ] || fail "the core server left core/"
    [ "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["servers"]["corex"])' "$REG/config.json")" = "{'enabled': False}" ] ||
        fail "the global layer does not say enabled: false"
    run --separate-stderr claudex mcp list --jq '.[] | select(.name == "corex") | .enabled'
    [ "$output" = false ] || fail "list shows corex enabled"
    run --separate-stderr claudex mcp enable corex
    assert_status 0
    ! grep -q corex "$REG/config.json" || fail "the global layer still names corex"
    run --separate-stderr claudex mcp list --jq '.[] | select(.name == "corex") | .enabled'
    [ "$output" = true ] || fail "list shows corex disabled"
}

@test "--project NAME writes the project layer under \$CLAUDEX_PROJECTS_DIR/NAME/.claudex/mcp.json" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    mkdir -p "$CLAUDEX_PROJECTS_DIR/demo"
    local layer="$CLAUDEX_PROJECTS_DIR/demo/.claudex/mcp.json"
    run --separate-stderr claudex mcp disable tiny --project demo
    assert_status 0
    [ "$output" = "tiny disabled for project demo" ] || fail "unexpected message"
    [ -f "$layer" ] || fail "no project layer at $layer"
    [ "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])) == {"apiVersion": "v1", "servers": {"tiny": {"enabled": False}}})' "$layer")" = True ] || fail "unexpected project layer: $(cat "$layer")"
    [ -d "$REG/installed/tiny" ] || fail "a project disable moved the folder"
    run --separate-stderr claudex mcp list --project demo --jq '.[].enabled'
    [ "$output" = false ] || fail "tiny is enabled in project demo"
    run --separate-stderr claudex mcp list --jq '.[].enabled'
    [ "$output" = true ] || fail "tiny is disabled outside project demo"

    run --separate-stderr claudex mcp enable tiny --project demo --json
    assert_status 0
    [ "$(json_eval '[doc["changed"], doc["scope"], doc["project"]["name"]]')" = "[True, 'project', 'demo']" ] || fail "unexpected result"
    [ "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["servers"]["tiny"])' "$layer")" = "{'enabled': True}" ] ||
        fail "the project layer does not say enabled: true"
}

@test "enable and disable of an unknown server exit 4 no_server; of an unknown project 4 no_project" {
    make_server "$SRC/tiny" tiny
    install_quiet "$SRC/tiny"
    local before verb
    before="$(registry_snapshot)"
    for verb in enable disable; do
        run --separate-stderr claudex mcp "$verb" nope
        assert_status 4
        assert_stdout_empty
        assert_stderr_error no_server
        run --separate-stderr claudex mcp "$verb" tiny --project nosuch
        assert_status 4
        assert_stdout_empty
        assert_stderr_error no_project
    done
    assert_registry_unchanged "$before"
}

@test "disable stops the instance that claudex mcp run started" {
    make_sleeper_server "$SRC/sleeper" sleeper
    install_quiet "$SRC/sleeper"
    claudex mcp run sleeper </dev/null >/dev/null 2>&1 3>&- &
    local pid=$!
    remember_pid "$pid"
    wait_for_file "$XDG_STATE_HOME/claudex/logs/sleeper.log" "sleeper up"
    run --separate-stderr claudex mcp disable sleeper --json
    assert_status 0
    [ "$(json_eval 'doc["stopped"]')" = "[$pid]" ] || fail "the result does not list pid $pid as stopped"
    local i
    for i in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    ! kill -0 "$pid" 2>/dev/null || fail "the server (pid $pid) is still running"
}
