"""Shell completion: the candidates (verbs and aliases, each verb's flags and choices, server
names, tools of the last check, paths) and the bash, zsh and fish scripts run in real shells."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, add_echo_servers, add_server, manifest
from claudex_mcp.store import registry as registry_mod
from claudex_mcp.cli import completion, dispatch

BIN = str(Path(sys.executable).parent)


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    add_echo_servers(sandbox.registry)
    return sandbox.registry


def words(*typed: str) -> list[str]:
    return [c.split("\t", 1)[0] for c in completion.candidates(list(typed))]


def test_top_level_and_verbs_with_aliases(sandbox):
    assert words("") == ["mcp", "--help", "--version"]
    assert set(dispatch.verbs()) | set(dispatch.ALIASES) <= set(words("mcp", ""))
    assert words("mcp", "st") == ["status"]
    assert words("mcp", "help", "un") == ["uninstall"]
    assert words("nope", "") == []
    described = dict(c.split("\t", 1) for c in completion.candidates(["mcp", "l"]))
    assert described["list"] == dispatch.verbs()["list"] and described["ls"] == "alias of list"


def test_flags_per_verb_and_their_choices(sandbox):
    assert "--client" in words("mcp", "generate", "--") and "--purge" not in words("mcp", "generate", "--")
    assert "--purge" in words("mcp", "rm", "--")  # an alias completes as its verb
    assert words("mcp", "generate", "--client", "cl") == ["claude-code", "claude-desktop"]
    assert words("mcp", "cache", "") == ["stats", "clear", "refresh"]
    assert words("mcp", "config", "") == ["show", "explain", "get", "set", "unset", "trust", "untrust"]
    assert words("mcp", "completion", "") == ["bash", "zsh", "fish"]
    assert "--user" in words("mcp", "config", "set", "--")  # the subcommand's own flags


def test_server_names_tools_and_paths(sandbox, reg):
    assert words("mcp", "info", "") == ["echo", "echo-core", "echo-key", "echo-off"]
    assert words("mcp", "enable", "echo-o") == ["echo-off"]  # a verb that builds its parser in main()
    assert words("mcp", "config", "show", "--json", "echo-k") == ["echo-key"]
    assert words("mcp", "info", "echo", "") == []  # one server is all info takes
    assert words("mcp", "test", "") == ["echo", "echo-core", "echo-key", "echo-off", completion.FILES]
    assert words("mcp", "validate", "") == [completion.FILES]
    assert words("mcp", "generate", "--project-dir", "") == [completion.DIRS]
    assert words("mcp", "call", "echo", "") == []  # no check yet: no tool names
    assert sandbox.run("mcp", "status", "echo", "--json").returncode == 0
    assert words("mcp", "call", "echo", "") == ["add", "echo"]
    assert words("mcp", "call", "--timeout", "3", "echo", "e") == ["echo"]  # an option's value is skipped


def test_project_names(sandbox, reg):
    (Path(os.environ["CLAUDEX_PROJECTS_DIR"]) / "demo").mkdir(parents=True)
    assert words("mcp", "list", "--project", "") == ["demo"]


def test_a_completion_that_fails_prints_nothing_and_exits_0(sandbox):
    (sandbox.root / "file").write_text("")
    proc = sandbox.run("mcp", "completion", "__complete", "mcp", "info", "",
                       env={"CLAUDEX_MCP_REGISTRY": str(sandbox.root / "file")})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    proc = sandbox.run("mcp", "completion", "__complete", "mcp", "nope", "--")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_the_script_command(sandbox):
    for shell in ("bash", "zsh", "fish"):
        proc = sandbox.run("mcp", "completion", shell)
        assert proc.returncode == 0 and proc.stdout == completion.SCRIPTS[shell] and proc.stderr == ""
    proc = sandbox.run("mcp", "completion", "tcsh")
    assert proc.returncode == 2 and json.loads(proc.stderr)["error"]["code"] == "usage"


def test_a_tab_loads_no_heavy_module(sandbox, reg):
    from test_dispatch import HEAVY, imported_modules

    for typed in (("mcp", ""), ("mcp", "info", ""), ("mcp", "call", "echo", ""), ("mcp", "generate", "--")):
        assert not imported_modules("mcp", "completion", "__complete", *typed, env=sandbox.env) & set(HEAVY)


# --- the scripts in real shells --------------------------------------------------------------

def shell_env(sandbox) -> dict:
    return dict(sandbox.env, PATH=f"{BIN}:/usr/bin:/bin")


def bash_complete(sandbox, line: str) -> list[str]:
    typed = line.split(" ")
    script = (f'source <(claudex mcp completion bash)\ncomplete -p claudex\n'
              f'COMP_WORDS=({" ".join(repr(w) for w in typed)}); COMP_CWORD={len(typed) - 1}\n'
              '_claudex; printf "%s\\n" "${COMPREPLY[@]}"\n')
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                          env=shell_env(sandbox), cwd=sandbox.root, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    first, *rest = proc.stdout.splitlines()
    assert first == "complete -F _claudex claudex"
    return [r for r in rest if r]


def test_bash(sandbox, reg):
    assert bash_complete(sandbox, "claudex mcp st") == ["status"]
    assert bash_complete(sandbox, "claudex mcp uninstall echo-") == ["echo-core", "echo-key", "echo-off"]
    assert bash_complete(sandbox, "claudex mcp generate --client cu") == ["cursor"]
    (sandbox.root / "a dir").mkdir()
    (sandbox.root / "a dir" / "m.json").write_text("{}")
    assert bash_complete(sandbox, "claudex mcp validate a") == ["a dir"]  # a path with a space, kept whole
    assert bash_complete(sandbox, "claudex mcp nope ") == []


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed (.ci/run installs it)")
def test_fish(sandbox, reg, tmp_path):
    script = tmp_path / "claudex.fish"
    script.write_text(completion.FISH)
    assert subprocess.run(["fish", "-n", str(script)], capture_output=True).returncode == 0

    def complete(line: str) -> list[str]:
        proc = subprocess.run(["fish", "--no-config", "-c", f"source {script}; complete -C {line!r}"],
                              capture_output=True, text=True, env=shell_env(sandbox), cwd=sandbox.root, timeout=60)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        return proc.stdout.splitlines()

    assert complete("claudex mcp sta") == ["status\t" + dispatch.verbs()["status"]]
    assert complete("claudex mcp info echo-k") == ["echo-key"]
    first = sorted(dispatch.verbs())[0]
    assert complete("claudex mcp ")[:1] == [f"{first}\t" + dispatch.verbs()[first]]  # an empty word
    (sandbox.root / "manifest.json").write_text("{}")
    assert complete("claudex mcp validate man") == ["manifest.json"]


ZPTY = r"""
setopt extendedglob
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='> '; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D"
zpty -w -n z "$2"$'\t'
local out= chunk plain=
local -i end=$(( SECONDS + $4 ))
while (( SECONDS < end )); do
  if zpty -r -t z chunk; then
    out+=$chunk
    plain=${${out//$'\e'\[[0-9;?]#[a-zA-Z]/}//$'\r'/}
    [[ $plain == *"$3"* ]] && break
  else
    sleep 0.05
  fi
done
zpty -d z
print -r -- "$plain"
"""


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (.ci/run installs it)")
def test_zsh(sandbox, reg, tmp_path):
    """zsh's own completion system, driven through a pseudo-terminal: TAB completes the line."""
    functions = tmp_path / "zfunc"
    functions.mkdir()
    (functions / "_claudex").write_text(completion.ZSH)
    assert subprocess.run(["zsh", "-n", str(functions / "_claudex")], capture_output=True).returncode == 0
    driver = tmp_path / "driver.zsh"
    driver.write_text(ZPTY)

    def completes(line: str, expected: str, wait: int = 20) -> bool:
        proc = subprocess.run(["zsh", "-f", str(driver), str(functions), line, expected, str(wait)], capture_output=True,
                              env=shell_env(sandbox), cwd=sandbox.root, timeout=60)
        return expected.encode() in proc.stdout

    assert completes("claudex mcp sta", "claudex mcp status ")
    assert completes("claudex mcp info echo-o", "claudex mcp info echo-off ")
    assert completes("claudex mcp generate --cli", "claudex mcp generate --client ")
    assert not completes("claudex mcp nope echo-o", "echo-off ", wait=3)


HOSTILE_SERVER = """
from mcp.server.mcpserver import MCPServer

server = MCPServer("hostile")


def tool(text: str) -> str:
    \"\"\"A tool.\"\"\"
    return text


for name in ("safe_tool", "$(touch PWNED)", "`touch PWNED2`", "x;touch PWNED3", "a b", "-rf", "dotted.name-1"):
    server.add_tool(tool, name=name)

if __name__ == "__main__":
    server.run("stdio")
"""


def test_a_servers_tool_names_are_never_candidates_a_shell_would_run(sandbox, reg):
    """A server names its tools; `status` keeps the names for completion. Offered unquoted,
    `$(touch PWNED)` becomes part of the command line the user runs: only names made of
    the characters MCP allows in a tool name (letters, digits, _ - .) are offered."""
    add_server(reg, "hostile", doc=manifest("hostile", command=sys.executable), files={"server.py": HOSTILE_SERVER})
    proc = sandbox.run("mcp", "status", "hostile", "--json")
    assert "$(touch PWNED)" in json.loads(proc.stdout)["toolNames"], proc.stdout + proc.stderr
    line = "claudex mcp call hostile "
    offered = bash_complete(sandbox, line)
    # What the user would run once a candidate is taken: the line, expanded by bash itself.
    for candidate in offered:
        script = f"claudex() {{ :; }}\n{line}{candidate}\n"
        proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                              env=shell_env(sandbox), cwd=sandbox.root, timeout=60)
        assert proc.returncode == 0, proc.stderr
    assert not list(sandbox.root.rglob("PWNED*"))
    assert offered == ["dotted.name-1", "safe_tool"]
    if shutil.which("fish"):
        script = sandbox.root / "claudex.fish"
        script.write_text(completion.FISH)
        proc = subprocess.run(["fish", "--no-config", "-c", f"source {script}; complete -C {line!r}"],
                              capture_output=True, text=True, env=shell_env(sandbox), cwd=sandbox.root, timeout=60)
        assert proc.stdout.splitlines() == ["dotted.name-1", "safe_tool"], proc.stdout + proc.stderr
    assert not list(sandbox.root.rglob("PWNED*"))


def test_hostile_folder_names_in_the_registry_are_not_offered(sandbox, reg):
    (reg / "installed" / "$(touch PWNED)").mkdir()
    (reg / "installed" / "ok-name").mkdir()
    assert "$(touch PWNED)" not in words("mcp", "info", "")
    assert "ok-name" in words("mcp", "info", "")
