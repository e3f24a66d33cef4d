"""Install a server from a folder, a git repository or an MCP Registry catalog into the registry's installed/.

Atomic: the server is fetched, validated, checked for compatibility and conflicts, given its
dependencies (a venv for requirements.txt / pyproject.toml, npm for package.json) and normalised
in a staging folder on the registry's filesystem, then moved in with one rename. A failure,
Ctrl-C or SIGTERM leaves the registry as it was. Sources: a path, or a git URL (https://,
ssh://, git@host:path, file://) with an optional @ref (tag, branch or commit), and --subdir for a
server in a folder of the repository. A local path in requirements.txt that leaves the server
folder (../lib/<dist>) must stay inside the repository holding it; that package is copied into
the server's vendor/ folder. Absolute paths and other escapes are refused. --with EXTRA installs
optional extras the manifest declares (their own requirements files, in the same venv); an
unknown one is refused, naming those there are; 'upgrade NAME --with/--without' changes them later.

registry:NAME[@VERSION] installs a server of the MCP Registry ('claudex mcp search' finds it;
the latest version unless one is named), and --from-file a server.json: the document is
validated against the registry's schema before anything is fetched, then its first package
claudex can run is installed pinned to its exact version (npm: into the server's folder; pypi: a
uv venv with pkg==version; oci: 'docker run -i --rm image:version'; mcpb: downloaded, checked
against its fileSha256, unpacked), else its remote (--use picks one). The folder is the name's
last part unless --name says otherwise. Its required inputs are asked for on a terminal (secrets
without echo) or given with --env NAME=VALUE; without a terminal a missing one refuses the
install, naming every one, and nothing is installed. Secret values go to your user layer (mode
600) behind ${NAME}, never into the manifest. Where it came from and the digest of what was
installed are recorded ('claudex mcp info', 'claudex mcp verify').
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp install ./my-server",
    "claudex mcp install https://github.com/acme/qdrant-mcp.git@v1.4.0",
    "claudex mcp install git@github.com:acme/tools.git --ref main --json",
    "claudex mcp install https://github.com/acme/servers.git --subdir mcp-servers/search",
    "claudex mcp install registry:io.github.acme/weather",
    "claudex mcp install registry:io.github.acme/weather@1.2.0 --env WEATHER_API_KEY=sk-xxx --name weather",
    "claudex mcp install --from-file server.json --use pypi",
)
MAX_TRIES = 3


def build_parser(prog: str) -> argparse.ArgumentParser:
    from claudex_mcp.catalog import serverjson

    p = common.parser(prog, __doc__, EXAMPLES)
    common.add_install_options(p, catalog=True)
    p.add_argument("--from-file", metavar="FILE", help="install the server a server.json describes ('-': stdin)")
    p.add_argument("-e", "--env", action="append", metavar="NAME=VALUE",
                   help="a value for one of a catalog server's inputs (repeatable; 'catalog show NAME' lists them)")
    p.add_argument("--name", help="the folder name of a catalog server (default: the last part of its name)")
    p.add_argument("--use", choices=serverjson.USES, help="which of a catalog server's packages, or its remote, to install")
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.install import lifecycle
    from claudex_mcp import paths
    from claudex_mcp.errors import UsageError

    catalog = args.from_file is not None or (args.source or "").startswith("registry:")
    if args.from_file is not None and args.source:
        raise UsageError("give a source or --from-file, not both", hint="claudex mcp install --from-file server.json")
    if not catalog and (args.env or args.name or args.use):
        raise UsageError("--env, --name and --use are for a catalog server (registry:NAME or --from-file)",
                         hint="a folder or git server names itself in its manifest.json")
    if catalog and (args.ref or args.submodules or args.subdir is not None or args.ignore_scripts or args.with_extras):
        raise UsageError("--ref, --submodules, --subdir, --ignore-scripts and --with are for folders and git sources",
                         hint="a catalog server is pinned by its server.json: registry:NAME@VERSION picks a version")
    if not catalog and args.source is None:  # an empty one is a source, refused as invalid_source
        raise UsageError("give the server to install", hint="claudex mcp install ./my-server | URL | registry:NAME")
    if catalog:
        return _catalog(args)
    result = lifecycle.install(paths.registry_dir(), args.source, ref=args.ref, submodules=args.submodules,
                               subdir=args.subdir, ignore_scripts=args.ignore_scripts,
                               extras=common.extras(args.with_extras), report=common.progress(not args.json))
    if args.json:
        common.write_json(result)
    else:
        with_extras = f" with {', '.join(result['extras'])}" if result["extras"] else ""
        common.print_result(result, f"installed {result['name']} {result['version']}{with_extras} in {result['folder']}")
    return 0


def _ask(need, stream=sys.stderr) -> str | None:
    """One value on the terminal (a secret without echo); None after MAX_TRIES empty answers."""
    import getpass

    label = need.var + (f" ({need.description})" if need.description else "")
    if need.choices:
        label += f" [{'/'.join(need.choices)}]"
    for _ in range(MAX_TRIES):
        if need.secret:
            value = getpass.getpass(f"{label} (secret, not shown): ", stream=stream)
        else:
            stream.write(f"{label}: ")
            stream.flush()
            value = sys.stdin.readline()
            if not value:
                return None
            value = value.rstrip("\n")
        if value:
            return value
    return None


def _catalog(args: argparse.Namespace) -> int:
    from claudex_mcp.catalog import installer, serverjson
    from claudex_mcp.install import adopt
    from claudex_mcp import paths
    from claudex_mcp.errors import InvalidInput

    registry = paths.registry_dir()
    report = common.progress(not args.json)
    given = adopt.parse_pairs(args.env, "env")
    if args.from_file is not None:
        doc, origin = installer.read_file(args.from_file)
        where = args.from_file
    else:
        name, version = installer.parse_spec(args.source)
        doc, origin, note = installer.find(registry, name, version, report)
        if note:
            common.note(f"claudex mcp install: {note}")
        where = f"{name} {doc.get('version', '') if isinstance(doc, dict) else ''}".strip()
    plan = installer.prepare(doc, where, given, args.use)
    folder = adopt.check_name(args.name or serverjson.short_name(doc["name"]))
    adopt.check_free(registry, folder)  # before any question: a name taken fails now
    if plan.missing and sys.stdin.isatty() and sys.stderr.isatty() and not args.json:
        common.note(f"{doc['name']} {doc['version']} needs {len(plan.missing)} value{'s' * (len(plan.missing) > 1)}:")
        for need in list(plan.missing):
            value = _ask(need)
            if value is not None:
                given[need.var] = value
        plan = installer.prepare(doc, where, given, args.use)
    if plan.missing:
        names = [n.var for n in plan.missing]
        raise InvalidInput(f"{doc['name']} needs {', '.join(names)}, which {'were' if len(names) > 1 else 'was'} not "
                           f"given; nothing was installed", code="missing_env",
                           details=[f"{n.var}{' (secret)' if n.secret else ''}" + (f": {n.description}" if n.description else "")
                                    for n in plan.missing],
                           hint="give " + " ".join(f"--env {n}=VALUE" for n in names) + ", or run it on a terminal to be asked")
    result = installer.install(registry, plan, origin, folder, given, report)
    if args.json:
        common.write_json(result)
        return 0
    common.print_result(result, f"installed {result['name']} {result['version']} ({doc['name']} {doc['version']}, "
                                f"{plan.kind}) in {result['folder']}")
    if result["secrets"]["userLayer"]:
        print(f"  kept in your user layer (mode 600): {', '.join(result['secrets']['userLayer'])}")
    if result["secrets"]["export"]:
        print(f"  export before starting your client: {', '.join(result['secrets']['export'])}")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp install") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
