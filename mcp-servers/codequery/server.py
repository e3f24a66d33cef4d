"""The codequery MCP server: semantic code search over a codebase (incremental index, hybrid
lexical + embedding retrieval), answers that cite path:line, and safe edits by unified diff.
The work is in cq_index / cq_diff; run `python server.py` (stdio), `python server.py --check` for
a self-test (JSON on stdout, exit 0 when search and chat (with its extra) can work, 1 when a setting
or the server extra QDRANT_URL needs is missing)."""

from __future__ import annotations

import functools
import json
import sys
from typing import Annotated, Any, Literal

import claudex_server
import cq_diff
import cq_index
from claudex_server import ServerError

claudex_server.check_first(__name__, cq_index.check)   # `server.py --check`, before the SDK's import

import anyio
import anyio.from_thread
import anyio.to_thread
from pydantic import Field

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations

VERSION = "0.1.0"
CHAT_CONTEXT_TOKENS = 6000
CHAT_MAX_TOKENS = 1200
CHAT_SYSTEM = (
    "You answer questions about a codebase using only the numbered code excerpts given. Cite every "
    "claim with the excerpt's location as path:line or path:start-end (for example src/app.py:42-57). "
    "If the excerpts do not answer the question, say so and say what to look for instead. Be brief.")

server = MCPServer(
    "codequery", version=VERSION,
    instructions="Find code by meaning in a large codebase. Call cq_embed once (it indexes the project folder, "
                 "incrementally on later calls, and returns once it is searchable: embeddings follow in the "
                 "background), then cq_search for locations and snippets, cq_chat for an answer "
                 "that cites path:line, cq_stats for the index's state, and cq_apply_diff to apply a unified diff "
                 "safely (dry run first). search, chat, stats and apply_diff work on the folder last indexed.")
tool = claudex_server.tools(server, ServerError)
state = cq_index.Codequery()

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
INDEX = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
EDIT = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)
CHAT = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=False, open_world_hint=True)


async def _run(fn, *args, **kwargs):
    """A blocking call of the index in a worker thread (the session keeps answering meanwhile)."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


def _folder(ctx: Context):
    """The calling agent's folder when the claudex gateway sent one (one process serves every
    agent); None: the process's own project (CLAUDEX_PROJECT_DIR, else PWD)."""
    from claudex_server.folder import meta_folder

    return meta_folder(ctx)


@tool(annotations=INDEX)
async def cq_embed(
    ctx: Context,
    path: Annotated[str | None, Field(description=(
        "Folder to index, inside the project (relative to it, or absolute); default: the project folder."))] = None,
    incremental: Annotated[bool, Field(description=(
        "Re-index only files whose size, time or content changed (false: rebuild the whole index)."))] = True,
    wait: Annotated[bool, Field(description=(
        "false: return once the index is searchable (by name and words; the embeddings follow in the "
        "background, cq_stats shows how far); true: return once every chunk is embedded too."))] = False,
) -> dict[str, Any]:
    """Index a codebase for search: structural chunks and a lexical index at once, embeddings in the background; incremental by size, time and content hash."""
    def progress(done: int, total: int, message: str) -> None:
        try:
            anyio.from_thread.run(functools.partial(ctx.report_progress, done, total, message))
        except Exception:  # a client that went away must not fail the run
            pass

    return await _run(state.embed, path, incremental, progress, _client(ctx), wait, _folder(ctx))


def _client(ctx: Context) -> str | None:
    """Who asked, as the client named itself at initialize (`claude-code 2.0.14`): shown by the
    cq_stats of other sessions while this one indexes."""
    try:
        info = ctx.session.client_params.client_info
        return f"{info.name} {info.version}".strip()
    except AttributeError:  # no initialize parameters (a client that skipped them)
        return None


@tool(annotations=READ)
async def cq_search(
    ctx: Context,
    query: Annotated[str, Field(description="What the code does or is called, e.g. 'where do we retry HTTP requests'.")],
    limit: Annotated[int, Field(ge=1, le=cq_index.MAX_LIMIT, description="How many results at most.")] = 10,
    path_glob: Annotated[str | None, Field(description=(
        "Only paths matching this glob, e.g. 'src/**/*.py' or '*.ts' ('*' also crosses '/').'"))] = None,
    language: Annotated[str | None, Field(description="Only this language, e.g. python, typescript, go.")] = None,
    mode: Annotated[Literal["hybrid", "semantic", "lexical"], Field(description=(
        "hybrid fuses embeddings and BM25 over identifier-aware tokens; semantic or lexical uses one."))] = "hybrid",
    max_tokens: Annotated[int, Field(ge=cq_index.MIN_MAX_TOKENS, le=cq_index.MAX_MAX_TOKENS, description=(
        "Budget for the whole answer; snippets are trimmed or dropped to fit."))] = cq_index.DEFAULT_MAX_TOKENS,
) -> dict[str, Any]:
    """Find code by meaning or name; results best first with path, lines, symbol, score, snippet and a stale flag; `dense` says how much of the index is embedded yet."""
    index = await _run(state.index_for, None, _folder(ctx))
    return await _run(index.search, query, limit, path_glob, language, mode, max_tokens)


