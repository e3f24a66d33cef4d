"""Run, inspect or stop the gateway that shares one process per shared server among all agents.

serve runs the gateway in the foreground (a service manager or the image runs it this way; a
shared server's `claudex mcp run` starts one in the background when none runs, which exits after
CLAUDEX_MCP_GATEWAY_IDLE seconds, default 600, without sessions). With --http HOST:PORT it also
serves MCP over streamable HTTP: /mcp aggregates the enabled servers, /servers/NAME/mcp serves
one; every request needs "Authorization: Bearer TOKEN" (`gateway token` prints it) and a
browser's Origin must be the endpoint's own. HOST must be a loopback address unless
--allow-remote is given; put a TLS reverse proxy in front of a remote endpoint.

status shows the servers, their processes, sessions, calls, restarts and the uptime (a server
has one process per launch spec: "default" serves every project whose layer leaves its env and
args alone, another the projects whose trusted layer changes them); stop ends
the gateway and every server it started; token prints the bearer token (created on first use,
kept in a mode-600 file). The socket is $XDG_RUNTIME_DIR/claudex/gateway.sock (else
/tmp/claudex-UID/), mode 600. See docs/gateway.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from claudex_mcp.cli import common

EXAMPLES = (
    "claudex mcp gateway status",
    "claudex mcp gateway serve --http 127.0.0.1:8765",
    "claudex mcp gateway token",
    "claudex mcp gateway stop",
)
STOP_WAIT = 15.0  # seconds `stop` waits for the gateway to end its servers and exit


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = common.parser(prog, __doc__, EXAMPLES)
    p.add_argument("action", choices=("serve", "status", "stop", "token"),
                   help="serve: run in the foreground; status: what runs; stop: end it; token: print the bearer token")
    p.add_argument("--http", metavar="HOST:PORT", help="serve: also serve MCP over streamable HTTP there")
    p.add_argument("--allow-remote", action="store_true",
                   help="serve: allow --http on an address that is not loopback (put TLS in front of it)")
    p.add_argument("--header", action="store_true",
                   help='token: print {"Authorization": "Bearer TOKEN"}, as a client\'s headers helper wants it')
    common.add_json(p)
    return p


def action(args: argparse.Namespace) -> int:
    from claudex_mcp.errors import UsageError

    if args.header and args.action != "token":
        raise UsageError(f"--header is an option of 'gateway token', not of {args.action}",
                         hint="claudex mcp gateway token --header")
    if (args.http or args.allow_remote) and args.action != "serve":
        raise UsageError(f"--http and --allow-remote are options of 'gateway serve', not of {args.action}",
                         hint="claudex mcp gateway serve --http 127.0.0.1:8765")
    return {"serve": serve, "status": status, "stop": stop, "token": token}[args.action](args)


def serve(args: argparse.Namespace) -> int:
    from claudex_mcp.gateway import daemon

    http = None
    if args.http:
        from claudex_mcp.gateway import auth

        http = auth.parse_bind(args.http, args.allow_remote)
    return daemon.serve(http=http)


def status(args: argparse.Namespace) -> int:
    from claudex_mcp.gateway import client

    found = client.control("status")
    result = {"running": found is not None, **(found or {})}
    if args.json:
        common.write_json(result)
        return 0
    if found is None:
        print("no gateway runs (a shared server's 'claudex mcp run' starts one)")
        return 0
    print(f"gateway pid {found['pid']}, up {_duration(found['uptime'])}, socket {found['socket']}"
          + (f", http {found['http']}" if found.get("http") else "") + f", {found['sessions']} sessions")
    rows = [{"server": s["name"], "state": s["state"], "pid": s["pid"] or "-", "sessions": len(s["sessions"]),
             "calls": s["calls"], "restarts": s["restarts"], "error": s["error"] or "",
             "projects": "default" if s.get("default", True) else ", ".join(s.get("projects") or [])}
            for s in found["servers"]]
    if rows:
        common.print_table(rows, [("SERVER", "server"), ("STATE", "state"), ("PID", "pid"),
                                  ("SESSIONS", "sessions"), ("CALLS", "calls"), ("RESTARTS", "restarts"),
                                  ("ERROR", "error"), ("PROJECTS", "projects")])
    return 0


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def stop(args: argparse.Namespace) -> int:
    from claudex_mcp.errors import ExternalFailure
    from claudex_mcp.gateway import client

    answer = client.control("stop")
    if answer is not None:
        deadline = time.monotonic() + STOP_WAIT
        while client.running_pid() is not None:
            if time.monotonic() > deadline:
                raise ExternalFailure(f"the gateway (pid {answer.get('pid')}) did not stop within {STOP_WAIT:g} s",
                                      code="gateway_failed", hint=f"its log: {client.log_file()}")
            time.sleep(0.05)
    result = {"stopped": answer is not None, "pid": (answer or {}).get("pid")}
    if args.json:
        common.write_json(result)
    else:
        print(f"gateway (pid {result['pid']}) stopped" if answer is not None else "no gateway runs")
    return 0


def token(args: argparse.Namespace) -> int:
    from claudex_mcp.gateway import auth

    value = auth.token()
    if args.header:
        common.write_json({"Authorization": f"Bearer {value}"})
    elif args.json:
        common.write_json({"token": value, "file": str(auth.token_file())})
    else:
        print(value)
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "claudex mcp gateway") -> int:
    return common.run(prog, lambda: build_parser(prog), action, argv)
