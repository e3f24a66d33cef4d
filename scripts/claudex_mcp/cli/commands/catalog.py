"""Keep and read the local copy of the MCP Registry catalogs: `catalog sync`, `catalog list`, `catalog show NAME`.

sync reads each configured catalog's servers page by page into a local copy
(${XDG_STATE_HOME:-~/.local/state}/claudex/catalog/, mode 700, files 600); after the first sync
only what changed since (the registry's updated_since), and a version that was deleted or
deprecated is dropped. --full reads everything again. Without an action, `catalog` is `catalog
list`: each catalog, its copy and how many servers it holds. show prints a server's server.json
from the copy (--version V for another version; --versions lists them) with the inputs it takes,
as 'install registry:NAME' would ask for them. Catalogs: CLAUDEX_MCP_CATALOG_URL (several
separated by spaces or commas), else catalog.url of the user or global layer (a URL or a list),
else https://registry.modelcontextprotocol.io; catalog.maxAge is how old a copy may be before
'search' syncs it (docs/catalog.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp catalog sync",
    "claudex mcp catalog sync --full --json",
    "claudex mcp catalog list",
    "claudex mcp catalog show io.github.acme/weather --json",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("action", nargs="?", choices=("sync", "list", "show"), default="list",
                   help="sync: bring the local copies up to date; list (the default): the catalogs and their "
                        "copies; show NAME: one server's server.json and inputs")
    p.add_argument("name", nargs="?", help="the server's catalog name (show)")
    p.add_argument("--full", action="store_true", help="sync: read every page again, not only what changed")
    p.add_argument("--version", dest="wanted", metavar="V", help="show: this version rather than the latest")
    p.add_argument("--versions", action="store_true", help="show: list the versions the copy holds")
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.catalog import feeds, index
    from claudex_mcp import paths
    from claudex_mcp.errors import UsageError

    registry = paths.registry_dir()
    if args.action != "show" and (args.name or args.wanted or args.versions):
        raise UsageError(f"catalog {args.action} takes no server name, --version or --versions",
                         hint="claudex mcp catalog show NAME [--version V]")
    if args.action != "sync" and args.full:
        raise UsageError("--full is for catalog sync", hint="claudex mcp catalog sync --full")
    if args.action == "sync":
        report = common.progress(not args.json)
        results = [index.sync(url, full=args.full, report=report) for url in feeds.urls(registry)]
        if args.json:
            common.write_json(results)
        for r in results if not args.json else []:
            print(f"synced {r['catalog']}: {r['servers']} servers ({'changes since the last sync' if r['incremental'] else 'full'}"
                  f", {r['pages']} page{'s' * (r['pages'] != 1)}: {r['added']} added, {r['updated']} updated, "
                  f"{r['dropped']} dropped, {r['skipped']} skipped)")
        return 0
    if args.action == "list":
        rows = [index.summary(url, index.load(url)) for url in feeds.urls(registry)]
        if args.json:
            common.write_json(rows)
        else:
            common.print_table(rows, [("CATALOG", "catalog"), ("SERVERS", "servers"),
                                      ("SYNCED", lambda r: r["syncedAt"] or "never"), ("COPY", "file")])
        return 0
    return _show(args, registry)


def _show(args: argparse.Namespace, registry) -> int:
    from claudex_mcp.catalog import feeds, index, installer, serverjson
    from claudex_mcp.errors import InvalidInput, NotFound, UsageError

    if not args.name:
        raise UsageError("catalog show needs the server's name", hint="claudex mcp catalog show io.github.acme/weather")
    for url in feeds.urls(registry):
        copy, why = index.ensure(url, feeds.max_age(registry))
        if why:
            common.note(f"claudex mcp catalog: {why}")
        entry = copy["servers"].get(args.name)
        if entry is None:
            continue
        if args.versions:
            rows = [{"version": v, "latest": v == entry["latest"], "publishedAt": e.get("publishedAt")}
                    for v, e in sorted(entry["versions"].items(), key=lambda kv: kv[1].get("publishedAt") or "")]
            if args.json:
                common.write_json(rows)
            else:
                common.print_table(rows, [("VERSION", "version"), ("LATEST", lambda r: "yes" if r["latest"] else ""),
                                          ("PUBLISHED", "publishedAt")])
            return 0
        version = args.wanted or entry["latest"]
        if version not in entry["versions"]:
            raise NotFound(f"the copy of {url} has no {args.name} {version}", code="not_in_catalog",
                           hint=f"its versions: {', '.join(sorted(entry['versions']))}")
        server = entry["versions"][version]["server"]
        problems = serverjson.problems(server)
        inputs = None
        if not problems:
            try:
                inputs = serverjson.plan(server).needs()
            except InvalidInput:  # nothing claudex can install: the document is shown all the same
                inputs = None
        result = {"catalog": url, "name": args.name, "version": version, "latest": version == entry["latest"],
                  "valid": not problems, "problems": problems, "inputs": inputs, "server": server}
        if args.json:
            common.write_json(result)
            return 0
        print(f"{args.name} {version}{' (latest)' if result['latest'] else ''} from {url}")
        print(f"  {server.get('description', '')}")
        for p in server.get("packages") or []:
            print(f"  package: {p.get('registryType')} {p.get('identifier')} {p.get('version', '')}".rstrip())
        for r in server.get("remotes") or []:
            print(f"  remote: {r.get('type')} {r.get('url')}")
        for need in inputs or []:
            flags = ", ".join(f for f, on in (("required", need["required"]), ("secret", need["secret"])) if on)
            print(f"  input {need['name']}" + (f" ({flags})" if flags else "")
                  + (f": {need['description']}" if need["description"] else ""))
        for p in problems:
            print(f"  invalid: {p['pointer'] or '/'}: {p['message']}")
        print(f"  install: claudex mcp install registry:{args.name}" + (f"@{version}" if args.wanted else ""))
        return 0
    raise NotFound(f"no catalog has {args.name}", code="not_in_catalog",
                   hint=installer.did_you_mean(args.name, registry))


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp catalog") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
