"""Write the MCP client configs for the servers enabled in the project (Claude Code and Codex by default).

The same as `mcp-utils scan | merge-config | generate-mcp-json` in one process. Stdio servers
start through 'claudex mcp run', so no secret is ever written; entries claudex did not write are
kept, the previous file is kept as <file>.bak, and an unchanged config is not rewritten.
Without --client it writes ~/.claude.json (Claude Code's user scope: seen from any folder),
~/.mcp.json (a compatibility copy) and $CODEX_HOME/config.toml; --json then prints
{"targets": [one result per file]}. Clients: claude-code (default ~/.mcp.json, --scope project
<project>/.mcp.json, --scope user ~/.claude.json), codex ($CODEX_HOME/config.toml),
claude-desktop, cursor, vscode.
A project found from the working directory applies only to a file inside that project; give
--project or --project-dir to apply its layer to a file in your home folder.
Each project folder claudex knows (that one, those under $CLAUDEX_PROJECTS_DIR with a layer, and
those it wrote for) gets its decisions where the clients read them for that folder: Claude
Code's local scope (projects[<dir>] of ~/.claude.json: mcpServers, disabledMcpServers) and, in a
folder Codex trusts, <dir>/.codex/config.toml. An entry claudex wrote that you removed in a client
('claude mcp remove', 'codex mcp remove') stays out of that file, said once; 'claudex mcp enable
NAME' writes it back.
Claude Code starts no MCP server in a folder you have not trusted (run `claude` there once and
accept its dialog); --trust-folder DIR does what that dialog does, for DIR and the folders below
it (the image's entrypoint uses it for CLAUDEX_CLAUDE_TRUSTED_FOLDERS; off by default).
--via-gateway [URL] writes one entry, claudex, at the gateway's aggregate endpoint (URL, else the
running `gateway serve --http`; a project's file asks for that project's enabled servers) instead
of one per local server; the client gets the bearer token from `claudex mcp gateway token
--header`, so the token is not written into the file (docs/gateway.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp generate",
    "claudex mcp generate --client claude-code --scope user",
    "claudex mcp generate --client codex --json",
    "claudex mcp generate --project demo --client vscode --scope project",
    "claudex mcp generate --output -",
    "claudex mcp generate --trust-folder .",
    "claudex mcp generate --client claude-code --scope user --via-gateway http://127.0.0.1:8765",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    common.add_client_options(p, default_targets=True)
    common.add_project(p)
    common.add_refresh(p)
    p.add_argument("--trust-folder", action="append", metavar="DIR", default=[],
                   help="also mark DIR trusted in Claude Code (~/.claude.json), as accepting its trust "
                        "dialog there does: it then starts MCP servers in DIR and below (repeatable)")
    p.add_argument("--via-gateway", nargs="?", const="", metavar="URL",
                   help="one entry at the gateway's aggregate endpoint instead of one per local server "
                        "(URL: the gateway's; default: the running gateway's --http address)")
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.clients import renderers, generate
    from claudex_mcp.settings import effective, project

    if args.trust_folder:
        trusted = generate.trust_claude_folders(args.trust_folder)
        if trusted["changed"]:
            common.note(f"marked trusted in Claude Code ({trusted['target']}): " + ", ".join(trusted["trusted"]))
    registry, index = common.registry_index(args.refresh)
    explicit = project.resolve(args.project, args.project_dir) if args.project or args.project_dir else None
    where = explicit or project.discover()
    doc = effective.build(index, where, registry)
    if where is not None and explicit is None and args.output != "-":
        defaults = args.client is None and args.scope == "default" and args.output is None
        wanted = list(generate.DEFAULT_TARGETS) if defaults else [(args.client or renderers.CLAUDE_CODE, args.scope)]
        outside = [(c, t) for c, s in wanted if (t := generate.outside(where, doc, c, s, args.output))]
        if outside:
            doc = effective.build(index, None, registry)
            # Claude Code's user file gets the project through the local scope of its folder.
            shown = next((t for c, t in outside if not generate.holds_folders(c, t)), None)
            if shown is not None:
                common.warn(f"the layer of project {where.name} ({where.dir}) is not applied to {shown}, which is "
                            f"outside the project; pass --project-dir {where.dir} to apply it there, or --scope project")
    build = lambda p: effective.build(index, p, registry)  # noqa: E731
    if args.via_gateway is not None:
        from claudex_mcp.gateway import entry

        url = entry.gateway_url(args.via_gateway)
        doc = entry.via_gateway(doc, url)
        build = lambda p: entry.via_gateway(effective.build(index, p, registry), url)  # noqa: E731
    folders = generate.Folders(build, [where])
    return common.emit_client_config(doc, args, folders)


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp generate") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
