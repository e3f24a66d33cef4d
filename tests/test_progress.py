"""Progress on a terminal: install, upgrade and init, one line per step with the time since the
command began; status, one line redrawn while servers are checked; nothing when stderr is not a
terminal or with --json."""

from __future__ import annotations

import io
import sys

from conftest import ECHO_SERVER, ROOT, add_echo_servers, add_server, manifest, stderr_on_terminal
from lifecycle_helpers import server_files, write_files
from claudex_mcp.cli import common


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_each_step_shows_its_phase_and_the_elapsed_time(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    ticks = iter([10.0, 10.0, 10.25, 11.5, 13.0])
    out = Terminal()
    report = common.progress(True, stream=out, clock=lambda: next(ticks))
    report("fetch", "/home/me/src/weather")
    report("fetch", "https://github.com/me/weather.git")
    report("dependencies", "uv")
    report("commit")
    assert out.getvalue().splitlines() == [
        "  0.0s  copying        /home/me/src/weather",
        "  0.2s  fetching       https://github.com/me/weather.git",
        "  1.5s  dependencies   uv",
        "  3.0s  committing",
    ]


def test_nothing_when_not_a_terminal_or_with_json():
    plain = io.StringIO()
    common.progress(True, stream=plain)("fetch", "x")
    tty = Terminal()
    common.progress(False, stream=tty)("fetch", "x")
    assert plain.getvalue() == "" and tty.getvalue() == ""


def test_install_on_a_terminal_shows_progress_on_stderr_only(sandbox):
    """A real install with stderr on a pseudo-terminal: the steps are there, stdout has only
    the result; with stderr piped, stderr is empty."""
    from claudex_mcp.store import registry

    registry.init(sandbox.registry)
    folder = sandbox.root / "src" / "hello"
    write_files(folder, {**server_files("hello", "1.0.0", mcp=False), "requirements.txt": "# none\n"})
    env = {**sandbox.env, "NO_COLOR": "1"}
    proc, shown = stderr_on_terminal([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "install", str(folder)], env)
    assert proc.returncode == 0
    lines = shown.splitlines()
    phases = [line.split()[1] for line in lines if line.strip()]
    assert phases[:2] == ["copying", "checking"] and "dependencies" in phases and "committing" in phases
    assert all(line.split()[0].endswith("s") for line in lines if line.strip())
    assert "copying" not in proc.stdout.decode()
    sandbox.run("mcp", "uninstall", "hello")
    piped = sandbox.run("mcp", "install", str(folder))
    assert piped.returncode == 0 and piped.stderr == ""


def test_redraw_keeps_one_line_cut_to_the_width_and_clear_erases_it(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm")
    ticks = iter([0.0, 0.5, 1.25])
    out = Terminal()
    report = common.progress(True, stream=out, clock=lambda: next(ticks), redraw=True)
    report("checking", "0/2 done, waiting for " + "x" * 200)
    report("checking", "1/2 done, waiting for b")
    report.clear()
    drawn = out.getvalue().split("\r\033[K")
    assert drawn[0] == "" and drawn[-1] == ""  # each draw starts by erasing the line, and the last erases it
    assert len(drawn[1]) < 80 and drawn[1].startswith("  0.5s  checking") and drawn[1].endswith(common.ELLIPSIS)
    assert drawn[2] == "  1.2s  checking       1/2 done, waiting for b"
    assert "\n" not in out.getvalue()


def test_redraw_on_a_dumb_terminal_erases_with_spaces(monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    out = Terminal()
    report = common.progress(True, stream=out, clock=lambda: 0.0, redraw=True)
    report("checking", "0/1 done, waiting for a")
    report.clear()
    blank = "\r" + " " * 79 + "\r"
    assert out.getvalue() == blank + "  0.0s  checking       0/1 done, waiting for a" + blank


def test_status_on_a_terminal_says_which_servers_are_still_checked(sandbox):
    """status --refresh with stderr on a pseudo-terminal: one line, redrawn, names the servers
    not answered yet and the time; it is erased before the table; nothing with stderr piped or
    with --json."""
    from claudex_mcp.store import registry

    registry.init(sandbox.registry)
    add_echo_servers(sandbox.registry)
    slow = f"import runpy, time\ntime.sleep(1.5)\nrunpy.run_path({str(ECHO_SERVER)!r}, run_name='__main__')\n"
    add_server(sandbox.registry, "slow", doc=manifest("slow", command=sys.executable), files={"server.py": slow})
    env = {**sandbox.env, "NO_COLOR": "1", "TERM": "xterm", "ECHO_TOKEN": "t"}
    argv = [sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "status", "--refresh"]
    proc, shown = stderr_on_terminal(argv, env)
    assert proc.returncode == 0, shown
    draws = [d for d in shown.split("\r\x1b[K") if d]
    assert draws and shown.endswith("\r\x1b[K") and "\n" not in shown
    names = ["echo", "echo-core", "echo-key", "echo-off", "slow"]
    assert draws[0].split()[1:3] == ["checking", "0/5"] and draws[0].endswith("waiting for " + ", ".join(names))
    counts = [int(d.split()[2].split("/")[0]) for d in draws]
    assert counts == sorted(counts) and counts[-1] == 4  # one line, redrawn as servers answer
    assert all(d.split()[0].endswith("s") for d in draws)
    # slow answers 1.5 s after the others: the clock keeps running while it is waited for.
    assert float(draws[-1].split()[0].rstrip("s")) >= 1.5 and len(draws) > len(set(counts))
    table = proc.stdout.decode()
    assert "slow\thealthy" in table and "checking" not in table  # stdout is not a terminal: tab-separated
    piped = sandbox.run("mcp", "status", "--refresh", env={"ECHO_TOKEN": "t"})
    assert piped.returncode == 0 and piped.stderr == "" and "slow\thealthy" in piped.stdout
    proc, shown = stderr_on_terminal(argv + ["--json"], env)
    assert proc.returncode == 0 and shown == "" and proc.stdout.startswith(b"[")
