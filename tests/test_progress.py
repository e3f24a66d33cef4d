"""Progress of install, upgrade and init on a terminal: one line per step with the time since the
command began; nothing when stderr is not a terminal."""

from __future__ import annotations

import io

from conftest import stderr_on_terminal
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
    from claudex_mcp import registry

    registry.init(sandbox.registry)
    folder = sandbox.root / "src" / "hello"
    write_files(folder, {**server_files("hello", "1.0.0", mcp=False), "requirements.txt": "# none\n"})
    proc, shown = stderr_on_terminal("mcp", "install", str(folder), env={**sandbox.env, "NO_COLOR": "1"})
    assert proc.returncode == 0
    lines = shown.decode().splitlines()
    phases = [line.split()[1] for line in lines if line.strip()]
    assert phases[:2] == ["copying", "checking"] and "dependencies" in phases and "committing" in phases
    assert all(line.split()[0].endswith("s") for line in lines if line.strip())
    assert "copying" not in proc.stdout.decode()
    sandbox.run("mcp", "uninstall", "hello")
    piped = sandbox.run("mcp", "install", str(folder))
    assert piped.returncode == 0 and piped.stderr == ""