@tool(annotations=CHAT)
async def cq_chat(
    ctx: Context,
    question: Annotated[str, Field(description="A question about the codebase.")],
    limit: Annotated[int, Field(ge=1, le=30, description="How many code excerpts to give the model.")] = 8,
) -> CallToolResult:
    """Answer a question about the codebase from retrieved code, citing path:line for every claim."""
    index = await _run(state.index_for, None, _folder(ctx))
    context = await _run(index.context, question, limit, CHAT_CONTEXT_TOKENS)
    excerpts = "\n\n".join(f"[{n}] {r['path']}:{r['start_line']}-{r['end_line']}"
                           f"{' (' + r['symbol'] + ')' if r['symbol'] else ''}\n{r['snippet']}"
                           for n, r in enumerate(context["results"], start=1))
    sources = [{k: r[k] for k in ("path", "start_line", "end_line", "symbol", "score")} for r in context["results"]]
    try:
        from claudex_llm import LLMError, NotConfigured, chat
    except ImportError:  # an extra: the LLM providers' SDKs are ~35 MB most users never need
        return _chat_failure("cq_chat needs codequery's chat extra (the LLM providers), which is not installed: "
                             f"run '{cq_index.CHAT_EXTRA}'", context["results"])
    try:
        result = await chat(messages=[{"role": "user", "content": f"Question: {question}\n\nCode excerpts:\n\n{excerpts}"}],
                            system=CHAT_SYSTEM, max_tokens=CHAT_MAX_TOKENS, on_progress=None)
    except NotConfigured as exc:
        return _chat_failure(f"no LLM provider is configured: {exc} (set {exc.variable})", context["results"])
    except LLMError as exc:
        return _chat_failure(f"the LLM provider failed: {exc}", context["results"])
    answer = {"answer": result.text, "model": result.model, "provider": result.provider, "sources": sources}
    return CallToolResult(content=[TextContent(type="text", text=result.text),
                                   TextContent(type="text", text=json.dumps({"sources": sources}))],
                          structured_content=answer)


def _chat_failure(message: str, results: list[dict]) -> CallToolResult:
    """An error result that still carries the retrieved code, so the agent can read it itself."""
    context = [{k: r[k] for k in ("path", "start_line", "end_line", "symbol", "snippet")} for r in results]
    return CallToolResult(is_error=True, content=[
        TextContent(type="text", text=f"unavailable: {message}"),
        TextContent(type="text", text=json.dumps({"retrieved": context}, indent=1))])


@tool(annotations=READ)
async def cq_stats(ctx: Context) -> dict[str, Any]:
    """The index of the current folder: files, chunks, languages, size on disk, model, last run, changes since, embeddings done so far (dense), and an index run in progress (any agent)."""
    index = await _run(state.index_for, None, _folder(ctx))
    return await _run(index.stats)


@tool(annotations=EDIT)
async def cq_apply_diff(
    ctx: Context,
    diff: Annotated[str, Field(description=(
        "A unified diff as `git diff` prints it (a/ and b/ prefixes optional), paths relative to the indexed folder."))],
    dry_run: Annotated[bool, Field(description="true: only check and report; false: write the files.")] = True,
) -> dict[str, Any]:
    """Apply a unified diff inside the indexed folder, all hunks checked first; all or nothing; re-indexes changed files; never touches .git or what configures an agent or claudex (.mcp.json, .claudex/, .claude/, CLAUDE.md, ...)."""
    index = await _run(state.index_for, None, _folder(ctx))
    result = await _run(cq_diff.apply, index.root, diff, dry_run)
    if result["applied"]:
        try:
            result["reindex"] = await _run(index.index, True, None)
        except ServerError as exc:  # the edit stands; say why the index lags
            result["reindex"] = {"error": claudex_server.error_text(exc)}
    return result


def _start() -> None:
    try:
        state.settings.resolve_root(None)
    except ServerError as exc:  # said once in the log; each tool says it too
        sys.stderr.write(f"codequery server: {exc}\n")


def main(argv: list[str] | None = None) -> int:
    return claudex_server.serve(server, argv, cq_index.check, start=_start, stop=state.close)


if __name__ == "__main__":
    sys.exit(main())
