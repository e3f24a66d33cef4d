# Shared set-up and assertions for the bats tests of the claudex CLI.
#
# Load it with `load test_helper` and call `setup_sandbox` from each file's setup().
# Every assertion prints what it saw before failing, so a red test explains itself.

# The repository root, from this file's own location (tests/bats/ -> repo root).
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FIXTURES="$REPO/tests/fixtures/schemas"
export REPO FIXTURES

# A private HOME, XDG tree and registry per test; a PATH that finds the project's venv first.
setup_sandbox() {
    SANDBOX="$BATS_TEST_TMPDIR/sandbox"
    mkdir -p "$SANDBOX/home"
    export SANDBOX
    export HOME="$SANDBOX/home"
    export XDG_CACHE_HOME="$SANDBOX/xdg/cache"
    export XDG_CONFIG_HOME="$SANDBOX/xdg/config"
    export XDG_DATA_HOME="$SANDBOX/xdg/data"
    export XDG_STATE_HOME="$SANDBOX/xdg/state"
    export CLAUDEX_MCP_REGISTRY="$SANDBOX/registry"
    export CLAUDEX_MCP_CORE_SOURCE=""  # no shipped core servers: each needs a venv
    export PATH="$REPO/.venv/bin:/usr/bin:/bin"
    unset CLAUDEX_DEBUG NO_COLOR CLAUDEX_MCP_LOCK_TIMEOUT
    if [ ! -x "$REPO/.venv/bin/claudex" ]; then
        echo "missing $REPO/.venv/bin/claudex: run 'make install' in $REPO" >&2
        return 1
    fi
    cd "$SANDBOX" || return 1
}

# Print the last `run`'s results (bats shows this output when an assertion fails).
show_run() {
    echo "status: $status"
    echo "--- stdout ---"
    printf '%s\n' "$output"
    echo "--- stderr ---"
    printf '%s\n' "${stderr-}"
    echo "--------------"
}

fail() {
    echo "FAIL: $*"
    show_run
    return 1
}

# assert_status N: the last `run` exited with exactly N.
assert_status() {
    [ "$status" -eq "$1" ] || fail "expected exit status $1, got $status"
}

assert_stdout_empty() {
    [ -z "$output" ] || fail "expected empty stdout"
}

assert_stderr_empty() {
    [ -z "${stderr-}" ] || fail "expected empty stderr"
}

# assert_stdout_contains TEXT / assert_stderr_contains TEXT: fixed-string match.
assert_stdout_contains() {
    [[ "$output" == *"$1"* ]] || fail "stdout does not contain: $1"
}

assert_stderr_contains() {
    [[ "${stderr-}" == *"$1"* ]] || fail "stderr does not contain: $1"
}

# Neither stream of the last `run` shows a Python traceback.
assert_no_traceback() {
    if [[ "$output" == *Traceback* || "${stderr-}" == *Traceback* ]]; then
        fail "a Python traceback was printed"
    fi
}

# assert_stderr_error CODE: stderr is exactly one line, a JSON object
# {"error": {"code": CODE, "message": "...", "path"?: "...", "hint"?: "..."}} and nothing else.
assert_stderr_error() {
    local expected="$1" problem
    if [ "${#stderr_lines[@]}" -ne 1 ]; then
        fail "expected exactly one line on stderr, got ${#stderr_lines[@]}"
        return 1
    fi
    problem="$(python3 -c '
import json, sys
expected = sys.argv[1]
try:
    doc = json.loads(sys.stdin.read())
except ValueError as exc:
    sys.exit(f"stderr is not JSON: {exc}")
if not isinstance(doc, dict) or set(doc) != {"error"} or not isinstance(doc["error"], dict):
    sys.exit("stderr is not an object with exactly one key, \"error\", holding an object")
error = doc["error"]
extra = set(error) - {"code", "message", "path", "hint", "details"}
if extra:
    sys.exit(f"unexpected keys in error: {sorted(extra)}")
details = error.get("details", [])
if not isinstance(details, list) or not all(isinstance(d, str) for d in details):
    sys.exit("error.details is not a list of strings")
code = error.get("code")
if code != expected:
    sys.exit(f"error.code is {code!r}, expected {expected!r}")
if not isinstance(error.get("message"), str) or not error["message"].strip():
    sys.exit("error.message is missing or empty")
for key in ("path", "hint"):
    if key in error and not isinstance(error[key], str):
        sys.exit(f"error.{key} is not a string")
' "$expected" <<<"${stderr-}" 2>&1)" || {
        fail "$problem"
        return 1
    }
}

# stderr_error_field KEY: print error.KEY of the JSON error object on stderr (empty if absent).
stderr_error_field() {
    python3 -c '
import json, sys
print(json.loads(sys.stdin.read())["error"].get(sys.argv[1], ""))
' "$1" <<<"${stderr-}"
}

# json_eval EXPR: evaluate a Python expression over `doc`, the JSON document on stdout of the
# last `run`; prints the result. Fails if stdout is not JSON.
json_eval() {
    python3 -c '
import json, sys
doc = json.loads(sys.stdin.read())
print(eval(sys.argv[1], {"doc": doc}))
' "$1" <<<"$output"
}
