# Server folders, registry snapshots and background processes for the bats tests of the
# verbs that install, run and check servers (lifecycle.bats, runtime.bats).
#
# Load it after test_helper (`load test_helper` then `load mcp_helper`); call
# `stop_background` from teardown() so that no process a test started outlives it.

# write_manifest DIR NAME VERSION SERVER_JSON: DIR/manifest.json for server NAME.
write_manifest() {
    mkdir -p "$1"
    python3 - "$1/manifest.json" "$2" "$3" "$4" <<'PY'
import json, sys
path, name, version, server = sys.argv[1:]
doc = {"apiVersion": "v1",
       "metadata": {"name": name, "version": version, "description": f"The {name} test server."},
       "server": json.loads(server)}
with open(path, "w") as fh:
    fh.write(json.dumps(doc, indent=2) + "\n")
PY
}

# make_server DIR NAME [VERSION] [SERVER_JSON]: a tiny stdio server (not MCP). Its server.py
# prints one JSON line (argv, cwd and a few variables), then copies stdin to stdout, and writes
# two lines to stderr. By default it is started as `python3 ${SERVER_DIR}/server.py 'a b'`.
make_server() {
    local dir="$1" name="$2" version="${3:-1.0.0}" server="${4-}"
    if [ -z "$server" ]; then
        server='{"command": "python3", "args": ["${SERVER_DIR}/server.py", "a b"]}'
    fi
    write_manifest "$dir" "$name" "$version" "$server"
    cat >"$dir/server.py" <<'PY'
import json, os, sys
print(f"{os.path.basename(os.getcwd())}: started", file=sys.stderr, flush=True)
names = ("SERVER_DIR", "TINY_TOKEN", "GREETING")
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(),
                  "env": {n: os.environ[n] for n in names if n in os.environ}}, sort_keys=True), flush=True)
sys.stdout.write(sys.stdin.read())
print(f"{os.path.basename(os.getcwd())}: stdin closed, bye", file=sys.stderr)
PY
}

# make_echo_server DIR NAME [VERSION]: a real MCP server (tests/servers/echo_server.py, tools
# add and echo) started with the project venv's python, which has the MCP SDK.
make_echo_server() {
    local dir="$1" name="$2" version="${3:-1.0.0}"
    write_manifest "$dir" "$name" "$version" \
        "{\"command\": \"$REPO/.venv/bin/python\", \"args\": [\"\${SERVER_DIR}/server.py\"], \"capabilities\": [\"tools\"]}"
    cp "$REPO/tests/servers/echo_server.py" "$dir/server.py"
}

# make_crash_server DIR NAME [VERSION]: a server whose server.py says why on stderr and exits 1 at once.
make_crash_server() {
    local dir="$1" name="$2" version="${3:-1.0.0}"
    write_manifest "$dir" "$name" "$version" '{"command": "python3", "args": ["${SERVER_DIR}/server.py"]}'
    cat >"$dir/server.py" <<'PY'
import sys
print("fatal error: cannot open the database", file=sys.stderr)
sys.exit(1)
PY
}

# make_sleeper_server DIR NAME: a server that says "sleeper up" on stderr, then sleeps 60 s.
make_sleeper_server() {
    write_manifest "$1" "$2" 1.0.0 '{"command": "python3", "args": ["${SERVER_DIR}/server.py"]}'
    printf 'import sys, time\nprint("sleeper up", file=sys.stderr, flush=True)\ntime.sleep(60)\n' >"$1/server.py"
}

# init_registry: an empty registry at $CLAUDEX_MCP_REGISTRY.
init_registry() {
    claudex mcp init >/dev/null || { echo "claudex mcp init failed" >&2; return 1; }
}

# install_quiet SOURCE...: install, failing the test (with the error) if it does not work.
install_quiet() {
    local out
    out="$(claudex mcp install "$@" 2>&1)" || { echo "claudex mcp install $* failed: $out" >&2; return 1; }
}

# registry_snapshot: the checksum of every file in the registry except the lock file, sorted.
registry_snapshot() {
    find "$CLAUDEX_MCP_REGISTRY" -type f -not -name .lock -exec sha256sum {} + | LC_ALL=C sort
}

# assert_registry_unchanged BEFORE: the registry's files are byte-identical to BEFORE.
assert_registry_unchanged() {
    local after
    after="$(registry_snapshot)"
    if [ "$1" != "$after" ]; then
        diff <(echo "$1") <(echo "$after") || true
        fail "the registry's files changed"
        return 1
    fi
}

# assert_stderr_human CODE_TEXT: stderr is exactly one readable line (the launcher's format,
# not JSON) that contains CODE_TEXT.
assert_stderr_human() {
    [ "${#stderr_lines[@]}" -eq 1 ] || { fail "expected exactly one line on stderr, got ${#stderr_lines[@]}"; return 1; }
    [[ "${stderr_lines[0]}" == "claudex mcp run: error: "* ]] || { fail "stderr is not 'claudex mcp run: error: ...'"; return 1; }
    [[ "${stderr_lines[0]}" != *'{"error"'* ]] || { fail "stderr holds the JSON error object"; return 1; }
    [[ "${stderr_lines[0]}" == *"$1"* ]] || { fail "stderr does not contain: $1"; return 1; }
}

# git_repo DIR: a git work tree with a fixed identity (HOME is the sandbox: no global config).
git_repo() {
    mkdir -p "$1"
    git -C "$1" init -q -b main
    git -C "$1" config user.email tests@example.com
    git -C "$1" config user.name tests
}

# ---- background processes -------------------------------------------------------------------

# remember_pid PID: stop_background stops it.
remember_pid() {
    echo "$1" >>"$BATS_TEST_TMPDIR/background.pids"
}

# stop_background: SIGTERM, then SIGKILL, every process remembered by this test.
stop_background() {
    local file="$BATS_TEST_TMPDIR/background.pids" pid
    [ -f "$file" ] || return 0
    while read -r pid; do
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done <"$file"
    rm -f "$file"
}

# wait_for_file PATH [PATTERN]: up to 10 s for PATH to exist (and to contain PATTERN).
wait_for_file() {
    local i
    for i in $(seq 100); do
        if [ -e "$1" ] && { [ -z "${2-}" ] || grep -q -- "$2" "$1"; }; then
            return 0
        fi
        sleep 0.1
    done
    echo "timed out waiting for $1${2:+ to contain $2}" >&2
    return 1
}

# hold_registry_lock: a background process takes the registry lock (flock on
# $CLAUDEX_MCP_REGISTRY/.lock) and keeps it until stop_background. Sets LOCK_HOLDER.
hold_registry_lock() {
    local ready="$BATS_TEST_TMPDIR/lock-held"
    rm -f "$ready"
    # One process: the subshell takes the lock on fd 9, then becomes `sleep`, which keeps fd 9.
    (
        exec 9>>"$CLAUDEX_MCP_REGISTRY/.lock"
        flock 9
        touch "$ready"
        exec sleep 60
    ) </dev/null >/dev/null 2>&1 3>&- &
    LOCK_HOLDER=$!
    remember_pid "$LOCK_HOLDER"
    wait_for_file "$ready"
}

# file_json PATH EXPR: evaluate a Python expression over `doc`, the JSON document in PATH.
file_json() {
    python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
print(eval(sys.argv[2], {"doc": doc}))
' "$1" "$2"
}
