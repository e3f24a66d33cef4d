"""What every verb and script shares: argument parsing, JSON output, and the one place that
maps exceptions to exit codes and to the stderr error object."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Sequence

from .. import errors
from ..errors import ClaudexError, UsageError
from ..jsonio import dumps


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (exit 2, JSON on stderr) instead of printing and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}", hint=f"run '{self.prog} --help' for usage")


def parser(prog: str, doc: str | None, examples: Sequence[str] = ()) -> Parser:
    summary, _, details = (doc or "").strip().partition("\n")
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples) if examples else None
    p = Parser(prog=prog, description=(summary + ("\n" + details if details else "")).strip(),
               epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    return p


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def color_enabled(stream) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def paint(text: str, code: str, stream=None) -> str:
    stream = stream or sys.stdout
    return f"\033[{code}m{text}\033[0m" if color_enabled(stream) else text


def write_json(obj: Any) -> None:
    sys.stdout.write(dumps(obj))


def report_error(exc: ClaudexError, prog: str) -> None:
    """One JSON object on stderr, plus one readable line when stderr is a terminal."""
    if sys.stderr.isatty():
        line = f"{prog}: error: {exc.message}"
        if exc.hint:
            line += f" (hint: {exc.hint})"
        sys.stderr.write(paint(line, "31", sys.stderr) + "\n")
    sys.stderr.write(json.dumps(exc.to_dict(), sort_keys=True) + "\n")


def run(prog: str, build: Callable[[], argparse.ArgumentParser],
        action: Callable[[argparse.Namespace], int], argv: Sequence[str] | None) -> int:
    """Parse ``argv``, run ``action``, and turn every outcome into an exit code."""
    try:
        args = build().parse_args(sys.argv[1:] if argv is None else list(argv))
        code = action(args)
        sys.stdout.flush()
        return code
    except ClaudexError as exc:
        report_error(exc, prog)
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(json.dumps({"error": {"code": "interrupted", "message": "interrupted"}}) + "\n")
        return errors.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error; keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return errors.OK
    except SystemExit as exc:  # argparse --help / --version
        return exc.code if isinstance(exc.code, int) else errors.OK
    except Exception as exc:  # a bug: say so plainly, with the traceback only on request
        if os.environ.get("CLAUDEX_DEBUG"):
            raise
        message = f"internal error: {type(exc).__name__}: {exc}"
        sys.stderr.write(json.dumps({"error": {
            "code": "internal", "message": message,
            "hint": "this is a bug in claudex; run again with CLAUDEX_DEBUG=1 for the traceback and report it"}}) + "\n")
        return errors.UNEXPECTED
