"""What every verb and script shares: argument parsing, JSON output, and the one place that
maps exceptions to exit codes and to the stderr error object."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

from claudex_mcp import errors
from claudex_mcp.errors import ClaudexError, UsageError
from claudex_mcp.jsonio import dumps


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (exit 2, JSON on stderr) instead of printing and exiting,
    and asks "did you mean --enabled?" for a mistyped option."""

    def error(self, message: str, close: Sequence[str] = ()) -> None:  # type: ignore[override]
        hint = f"run '{self.prog} --help' for usage"
        if close:
            hint = f"did you mean {' or '.join(close)}? " + hint
        raise UsageError(message, hint=hint)

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """argparse's own, but the arguments left over (a subcommand's too: they come up here)
        are matched against every option this parser and its subcommands know."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            import difflib

            known = sorted(self._option_strings())
            close = []
            for extra in extras:
                if extra.startswith("-") and len(extra) > 1:
                    close += difflib.get_close_matches(extra.partition("=")[0], known, n=1, cutoff=0.6)
            self.error(f"unrecognized arguments: {' '.join(extras)}", list(dict.fromkeys(close)))
        return parsed

    def _option_strings(self) -> set[str]:
        found = set()
        for action in self._actions:
            found.update(o for o in action.option_strings if o.startswith("--"))
            choices = action.choices if isinstance(action.choices, dict) else {}  # subcommands: name -> parser
            for sub in choices.values():
                if isinstance(sub, Parser):
                    found |= sub._option_strings()
        return found


def parser(prog: str, doc: str | None, examples: Sequence[str] = ()) -> Parser:
    summary, _, details = (doc or "").strip().partition("\n")
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples) if examples else None
    p = Parser(prog=prog, description=(summary + ("\n" + details if details else "")).strip(),
               epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    return p


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--jq", metavar="EXPR", help="filter the JSON result with a jq expression (implies --json)")


class _Output:
    jq: str | None = None
    json_errors = False  # --json or --jq was given: errors as JSON, even on a terminal


def _set(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def color_enabled(stream) -> bool:
    """Colour on ``stream``: never with NO_COLOR (no-color.org: any non-empty value); always with
    FORCE_COLOR or CLICOLOR_FORCE (even into a pipe; "0" means not set); else on a terminal
    whose TERM is not dumb."""
    if os.environ.get("NO_COLOR"):
        return False
    if _set("FORCE_COLOR") or _set("CLICOLOR_FORCE"):
        return True
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False
    return tty and os.environ.get("TERM") != "dumb"


def visible(text: str) -> str:
    """``text`` with its control characters written out (``\\x1b``, ``\\r``, ``\\u202e``), newlines
    and tabs kept: text from a server shown on a terminal must not drive it (OSC 52 sets the
    clipboard, OSC 0 the title, CSI moves the cursor or erases, a bidi override reorders a line)."""
    import re

    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]",
                  lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


class _Visible:
    """sys.stdout on a terminal: every control character written is shown (``visible``), except
    the colour (SGR) sequences claudex paints with, so that no text a verb prints (a server's log
    line, tool description or error in `logs`, `info`, `status`, `call`) can drive the terminal.
    A pipe gets the bytes as they are."""

    _SGR = None

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        import re

        if _Visible._SGR is None:
            _Visible._SGR = re.compile(r"(\x1b\[[0-9;]*m)")
        parts = _Visible._SGR.split(text)
        self._stream.write("".join(p if i % 2 else visible(p) for i, p in enumerate(parts)))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def guard_terminal() -> None:
    """Wrap sys.stdout in _Visible when it is a terminal (once): called by the verbs that show a
    server's words (not by an interactive one: a questionnaire draws with escapes of its own)."""
    if not isinstance(sys.stdout, _Visible) and sys.stdout.isatty():
        sys.stdout = _Visible(sys.stdout)


def paint(text: str, code: str | None, stream=None) -> str:
    stream = stream or sys.stdout
    return f"\033[{code}m{text}\033[0m" if code and color_enabled(stream) else text


