"""The dispatcher: help, version, unknown verbs, and a start-up that loads no heavy modules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from claudex_mcp import __version__
from conftest import ROOT
from claudex_mcp.cli import dispatch

HEAVY = ("jsonschema", "jq", "copier", "requests", "mcp", "qdrant_client", "docker")


def imported_modules(*argv: str, env=None) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "claudex_mcp.cli.dispatch", *argv],
                          capture_output=True, text=True, env=env)
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "claudex_mcp" in names, proc.stderr[-500:]
    return names


@pytest.mark.parametrize("argv", [("mcp", "--help"), ("--help",), ("--version",), ("mcp", "--version"),
                                  ("mcp", "lst"), ("mcp", "ls", "--help"), ("mcp", "info", "--help"),
                                  ("mcp", "call", "--help"), ("mcp", "completion", "bash"), ("mcp", "init", "--help"),
                                  ("mcp", "validate", "--help"), ("mcp", "nope")])
def test_start_up_loads_no_heavy_module(sandbox, argv):
    assert not imported_modules(*argv, env=sandbox.env) & set(HEAVY)


def test_validate_does_load_jsonschema(sandbox, tmp_path):
    (tmp_path / "c.json").write_text('{"servers": {}}')
    assert "jsonschema" in imported_modules("mcp", "validate", str(tmp_path / "c.json"), env=sandbox.env)


def test_mcp_help_lists_every_verb_with_its_summary(sandbox):
    proc = sandbox.run("mcp", "--help")
    assert proc.returncode == 0
    for verb, summary in dispatch.verbs().items():
        assert summary
        assert f"  {verb}" in proc.stdout and summary in proc.stdout


def test_verbs_are_the_command_modules():
    assert {"init", "validate"} <= set(dispatch.verbs())


def test_version(sandbox):
    proc = sandbox.run("--version")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == dispatch.version_line()
    assert proc.stdout.startswith(f"claudex {__version__}") and proc.stdout.endswith("\n")
    for form in (("mcp", "--version"), ("mcp", "-V"), ("-V",), ("version",)):
        assert sandbox.run(*form).stdout == proc.stdout


def test_version_says_the_git_checkout_it_runs_from(sandbox):
    import subprocess

    described = subprocess.run(["git", "-C", str(ROOT), "describe", "--tags", "--always", "--dirty"],
                               capture_output=True, text=True)
    line = dispatch.version_line()
    if described.returncode == 0:  # a checkout (CI runs on one)
        assert line == f"claudex {__version__} (git {described.stdout.strip()})\n"
    else:
        assert line == f"claudex {__version__}\n"


def test_version_without_git_on_path_is_still_the_version(sandbox):
    proc = sandbox.run("--version", env={"PATH": "/nonexistent"})
    assert (proc.returncode, proc.stdout) == (0, f"claudex {__version__}\n")


@pytest.mark.parametrize("alias,verb", sorted(dispatch.ALIASES.items()))
def test_aliases_run_their_verb(sandbox, alias, verb):
    proc = sandbox.run("mcp", alias, "--help")
    assert proc.returncode == 0
    assert proc.stdout == sandbox.run("mcp", verb, "--help").stdout


def test_aliases_are_shown_in_help_but_are_not_verbs(sandbox):
    assert not set(dispatch.ALIASES) & set(dispatch.verbs())
    assert set(dispatch.ALIASES.values()) <= set(dispatch.verbs())
    out = sandbox.run("mcp", "--help").stdout
    assert "aliases: ls = list, rm = uninstall, remove = uninstall, get = info" in out
    assert "\n  ls " not in out  # not listed as a verb


def test_ls_lists_like_list(sandbox):
    assert sandbox.run("mcp", "init").returncode == 0
    assert sandbox.run("mcp", "ls", "--json").stdout == sandbox.run("mcp", "list", "--json").stdout == "[]\n"


@pytest.mark.parametrize("typed,suggested", [("lst", "list"), ("stauts", "status"), ("unistall", "uninstall"),
                                             ("confg", "config"), ("inf", "info")])
def test_a_mistyped_verb_suggests_the_verb(sandbox, typed, suggested):
    proc = sandbox.run("mcp", typed)
    assert proc.returncode == 2 and proc.stdout == ""
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "usage" and error["hint"].startswith(f"did you mean {suggested}")


def test_an_alias_is_not_suggested_beside_its_verb(sandbox):
    hint = json.loads(sandbox.run("mcp", "lst").stderr)["error"]["hint"]
    assert hint.startswith("did you mean list? the verbs are")
    assert json.loads(sandbox.run("mcp", "remve").stderr)["error"]["hint"].startswith("did you mean remove?")


def test_a_word_like_no_verb_gets_no_suggestion(sandbox):
    hint = json.loads(sandbox.run("mcp", "frobnicate").stderr)["error"]["hint"]
    assert hint.startswith("the verbs are: ")


def test_a_mistyped_command_suggests_mcp(sandbox):
    hint = json.loads(sandbox.run("mpc", "list").stderr)["error"]["hint"]
    assert hint == "did you mean mcp? the commands are: mcp"


@pytest.mark.parametrize("argv,code", [(("mcp", "frobnicate"), 2), (("mcp", "--frob"), 2), (("nope",), 2),
                                       (("mcp", "validate", "--nope", "x"), 2), (("mcp", "validate"), 2)])
def test_usage_errors_exit_2_with_one_json_error(sandbox, argv, code):
    proc = sandbox.run(*argv)
    assert proc.returncode == code
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert json.loads(line)["error"]["code"] == "usage"


def test_unknown_verb_lists_the_verbs(sandbox):
    hint = json.loads(sandbox.run("mcp", "frobnicate").stderr)["error"]["hint"]
    assert all(verb in hint for verb in dispatch.verbs())


def test_no_verb_prints_help_on_stderr_and_exits_2(sandbox):
    proc = sandbox.run("mcp")
    assert proc.returncode == 2 and proc.stdout == "" and "verbs:" in proc.stderr


@pytest.mark.parametrize("verb", sorted(dispatch.verbs()))
def test_every_verb_has_help_with_examples(sandbox, verb):
    proc = sandbox.run("mcp", verb, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"usage: claudex mcp {verb}")
    assert f"claudex mcp {verb} " in proc.stdout.split("\nexamples:\n  ", 1)[1]  # (after a `mkdir -p ... &&`)
    assert sandbox.run("mcp", "help", verb).stdout == proc.stdout


def test_internal_errors_are_reported_without_a_traceback(sandbox, tmp_path, monkeypatch, capsys):
    from claudex_mcp.cli.commands import validate

    def boom(*_a, **_k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr("claudex_mcp.schemas.validation.validate_source", boom)
    assert validate.main([str(tmp_path)]) == 70
    err = json.loads(capsys.readouterr().err)["error"]
    assert err["code"] == "internal" and "kaboom" in err["message"] and "CLAUDEX_DEBUG" in err["hint"]


def test_broken_pipe_is_not_an_error(tmp_path, monkeypatch, capsys):
    # (This sandbox's pipes never raise EPIPE, so the reader that leaves early is simulated.)
    class GoneReader:
        def __init__(self, fh):
            self.fh = fh

        def write(self, _text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

        def fileno(self):
            return self.fh.fileno()

    (tmp_path / "c.json").write_text('{"servers": {"Bad": {}}}')
    with open(tmp_path / "out", "w") as fh:
        monkeypatch.setattr(sys, "stdout", GoneReader(fh))
        assert dispatch.main(["mcp", "validate", "--json", str(tmp_path / "c.json")]) == 0
    assert capsys.readouterr().err == ""
