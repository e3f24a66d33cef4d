#!/usr/bin/env bats
# claudex mcp validate (and scripts/validate-schema): fixtures, several problems at once,
# stdin, missing paths and inputs that are not JSON objects.

bats_require_minimum_version 1.5.0

load test_helper

KINDS="manifest registry config"

setup() {
    setup_sandbox
}

# fixtures KIND valid|invalid: the fixture files, one per line; fails if there are none.
fixtures() {
    local found
    found="$(find "$FIXTURES/$1/$2" -maxdepth 1 -name '*.json' | LC_ALL=C sort)"
    [ -n "$found" ] || { echo "no fixtures in $FIXTURES/$1/$2" >&2; return 1; }
    echo "$found"
}

# The JSON pointer an invalid fixture's name encodes: "a.b.1--keyword.json" -> "/a/b/1",
# "root--keyword.json" -> "" (see tests/test_schemas.py).
fixture_pointer() {
    local base
    base="$(basename "$1" .json)"
    base="${base%%--*}"
    if [ "$base" = root ]; then
        echo ""
    else
        echo "/${base//.//}"
    fi
}

# The schema keyword an invalid fixture's name encodes: "a.b--keyword[--suffix].json" -> "keyword".
fixture_keyword() {
    local base
    base="$(basename "$1" .json)"
    base="${base#*--}"
    echo "${base%%--*}"
}

# A manifest with exactly five distinct mistakes.
write_five_mistakes() {
    cat >"$1" <<'EOF'
{
  "apiVersion": "v2",
  "kind": "Server",
  "metadata": {
    "name": "Bad Name",
    "version": "1.0",
    "description": "A manifest with five distinct mistakes."
  },
  "server": {
    "command": "${SERVER_DIR}/run.sh",
    "capabilities": ["tools", "sampling"]
  }
}
EOF
}

@test "every valid fixture validates: exit 0 and one 'ok' line" {
    local kind file failures=0 checked=0
    for kind in $KINDS; do
        for file in $(fixtures "$kind" valid); do
            checked=$((checked + 1))
            run --separate-stderr claudex mcp validate --schema "$kind" "$file"
            if [ "$status" -ne 0 ] || [ "$output" != "ok  $file: valid $kind" ] || [ -n "$stderr" ]; then
                echo "not valid: $file"
                show_run
                failures=$((failures + 1))
            fi
        done
    done
    [ "$checked" -ge 3 ] || fail "only $checked fixtures were checked"
    [ "$failures" -eq 0 ] || fail "$failures of $checked fixtures failed (see above)"
}

@test "every valid fixture gives an empty JSON list with --json" {
    local kind file failures=0 checked=0
    for kind in $KINDS; do
        for file in $(fixtures "$kind" valid); do
            checked=$((checked + 1))
            run --separate-stderr claudex mcp validate --json --schema "$kind" "$file"
            if [ "$status" -ne 0 ] || [ "$(json_eval doc)" != "[]" ]; then
                echo "not valid: $file"
                show_run
                failures=$((failures + 1))
            fi
        done
    done
    [ "$checked" -ge 3 ] || fail "only $checked fixtures were checked"
    [ "$failures" -eq 0 ] || fail "$failures of $checked fixtures failed (see above)"
}

@test "several valid files in one run: exit 0 and one 'ok' line each" {
    local files
    mapfile -t files < <(fixtures manifest valid)
    run --separate-stderr claudex mcp validate --schema manifest "${files[@]}"
    assert_status 0
    assert_stderr_empty
    [ "${#lines[@]}" -eq "${#files[@]}" ] || fail "expected ${#files[@]} lines"
    local i
    for i in "${!files[@]}"; do
        [ "${lines[$i]}" = "ok  ${files[$i]}: valid manifest" ] || fail "line $i is not the ok line of ${files[$i]}"
    done
}

@test "every invalid fixture: exit 1 and stdout names its pointer and keyword" {
    local kind file pointer keyword failures=0 checked=0
    for kind in $KINDS; do
        for file in $(fixtures "$kind" invalid); do
            checked=$((checked + 1))
            pointer="$(fixture_pointer "$file")"
            keyword="$(fixture_keyword "$file")"
            run --separate-stderr claudex mcp validate --schema "$kind" "$file"
            # The problem line is "  FILE POINTER: MESSAGE [RULE]" ("  FILE: ..." at the root).
            local where="  $file${pointer:+ $pointer}: "
            if [ "$status" -ne 1 ] || [ -n "$stderr" ] ||
               [[ "${lines[0]}" != "invalid  $file: "* ]] ||
               ! printf '%s\n' "${lines[@]}" | grep -qF -- "$where" ||
               ! printf '%s\n' "${lines[@]}" | grep -F -- "$where" | grep -qF -- "[$keyword]"; then
                echo "wrong report for $file (pointer '$pointer', keyword $keyword)"
                show_run
                failures=$((failures + 1))
            fi
        done
    done
    [ "$checked" -ge 3 ] || fail "only $checked fixtures were checked"
    [ "$failures" -eq 0 ] || fail "$failures of $checked fixtures failed (see above)"
}

