"""Show, explain and set the layered configuration of a server.

Layers, the later wins: global ($CLAUDEX_MCP_REGISTRY/config.json), registry (the manifest's
defaults), project (<project>/.claudex/mcp.json), user (${XDG_CONFIG_HOME:-~/.config}/claudex/mcp.json).
Objects merge key by key; scalars and arrays are replaced; null removes the inherited value.
Whether a server is enabled starts from its place in the registry (core/ and installed/ on,
disabled/ off) and every layer can override it: a project can switch off a global server.
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
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    sub = p.add_subparsers(dest="action", required=True, metavar="show|explain|set")
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
    return p


def action(args: argparse.Namespace) -> int:
    from ... import config, index as index_mod, project

    if args.action == "set":
        return _set(args)
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
    from ... import atomic, config, index as index_mod, jsonio, paths, project, validation
    from ...errors import InvalidInput
    from ...lock import path_lock

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
    if layer != "user" and config.holds_secret(path, value, config.secret_names(entry)):
        raise InvalidInput(f"{args.key} is a secret; it is not written in plain text to the {layer} layer ({target})",
                           code="secret_in_shared_layer",
                           hint=f"set a reference such as '${{{path[-1]}}}' and export the variable, or use --user")
    with path_lock(target):
        current = config.load_layer(target)
        updated = config.set_value(current, args.server, args.key, value)
        problems = validation.validate_document(updated, "config", str(target))
        if problems:
            first = problems[0]
            raise InvalidInput(f"{args.key} = {args.value}: {first['pointer']}: {first['message']}",
                               path=str(target), hint=first.get("hint"), code="invalid_value")
        target.parent.mkdir(parents=True, exist_ok=True)
        # The user layer may hold secrets: only its owner reads it.
        changed = atomic.write_text(target, jsonio.dumps(updated), mode=0o600 if layer == "user" else 0o644)
    shown = config.mask(path, value, config.secret_names(entry))
    result = {"server": args.server, "key": args.key, "value": shown, "layer": layer, "file": str(target),
              "changed": changed}
    if args.json:
        common.write_json(result)
    else:
        print(f"{args.server}: {args.key} = {_value(shown)} in the {layer} layer ({target})")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp config") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
