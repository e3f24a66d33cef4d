"""Hostile input that JSON allows or the file system permits, where claudex once hung or exited
70 (#24 items 6-8): a number that overflows to Infinity, a NUL or a lone surrogate in a
manifest or a layer, a FIFO, a device, a link or a huge sparse file where claudex reads a file.
Each is refused where it enters, with a clear error (never exit 70), or skipped as a reader
should; nothing hangs (every command runs under a timeout)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from conftest import ECHO_SERVER, add_server, manifest

TIMEOUT = 30  # a reader that blocks on a FIFO would hang: the test fails instead of waiting


def error_of(proc) -> dict:
    assert proc.returncode not in (0, 70), (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stderr.strip().splitlines()[-1])["error"]


@pytest.fixture
def reg(sandbox):
    proc = sandbox.run("mcp", "init")
    assert proc.returncode == 0, proc.stderr
    add_server(sandbox.registry, "echo", doc=manifest("echo", command=sys.executable),
               files={"server.py": ECHO_SERVER.read_text()})
    return sandbox.registry


# ---- 6: numbers JSON cannot carry ----------------------------------------------------------

@pytest.mark.parametrize("raw", ["1e999999", "[1, -1e400]", '{"a": 1e999}'])
def test_config_set_refuses_a_number_that_overflows(sandbox, reg, raw):
    proc = sandbox.run("mcp", "config", "set", "echo", "settings.x", raw, timeout=TIMEOUT)
    assert proc.returncode == 1
    error = error_of(proc)
    assert error["code"] == "invalid_value" and "too large for JSON" in error["message"]
    assert not (sandbox.config / "claudex" / "mcp.json").exists()  # nothing written
    # every verb still works, config unset included
    assert sandbox.run("mcp", "config", "unset", "echo", "settings.x", timeout=TIMEOUT).returncode == 0
    assert sandbox.run("mcp", "list", "--json", timeout=TIMEOUT).returncode == 0


def test_config_set_refuses_a_nul_in_a_json_value(sandbox, reg):
    proc = sandbox.run("mcp", "config", "set", "echo", "args", '["a\\u0000b"]', timeout=TIMEOUT)
    assert proc.returncode == 1 and error_of(proc)["code"] == "invalid_value"
    assert not (sandbox.config / "claudex" / "mcp.json").exists()


# ---- 7: NUL and lone surrogates where they enter ---------------------------------------------

@pytest.mark.parametrize("server", [
    {"command": "python3\u0000-c"},
    {"args": ["${SERVER_DIR}/server.py", "a\u0000b"]},
    {"env": {"X": "a\u0000b"}},
    {"env": {"X\u0000Y": "v"}},
])
def test_install_refuses_a_nul_in_the_manifest(sandbox, reg, server):
    source = sandbox.root / "src" / "nul"
    source.mkdir(parents=True)
    (source / "manifest.json").write_text(json.dumps(manifest("nul", **server)))
    (source / "server.py").write_text("print('hi')\n")
    proc = sandbox.run("mcp", "validate", str(source), "--json", timeout=TIMEOUT)
    assert proc.returncode == 1
    assert any(p["rule"] == "nul-character" for p in json.loads(proc.stdout)), proc.stdout
    proc = sandbox.run("mcp", "install", str(source), timeout=TIMEOUT)
    assert proc.returncode == 1, proc.stderr
    error_of(proc)
    assert not (reg / "installed" / "nul").exists()


@pytest.mark.parametrize("value", ["a\u0000b", "\ud800"])
def test_a_hostile_value_in_the_user_layer_is_a_clear_error_for_every_verb(sandbox, reg, value):
    layer = sandbox.config / "claudex" / "mcp.json"
    layer.parent.mkdir(parents=True)
    layer.write_text(json.dumps({"apiVersion": "v1", "servers": {"echo": {"env": {"X": value}}}}))
    for argv in (["run", "echo"], ["status", "echo", "--refresh"], ["test", "echo"],
                 ["call", "echo", "echo", "--args", '{"text": "hi"}'], ["generate"]):
        proc = sandbox.run("mcp", *argv, timeout=TIMEOUT)
        assert proc.returncode not in (0, 70), (argv, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr, (argv, proc.stderr)
        assert str(layer) in proc.stderr, (argv, proc.stderr)


def test_migrate_takes_nothing_with_a_nul_from_a_hostile_client_file(sandbox, reg):
    (sandbox.home / ".claude.json").write_text(json.dumps({"mcpServers": {
        "evil": {"command": "python3", "args": ["-c", "x\u0000y"]},
        "fine": {"command": sys.executable, "args": [str(ECHO_SERVER)]}}}))
    proc = sandbox.run("mcp", "migrate", "--json", timeout=TIMEOUT)
    assert proc.returncode != 70 and "Traceback" not in proc.stderr, proc.stderr
    for verb in (["status", "--refresh"], ["list"]):
        later = sandbox.run("mcp", *verb, timeout=TIMEOUT)
        assert later.returncode != 70 and "Traceback" not in later.stderr, later.stderr
    assert not (reg / "installed" / "evil").exists()


# ---- 8: special and huge files where claudex reads one -----------------------------------------

def fifo(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    os.mkfifo(path)


def test_a_fifo_as_registry_json_is_refused_without_hanging(sandbox, reg):
    fifo(reg / "registry.json")
    # Readers go on from the server folders (the documented recovery), saying which file is bad.
    proc = sandbox.run("mcp", "list", "--refresh", timeout=TIMEOUT)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert str(reg / "registry.json") in proc.stderr and "not a regular file" in proc.stderr
    proc = sandbox.run("mcp", "status", timeout=TIMEOUT)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    proc = sandbox.run("mcp", "validate", str(reg), timeout=TIMEOUT)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr


def test_a_huge_sparse_registry_json_is_refused_without_reading_it(sandbox, reg):
    with open(reg / "registry.json", "r+b") as fh:
        fh.truncate(1024 ** 3)
    proc = sandbox.run("mcp", "validate", str(reg / "registry.json"), "--json", timeout=TIMEOUT)
    assert proc.returncode == 1 and [p["rule"] for p in json.loads(proc.stdout)] == ["too_large"]
    assert sandbox.run("mcp", "list", timeout=TIMEOUT).returncode != 70


@pytest.mark.parametrize("special", ["fifo", "device"])
def test_a_special_file_as_a_manifest_makes_the_server_invalid_not_a_hang(sandbox, reg, special):
    target = reg / "installed" / "echo" / "manifest.json"
    if special == "fifo":
        fifo(target)
    else:
        target.unlink()
        target.symlink_to("/dev/zero")
    proc = sandbox.run("mcp", "list", "--json", "--refresh", timeout=TIMEOUT)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    echo = next(s for s in json.loads(proc.stdout) if s["name"] == "echo")
    assert echo["valid"] is False
    proc = sandbox.run("mcp", "run", "echo", timeout=TIMEOUT)
    assert proc.returncode not in (0, 70) and "Traceback" not in proc.stderr


def test_a_fifo_or_a_link_as_a_servers_log_is_refused_by_logs(sandbox, reg):
    logs = sandbox.state / "claudex" / "logs"
    fifo(logs / "echo.log")
    proc = sandbox.run("mcp", "logs", "echo", timeout=TIMEOUT)
    assert proc.returncode == 1 and error_of(proc)["code"] == "unsafe_path"
    (logs / "echo.log").unlink()
    secret = sandbox.root / "secret.txt"
    secret.write_text("do not show\n")
    (logs / "echo.log").symlink_to(secret)
    proc = sandbox.run("mcp", "logs", "echo", timeout=TIMEOUT)
    assert proc.returncode == 1 and error_of(proc)["code"] == "unsafe_path"
    assert "do not show" not in proc.stdout
    assert sandbox.run("mcp", "status", "echo", "--refresh", timeout=TIMEOUT).returncode != 70


def test_a_fifo_as_a_run_record_does_not_hang_status_or_run(sandbox, reg):
    from claudex_mcp.runtime import launcher

    record = launcher.run_record_file("echo")
    fifo(record)
    proc = sandbox.run("mcp", "status", "--refresh", "--json", timeout=TIMEOUT)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr


# ---- 10: a server's words never drive the terminal ---------------------------------------------

OSC52 = "\x1b]52;c;cHduZWQ=\x07"  # sets the clipboard
TITLE = "\x1b]0;owned\x07"


def test_logs_info_and_status_show_a_servers_escapes_written_out_on_a_terminal(sandbox, reg):
    """#24.10: what a server wrote (its log, its tool descriptions, its error) is shown with its
    control characters written out on a terminal; a pipe still gets the exact bytes."""
    logs = sandbox.state / "claudex" / "logs"
    logs.mkdir(parents=True)
    (logs / "echo.log").write_text(f"--- start ---\nerror: boom {OSC52} {TITLE}\n")
    for argv in (["logs", "echo", "-n", "5"], ["status", "echo"]):
        code, shown = sandbox.run_tty("mcp", *argv, env={"NO_COLOR": "1"})
        assert "\x1b]" not in shown and "\x07" not in shown, (argv, shown)
    code, shown = sandbox.run_tty("mcp", "logs", "echo", "-n", "5", env={"NO_COLOR": "1"})
    assert code == 0 and "\\x1b]52;c;cHduZWQ=\\x07" in shown, shown
    piped = sandbox.run("mcp", "logs", "echo", "-n", "5", timeout=TIMEOUT)
    assert OSC52 in piped.stdout  # exact for a pipe
    code, coloured = sandbox.run_tty("mcp", "info", "echo", env={"FORCE_COLOR": "1"})
    assert "\x1b[" in coloured and "\x1b]" not in coloured  # claudex's own colours stay


def test_a_file_name_that_is_not_utf8_in_an_install_source_is_refused(sandbox, reg):
    """#24.7: a source folder holding a file whose name is not UTF-8 is refused by validate and
    install, with the name shown escaped (it made install exit 70)."""
    source = sandbox.root / "src" / "odd"
    source.mkdir(parents=True)
    (source / "manifest.json").write_text(json.dumps(manifest("odd")))
    (source / "server.py").write_text("print('hi')\n")
    with open(os.fsencode(source) + b"/caf\xe9.txt", "w") as fh:
        fh.write("x")
    proc = sandbox.run("mcp", "validate", str(source), "--json", timeout=TIMEOUT)
    assert proc.returncode == 1
    assert [p["rule"] for p in json.loads(proc.stdout)] == ["not_utf8"]
    proc = sandbox.run("mcp", "install", str(source), timeout=TIMEOUT)
    assert proc.returncode == 1
    error = error_of(proc)
    assert error["code"] == "invalid_server" and "caf\\xe9.txt" in error["message"] and "path" not in error
    assert not (reg / "installed" / "odd").exists()