@test "every invalid fixture: --json lists the problem at its pointer with its rule" {
    local kind file pointer keyword failures=0 checked=0 found
    for kind in $KINDS; do
        for file in $(fixtures "$kind" invalid); do
            checked=$((checked + 1))
            pointer="$(fixture_pointer "$file")"
            keyword="$(fixture_keyword "$file")"
            run --separate-stderr claudex mcp validate --json --schema "$kind" "$file"
            found="$(json_eval "[p['rule'] for p in doc if p['pointer'] == '$pointer' and p['file'] == '$file']")" || found=error
            if [ "$status" -ne 1 ] || [ -n "$stderr" ] || [[ "$found" != *"'$keyword'"* ]]; then
                echo "wrong JSON report for $file (pointer '$pointer', keyword $keyword; rules there: $found)"
                show_run
                failures=$((failures + 1))
            fi
        done
    done
    [ "$checked" -ge 3 ] || fail "only $checked fixtures were checked"
    [ "$failures" -eq 0 ] || fail "$failures of $checked fixtures failed (see above)"
}

@test "a manifest with five distinct mistakes: exit 1 and all five are reported" {
    write_five_mistakes "$SANDBOX/manifest.json"
    run --separate-stderr claudex mcp validate manifest.json
    assert_status 1
    assert_stderr_empty
    [ "${lines[0]}" = "invalid  manifest.json: 5 problems" ] || fail "the summary line does not count 5 problems"
    local where
    for where in "manifest.json: unknown key \"kind\"" "manifest.json /apiVersion:" "manifest.json /metadata/name:" \
                 "manifest.json /metadata/version:" "manifest.json /server/capabilities/1:"; do
        assert_stdout_contains "  $where"
    done
}

@test "a manifest with five distinct mistakes: --json gives five problem objects" {
    write_five_mistakes "$SANDBOX/manifest.json"
    run --separate-stderr claudex mcp validate --json manifest.json
    assert_status 1
    assert_stderr_empty
    [ "$(json_eval 'type(doc).__name__')" = list ] || fail "stdout is not a JSON list"
    [ "$(json_eval 'len(doc)')" -eq 5 ] || fail "expected 5 problems"
    [ "$(json_eval 'all(isinstance(p, dict) and {"file", "pointer", "rule", "message", "hint"} <= set(p) for p in doc)')" = True ] ||
        fail "a problem lacks file, pointer, rule, message or hint"
    [ "$(json_eval 'sorted(p["pointer"] for p in doc)')" = \
      "['', '/apiVersion', '/metadata/name', '/metadata/version', '/server/capabilities/1']" ] ||
        fail "the five pointers are not the five mistakes"
}

@test "a server folder is checked as a whole: manifest problems plus missing command file" {
    mkdir "$SANDBOX/srv"
    write_five_mistakes "$SANDBOX/srv/manifest.json"
    run --separate-stderr claudex mcp validate --json srv
    assert_status 1
    [ "$(json_eval 'len(doc)')" -eq 6 ] || fail "expected the 5 manifest problems plus the missing run.sh"
    [ "$(json_eval '[p["rule"] for p in doc if p["pointer"] == "/server/command"]')" = "['file-exists']" ] ||
        fail "the missing \${SERVER_DIR}/run.sh is not reported"
}

@test "stdin: '-' reads a valid manifest from a pipe" {
    run --separate-stderr bash -c 'cat "$1" | claudex mcp validate -' _ "$FIXTURES/manifest/valid/minimal.json"
    assert_status 0
    assert_stderr_empty
    [ "$output" = "ok  <stdin>: valid manifest" ] || fail "unexpected report"
}

@test "stdin: '-' reports the problems of an invalid manifest" {
    write_five_mistakes "$SANDBOX/bad.json"
    run --separate-stderr bash -c 'claudex mcp validate --json - <<<"$(cat "$1")"' _ "$SANDBOX/bad.json"
    assert_status 1
    assert_stderr_empty
    [ "$(json_eval 'len(doc)')" -eq 5 ] || fail "expected 5 problems"
    [ "$(json_eval 'sorted(set(p["file"] for p in doc))')" = "['<stdin>']" ] || fail "problems are not attributed to <stdin>"
}

