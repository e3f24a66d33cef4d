"""What users read when something goes wrong: errors printed once (a sentence on a terminal,
JSON otherwise), did-you-mean for server names, git's own reasons, upgrade --all reports, local
PATH@TAG sources and the lock holder. Real git repositories, real processes, a real pty."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import ROOT, add_server
from lifecycle_helpers import add_release, git_repo, server_files, snapshot, write_files
from lifecycle_helpers import git as run_git
from claudex_mcp.store import registry as registry_mod


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    return sandbox.registry


def cli(sandbox, *argv, env=None, timeout=120):
    return sandbox.run("mcp", *argv, env=env, timeout=timeout)


def on_tty(sandbox, *argv, env=None, timeout=60, type_after: tuple[str, bytes] | None = None) -> tuple[int, str]:
    """Run `claudex mcp ARGV` with stdin, stdout and stderr on a pseudo-terminal (as `script`
    gives them); (exit code, what the terminal showed). ``type_after`` (text, keys): once the
    terminal shows the text, the keys are typed (b"\x03" is Ctrl-C)."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once, nothing else
        os.execve(sys.executable, [sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", *argv],
                  {**sandbox.env, **(env or {}), "TERM": "dumb"})
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
                if type_after and type_after[0].encode() in out:
                    time.sleep(0.5)  # the server is up and reading
                    os.write(fd, type_after[1])
                    type_after = None
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace").replace("\r\n", "\n")


# ---- errors printed once ---------------------------------------------------------------------

def test_on_a_terminal_an_error_is_one_readable_line(sandbox, reg):
    add_server(reg, "weather")
    code, shown = on_tty(sandbox, "uninstall", "weathr")
    assert code == 4
    assert shown.strip().splitlines() == [
        f"claudex mcp uninstall: error: no server 'weathr' in the registry at {reg} "
        "(hint: did you mean weather? 'claudex mcp list' shows the servers)"]


def test_on_a_terminal_json_asks_for_the_json_object(sandbox, reg):
    code, shown = on_tty(sandbox, "uninstall", "weathr", "--json")
    assert code == 4
    assert json.loads(shown)["error"]["code"] == "no_server"


def test_piped_an_error_is_one_json_object(sandbox, reg):
    add_server(reg, "weather")
    proc = cli(sandbox, "uninstall", "weathr")
    assert proc.returncode == 4 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "no_server" and "did you mean weather?" in error["hint"]


# ---- run on a terminal ----------------------------------------------------------------------

def test_run_on_a_terminal_says_it_waits_and_ctrl_c_leaves_no_traceback(sandbox, reg):
    from conftest import add_echo_servers

    add_echo_servers(reg)
    code, shown = on_tty(sandbox, "run", "echo", type_after=("Ctrl-C ends it.", b"\x03"))
    assert code == 130, shown
    assert "echo is running and waits for an MCP client on stdin" in shown
    assert "claudex mcp test echo" in shown and "Traceback" not in shown
    log = (sandbox.state / "claudex" / "logs" / "echo.log").read_text()
    assert "KeyboardInterrupt" not in log and "Traceback" not in log, log
    assert "ended by Ctrl-C on the terminal" in log
    status = json.loads(cli(sandbox, "status", "echo", "--json").stdout)
    row = status[0] if isinstance(status, list) else status
    row = row.get("servers", [row])[0] if "servers" in row else row
    assert row.get("lastError") is None, row


def test_run_from_a_client_says_nothing_on_stderr(sandbox, reg):
    from conftest import add_echo_servers

    add_echo_servers(reg)
    proc = sandbox.run("mcp", "run", "echo", input="")  # stdin is a pipe that closes at once
    assert "waits for an MCP client" not in proc.stderr


# ---- did you mean ----------------------------------------------------------------------------

@pytest.mark.parametrize("verb", ["uninstall", "upgrade", "enable", "disable", "logs", "run", "test",
                                  "config show"])
def test_every_verb_that_takes_a_name_suggests_the_closest(sandbox, reg, verb):
    add_server(reg, "weather")
    add_server(reg, "codex", "core")
    before = snapshot(reg)
    proc = cli(sandbox, *verb.split(), "weathr")
    assert proc.returncode == 4, proc.stderr
    if verb == "run":  # the launcher's stderr is read by people in a client's log: a sentence
        assert "(hint: did you mean weather?" in proc.stderr and not proc.stderr.startswith("{")
    else:
        error = json.loads(proc.stderr)["error"]
        assert error["code"] == "no_server" and error["hint"].startswith("did you mean weather?")
    assert snapshot(reg) == before


def test_logs_of_a_server_that_does_not_exist_says_so(sandbox, reg):
    proc = cli(sandbox, "logs", "nosuch")
    assert proc.returncode == 4
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "no_server" and "no server 'nosuch'" in error["message"]
    assert "did you mean" not in error["hint"]


def test_logs_of_a_server_without_a_log_and_of_an_uninstalled_one(sandbox, reg):
    add_server(reg, "weather")
    proc = cli(sandbox, "logs", "weather")
    assert proc.returncode == 4 and json.loads(proc.stderr)["error"]["code"] == "no_log"
    logs = sandbox.state / "claudex" / "logs"
    logs.mkdir(parents=True)
    (logs / "gone.log").write_text("--- start ---\nlast words\n")
    proc = cli(sandbox, "logs", "gone")
    assert proc.returncode == 0 and proc.stdout.splitlines()[-1] == "last words"
    assert "gone is not in the registry" in proc.stderr


# ---- git's own reasons -----------------------------------------------------------------------

def test_a_clone_of_a_missing_path_keeps_gits_reason(sandbox, reg):
    before = snapshot(reg)
    proc = cli(sandbox, "install", f"file://{sandbox.root}/nothing.git")
    assert proc.returncode == 5
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "git_failed"
    assert f"'{sandbox.root}/nothing.git' does not appear to be a git repository" in error["message"]
    assert "Please make sure" not in error["message"]
    assert snapshot(reg) == before


def test_an_unresolvable_ssh_host_keeps_gits_reason(sandbox, reg):
    proc = cli(sandbox, "install", "ssh://git@nohost.invalid/x.git")
    assert proc.returncode == 5
    message = json.loads(proc.stderr)["error"]["message"]
    assert "Could not resolve hostname nohost.invalid" in message, message


@pytest.fixture
def https_page(tmp_path):
    """An https server on 127.0.0.1 answering every GET with a web page (404 under /missing),
    with a self-signed certificate that git is told to trust (GIT_SSL_CAINFO)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    code = f"""
import http.server, ssl
class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><body>not a repository</body></html>"
        self.send_response(404 if self.path.startswith("/missing") else 200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Page)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain({str(cert)!r}, {str(key)!r})
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"https://127.0.0.1:{port}", {"GIT_SSL_CAINFO": str(cert)}
    finally:
        proc.kill()
        proc.wait()


def test_an_https_url_that_is_a_web_page_is_not_a_git_repository(sandbox, reg, https_page):
    base, env = https_page
    before = snapshot(reg)
    proc = cli(sandbox, "install", f"{base}/mcp", env=env)
    assert proc.returncode == 1, proc.stderr
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "not_git_repository" and "is not a git repository" in error["message"]
    assert f"claudex mcp add NAME --url {base}/mcp" in error["hint"]
    assert snapshot(reg) == before
    missing = cli(sandbox, "install", f"{base}/missing/x.git", env=env)
    assert missing.returncode == 5
    error = json.loads(missing.stderr)["error"]
    assert "not found" in error["message"] and "claudex mcp add NAME --url" in error["hint"]


def test_an_empty_local_repository_says_it_has_no_commits(sandbox, reg):
    bare = sandbox.root / "empty.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    proc = cli(sandbox, "install", f"file://{bare}")
    assert proc.returncode == 1
    assert json.loads(proc.stderr)["error"]["code"] == "empty_repository"


# ---- PATH@TAG ---------------------------------------------------------------------------------

def test_a_local_repository_at_a_tag_installs_from_the_tag(sandbox, reg):
    git_repo(sandbox.root, "echo", ["1.0.0", "1.1.0"], mcp=False)
    work = sandbox.root / "echo-work"
    result = json.loads(cli(sandbox, "install", f"{work}@v1.0.0", "--json").stdout)
    assert result["version"] == "1.0.0"
    assert result["source"]["type"] == "git" and result["source"]["url"] == f"file://{work}"
    assert result["source"]["ref"] == "v1.0.0"
    assert (reg / "installed" / "echo" / "VERSION").read_text() == "1.0.0\n"


def test_a_folder_whose_name_holds_an_at_is_a_folder(sandbox, reg):
    folder = sandbox.root / "hello@v1"
    folder.mkdir()
    write_files(folder, server_files("hello", "1.0.0", False))
    result = json.loads(cli(sandbox, "install", str(folder), "--json").stdout)
    assert result["source"] == {"type": "path", "path": str(folder)}


def test_a_plain_folder_at_a_tag_is_refused(sandbox, reg):
    folder = sandbox.root / "plain"
    folder.mkdir()
    write_files(folder, server_files("plain", "1.0.0", False))
    proc = cli(sandbox, "install", f"{folder}@v1.0.0")
    assert proc.returncode == 1
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "not_git_repository" and f"claudex mcp install {folder}" in error["hint"]


# ---- upgrade ----------------------------------------------------------------------------------

def test_a_failed_upgrade_handshake_shows_the_servers_stderr(sandbox, reg):
    url = git_repo(sandbox.root, "echo", ["1.0.0"])
    assert cli(sandbox, "install", f"{url}@v1.0.0").returncode == 0
    work = sandbox.root / "echo-work"
    files = server_files("echo", "2.0.0")
    files["server.py"] = "import sys\nprint('cannot open the database: /nope', file=sys.stderr)\nsys.exit(3)\n"
    write_files(work, files)
    run_git("commit", "-q", "-am", "2.0.0", cwd=work)
    run_git("tag", "v2.0.0", cwd=work)
    run_git("push", "-q", url.removeprefix("file://"), "main", "--tags", cwd=work)
    before = snapshot(reg)
    proc = cli(sandbox, "upgrade", "echo")
    assert proc.returncode == 5, proc.stderr
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "crashed" and "rolled back" in error["message"]
    assert error["details"] == ["cannot open the database: /nope"]
    assert snapshot(reg) == before
    code, shown = on_tty(sandbox, "upgrade", "echo")
    assert code == 5
    assert "  | cannot open the database: /nope" in shown.splitlines()
    assert "{" not in shown


def test_upgrade_all_goes_on_after_a_failure_and_reports_every_server(sandbox, reg):
    good = git_repo(sandbox.root, "good", ["1.0.0"])
    same = git_repo(sandbox.root, "same", ["1.0.0"])
    bad = git_repo(sandbox.root, "bad", ["1.0.0"])
    for url in (good, same, bad):
        assert cli(sandbox, "install", f"{url}@v1.0.0").returncode == 0
    add_release(good, sandbox.root, "good", "1.1.0")
    add_release(bad, sandbox.root, "bad", "1.1.0", mcp=False)  # 1.1.0 is no MCP server
    proc = cli(sandbox, "upgrade", "--all", "--json")
    assert proc.returncode == 5, proc.stderr
    results = {r["name"]: r for r in json.loads(proc.stdout)}
    assert {n: r["state"] for n, r in results.items()} == {"bad": "failed", "good": "upgraded", "same": "unchanged"}
    assert results["bad"]["error"]["code"] in ("not_mcp", "crashed")
    assert "rolled back" in results["bad"]["error"]["message"]
    assert (reg / "installed" / "bad" / "VERSION").read_text() == "1.0.0\n"
    assert (reg / "installed" / "good" / "VERSION").read_text() == "1.1.0\n"
    summary = json.loads(proc.stderr.splitlines()[-1])["error"]
    assert summary["code"] == "upgrade_failed" and "1 of 3 servers" in summary["message"]
    text = cli(sandbox, "upgrade", "--all")
    assert text.returncode == 5
    lines = text.stdout.splitlines()
    assert lines[0].startswith("failed  bad: bad 1.1.0 failed its MCP handshake")
    assert any(line.startswith("good 1.1.0: up to date") for line in lines)
    assert any(line.startswith("same 1.0.0: up to date") for line in lines)


# ---- lock waits -------------------------------------------------------------------------------

CLAUDEX_HOLDER = """
import sys
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from claudex_mcp.store import lock
registry = Path(sys.argv[1])
sys.argv = ["claudex", "mcp", "config", "set", "hello", "env.TOKEN", "s3cret-value"]
with lock.registry_lock(registry):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes stdin
"""


@pytest.fixture
def claudex_holds_the_lock(reg):
    proc = subprocess.Popen([sys.executable, "-c", CLAUDEX_HOLDER, str(reg), str(ROOT / "scripts")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_file_names_its_holder_without_values(reg, claudex_holds_the_lock):
    record = json.loads((reg / ".lock").read_text())
    assert record["pid"] == claudex_holds_the_lock.pid
    assert record["command"] == "claudex mcp config set"  # the verb, never the value (a secret)
    assert "s3cret" not in (reg / ".lock").read_text()


def test_a_lock_timeout_names_the_holder(sandbox, reg, claudex_holds_the_lock):
    add_server(reg, "hello")
    proc = cli(sandbox, "uninstall", "hello", env={"CLAUDEX_MCP_LOCK_TIMEOUT": "0.5"})
    assert proc.returncode == 3
    error = json.loads(proc.stderr)["error"]  # piped: the one JSON object, no waiting notice
    assert error["code"] == "locked"
    assert f"pid {claudex_holds_the_lock.pid} (claudex mcp config set, since " in error["message"]


def test_a_mutation_on_a_terminal_says_who_it_waits_for_then_goes_on(sandbox, reg, claudex_holds_the_lock):
    add_server(reg, "hello")
    import threading

    release = threading.Timer(3.0, claudex_holds_the_lock.stdin.close)
    release.start()
    try:
        code, shown = on_tty(sandbox, "uninstall", "hello", "--json", env={"CLAUDEX_MCP_LOCK_TIMEOUT": "30"})
    finally:
        release.cancel()
    assert code == 0, shown
    assert (f"the registry at {reg} is held by pid {claudex_holds_the_lock.pid} (claudex mcp config set, since "
            in shown), shown
    assert "waiting up to 30 s" in shown
    assert not (reg / "installed" / "hello").exists()


PATH_HOLDER = """
import sys
sys.path.insert(0, sys.argv[1])
from claudex_mcp import paths
from claudex_mcp.store import lock
sys.argv = ["claudex", "mcp", "generate"]
with lock.path_lock(paths.user_config_file()):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes stdin
"""


def test_a_file_lock_wait_is_said_on_a_terminal_too(sandbox, reg):
    """Not only registry mutations: `config set` waiting for the user layer's lock says who
    holds it, then goes on."""
    import threading

    add_server(reg, "hello")
    holder = subprocess.Popen([sys.executable, "-c", PATH_HOLDER, str(ROOT / "scripts")], env=sandbox.env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    release = threading.Timer(2.0, holder.stdin.close)
    try:
        assert holder.stdout.readline().strip() == "held"
        release.start()
        code, shown = on_tty(sandbox, "config", "set", "hello", "env.MODE", "fast",
                             env={"CLAUDEX_MCP_LOCK_TIMEOUT": "30"})
    finally:
        release.cancel()
        holder.kill()
        holder.wait()
    assert code == 0, shown
    assert f"waiting: {sandbox.config / 'claudex' / 'mcp.json'} is held by pid {holder.pid} (claudex mcp generate" in shown
    assert json.loads((sandbox.config / "claudex" / "mcp.json").read_text())["servers"]["hello"]["env"]["MODE"] == "fast"
