"""The llm-wrapper MCP server: one door to OpenAI-compatible and Anthropic chat models, with
retries, rate limits, token counts and streaming. The provider work is in the claudex_llm
package; the server's own logic (self-check, logging, answer shapes) in llm_answers.

Run `python server.py` for stdio, `python server.py --check` for a self-test (JSON on stdout,
exit 0 when the default model's provider is configured, 1 when not).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Literal

import claudex_server
import claudex_llm
import llm_answers
from claudex_llm import LLMError

claudex_server.check_first(__name__, llm_answers.check)   # `server.py --check`, before the SDK's import

from pydantic import BaseModel, Field

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations

VERSION = "1.0.0"

server = MCPServer(
    "llm-wrapper", version=VERSION,
    instructions="Ask another model: llm_chat (OpenAI-compatible or Anthropic models, named "
                 "provider/model), llm_count_tokens (before sending a long prompt), llm_models "
                 "(which providers are configured, and their models), llm_usage (tokens and cost "
                 "since the server started). Answers stream as progress notifications.")
tool = claudex_server.tools(server, LLMError)


class Message(BaseModel):
    """One message of a conversation."""

    role: Literal["system", "user", "assistant"]
    content: str


class Usage(BaseModel):
    input_tokens: int | None
    output_tokens: int | None


class ChatReply(BaseModel):
    """A model's answer."""

    text: str = Field(description="the whole answer")
    model: str = Field(description="provider/model as the provider named it")
    provider: str
    finish_reason: str | None = Field(description='"stop", "length" (max_tokens reached), or the provider\'s word')
    usage: Usage
    retries: int = Field(description="attempts retried after a retryable failure")
    waited_seconds: float = Field(description="seconds spent waiting for rate limits and retries")


class TokenReply(BaseModel):
    tokens: int
    method: str = Field(description="the encoding, and whether the count is exact or an estimate")


class ModelEntry(BaseModel):
    name: str
    context_window: int | None
    max_output_tokens: int | None
    default: bool


class ProviderEntry(BaseModel):
    provider: str
    usable: bool = Field(description="configured (its key is set); problem says why not")
    key_variable: str
    url_variable: str
    base_url: str
    problem: str | None
    hint: str | None
    source: str = Field(description='"endpoint" (the provider\'s model list) or "known table"')
    models: list[ModelEntry]


class ModelsReply(BaseModel):
    providers: list[ProviderEntry]


class ModelUsage(BaseModel):
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    retries: int
    waited_seconds: float
    cost_usd: float | None = Field(description="estimated from the known prices; null when unknown")


class UsageReply(BaseModel):
    since: str
    models: dict[str, ModelUsage]
    total_cost_usd: float | None


_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                             open_world_hint=False)


@tool(annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=False,
                                         open_world_hint=True))
async def llm_chat(ctx: Context, prompt: str | None = None, messages: list[Message] | None = None,
                   model: str | None = None, system: str | None = None,
                   max_tokens: Annotated[int | None, Field(ge=1)] = None,
                   temperature: Annotated[float | None, Field(ge=0, le=2)] = None,
                   stop: str | list[str] | None = None) -> Annotated[CallToolResult, ChatReply]:
    """Ask a model (provider/model, default LLM_WRAPPER_MODEL) with a prompt or a list of messages."""
    throttle = llm_answers.Throttle()
    step = 0

    async def progress(text: str, note: str | None) -> None:
        nonlocal step
        if note is None and not throttle.due(len(text)):
            return
        step += 1
        try:
            await ctx.report_progress(step, None, note or text)
        except Exception:  # a client that went away must not fail the call
            pass

    result = await claudex_llm.chat(prompt=prompt, messages=[m.model_dump() for m in messages] if messages else messages,
                                    model=model, system=system, max_tokens=max_tokens, temperature=temperature,
                                    stop=stop, on_progress=progress)
    reply = llm_answers.chat_reply(result)
    return CallToolResult(content=[TextContent(type="text", text=result.text)],
                          structured_content=ChatReply(**reply).model_dump(mode="json"))


@tool(annotations=_READ_ONLY)
async def llm_count_tokens(text: str | None = None, messages: list[Message] | None = None,
                           model: str | None = None) -> Annotated[CallToolResult, TokenReply]:
    """Count the tokens of a text or of messages for a model: exact for OpenAI encodings, else an estimate."""
    counted = claudex_llm.count_tokens(text=text, messages=[m.model_dump() for m in messages] if messages else messages,
                                       model=model)
    reply = TokenReply(tokens=counted.tokens, method=counted.method)
    return CallToolResult(content=[TextContent(type="text", text=f"{counted.tokens} tokens ({counted.method})")],
                          structured_content=reply.model_dump(mode="json"))


@tool(annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                         open_world_hint=True))
async def llm_models() -> Annotated[CallToolResult, ModelsReply]:
    """List the providers, whether each is configured, and their models."""
    entries = await claudex_llm.list_models()
    reply = ModelsReply(providers=[ProviderEntry(**e) for e in entries])
    return CallToolResult(content=[TextContent(type="text", text=llm_answers.models_text(entries))],
                          structured_content=reply.model_dump(mode="json"))


@tool(annotations=_READ_ONLY)
async def llm_usage() -> Annotated[CallToolResult, UsageReply]:
    """Requests, tokens, retries, waits, errors and cost per model since the server started."""
    usage = claudex_llm.usage()
    reply = UsageReply(**usage)
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(usage, indent=2, sort_keys=True))],
                          structured_content=reply.model_dump(mode="json"))


def _start() -> None:
    llm_answers.configure_logging()
    for problem in llm_answers.check()["problems"]:  # said once in the log; each call says it too
        sys.stderr.write(f"llm-wrapper server: {problem}\n")


def main(argv: list[str] | None = None) -> int:
    return claudex_server.serve(server, argv, llm_answers.check, start=_start, scrubber=llm_answers.scrubber())


if __name__ == "__main__":
    sys.exit(main())