@test "a missing path: exit 4, error code not_found, empty stdout" {
    run --separate-stderr claudex mcp validate "$SANDBOX/no-such-file.json"
    assert_status 4
    assert_stdout_empty
    assert_stderr_error not_found
    [ "$(stderr_error_field path)" = "$SANDBOX/no-such-file.json" ] || fail "error.path is not the missing path"
}

@test "a missing path among valid ones fails the whole run before printing anything" {
    run --separate-stderr claudex mcp validate --schema manifest \
        "$FIXTURES/manifest/valid/minimal.json" "$SANDBOX/no-such-file.json"
    assert_status 4
    assert_stdout_empty
    assert_stderr_error not_found
}

@test "a dangling symlink is a missing path (exit 4)" {
    ln -s "$SANDBOX/nowhere.json" "$SANDBOX/link.json"
    run --separate-stderr claudex mcp validate "$SANDBOX/link.json"
    assert_status 4
    assert_stdout_empty
    assert_stderr_error not_found
}

# bad_input NAME RULE: validate NAME (a file in the sandbox); exit 1 with exactly one problem
# of rule RULE, in both the human and the JSON report, no traceback, nothing on stderr.
bad_input() {
    local name="$1" rule="$2"
    run --separate-stderr claudex mcp validate "$name"
    assert_status 1
    assert_stderr_empty
    assert_no_traceback
    [ "${lines[0]}" = "invalid  $name: 1 problem" ] || fail "expected exactly one problem"
    [[ "${lines[1]}" == "  $name: "*" [$rule]" ]] || fail "expected one problem line with rule $rule"
    run --separate-stderr claudex mcp validate --json "$name"
    assert_status 1
    assert_stderr_empty
    assert_no_traceback
    [ "$(json_eval 'len(doc)')" -eq 1 ] || fail "expected exactly one problem"
    [ "$(json_eval 'doc[0]["rule"]')" = "$rule" ] || fail "expected rule $rule"
    [ -n "$(json_eval 'doc[0]["hint"] or ""')" ] || fail "the problem has no hint"
}

@test "an empty file: exit 1 with one clear problem" {
    : >"$SANDBOX/empty.json"
    bad_input empty.json empty
    [[ "$(json_eval 'doc[0]["message"]')" == *"is empty"* ]] || fail "the message does not say the file is empty"
}

@test "a file of whitespace only counts as empty" {
    printf ' \n\t\n' >"$SANDBOX/blank.json"
    bad_input blank.json empty
}

@test "a non-UTF-8 file: exit 1 with one clear problem" {
    printf '\xff\xfe' >"$SANDBOX/binary.json"
    bad_input binary.json not_utf8
    [[ "$(json_eval 'doc[0]["message"]')" == *"not UTF-8"* ]] || fail "the message does not say it is not UTF-8"
}

@test "malformed JSON: exit 1, and the message gives line:column" {
    printf '{\n  "apiVersion": "v1",\n  "metadata" {}\n}\n' >"$SANDBOX/broken.json"
    bad_input broken.json invalid_json
    local message
    message="$(json_eval 'doc[0]["message"]')"
    [[ "$message" == "broken.json:3:14: invalid JSON: "* ]] || fail "the message lacks line:column 3:14: $message"
}

@test "a JSON array instead of an object: exit 1 with one clear problem" {
    printf '[{"apiVersion": "v1"}]\n' >"$SANDBOX/array.json"
    bad_input array.json type
    [[ "$(json_eval 'doc[0]["message"]')" == *"JSON array, not an object"* ]] || fail "the message does not name the array"
}

@test "a JSON array named manifest.json: exit 1 with one clear problem" {
    mkdir "$SANDBOX/srv"
    printf '[]\n' >"$SANDBOX/srv/manifest.json"
    run --separate-stderr claudex mcp validate --json srv/manifest.json
    assert_status 1
    assert_stderr_empty
    assert_no_traceback
    [ "$(json_eval 'len(doc)')" -eq 1 ] || fail "expected exactly one problem"
    [ "$(json_eval 'doc[0]["rule"]')" = type ] || fail "expected rule type"
}

@test "a directory without manifest.json: exit 1 with one clear error and no traceback" {
    mkdir "$SANDBOX/not-a-server"
    run --separate-stderr claudex mcp validate not-a-server
    assert_status 1
    assert_stdout_empty
    assert_no_traceback
    assert_stderr_error not_a_server_folder
    [[ "$(stderr_error_field message)" == *"manifest.json"* ]] || fail "the message does not mention manifest.json"
    [ "$(stderr_error_field path)" = not-a-server ] || fail "error.path is not the directory"
}

