"""The domain logic of a shell-wrapper MCP server, with no mcp import: the executable scripts in
tools/ are the tools, each declared by its header, each run without a shell in between, with a
timeout and an output cap.

Header (the first 40 lines):  # description: one line
                              # arg NAME: what it is        (required)
                              # arg NAME?: what it is       (optional; after the required ones)
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent / "tools"
HEADER_LINES = 40
DEFAULT_OUTPUT_LIMIT = 65536  # bytes of stdout a tool may answer with
STDERR_TAIL = 2000  # bytes of stderr kept for the error message
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_DESCRIPTION = re.compile(r"#\s*description:\s*(.+)")
_ARG = re.compile(r"#\s*arg\s+([a-z][a-z0-9_]{0,63})(\?)?\s*:\s*(.+)")


class ToolFailure(Exception):
    """A tool that cannot run, timed out, or exited non-zero; the message is for the client."""


@dataclass
class Arg:
    name: str
    description: str
    required: bool


@dataclass
class Tool:
    name: str
    path: Path
    description: str
    args: list[Arg] = field(default_factory=list)

    def input_schema(self) -> dict:
        return {"type": "object",
                "properties": {a.name: {"type": "string", "description": a.description} for a in self.args},
                "required": [a.name for a in self.args if a.required], "additionalProperties": False}


@dataclass
class Limits:
    timeout: float
    output_limit: int

    @classmethod
    def from_env(cls, default_timeout: float) -> "Limits":
        """TOOL_TIMEOUT (seconds) and TOOL_OUTPUT_LIMIT (bytes); bad values are an error at start."""
        try:
            timeout = float(os.environ.get("TOOL_TIMEOUT") or default_timeout)
            limit = int(os.environ.get("TOOL_OUTPUT_LIMIT") or DEFAULT_OUTPUT_LIMIT)
        except ValueError:
            raise ToolFailure("TOOL_TIMEOUT must be a number of seconds and TOOL_OUTPUT_LIMIT a number of "
                              "bytes") from None
        if timeout <= 0 or limit <= 0:
            raise ToolFailure("TOOL_TIMEOUT and TOOL_OUTPUT_LIMIT must be positive")
        return cls(timeout, limit)


def parse_header(path: Path) -> Tool:
    """The tool a script declares; ValueError says what is wrong with its header."""
    description, args = None, []
    with open(path, encoding="utf-8", errors="replace") as f:
        for _, line in zip(range(HEADER_LINES), f):
            line = line.strip()
            if m := _DESCRIPTION.fullmatch(line):
                description = m.group(1).strip()
            elif m := _ARG.fullmatch(line):
                arg = Arg(m.group(1), m.group(3).strip(), m.group(2) is None)
                if any(a.name == arg.name for a in args):
                    raise ValueError(f"{path.name}: argument {arg.name} is declared twice")
                if arg.required and args and not args[-1].required:
                    raise ValueError(f"{path.name}: required argument {arg.name} comes after an optional one")
                args.append(arg)
    if not description:
        raise ValueError(f"{path.name}: no '# description:' line in its first {HEADER_LINES} lines")
    return Tool(path.name, path, description, args)


def discover(folder: Path = TOOLS_DIR) -> tuple[dict[str, Tool], list[str]]:
    """(tools by name, problems): regular executable files with snake_case names and a valid
    header; links, hidden files and anything else are left out and said why."""
    tools, problems = {}, []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        st = entry.stat(follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            problems.append(f"{entry.name}: not a regular file (links are not followed)")
        elif not _NAME.fullmatch(entry.name):
            problems.append(f"{entry.name}: a tool's file name is snake_case (a-z, 0-9, _), no extension")
        elif not st.st_mode & stat.S_IXUSR:
            problems.append(f"{entry.name}: not executable (chmod +x)")
        else:
            try:
                tools[entry.name] = parse_header(Path(entry.path))
            except (OSError, ValueError) as exc:
                problems.append(str(exc))
    return tools, problems


def argv_for(tool: Tool, arguments: dict) -> list[str]:
    """The script's argv: the declared arguments in order, as strings; unknown or missing ones fail."""
    unknown = sorted(set(arguments) - {a.name for a in tool.args})
    if unknown:
        raise ToolFailure(f"{tool.name} takes no argument {unknown[0]!r}")
    argv = [str(tool.path)]
    for arg in tool.args:
        if arg.name not in arguments or arguments[arg.name] is None:
            if arg.required:
                raise ToolFailure(f"{tool.name} needs the argument {arg.name!r}")
            break  # optional arguments are positional: the first missing one ends the list
        value = arguments[arg.name]
        if not isinstance(value, str):
            raise ToolFailure(f"{tool.name}: {arg.name} must be a string")
        if "\0" in value:
            raise ToolFailure(f"{tool.name}: {arg.name} must not contain a NUL character")
        argv.append(value)
    return argv


def run(tool: Tool, arguments: dict, limits: Limits) -> str:
    """Run the script (no shell; its own process group, killed on timeout); its stdout, cut at
    the output limit, or ToolFailure with the end of its stderr."""
    argv = argv_for(tool, arguments)
    try:
        proc = subprocess.Popen(argv, cwd=tool.path.parent.parent, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        raise ToolFailure(f"{tool.name} could not start: {exc.strerror}") from None
    out, err, truncated, timed_out = bytearray(), bytearray(), False, False
    deadline = time.monotonic() + limits.timeout
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ, out)
            sel.register(proc.stderr, selectors.EVENT_READ, err)
            while sel.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                for key, _ in sel.select(left):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        sel.unregister(key.fileobj)
                    elif key.data is out:
                        out += chunk
                        if len(out) > limits.output_limit:
                            del out[limits.output_limit:]
                            truncated = True
                    else:
                        err += chunk
                        del err[:-STDERR_TAIL]
                if truncated:
                    break
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    text = out.decode("utf-8", "replace")
    if timed_out:
        raise ToolFailure(f"{tool.name} took longer than {limits.timeout:g} s and was stopped")
    if truncated:
        return text + f"\n[output cut at {limits.output_limit} bytes]"
    if proc.returncode != 0:
        message = err.decode("utf-8", "replace").strip() or text.strip() or "no message"
        raise ToolFailure(f"{tool.name} failed (exit {proc.returncode}): {message}")
    return text
