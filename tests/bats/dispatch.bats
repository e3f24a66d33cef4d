#!/usr/bin/env bats
# The command line around the verbs: --version, help, unknown commands, verbs and options.

bats_require_minimum_version 1.5.0

load test_helper

setup() {
    setup_sandbox
    VERBS="$(verb_modules)"
    [ -n "$VERBS" ] || { echo "no verb modules found in $REPO/scripts/claudex_mcp/cli/commands" >&2; return 1; }
}

# The verbs, as dispatch finds them: one module per verb in cli/commands/.
verb_modules() {
    local f name
    for f in "$REPO"/scripts/claudex_mcp/cli/commands/*.py; do
        name="$(basename "$f" .py)"
        [[ "$name" == _* ]] && continue
        echo "${name//_/-}"
    done
}

@test "claudex --version prints 'claudex <version>' (and the git checkout's describe) and exits 0" {
    local version described
    version="$(python3 -c 'import claudex_mcp; print(claudex_mcp.__version__)')"
    [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]]
    run --separate-stderr claudex --version
    assert_status 0
    if described="$(git -C "$REPO" describe --tags --always --dirty 2>/dev/null)"; then
        [ "$output" = "claudex $version (git $described)" ] || fail "expected 'claudex $version (git $described)'"
    else
        [ "$output" = "claudex $version" ] || fail "expected 'claudex $version'"
    fi
    assert_stderr_empty
}

@test "claudex -V, claudex version and claudex mcp --version print the same as --version" {
    run --separate-stderr claudex --version
    assert_status 0
    local expected="$output"
    run --separate-stderr claudex mcp --version
    assert_status 0
    [ "$output" = "$expected" ] || fail "claudex mcp --version differs from claudex --version"
    for form in -V version; do
        run --separate-stderr claudex "$form"
        assert_status 0
        [ "$output" = "$expected" ] || fail "claudex $form differs from --version"
    done
}

@test "claudex --help shows the usage and the mcp command on stdout" {
    run --separate-stderr claudex --help
    assert_status 0
    [[ "${lines[0]}" == "usage: claudex "* ]] || fail "first line is not the usage line"
    [[ "$output" =~ (^|$'\n')"  mcp "+[a-z] ]] || fail "the mcp command is not listed with a summary"
    assert_stderr_empty
}

@test "claudex mcp --help lists every verb with its summary" {
    run --separate-stderr claudex mcp --help
    assert_status 0
    assert_stderr_empty
    [[ "${lines[0]}" == "usage: claudex mcp "* ]] || fail "first line is not the usage line"
    # The two verbs that exist today, with their summaries...
    [[ "$output" =~ $'\n'"  init "+"Create the registry" ]] || fail "init is not listed with its summary"
    [[ "$output" =~ $'\n'"  validate "+"Validate manifests" ]] || fail "validate is not listed with its summary"
    # ...and every verb module, each on a line of its own with a non-empty summary.
    local verb
    for verb in $VERBS; do
        [[ "$output" =~ $'\n'"  $verb "+[A-Za-z] ]] || fail "verb $verb is not listed with a summary"
    done
}

@test "claudex mcp help and claudex mcp -h are the same as --help" {
    run --separate-stderr claudex mcp --help
    local expected="$output"
    for form in -h help; do
        run --separate-stderr claudex mcp "$form"
        assert_status 0
        [ "$output" = "$expected" ] || fail "claudex mcp $form differs from --help"
    done
}

@test "claudex mcp without a verb exits 2 with the help on stderr and nothing on stdout" {
    run --separate-stderr claudex mcp
    assert_status 2
    assert_stdout_empty
    assert_stderr_contains "usage: claudex mcp"
    assert_stderr_contains "init"
    assert_stderr_contains "validate"
}

@test "an unknown verb exits 2 with a usage error whose hint lists the verbs" {
    run --separate-stderr claudex mcp frobnicate
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
    local message hint verb
    message="$(stderr_error_field message)"
    [[ "$message" == *frobnicate* ]] || fail "the message does not name the verb: $message"
    hint="$(stderr_error_field hint)"
    for verb in $VERBS; do
        [[ "$hint" == *"$verb"* ]] || fail "the hint does not list $verb: $hint"
    done
}

@test "an unknown option in place of a verb exits 2 with a usage error" {
    run --separate-stderr claudex mcp --frobnicate
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
    [[ "$(stderr_error_field message)" == *--frobnicate* ]] || fail "the message does not name the option"
}

@test "an unknown top-level command exits 2 with a usage error" {
    run --separate-stderr claudex frobnicate
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
    [[ "$(stderr_error_field message)" == *frobnicate* ]] || fail "the message does not name the command"
    [[ "$(stderr_error_field hint)" == *mcp* ]] || fail "the hint does not name the mcp command"
}

@test "every verb's --help exits 0 with its usage and examples" {
    local verb
    for verb in $VERBS; do
        run --separate-stderr claudex mcp "$verb" --help
        assert_status 0
        assert_stderr_empty
        [[ "${lines[0]}" == "usage: claudex mcp $verb"* ]] || fail "$verb: first line is not its usage"
        assert_stdout_contains "examples:"
        # An example runs this verb (completion's first makes the folder it writes into).
        [[ "${output#*examples:}" == *"claudex mcp $verb"* ]] || fail "$verb: no example runs it"
    done
}

@test "claudex mcp help VERB is the same as claudex mcp VERB --help" {
    local verb
    for verb in $VERBS; do
        run --separate-stderr claudex mcp "$verb" --help
        local expected="$output"
        run --separate-stderr claudex mcp help "$verb"
        assert_status 0
        [ "$output" = "$expected" ] || fail "claudex mcp help $verb differs from --help"
    done
}

# Verbs whose errors are one readable line on stderr instead of the JSON object: the launcher
# (`run`), whose stderr MCP clients show to people (see report_error in cli/common.py).
HUMAN_ERROR_VERBS="run headers"  # the clients show their stderr to people

@test "an unknown option to a verb exits 2 with a usage error and empty stdout" {
    local verb
    for verb in $VERBS; do
        run --separate-stderr claudex mcp "$verb" --no-such-option
        assert_status 2
        assert_stdout_empty
        assert_no_traceback
        if [[ " $HUMAN_ERROR_VERBS " == *" $verb "* ]]; then
            [ "${#stderr_lines[@]}" -eq 1 ] || fail "$verb: expected one line on stderr"
            [[ "$stderr" == "claudex mcp $verb: error: "*"claudex mcp $verb --help"* ]] ||
                fail "$verb: stderr is not a readable usage error pointing to --help"
        else
            assert_stderr_error usage
            [[ "$(stderr_error_field hint)" == *"claudex mcp $verb --help"* ]] ||
                fail "$verb: the hint does not point to --help"
        fi
    done
}

@test "the usage error for an unknown option names the option" {
    # Given their required arguments, so that the unknown option is what fails.
    run --separate-stderr claudex mcp init --no-such-option
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
    [[ "$(stderr_error_field message)" == *"unrecognized arguments: --no-such-option"* ]] || fail "init: the option is not named"
    run --separate-stderr claudex mcp validate --no-such-option "$FIXTURES/manifest/valid/minimal.json"
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
    [[ "$(stderr_error_field message)" == *"unrecognized arguments: --no-such-option"* ]] || fail "validate: the option is not named"
}

@test "a mistyped option gets a did you mean, for every verb and subcommand" {
    run --separate-stderr claudex mcp list --enabeld
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
    [ "$(stderr_error_field hint)" = "did you mean --enabled? run 'claudex mcp list --help' for usage" ] ||
        fail "list: no did you mean --enabled"
    run --separate-stderr claudex mcp config set echo env.X y --projct demo
    assert_status 2
    [[ "$(stderr_error_field hint)" == "did you mean --project? "* ]] || fail "config set: no did you mean --project"
    run --separate-stderr claudex mcp status --jsn --refersh
    assert_status 2
    [[ "$(stderr_error_field hint)" == "did you mean --json or --refresh? "* ]] || fail "status: not both named"
    run --separate-stderr mcp-utils scan --refesh
    assert_status 2
    [[ "$(stderr_error_field hint)" == "did you mean --refresh? "* ]] || fail "a pipe script: no did you mean"
    run --separate-stderr claudex mcp list --zzzz
    assert_status 2
    [[ "$(stderr_error_field hint)" != *"did you mean"* ]] || fail "a guess where nothing is close"
}

@test "an unknown option to a verb does not run the verb" {
    # init would create the registry if the bad option were ignored.
    run --separate-stderr claudex mcp init --no-such-option
    assert_status 2
    [ ! -e "$CLAUDEX_MCP_REGISTRY" ] || fail "init created the registry despite a usage error"
}

@test "claudex without a command exits 2 with the help on stderr and nothing on stdout" {
    run --separate-stderr claudex
    assert_status 2
    assert_stdout_empty
    assert_stderr_contains "usage: claudex"
}

@test "the aliases ls, rm and remove run list and uninstall, and help shows them as aliases" {
    run --separate-stderr claudex mcp --help
    assert_stdout_contains "aliases: ls = list, rm = uninstall, remove = uninstall"
    [[ "$output" != *$'\n'"  ls "* ]] || fail "ls is listed as a verb"
    run --separate-stderr claudex mcp init
    assert_status 0
    run --separate-stderr claudex mcp ls --json
    assert_status 0
    [ "$output" = "[]" ] || fail "ls did not list like list"
    for alias in rm remove; do
        run --separate-stderr claudex mcp "$alias" nosuch
        assert_status 4
        assert_stderr_error no_server
    done
}

@test "a mistyped verb exits 2 with did you mean" {
    run --separate-stderr claudex mcp lst
    assert_status 2
    assert_stdout_empty
    assert_stderr_error usage
    [[ "$(stderr_error_field hint)" == "did you mean list"* ]] || fail "no suggestion of list"
}

@test "a mistyped verb on a terminal is one readable line with the suggestion" {
    run script -qec "claudex mcp stauts" /dev/null
    assert_status 2
    [[ "$output" == *"claudex mcp: error: unknown verb 'stauts' (hint: did you mean status?"* ]] ||
        fail "no readable line with the suggestion"
}

@test "claudex mcp completion bash installs a completion that bash uses" {
    run --separate-stderr claudex mcp completion bash
    assert_status 0
    local script="$output"
    run bash --norc --noprofile -c "$script"$'\n''complete -p claudex
        COMP_WORDS=(claudex mcp unin); COMP_CWORD=2; _claudex; printf "%s\n" "${COMPREPLY[@]}"'
    assert_status 0
    [ "${lines[0]}" = "complete -F _claudex claudex" ] || fail "the completion is not registered"
    [ "${lines[1]}" = "uninstall" ] || fail "unin did not complete to uninstall"
}
