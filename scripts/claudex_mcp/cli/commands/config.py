"""Show, explain, get, set and unset the layered configuration of a server.

Layers, the later wins: global ($CLAUDEX_MCP_REGISTRY/config.json), registry (the manifest's
defaults), project (<project>/.claudex/mcp.json), user (${XDG_CONFIG_HOME:-~/.config}/claudex/mcp.json).
Objects merge key by key; scalars and arrays are replaced; null removes the inherited value
(enabled null: the lower layer decides). 'set' reads the value as the key needs it: text for
env.NAME and headers.NAME, JSON for enabled, args and whole objects, JSON or else text in
settings. A value that a higher layer overrides is written with a warning naming that layer.
Whether a server is enabled starts from its place in the registry (core/ and installed/ on,
disabled/ off) and every layer can override it: a project can switch off a global server.

A project layer is untrusted until you trust its folder ('config trust DIR' or --project NAME,
recorded as trustedProjects in the user layer): until then it may only enable and disable
servers; 'list', 'status' and 'generate' say what they ignored, 'explain' lists it, and 'set'
into it warns that the value is written but ignored. Secrets (by name or by shape) are masked
in 'show' and 'explain', and refused in plain text in the global and project layers.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp config show qdrant",
    "claudex mcp config get qdrant enabled",
    "claudex mcp config explain qdrant --project demo",
    "claudex mcp config set qdrant env.QDRANT_URL http://localhost:6333",
    "claudex mcp config set qdrant enabled false --project demo",
    "claudex mcp config set qdrant args '[\"--verbose\"]' --global",
    "claudex mcp config set qdrant settings.limit null",
    "claudex mcp config unset qdrant env.QDRANT_URL settings.limit --global",
    "claudex mcp config trust ~/src/demo",
    "claudex mcp config trust --project demo",
)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    sub = p.add_subparsers(dest="action", required=True, metavar="show|explain|get|set|unset|trust|untrust")
    for name, text in (("show", "the effective config (secret values masked)"),
                       ("explain", "every value with the layer and file it came from, and what it shadows")):
        s = sub.add_parser(name, help=text, description=text)
        s.add_argument("server")
        common.add_project(s)
        common.add_json(s)
    text = "the effective value of one key, and the layer it came from"
    s = sub.add_parser("get", help=text, description=text + "; a string is printed as it is, "
                       "anything else as JSON (exit 4 when no layer sets the key)")
    s.add_argument("server")
    s.add_argument("key", help="enabled, args, env, env.NAME, headers.NAME, settings.a.b...")
    s.add_argument("--explain", action="store_true", help="also say which layer and file it came from")
    common.add_project(s)
    common.add_json(s)
    s = sub.add_parser("set", help="set one key in one layer (the user layer by default)",
                       description="Set servers.<server>.<key> in one layer file. The value is read as "
                                   "the key needs it: env.NAME and headers.NAME take the text as it is "
                                   "(60 is \"60\"); enabled takes true or false; args a JSON array; "
                                   "settings JSON or else text. null removes the inherited value "
                                   "(enabled null: the lower layer decides).")
    s.add_argument("server")
    s.add_argument("key", help="enabled, args, env.NAME, headers.NAME or settings.a.b")
    s.add_argument("value", help="the value (see above); null removes the inherited value")
    _add_layer(s)
    s = sub.add_parser("unset", help="take keys out of one layer (the user layer by default)",
                       description="Remove servers.<server>.<key> from one layer file, so the lower "
                                   "layers apply again; objects left empty are removed too.")
    s.add_argument("server")
    s.add_argument("keys", nargs="+", metavar="KEY", help="enabled, args, env.NAME, settings.a.b...")
    _add_layer(s)
    for name, text in (("trust", "let a project's layer set env, args, headers and settings (recorded in the user layer)"),
                       ("untrust", "take the trust back: the project's layer may only enable and disable servers")):
        s = sub.add_parser(name, help=text, description=text)
        s.add_argument("dir", nargs="?", metavar="DIR",
                       help="the project folder (default: the project in effect here)")
        common.add_project(s)
        common.add_json(s)
    return p


def _add_layer(s: argparse.ArgumentParser) -> None:
    where = s.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_const", dest="layer", const="user", help="the user layer (default)")
    where.add_argument("--global", action="store_const", dest="layer", const="global", help="the global layer")
    where.add_argument("--project", metavar="NAME", help="the project layer of project NAME")
    where.add_argument("--project-dir", metavar="DIR", help="the project layer of the project in DIR")
    common.add_json(s)


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.settings import config, project
    from claudex_mcp.store import index as index_mod

    if args.action in ("set", "unset"):
        return _set(args)
    if args.action == "get":
        return _get(args)
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
        _print_show(result)
    else:
        _print_explain(result)
    return 0


def _print_show(result: dict) -> None:
    """The effective config as an indented tree: one key per line, values in JSON."""
    where = f" in project {result['project']['name']} ({result['project']['dir']})" if result["project"] else ""
    state = common.paint("enabled", "32") if result["config"].get("enabled") else common.paint("disabled", "31")
    print(f"{result['server']} is {state}{where}")
    for key in ("location", "folder", "transport", "command", "url"):
        if key in result:
            print(f"  {key}: {result[key]}")
    config = {k: v for k, v in result["config"].items() if k != "enabled"}
    if config:
        print("  config:")
        _print_tree(config, "    ")


def _print_tree(value, indent: str) -> None:
    for key in sorted(value):
        item = value[key]
        if isinstance(item, dict) and item:
            print(f"{indent}{key}:")
            _print_tree(item, indent + "  ")
        elif isinstance(item, list) and item:
            print(f"{indent}{key}:")
            for element in item:
                print(f"{indent}  - {_value(element)}")
        else:
            print(f"{indent}{key}: {_value(item)}")


def _get(args: argparse.Namespace) -> int:
    from claudex_mcp.settings import config, project
    from claudex_mcp.store import index as index_mod

    registry, index = common.registry_index()
    entry = index_mod.require_valid(index_mod.server_entry(index, args.server))
    layers = config.Layers(registry, project.resolve(args.project, args.project_dir))
    result = config.get_value(entry, layers, args.key)
    if args.json:
        common.write_json(result)
        return 0
    value = result["value"]
    print(value if isinstance(value, str) else _value(value))
    if args.explain:
        origin = f"{result['layer']}: {result['file']}" if result["layer"] else "several layers (see config explain)"
        print(common.paint(f"    from {origin}", "2"))
        for old in result["shadows"]:
            shown = "removed (null)" if old.get("removed") else _value(old["value"])
            print(common.paint(f"    shadows {shown} from {old['layer']}: {old['file']}", "2"))
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
    if result.get("ignored"):
        print()
        print(common.paint("ignored", "33") + f"  ({result['ignored'][0]['why']})")
        for item in result["ignored"]:
            print(f"{item['key']} = {_value(item['value'])}")
            print(common.paint(f"    in {item['layer']}: {item['file']}", "2"))


def _set(args: argparse.Namespace) -> int:
    """config set and config unset: one layer file changed through lifecycle.configure."""
    from claudex_mcp.install import lifecycle
    from claudex_mcp.settings import config, project
    from claudex_mcp.store import index as index_mod
    from claudex_mcp import paths

    registry, index = common.registry_index()
    entry = index_mod.server_entry(index, args.server)
    layer = "project" if (args.project or args.project_dir) else (args.layer or "user")
    where = project.resolve(args.project, args.project_dir) if layer == "project" else None
    if layer == "project":
        target = where.config_file
    elif layer == "global":
        target = config.global_file(registry)
    else:
        target = paths.user_config_file()
    secrets = config.secret_names(entry)
    if args.action == "set":
        keys = [args.key]
        value = config.parse_value(args.value, args.key)
        change = lambda doc: config.set_value(doc, args.server, args.key, value)
    else:
        keys = list(dict.fromkeys(args.keys))
        for key in keys:
            config.split_key(key)  # every key checked before the file is touched

        def change(doc):
            for key in keys:
                doc = config.unset_value(doc, args.server, key)
            return doc
    done = lifecycle.configure(registry, target, layer, change, secrets, project=where)
    changed = done["changed"]
    result = {"server": args.server, "layer": layer, "file": str(target), "changed": changed,
              "regenerated": done["regenerated"], "warnings": done["warnings"]}
    if args.action == "set":
        result.update(key=args.key, value=config.mask(tuple(args.key.split(".")), value, secrets))
    else:
        result["keys"] = keys
    if args.action == "set" and layer == "project" and args.key.split(".")[0] != "enabled":
        layers = config.Layers(registry, where, strict=False)
        if not layers.trusted:
            # Written all the same, for the day the folder is trusted; until then it does nothing.
            result["ignoredUntilTrusted"] = True
            result["warnings"].append(
                f"the project {where.dir} is not trusted, so {args.key} is written to its layer but ignored: "
                f"an untrusted project layer may only enable and disable servers; trust the folder with "
                f"'claudex mcp config trust {where.dir}' (see docs/config.md, Trusting a project)")
    if args.action == "set" and value is not None and entry.get("valid", True) and "ignoredUntilTrusted" not in result:
        # Said after the write, also with --json: the value is kept for when the winner goes away.
        layers = config.Layers(registry, where or project.resolve(None, None), strict=False)
        winner = config.shadowing(entry, layers, layer, args.key)
        if winner is not None:
            result["shadowedBy"] = winner
            result["warnings"].append(
                f"{args.key} in the {layer} layer is shadowed: the {winner['layer']} layer ({winner['file']}) "
                f"sets {winner['key']} and wins; set it in a higher layer to change the effective value "
                f"('claudex mcp config explain {args.server}' shows every layer)")
    for warning in result["warnings"]:
        common.warn(warning)
    if args.json:
        common.write_json(result)
    elif args.action == "set":
        print(f"{args.server}: {args.key} = {_value(result['value'])} in the {layer} layer ({target})"
              + ("" if changed else " (unchanged)"))
    else:
        state = "removed" if changed else "not set there (unchanged)"
        print(f"{args.server}: {', '.join(keys)} {state} in the {layer} layer ({target})")
    return 0


def _trust(args: argparse.Namespace) -> int:
    from claudex_mcp.settings import config, project

    if args.dir and (args.project or args.project_dir):
        from claudex_mcp.errors import UsageError

        raise UsageError("give the project once: DIR or --project NAME or --project-dir DIR",
                         hint=f"claudex mcp config {args.action} --project NAME")
    where = project.by_dir(args.dir) if args.dir else project.resolve(args.project, args.project_dir)
    if where is None:
        from claudex_mcp.errors import NotFound

        raise NotFound("no project here: no folder at or above the working directory has .claudex/",
                       code="no_project", hint=f"name the project: claudex mcp config {args.action} DIR "
                                               f"(or --project NAME)")
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