def write_json(obj: Any) -> None:
    """The result on stdout: JSON, or with --jq each output of the filter: a string raw (like gh
    and jq -r), anything else in the one JSON format (jsonio.dumps: 2-space indent, sorted keys,
    newline at the end), so --json and --jq print a value the same way."""
    if _Output.jq is None:
        sys.stdout.write(dumps(obj))
        return
    import jq

    try:
        outputs = jq.compile(_Output.jq).input_value(obj).all()
    except ValueError as exc:
        raise UsageError(f"--jq: {str(exc).splitlines()[0]}", hint="check the jq expression") from None
    for value in outputs:
        sys.stdout.write(value + "\n" if isinstance(value, str) else dumps(value))


def report_error(exc: ClaudexError, prog: str, human: bool = False) -> None:
    """Say what failed, once: the readable line (message and hint) when stderr is a terminal
    and no JSON was asked for; else the one JSON object, for scripts and pipelines (--json or
    --jq asks for it on a terminal too). The launcher (``human``) writes only the readable
    line: clients show its stderr to people."""
    if human or (sys.stderr.isatty() and not _Output.json_errors):
        # A message may carry a server's words (a tool error, its last stderr lines): made visible.
        line = f"{prog}: error: {visible(exc.message)}"
        if exc.hint:
            line += f" (hint: {visible(exc.hint)})"
        sys.stderr.write(paint(line, "31", sys.stderr) + "\n")
        for detail in exc.details or ():
            sys.stderr.write(f"  | {visible(str(detail))}\n")
    else:
        sys.stderr.write(json.dumps(exc.to_dict(), sort_keys=True) + "\n")


def _wants_json(argv: Sequence[str]) -> bool:
    """--json or --jq among the options (before a lone --): the error comes as JSON too. Read
    from argv, not from the parsed arguments, so that a usage error follows it as well."""
    for arg in argv:
        if arg == "--":
            return False
        if arg == "--json" or arg == "--jq" or arg.startswith("--jq="):
            return True
    return False


def run(prog: str, build: Callable[[], argparse.ArgumentParser],
        action: Callable[[argparse.Namespace], int], argv: Sequence[str] | None,
        human_errors: bool = False) -> int:
    """Parse ``argv``, run ``action``, and turn every outcome into an exit code."""
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        _Output.json_errors = _wants_json(argv)
        for arg in argv:
            _check_argument(arg)
        args = build().parse_args(argv)
        _Output.jq = getattr(args, "jq", None)
        if _Output.jq is not None:
            args.json = True
        code = action(args)
        sys.stdout.flush()
        return code
    except ClaudexError as exc:
        report_error(exc, prog, human_errors)
        return exc.exit_code
    except KeyboardInterrupt:
        report_error(ClaudexError("interrupted", code="interrupted"), prog, human_errors)
        return errors.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error; keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return errors.OK
    except SystemExit as exc:  # argparse --help / --version
        return exc.code if isinstance(exc.code, int) else errors.OK
    except OSError as exc:  # the environment's doing (ENOSPC, EROFS, an immutable file...): say what
        known = errors.from_os_error(exc)
        if known is None:
            return _internal(exc, prog, human_errors)
        report_error(known, prog, human_errors)
        return known.exit_code
    except RecursionError:
        exc = ClaudexError("the input is nested too deeply", code="too_deep",
                           hint="configs and manifests are small documents; flatten the nesting")
        report_error(exc, prog, human_errors)
        return exc.exit_code
    except Exception as exc:
        return _internal(exc, prog, human_errors)


def _check_argument(arg: str) -> None:
    """Python hands over argv bytes that are not UTF-8 as lone surrogates; they would fail at the
    first print or JSON document, so they are refused here, with what to do."""
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise UsageError(f"the argument {shown!r} is not valid UTF-8", code="not_utf8",
                         hint="claudex takes UTF-8 arguments; rename the file or folder, or set a UTF-8 locale") from None
    if "\0" in arg:
        raise UsageError("an argument holds a NUL byte", code="nul_byte", hint="remove it")


