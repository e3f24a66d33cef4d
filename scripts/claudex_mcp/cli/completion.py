"""Shell completion's one brain: the candidates for the word under the cursor, worked out from the
verbs' own argparse parsers, so that every verb and flag is completed the day it is added.

The bash, zsh and fish scripts (`claudex mcp completion SHELL`) are thin: each passes the words
typed so far to `claudex mcp completion __complete WORD...` and shows what it prints, one
candidate a line (``word<TAB>description``), or lets the shell complete paths when a line says
``__files__`` or ``__dirs__``. Server names come from the registry's folders (no scan, no cache),
tool names from the last status check, so a TAB costs one short start of Python. A name from
server data that a shell would not take literally (`$(...)`, `;`, a space, a leading `-`) is
never offered.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re

from claudex_mcp.cli import dispatch

FILES = "__files__"
DIRS = "__dirs__"
# Names from server data (registry folders, the tools a server listed, project folders) are offered
# only when made of the characters MCP allows in a tool name: the shells insert a candidate as it
# is, so `$(touch PWNED)` or `a;b` would run when the line does, and `-x` would be read as an option.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,127}")


def _safe(names) -> list[str]:
    return [n for n in names if isinstance(n, str) and _SAFE_NAME.fullmatch(n)]


def server_names() -> list[str]:
    """The server folders of the registry, without reading a manifest."""
    from claudex_mcp import paths

    registry = paths.registry_dir()
    names = set()
    for location in paths.LOCATIONS:
        try:
            with os.scandir(registry / location) as found:
                names |= {e.name for e in found if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)}
        except OSError:
            continue
    return sorted(_safe(names))


def tool_names(server: str) -> list[str]:
    """The tools ``server`` listed at its last check (`status` keeps the results)."""
    from claudex_mcp.runtime.checks import kept_results

    try:
        names = kept_results()[server]["result"].get("toolNames") or []
    except (KeyError, TypeError, AttributeError):
        return []
    if not isinstance(names, list):
        return []
    return _safe(names)


def project_names() -> list[str]:
    from claudex_mcp import paths

    try:
        with os.scandir(paths.projects_dir()) as found:
            return sorted(_safe(e.name for e in found if e.is_dir() and not e.name.startswith(".")))
    except OSError:
        return []


def verb_parser(verb: str) -> argparse.ArgumentParser:
    """The parser of ``verb``, exactly as the verb builds it."""
    module = importlib.import_module(f"claudex_mcp.cli.commands.{verb.replace('-', '_')}")
    return module.build_parser(f"claudex mcp {verb}")


# argparse has no public way to list a parser's actions; _actions and _SubParsersAction have been
# stable since Python 3.2 and are what argcomplete and shtab read too.
def _positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not a.option_strings]


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _path_kind(action: argparse.Action) -> str | None:
    metavar = str(action.metavar or "").upper()
    dest = action.dest
    if metavar == "DIR" or dest == "dir" or dest.endswith("_dir"):
        return DIRS
    if "PATH" in metavar or "FILE" in metavar or dest in ("paths", "path", "source", "output", "file"):
        return FILES
    return None


def _value_candidates(action: argparse.Action) -> list[str]:
    if action.choices:
        return [str(c) for c in action.choices]
    if action.dest == "project":
        return project_names()
    kind = _path_kind(action)
    return [kind] if kind else []


def _positional_candidates(action: argparse.Action, before: list[str]) -> list[str]:
    if isinstance(action, argparse._SubParsersAction):
        helps = {a.dest: a.help for a in action._choices_actions}
        return [f"{name}\t{helps[name]}" if helps.get(name) else name for name in action.choices]
    if action.choices:
        return [str(c) for c in action.choices]
    metavar = str(action.metavar or "").upper()
    if action.dest == "server" or "SERVER" in metavar:
        return server_names() + ([FILES] if "PATH" in metavar else [])
    if action.dest == "tool" and before:
        return tool_names(before[-1])
    kind = _path_kind(action)
    return [kind] if kind else []


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    out = []
    for action in parser._actions:
        for flag in action.option_strings:
            if flag.startswith("--"):
                out.append(f"{flag}\t{action.help}" if action.help and action.help != argparse.SUPPRESS else flag)
    return out


def candidates(words: list[str]) -> list[str]:
    """What may stand in place of ``words[-1]`` (the word under the cursor, maybe empty) after
    ``claudex words[:-1]``: ``word<TAB>description`` lines, or FILES / DIRS."""
    if not words:
        return []
    current, done = words[-1], words[:-1]
    if not done:
        found = ["mcp\tdiscover, install, configure, check and build MCP servers", "--help", "--version"]
    elif done[0] != "mcp":
        return []
    elif len(done) == 1 or (len(done) == 2 and done[1] == "help"):
        found = [f"{verb}\t{summary}" for verb, summary in dispatch.verbs().items()]
        found += [f"{alias}\talias of {verb}" for alias, verb in dispatch.ALIASES.items()]
        found += [] if len(done) == 2 else ["--help", "--version"]
    else:
        verb = dispatch.ALIASES.get(done[1], done[1])
        if verb not in dispatch.verbs():
            return []
        found = _in_verb(verb_parser(verb), done[2:], current)
    markers = [c for c in found if c in (FILES, DIRS)]
    return [c for c in found if c not in markers and c.split("\t", 1)[0].startswith(current)] + markers


def _in_verb(parser: argparse.ArgumentParser, done: list[str], current: str) -> list[str]:
    positionals: list[str] = []
    waiting: argparse.Action | None = None
    only_positionals = False
    for word in done:
        if waiting is not None:
            waiting = None
            continue
        if word == "--" and not only_positionals:
            only_positionals = True
            continue
        if word.startswith("-") and not only_positionals:
            action = _options(parser).get(word.split("=", 1)[0])
            if action is not None and _takes_value(action) and "=" not in word:
                waiting = action
            continue
        sub = _subparsers(parser)
        if sub is not None and not positionals and word in sub.choices:
            parser = sub.choices[word]
            continue
        positionals.append(word)
    if waiting is not None:
        return _value_candidates(waiting)
    if current.startswith("-") and not only_positionals:
        return _flags(parser)
    slots = _positionals(parser)
    if not slots:
        return []
    index = min(len(positionals), len(slots) - 1)
    slot = slots[index]
    if len(positionals) >= len(slots) and slot.nargs not in ("+", "*", argparse.REMAINDER):
        return []
    return _positional_candidates(slot, positionals)


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


BASH = r"""# bash completion for claudex (from 'claudex mcp completion bash')
_claudex() {
    local cur=${COMP_WORDS[COMP_CWORD]} line path
    COMPREPLY=()
    while IFS= read -r line; do
        case $line in
            __files__|__dirs__)
                compopt -o filenames 2>/dev/null
                while IFS= read -r path; do COMPREPLY+=("$path"); done < <(
                    if [ "$line" = __dirs__ ]; then compgen -d -- "$cur"; else compgen -f -- "$cur"; fi)
                ;;
            ?*) COMPREPLY+=("${line%%$'\t'*}") ;;
        esac
    done < <(claudex mcp completion __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
    return 0
}
complete -F _claudex claudex
"""

ZSH = r"""#compdef claudex
# zsh completion for claudex (from 'claudex mcp completion zsh')
_claudex() {
    local line
    local -a described plain
    for line in "${(@f)$(claudex mcp completion __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}"; do
        case $line in
            __files__) _files ;;
            __dirs__) _files -/ ;;
            *$'\t'*) described+=("${${line%%$'\t'*}//:/\\:}:${line#*$'\t'}") ;;
            ?*) plain+=("$line") ;;
        esac
    done
    (( ${#described} )) && _describe -t claudex 'claudex' described
    (( ${#plain} )) && compadd -- "${plain[@]}"
    return 0
}
if [ "$funcstack[1]" = "_claudex" ]; then
    _claudex "$@"
else
    compdef _claudex claudex
fi
"""

FISH = r"""# fish completion for claudex (from 'claudex mcp completion fish')
function __claudex_complete
    set -l current (commandline -ct)
    set -q current[1]; or set current ''
    set -l words (commandline -opc) $current
    for line in (claudex mcp completion __complete $words[2..-1] 2>/dev/null)
        switch $line
            case __files__
                __fish_complete_path $current
            case __dirs__
                __fish_complete_directories $current
            case '*'
                echo $line
        end
    end
end
complete -c claudex -f -a '(__claudex_complete)'
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH}
