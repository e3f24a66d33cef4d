"""Show, explain and set the layered configuration of a server.

Layers, the later wins: global ($CLAUDEX_MCP_REGISTRY/config.json), registry (the manifest's
defaults), project (<project>/.claudex/mcp.json), user (${XDG_CONFIG_HOME:-~/.config}/claudex/mcp.json).
Objects merge key by key; scalars and arrays are replaced; null removes the inherited value.
Whether a server is enabled starts from its place in the registry (core/ and installed/ on,
disabled/ off) and every layer can override it: a project can switch off a global server.

A project layer is untrusted until you trust its folder ('config trust DIR', recorded as
trustedProjects in the user layer): until then it may only enable and disable servers, and
'list', 'status' and 'generate' say what they ignored. Secrets (by name or by shape) are masked
in 'show' and 'explain', and refused in plain text in the global and project layers.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from .. import common

EXAMPLES = (
    "claudex mcp config show qdrant",
    "claudex mcp config explain qdrant --project demo",
    "claudex mcp config set qdrant env.QDRANT_URL http://localhost:6333",
    "claudex mcp config set qdrant enabled false --project demo",
    "claudex mcp config set qdrant args '[\"--verbose\"]' --global",
    "claudex mcp config set qdrant settings.limit null",
    "claudex mcp config trust ~/src/demo",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    sub = p.add_subparsers(dest="action", required=True, metavar="show|explain|set|trust|untrust")
    for name, text in (("show", "the effective config (secret values masked)"),
                       ("explain", "every value with the layer and file it came from, and what it shadows")):
        s = sub.add_parser(name, help=text, description=text)
        s.add_argument("server")
        common.add_project(s)
        common.add_json(s)
    s = sub.add_parser("set", help="set one key in one layer (the user layer by default)",
                       description="Set servers.<server>.<key> in one layer file; the value is JSON "
                                   "(true, 3, [\"a\"], null) or else a string.")
    s.add_argument("server")
    s.add_argument("key", help="enabled, args, env.NAME, headers.NAME or settings.a.b")
    s.add_argument("value", help="a JSON value, or a string; null removes the inherited value")
    where = s.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_const", dest="layer", const="user", help="the user layer (default)")
    where.add_argument("--global", action="store_const", dest="layer", const="global", help="the global layer")
    where.add_argument("--project", metavar="NAME", help="the project layer of project NAME")
    where.add_argument("--project-dir", metavar="DIR", help="the project layer of the project in DIR")
    common.add_json(s)
    for name, text in (("trust", "let a project's layer set env, args, headers and settings (recorded in the user layer)"),
                       ("untrust", "take the trust back: the project's layer may only enable and disable servers")):
        s = sub.add_parser(name, help=text, description=text)
        s.add_argument("dir", nargs="?", metavar="DIR",
                       help="the project folder (default: the project in effect here)")
        common.add_json(s)
    return p


def action(args: argparse.Namespace) -> int:
    from ... import config, index as index_mod, project

    if args.action == "set":
        return _set(args)
    if args.action in ("trust", "untrust"):
        return _trust(args)
    registry, index = common.registry_index()
    entry = index_mod.require_valid(index_mod.server_entry(index, args.server))
    layers = config.Layers(registry, project.resolve(args.project, args.project_dir))
    result = config.show(entry, layers) if args.action == "show" else config.explain(entry, layers)
    result["project"] = layers.project.to_dict() if layers.project else None
    if args.json:
        common.write_json(result)
    elif args.action == "show":
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        _print_explain(result)
    return 0


def _value(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _print_explain(result: dict) -> None:
    where = f" in project {result['project']['name']} ({result['project']['dir']})" if result["project"] else ""
    state = common.paint("enabled", "32") if result["enabled"] else common.paint("disabled", "31")
    print(f"{result['server']} is {state}{where}")
    for layer in result["layers"]:
        print(f"  {layer['layer']:<8} {layer['file']}{'' if layer['exists'] else '  (no file)'}")
    print()
    for item in result["values"]:
        shown = "removed (null)" if item.get("removed") else _value(item["value"])
        print(f"{item['key']} = {shown}")
        print(f"    from {item['layer']}: {item['file']}")
        for old in item["shadows"]:
            key = f"{old['key']} = " if "key" in old else ""
            value = "removed (null)" if old.get("removed") else _value(old["value"])
            print(common.paint(f"    shadows {key}{value} from {old['layer']}: {old['file']}", "2"))


def _set(args: argparse.Namespace) -> int:
    from ... import config, index as index_mod, paths, project

    registry, index = common.registry_index()
    entry = index_mod.server_entry(index, args.server)
    layer = "project" if (args.project or args.project_dir) else (args.layer or "user")
    if layer == "project":
        target = project.resolve(args.project, args.project_dir).config_file
    elif layer == "global":
        target = config.global_file(registry)
    else:
        target = paths.user_config_file()
    value = config.parse_value(args.value)
    path = tuple(args.key.split("."))
    secrets = config.secret_names(entry)
    changed = config.update_layer(target, layer, lambda doc: config.set_value(doc, args.server, args.key, value),
                                  secrets)
    shown = config.mask(path, value, secrets)
    result = {"server": args.server, "key": args.key, "value": shown, "layer": layer, "file": str(target),
              "changed": changed}
    if args.json:
        common.write_json(result)
    else:
        print(f"{args.server}: {args.key} = {_value(shown)} in the {layer} layer ({target})")
    return 0


def _trust(args: argparse.Namespace) -> int:
    from ... import config, project

    where = project.by_dir(args.dir) if args.dir else project.discover()
    if where is None:
        from ...errors import NotFound

        raise NotFound("no project here: no folder at or above the working directory has .claudex/",
                       code="no_project", hint="name the project folder: claudex mcp config trust DIR")
    result = config.set_trust(where, args.action == "trust")
    if args.json:
        common.write_json(result)
    else:
        state = "trusted" if result["trusted"] else "not trusted"
        print(f"{result['dir']} is {state}" + ("" if result["changed"] else " (unchanged)")
              + f"; recorded in {result['file']}")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp config") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