def _internal(exc: BaseException, prog: str = "claudex mcp", human: bool = False) -> int:
    """A bug: say so plainly, with the traceback only on request."""
    if os.environ.get("CLAUDEX_DEBUG"):
        raise exc
    report_error(ClaudexError(f"internal error: {type(exc).__name__}: {exc}", code="internal",
                              hint="this is a bug in claudex; run again with CLAUDEX_DEBUG=1 for the "
                                   "traceback and report it"), prog, human)
    return errors.UNEXPECTED


def add_install_options(p: argparse.ArgumentParser, catalog: bool = False) -> None:
    """What `claudex mcp install` and atomic-install take (``catalog``: install's registry:NAME too)."""
    if catalog:
        p.add_argument("source", nargs="?", help="a server folder, a git URL or local git repository with an "
                       "optional @ref, or registry:NAME[@VERSION] from an MCP Registry catalog")
    else:
        p.add_argument("source", help="a server folder, or a git URL or local git repository with an optional @ref")
    p.add_argument("--ref", help="the git tag, branch or commit (instead of URL@ref)")
    p.add_argument("--submodules", action="store_true", help="also fetch the repository's git submodules")
    p.add_argument("--subdir", metavar="PATH", help="the server's folder inside the git repository "
                   "(its requirements may then name shared packages elsewhere in the repository, e.g. ../lib/<dist>)")
    p.add_argument("--ignore-scripts", action="store_true",
                   help="npm runs no package scripts; pip installs only wheels from indexes (no downloaded "
                   "sdist is built), though the server's own local packages are still built (see docs/lifecycle.md)")
    add_extras_option(p, "--with", "also install these optional extras of the server (its manifest's \"extras\"; "
                      "'claudex mcp info NAME' lists them), comma-separated or repeated")


def add_extras_option(p: argparse.ArgumentParser, flag: str, help: str) -> None:
    """--with / --without EXTRA[,EXTRA]: install's and upgrade's choice of a server's extras."""
    p.add_argument(flag, action="append", metavar="EXTRA[,EXTRA]", dest=flag.lstrip("-") + "_extras", help=help)


def extras(values: list[str] | None) -> list[str]:
    """The extras named by one of those options (repeatable, each comma-separated), in order, once each."""
    from claudex_mcp.errors import UsageError

    names = [part.strip() for value in values or () for part in value.split(",")]
    if values and not any(names):
        raise UsageError("no extra named", code="no_extra", hint="name one or more: --with chat or --with chat,server")
    return list(dict.fromkeys(n for n in names if n))


def add_client_options(p: argparse.ArgumentParser, default_targets: bool = False) -> None:
    """What `claudex mcp generate` and generate-mcp-json take; with ``default_targets`` no
    --client means generate.DEFAULT_TARGETS (the verb), else claude-code (the pipe script)."""
    from claudex_mcp.clients import renderers

    p.add_argument("--client", choices=renderers.CLIENTS, default=None if default_targets else renderers.CLAUDE_CODE,
                   help="the client whose config to write (default: " +
                        ("Claude Code's user scope and ~/.mcp.json, and Codex)" if default_targets else "claude-code)"))
    p.add_argument("--scope", choices=("default", "project", "user"), default="default",
                   help="which of the client's config files (default: the client's usual one)")
    p.add_argument("--output", metavar="PATH",
                   help="write this file instead; - prints the rendered document and writes nothing")
    add_json(p)


def emit_client_config(effective: dict, args: argparse.Namespace, folders=None) -> int:
    """Write (or with --output - print) the client config, and report what happened; no
    --client (the verb's default) writes every file of generate.DEFAULT_TARGETS. ``folders``
    (generate.Folders): the project folders whose local scope Claude Code's user file gets."""
    from claudex_mcp.clients import renderers, generate

    # The merge step's warnings (an ignored project layer, an invalid server) come first.
    upstream = [w for w in effective.get("warnings") or [] if isinstance(w, str)]
    if args.client is None and args.scope == "default" and args.output is None:
        results = generate.write_defaults(effective, folders)
        for result in results:
            result["warnings"] = upstream + result["warnings"]
        if args.json:
            write_json({"targets": results})
        else:
            for result in results:
                _print_written(result)
        return 0
    args.client = args.client or renderers.CLAUDE_CODE
    if args.output == "-":
        data, warnings = generate.render_document(effective, args.client)
        for warning in upstream + warnings:
            warn(warning)
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    result = generate.write(effective, args.client, args.scope, args.output, folders)
    result["warnings"] = upstream + result["warnings"]
    if args.json:
        write_json(result)
    else:
        _print_written(result)
    return 0