@test "--schema bogus: exit 2 with a usage error and empty stdout" {
    run --separate-stderr claudex mcp validate --schema bogus "$FIXTURES/manifest/valid/minimal.json"
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
    [[ "$(stderr_error_field message)" == *bogus* ]] || fail "the message does not name the bad value"
}

@test "validate without a path: exit 2 with a usage error" {
    run --separate-stderr claudex mcp validate
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
}

@test "a document whose kind cannot be told: exit 2 with unknown_kind, and --schema fixes it" {
    printf '{}\n' >"$SANDBOX/thing.json"
    run --separate-stderr claudex mcp validate thing.json
    assert_status 2
    assert_stdout_empty
    assert_stderr_error unknown_kind
    [[ "$(stderr_error_field hint)" == *"--schema"* ]] || fail "the hint does not suggest --schema"
    run --separate-stderr claudex mcp validate --schema config thing.json
    assert_status 0
}

@test "scripts/validate-schema behaves like claudex mcp validate" {
    write_five_mistakes "$SANDBOX/five.json"
    printf '[]\n' >"$SANDBOX/array.json"
    local -a cases=(
        "$FIXTURES/manifest/valid/full-stdio.json"
        "--json $FIXTURES/manifest/valid/full-stdio.json"
        "five.json"
        "--json five.json"
        "--schema registry $FIXTURES/registry/invalid/servers.qdrant.location--enum.json"
        "array.json"
        "no-such-file.json"
        "--schema bogus five.json"
    )
    local args expected_out expected_status expected_code
    for args in "${cases[@]}"; do
        # shellcheck disable=SC2086  # the cases are split on purpose
        run --separate-stderr claudex mcp validate $args
        expected_out="$output" expected_status="$status" expected_code=""
        [ -z "$stderr" ] || expected_code="$(stderr_error_field code)"
        # shellcheck disable=SC2086
        run --separate-stderr "$REPO/scripts/validate-schema" $args
        [ "$status" -eq "$expected_status" ] || fail "validate-schema $args: exit $status, claudex gave $expected_status"
        [ "$output" = "$expected_out" ] || fail "validate-schema $args: stdout differs from claudex mcp validate"
        if [ -n "$expected_code" ]; then
            assert_stderr_error "$expected_code"
        else
            assert_stderr_empty
        fi
    done
}

@test "scripts/validate-schema reads stdin like claudex mcp validate" {
    run --separate-stderr bash -c '"$1" - <"$2"' _ "$REPO/scripts/validate-schema" "$FIXTURES/manifest/valid/minimal.json"
    assert_status 0
    [ "$output" = "ok  <stdin>: valid manifest" ] || fail "unexpected report"
}

@test "validate REGISTRY: every server folder, registry.json and config.json; exit 1 names the broken one" {
    claudex mcp init >/dev/null
    mkdir -p "$CLAUDEX_MCP_REGISTRY/installed/good"
    printf '%s\n' '{"apiVersion": "v1", "metadata": {"name": "good", "version": "1.0.0", "description": "ok"},' \
        '"server": {"command": "python3", "args": ["${SERVER_DIR}/server.py"]}}' >"$CLAUDEX_MCP_REGISTRY/installed/good/manifest.json"
    touch "$CLAUDEX_MCP_REGISTRY/installed/good/server.py"
    # A folder put in by hand: registry.json does not record it yet, and validate says so.
    run --separate-stderr claudex mcp validate "$CLAUDEX_MCP_REGISTRY"
    assert_status 1
    assert_stdout_contains "installed/good is not recorded [out-of-sync]"
    claudex mcp cache refresh >/dev/null
    run --separate-stderr claudex mcp validate "$CLAUDEX_MCP_REGISTRY"
    assert_status 0
    assert_stderr_empty
    [ "$output" = "ok  $CLAUDEX_MCP_REGISTRY: valid registry folder" ] || fail "not one ok line for the registry"
    write_five_mistakes "$CLAUDEX_MCP_REGISTRY/installed/good/manifest.json"
    run --separate-stderr claudex mcp validate "$CLAUDEX_MCP_REGISTRY"
    assert_status 1
    assert_stderr_empty
    assert_stdout_contains "invalid  $CLAUDEX_MCP_REGISTRY: "
    assert_stdout_contains "$CLAUDEX_MCP_REGISTRY/installed/good/manifest.json /apiVersion:"
}
