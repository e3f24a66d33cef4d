"""The codex MCP server: lets Claude Code (or any MCP client) ask the Codex CLI to review,
answer, summarise and continue threads, through `codex exec --json`. The work is in codex_cli.

Run `python server.py` for stdio, `python server.py --check` for a self-test (JSON on stdout,
exit 0 when Codex is installed and has credentials, 1 when not).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated

import claudex_server
import codex_cli
from codex_cli import CodexError, Settings

claudex_server.check_first(__name__, codex_cli.check)   # `server.py --check`, before the SDK's import

import anyio
from pydantic import BaseModel, Field

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations

VERSION = "2.0.0"

server = MCPServer(
    "codex", version=VERSION,
    instructions="Ask the Codex CLI for a second opinion: codex_review (code or plans), "
                 "codex_consult (questions), codex_status (project summary), codex_reply (continue "
                 "a thread by its thread_id), codex_history (recent Codex sessions). Codex runs in "
                 "the project directory, read-only by default; a call can take minutes.")
tool = claudex_server.tools(server, CodexError)


class CodexReply(BaseModel):
    """What a Codex turn produced."""

    thread_id: str | None = Field(description="Codex thread id; pass it to codex_reply to continue")
    message: str = Field(description="Codex's final message")
    activity: str = Field(description="reasoning, commands and file changes (empty when quiet)")
    usage: dict | None = Field(default=None, description="token usage Codex reported")


class HistoryEntry(BaseModel):
    """One recent Codex session."""

    thread_id: str
    started: str
    updated: str
    cwd: str
    source: str
    prompt: str
    last_message: str


class History(BaseModel):
    """Recent Codex sessions, newest first."""

    sessions: list[HistoryEntry]


def _hints(read_only: bool) -> ToolAnnotations:
    # Static at start-up: a sandbox that allows writes makes the Codex tools potentially destructive.
    return ToolAnnotations(read_only_hint=read_only, destructive_hint=not read_only,
                           idempotent_hint=False, open_world_hint=True)


_READ_ONLY = os.environ.get("CODEX_SANDBOX", "read-only").strip() in ("", "read-only")
_CODEX_HINTS = _hints(_READ_ONLY)


@tool(annotations=_CODEX_HINTS)
async def codex_review(prompt: str, ctx: Context, include_project_context: bool = True,
                       quiet: bool = False) -> Annotated[CallToolResult, CodexReply]:
    """Ask Codex to review code or a plan; with project context it also gets AGENTS.md/CLAUDE.md."""
    settings = _settings()
    context = codex_cli.agent_instructions(settings.project_dir) if include_project_context else None
    # Codex reads AGENTS.md by itself; turn that off so the flag alone decides what it sees.
    return await _turn(ctx, settings, codex_cli.review_prompt(prompt, context), quiet,
                       config=[("project_doc_max_bytes", "0")])


@tool(annotations=_CODEX_HINTS)
async def codex_consult(question: str, ctx: Context,
                        quiet: bool = False) -> Annotated[CallToolResult, CodexReply]:
    """Ask Codex a question about the project or anything else."""
    return await _turn(ctx, _settings(), question, quiet)


@tool(annotations=_CODEX_HINTS)
async def codex_status(ctx: Context, quiet: bool = False) -> Annotated[CallToolResult, CodexReply]:
    """Ask Codex to summarise the current state of the project."""
    return await _turn(ctx, _settings(), codex_cli.STATUS_PROMPT, quiet)


@tool(annotations=_CODEX_HINTS)
async def codex_reply(thread_id: str, prompt: str, ctx: Context,
                      quiet: bool = False) -> Annotated[CallToolResult, CodexReply]:
    """Continue a Codex thread (a thread_id from an earlier call or codex_history) with a prompt."""
    settings = _settings()
    return await _turn(ctx, settings, prompt, quiet, thread_id=codex_cli.check_thread_id(thread_id))


@tool(annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False,
                                         idempotent_hint=True, open_world_hint=False))
async def codex_history(limit: Annotated[int, Field(ge=1, le=100)] = 5) -> Annotated[CallToolResult, History]:
    """List recent Codex sessions (thread id, folder, first prompt, last answer), newest first."""
    settings = _settings()
    sessions = await anyio.to_thread.run_sync(codex_cli.recent_sessions, settings.codex_home, limit)
    entries = [HistoryEntry(**{k: v for k, v in vars(s).items() if k != "path"}) for s in sessions]
    if entries:
        text = "\n\n".join(f"{e.thread_id}  {e.updated or e.started}  {e.cwd}\n"
                           f"  prompt: {e.prompt or '-'}\n  answer: {e.last_message or '-'}"
                           for e in entries)
    else:
        text = f"No Codex sessions in {settings.codex_home / 'sessions'}."
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=History(sessions=entries).model_dump(mode="json"))


def _settings() -> Settings:
    return Settings.from_env()   # read at each call: a bad setting is the call's error, not the server's end


def _codex(settings: Settings) -> str:
    """The codex executable, once it is known to be there."""
    codex = codex_cli.find_codex(settings)
    if codex is None:
        raise CodexError(f"The Codex CLI was not found ({settings.codex_bin!r} is not on PATH). "
                         f"{codex_cli.INSTALL_HINT}", code="unavailable")
    return codex


async def _turn(ctx: Context, settings: Settings, prompt: str, quiet: bool, *,
                thread_id: str | None = None,
                config: list[tuple[str, str]] | None = None) -> CallToolResult:
    """Run one Codex turn and shape its result; every failure is a CodexError."""
    codex = _codex(settings)
    problem = codex_cli.credentials_problem(settings)
    if problem and not await anyio.to_thread.run_sync(codex_cli.login_status, codex, settings,
                                                      dict(os.environ)):
        raise CodexError(problem, code="not_configured")
    argv = codex_cli.exec_argv(codex, prompt, settings, thread_id=thread_id, config=config or ())
    step = 0

    async def progress(message: str) -> None:
        nonlocal step
        step += 1
        try:
            await ctx.report_progress(step, None, message)
        except Exception:  # a client that went away must not fail the run
            pass

    try:
        result = await codex_cli.run_codex(argv, cwd=settings.project_dir, env=os.environ,
                                           timeout=settings.timeout, on_progress=progress)
    except OSError as exc:
        raise CodexError(f"Could not start {codex}: {exc.strerror or exc}. {codex_cli.INSTALL_HINT}",
                         code="unavailable") from None
    if not result.ok:
        raise CodexError(result.failure_message(settings.timeout), code="timeout" if result.timed_out else "failed")
    t = result.transcript
    message = t.final_message or "(Codex finished without a message.)"
    activity = "" if quiet else t.summary()
    content = [TextContent(type="text", text=f"Codex activity:\n{activity}")] if activity else []
    content.append(TextContent(type="text", text=message))
    content.append(TextContent(type="text", text=f"thread_id: {t.thread_id} (continue with codex_reply)"))
    reply = CodexReply(thread_id=t.thread_id, message=message, activity=activity, usage=t.usage)
    return CallToolResult(content=content, structured_content=reply.model_dump(mode="json"))


def _stop_runs_on_signal() -> None:
    """Kill the Codex runs in flight when the server is told to stop: they live in process groups
    of their own, which the client's TERM to the server's group does not reach."""
    def handler(signum: int, frame: object) -> None:
        codex_cli.kill_all_groups()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, handler)


def _start() -> None:
    _stop_runs_on_signal()
    try:
        settings = Settings.from_env()
        if codex_cli.find_codex(settings) is None:  # said once in the log; each tool says it too
            sys.stderr.write(f"codex server: {settings.codex_bin!r} not found; {codex_cli.INSTALL_HINT}\n")
    except CodexError as exc:
        sys.stderr.write(f"codex server: {exc}\n")


def main(argv: list[str] | None = None) -> int:
    return claudex_server.serve(server, argv, codex_cli.check, start=_start, stop=codex_cli.kill_all_groups)


if __name__ == "__main__":
    sys.exit(main())