def _print_written(result: dict) -> None:
    state = paint("wrote", "32") if result["changed"] else "unchanged"
    print(f"{state}  {result['target']} ({result['client']}, {result['scope']} scope)")
    for label, key in (("servers", "servers"), ("removed", "removed"), ("kept yours", "kept"),
                       ("left out (you removed them)", "excluded")):
        if result[key]:
            print(f"  {label}: {', '.join(result[key])}")
    for folder in result["folders"]:
        _print_folder(folder, "  ")
    if result["backup"]:
        print(f"  previous file: {result['backup']}")
    for warning in result["warnings"]:
        warn(warning)


def _print_folder(folder: dict, indent: str) -> None:
    if folder.get("skipped"):
        print(f"{indent}for {folder['dir']}: nothing written to {folder['target']}: {folder['skipped']}")
        return
    said = [f"{label} {', '.join(folder[key])}" for label, key in (
        ("servers", "servers"), ("disabled", "disabled"), ("removed", "removed"), ("enabled again", "reenabled"),
        ("left out (you removed them)", "excluded"))
        if folder[key]]
    where = "" if folder["target"].endswith(".claude.json") else f" in {folder['target']}"
    print(f"{indent}for {folder['dir']}{where}: {'; '.join(said)}")


def add_project(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--project", metavar="NAME",
                       help="the project $CLAUDEX_PROJECTS_DIR/NAME (default: the nearest folder above "
                            "the working directory that has .claudex/)")
    group.add_argument("--project-dir", metavar="DIR", help="the project folder itself")


def add_refresh(p: argparse.ArgumentParser) -> None:
    p.add_argument("--refresh", action="store_true", help="rescan the registry instead of using the cache")


def registry_index(refresh: bool = False):
    """(registry path, index) through the cache."""
    from claudex_mcp.store import cache
    from claudex_mcp import paths

    registry = paths.registry_dir()
    index, _ = cache.load(registry, refresh=refresh)
    return registry, index


def warn(message: str) -> None:
    sys.stderr.write(paint(f"warning: {message}", "33", sys.stderr) + "\n")


def note(message: str) -> None:
    """A line for the person on stderr that is neither the result nor a warning."""
    sys.stderr.write(message + "\n")


ELLIPSIS = "…"
MIN_COLUMN = 8  # a column cut to fit the terminal keeps at least this many characters


def print_table(rows: list[dict], columns: list[tuple[str, Any]]) -> None:
    """Aligned columns on a terminal, fitted to its width: the widest columns are cut with an
    ellipsis (`--json` has the full text); tab-separated plain lines (no header) when piped. A
    getter returns a value, or (value, colour code): cells are padded first and painted after, so
    the escape codes never move a column."""
    def cell(row, getter) -> tuple[str, str | None]:
        value = getter(row) if callable(getter) else row.get(getter)
        value, colour = value if isinstance(value, tuple) else (value, None)
        text = "-" if value is None else " ".join(str(value).split())  # one line, whatever the detail holds
        return text, colour

    table = [[cell(r, g) for _, g in columns] for r in rows]
    if not sys.stdout.isatty():
        for line in table:
            sys.stdout.write("\t".join(paint(text, colour) for text, colour in line) + "\n")
        return
    header = [title for title, _ in columns]
    widths = fit_widths([max(len(x) for x in column) for column in zip(header, *([t for t, _ in l] for l in table))],
                        shutil_columns())
    sys.stdout.write(paint("  ".join(_cut(h, w).ljust(w) for h, w in zip(header, widths)).rstrip(), "1") + "\n")
    for line in table:
        cells = [paint(_cut(text, w).ljust(w), colour) for (text, colour), w in zip(line, widths)]
        sys.stdout.write("  ".join(cells).rstrip() + "\n")


def shutil_columns() -> int:
    import shutil

    return shutil.get_terminal_size().columns


def fit_widths(widths: list[int], total: int, gap: int = 2) -> list[int]:
    """Column widths that fit in ``total`` characters. The last column (the free text: detail,
    status) gives way first, down to MIN_COLUMN; then the widest of the others, one character at
    a time, down to MIN_COLUMN (past that the terminal wraps the table)."""
    widths = list(widths)
    over = sum(widths) + gap * (len(widths) - 1) - total
    if over > 0 and widths:
        widths[-1] = max(min(widths[-1], MIN_COLUMN), widths[-1] - over)
    while sum(widths) + gap * (len(widths) - 1) > total:
        widest = max(range(len(widths)), key=lambda i: (widths[i], i))
        if widths[widest] <= MIN_COLUMN:
            break
        widths[widest] -= 1
    return widths


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + ELLIPSIS


# The lifecycle's steps as a person reads them: the phase words of a progress line.
PHASES = {"fetch": "fetching", "validate": "checking", "compatibility": "checking", "conflicts": "checking",
          "check": "checking", "dependencies": "dependencies", "permissions": "finishing", "health": "checking",
          "commit": "committing", "remove": "removing", "move": "moving", "regenerate": "regenerating"}


def progress(enabled: bool, stream=None, clock=None, *, label: str = "", redraw: bool = False):
    """A report(step, detail) callback that shows each step on a terminal's stderr, with the
    time since the command began ("  1.4s  dependencies  python venv (uv)"); nothing when
    stderr is not a terminal (or with --json), except a wait for the registry lock, which is
    shown even with --json. A folder source is "copying", a URL "fetching".

    ``label`` starts every line (a task that runs verbs, each with its own clock: "make run");
    ``redraw`` keeps one line, rewritten by each report and cut to the terminal's width, which
    ``report.clear()`` erases before the result is printed."""
    import time

    clock = clock or time.monotonic
    start = clock()
    last = [None]
    shown = [False]

    def report(step: str, detail: str | None = None) -> None:
        out = stream or sys.stderr
        if not ((enabled or step == "waiting") and out.isatty()):
            return
        phase = PHASES.get(step, step)
        if step == "fetch" and detail and "://" not in detail and not detail.startswith("git@"):
            phase = "copying"
        if phase == last[0] and not detail and not redraw:
            return  # validate, compatibility, conflicts: one "checking" line
        last[0] = phase
        text = (f"{label}  " if label else "") + f"{clock() - start:5.1f}s  "
        if redraw and detail:
            # A line longer than the terminal wraps, and "\r" would then rewrite only its last row.
            detail = _cut(detail, max(1, _columns(out) - 1 - len(text) - 13 - 2))
        line = text + paint(f"{phase:<13}", "36", out) + (f"  {detail}" if detail else "")
        if redraw:
            out.write(_erase(out) + line.rstrip())
            shown[0] = True
        else:
            out.write(line.rstrip() + "\n")
        out.flush()

    def clear() -> None:
        if shown[0]:
            out = stream or sys.stderr
            out.write(_erase(out))
            out.flush()
            shown[0] = False
    report.clear = clear
    return report


def _erase(stream) -> str:
    """Back to the start of the line, erased: "\\r" and erase-in-line, or spaces on TERM=dumb
    (a terminal that knows no escape sequences)."""
    if os.environ.get("TERM") == "dumb":
        return "\r" + " " * (_columns(stream) - 1) + "\r"
    return "\r\033[K"


def _columns(stream) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80


def print_result(result: dict, summary: str) -> None:
    """A lifecycle verb's result: one summary line, the client configs it regenerated (and
    why), then its warnings on stderr."""
    print(summary)
    for done in result.get("regenerated", []):
        state = "regenerated" if done["changed"] else "up to date"
        print(f"  {state}: {done['target']} ({done['client']}; {done['reason']})")
        for folder in done.get("folders", []):
            _print_folder(folder, "    ")
    said = list(result.get("warnings", []))
    for done in result.get("regenerated", []):  # a skipped server, an entry of yours kept, one you removed
        said += [w for w in done.get("warnings", []) if w not in said]
    for warning in said:
        warn(warning)
