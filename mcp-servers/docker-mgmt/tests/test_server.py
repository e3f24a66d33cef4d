"""Every tool through a real MCP session (claudex_testing starts the server from its manifest) against
real containers of the session's private dockerd."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import anyio

from conftest import SERVER_DIR, mcp_server, server_env

TOOLS = {"docker_ps", "docker_start", "docker_stop", "docker_logs", "docker_exec", "docker_stats"}
MANAGED = {"claudex.managed": "true"}


def run(fn, *args):
    return anyio.run(fn, *args)


def wait_exited(container, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            return
        time.sleep(0.1)
    raise AssertionError(f"{container.name} still {container.status}")


def test_tools_are_annotated_and_the_server_starts_without_a_daemon(home, tmp_path):
    host = f"unix://{tmp_path}/no-such.sock"

    async def main():
        async with mcp_server(server_env(home, host)) as s:
            tools = {t.name: t for t in await s.list_tools()}
            return tools, await s.error_text("docker_ps"), await s.error_text("docker_logs", {"container": "x"})

    tools, ps_error, logs_error = run(main)
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and tool.annotations is not None and tool.output_schema is not None
    for name in ("docker_ps", "docker_logs", "docker_stats"):
        assert tools[name].annotations.read_only_hint is True
    assert tools["docker_start"].annotations.destructive_hint is False
    assert tools["docker_stop"].annotations.destructive_hint is True
    assert tools["docker_exec"].annotations.destructive_hint is True
    exec_schema = tools["docker_exec"].input_schema
    assert exec_schema["required"] == ["container", "command"]
    assert exec_schema["properties"]["command"]["type"] == "array"
    assert exec_schema["properties"]["timeout"]["maximum"] == 600
    for message in (ps_error, logs_error):
        assert "unavailable: cannot reach the Docker daemon" in message and f"DOCKER_HOST={host}" in message


def test_a_malformed_policy_setting_stops_the_start_with_one_line(home, tmp_path):
    env = server_env(home, "unix:///nowhere", DOCKER_MGMT_EXEC="maybe")
    proc = subprocess.run([sys.executable, str(SERVER_DIR / "server.py")], input="", capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == "docker-mgmt: DOCKER_MGMT_EXEC='maybe' is not a switch: use on or off"


def test_ps_start_stop_and_the_policy(home, containers):
    managed = containers.container("managed", ["sleep", "300"], labels=MANAGED)
    other = containers.container("other", ["sleep", "300"])
    idle = containers.container("idle", ["sleep", "300"], labels=MANAGED, start=False)
    env = server_env(home, containers.host)

    async def default_policy():
        async with mcp_server(env) as s:
            running = await s.call_data("docker_ps")
            everything = await s.call_data("docker_ps", {"all": True, "filters": {"label": "claudex-test.run"}})
            labelled = await s.call_data("docker_ps", {"all": True, "filters": {"label": ["claudex.managed=true"],
                                                                             "name": managed.name}})
            started = await s.call_data("docker_start", {"container": idle.name})
            again = await s.call_data("docker_start", {"container": idle.id[:10]})
            stopped = await s.call_data("docker_stop", {"container": managed.name, "timeout": 1})
            stopped_again = await s.call_data("docker_stop", {"container": managed.name})
            refused_stop = await s.error_text("docker_stop", {"container": other.name})
            refused_start = await s.error_text("docker_start", {"container": other.name})
            missing = await s.error_text("docker_start", {"container": "no-such-container"})
            missing_logs = await s.error_text("docker_logs", {"container": "no-such-container"})
            bad_filter = await s.error_text("docker_ps", {"filters": {"colour": "red"}})
            return (running, everything, labelled, started, again, stopped, stopped_again, refused_stop,
                    refused_start, missing, missing_logs, bad_filter)

    (running, everything, labelled, started, again, stopped, stopped_again, refused_stop, refused_start,
     missing, missing_logs, bad_filter) = run(default_policy)

    by_name = {c["name"]: c for c in running["containers"]}
    assert {managed.name, other.name} <= set(by_name) and idle.name not in by_name
    assert by_name[managed.name]["managed"] is True and by_name[other.name]["managed"] is False
    assert by_name[managed.name]["state"] == "running" and by_name[managed.name]["image"] == "claudex-test/busybox:1"
    assert by_name[managed.name]["id"] == managed.id[:12]
    assert running["policy"]["allow_labels"] == ["claudex.managed=true"] and running["truncated"] is False
    assert {c["name"] for c in everything["containers"]} == {managed.name, other.name, idle.name}
    assert [c["name"] for c in labelled["containers"]] == [managed.name]
    assert started == {"id": idle.id[:12], "name": idle.name, "state": "running", "started": True}
    assert again["started"] is False and again["state"] == "running"
    assert stopped["stopped"] is True and stopped["state"] == "exited" and stopped["exit_code"] == 137
    assert stopped_again["stopped"] is False
    for message in (refused_stop, refused_start):
        assert message.startswith(("Error executing tool docker_stop: refused:", "Error executing tool docker_start: refused:"))
        assert other.name in message
        for setting in ("DOCKER_MGMT_ALLOW_NAMES", "DOCKER_MGMT_ALLOW_PATTERNS", "DOCKER_MGMT_ALLOW_LABELS"):
            assert setting in message
    other.reload()
    assert other.status == "running"
    assert "not_found:" in missing and "no-such-container" in missing and "docker_ps" in missing
    assert "not_found:" in missing_logs
    assert "invalid_input:" in bad_filter and "colour" in bad_filter

    async def by_pattern_and_name():
        async with mcp_server(server_env(home, containers.host, DOCKER_MGMT_ALLOW_PATTERNS="other-*",
                                         DOCKER_MGMT_ALLOW_NAMES=idle.name, DOCKER_MGMT_ALLOW_LABELS="")) as s:
            return (await s.call_data("docker_stop", {"container": other.name, "timeout": 0}),
                    await s.call_data("docker_stop", {"container": idle.name, "timeout": 0}),
                    await s.error_text("docker_start", {"container": managed.name}))

    by_pattern, by_name_, labels_off = run(by_pattern_and_name)
    assert by_pattern["stopped"] is True and by_name_["stopped"] is True
    assert "refused:" in labels_off and "DOCKER_MGMT_ALLOW_LABELS=''" in labels_off


def test_logs(home, containers):
    script = "echo out-1; echo err-1 >&2; echo out-2; echo out-3"
    talker = containers.container("talker", ["sh", "-c", script])
    wait_exited(talker)

    async def main():
        async with mcp_server(server_env(home, containers.host)) as s:
            return (await s.call_data("docker_logs", {"container": talker.name}),
                    await s.call_data("docker_logs", {"container": talker.name, "tail": 2, "timestamps": True}),
                    await s.call_data("docker_logs", {"container": talker.id, "since": "2999-01-01T00:00:00Z"}),
                    await s.call_data("docker_logs", {"container": talker.name, "since": "1h"}),
                    await s.error_text("docker_logs", {"container": talker.name, "since": "yesterday"}))

    everything, last_two, future, recent, bad_since = run(main)
    assert sorted(everything["logs"].splitlines()) == ["err-1", "out-1", "out-2", "out-3"]
    assert everything["truncated"] is False and everything["name"] == talker.name
    lines = last_two["logs"].splitlines()
    assert len(lines) == 2 and all(line[:4].isdigit() and line[4] == "-" for line in lines)
    assert {line.split(" ", 1)[1] for line in lines} <= {"out-2", "out-3", "err-1"}  # stderr may come last
    assert future["logs"] == "" and future["bytes"] == 0
    assert len(recent["logs"].splitlines()) == 4
    assert "invalid_input:" in bad_since and "since='yesterday'" in bad_since


def test_ten_megabytes_of_logs_come_back_truncated_with_a_marker(home, containers):
    line = "0123456789" * 9 + "abcdefghi"  # 99 characters + newline
    loud = containers.container("loud", ["sh", "-c", f"yes {line} | head -c 10485760"])
    wait_exited(loud, timeout=120)

    async def main():
        async with mcp_server(server_env(home, containers.host)) as s:
            return await s.call_data("docker_logs", {"container": loud.name, "tail": None})

    logs = run(main)
    assert logs["truncated"] is True and logs["bytes"] >= 10_000_000
    text = logs["logs"]
    assert text.startswith("[... truncated: ") and "bytes omitted; showing the end" in text.splitlines()[0]
    assert len(text.encode()) <= 65536 + 200
    assert text.splitlines()[1] == line  # the kept part starts on a whole line


def test_exec_allowed_refused_and_timed_out(home, containers):
    box = containers.container("box", ["sleep", "300"], labels=MANAGED)
    other = containers.container("other", ["sleep", "300"])
    halted = containers.container("halted", ["sleep", "300"], labels=MANAGED, start=False)
    env = server_env(home, containers.host, DOCKER_MGMT_EXEC="on")

    async def enabled():
        async with mcp_server(env) as s:
            results = {
                "echo": await s.call_data("docker_exec", {"container": box.name, "command": ["echo", "hello", "$HOME"]}),
                "fails": await s.call_data("docker_exec", {"container": box.name, "command": ["cat", "/nope"]}),
                "env": await s.call_data("docker_exec", {"container": box.name, "command": ["env"],
                                                    "env": {"GREETING": "hi there"}}),
                "pwd": await s.call_data("docker_exec", {"container": box.name, "command": ["pwd"], "workdir": "/tmp"}),
                "big": await s.call_data("docker_exec", {"container": box.name, "command": ["seq", "1", "100000"]}),
                "shell": await s.error_text("docker_exec", {"container": box.name, "command": ["sh", "-c", "echo hi"]}),
                "busybox_shell": await s.error_text("docker_exec", {"container": box.name,
                                                                "command": ["/bin/busybox", "sh", "-c", "id"]}),
                "user": await s.error_text("docker_exec", {"container": box.name, "command": ["id"], "user": "app"}),
                "other": await s.error_text("docker_exec", {"container": other.name, "command": ["id"]}),
                "missing": await s.error_text("docker_exec", {"container": "no-such-box", "command": ["id"]}),
                "halted": await s.error_text("docker_exec", {"container": halted.name, "command": ["id"]}),
                "empty": await s.error_text("docker_exec", {"container": box.name, "command": []}),
            }
            started = time.monotonic()
            results["timeout"] = await s.error_text("docker_exec", {"container": box.name, "timeout": 1,
                                                               "command": ["sleep", "60"]})
            results["timeout_seconds"] = time.monotonic() - started
            return results

    r = run(enabled)
    assert r["echo"]["exit_code"] == 0 and r["echo"]["stdout"] == "hello $HOME\n" and r["echo"]["stderr"] == ""
    assert r["fails"]["exit_code"] == 1 and "/nope" in r["fails"]["stderr"] and r["fails"]["stdout"] == ""
    assert "GREETING=hi there" in r["env"]["stdout"].splitlines()
    assert r["pwd"]["stdout"] == "/tmp\n"
    big = r["big"]["stdout"]
    assert r["big"]["truncated"] is True and big.startswith("1\n2\n3\n") and big.endswith("\n99999\n100000\n")
    assert "[... truncated: " in big and len(big.encode()) <= 65536 + 200
    assert "refused:" in r["shell"] and "DOCKER_MGMT_EXEC_SHELL=on" in r["shell"]
    assert "refused:" in r["busybox_shell"] and "DOCKER_MGMT_EXEC_SHELL" in r["busybox_shell"]
    assert "refused:" in r["user"] and "DOCKER_MGMT_EXEC_USERS" in r["user"]
    assert "refused:" in r["other"] and "DOCKER_MGMT_ALLOW_NAMES" in r["other"]
    assert "not_found:" in r["missing"]
    assert "conflict:" in r["halted"] and "docker_start" in r["halted"]
    assert "command" in r["empty"]
    assert "timeout:" in r["timeout"] and "within 1 s" in r["timeout"] and "killed" in r["timeout"]
    assert r["timeout_seconds"] < 15
    processes = [" ".join(p) for p in box.top()["Processes"]]
    assert not any("sleep 60" in p for p in processes), processes

    async def disabled():
        async with mcp_server(server_env(home, containers.host)) as s:
            return await s.error_text("docker_exec", {"container": box.name, "command": ["id"]})

    off = run(disabled)
    assert "refused:" in off and "exec is off" in off and "DOCKER_MGMT_EXEC=on" in off

    async def restricted():
        async with mcp_server(server_env(home, containers.host, DOCKER_MGMT_EXEC="on", DOCKER_MGMT_EXEC_SHELL="on",
                                         DOCKER_MGMT_EXEC_PROGRAMS="id,sh", DOCKER_MGMT_EXEC_USERS="app")) as s:
            return (await s.error_text("docker_exec", {"container": box.name, "command": ["cat", "/etc/passwd"],
                                                  "user": "app"}),
                    await s.error_text("docker_exec", {"container": box.name, "command": ["id", "-u"]}),
                    await s.error_text("docker_exec", {"container": box.name, "command": ["id", "-u"], "user": "0"}),
                    await s.call_data("docker_exec", {"container": box.name, "command": ["id", "-u"], "user": "app"}),
                    await s.call_data("docker_exec", {"container": box.name, "command": ["sh", "-c", "id -un"],
                                                 "user": "app"}))

    program, default_root, explicit_root, as_app, shell = run(restricted)
    assert "refused:" in program and "'cat'" in program and "DOCKER_MGMT_EXEC_PROGRAMS='id,sh'" in program
    assert "refused:" in default_root and "default user 'root'" in default_root and "DOCKER_MGMT_EXEC_USERS" in default_root
    assert "refused:" in explicit_root and "DOCKER_MGMT_EXEC_USERS" in explicit_root
    assert as_app["stdout"] == "1000\n"
    assert shell["stdout"] == "app\n"


def test_stats(home, containers):
    busy = containers.container("busy", ["sleep", "300"], labels=MANAGED)
    quiet = containers.container("quiet", ["sleep", "300"])
    halted = containers.container("halted", ["true"], start=False)

    async def main():
        async with mcp_server(server_env(home, containers.host)) as s:
            return (await s.call_data("docker_stats", {"container": busy.name}),
                    await s.call_data("docker_stats"),
                    await s.call_data("docker_stats", {"container": halted.name}),
                    await s.error_text("docker_stats", {"container": "no-such-thing"}))

    one, every, stopped, missing = run(main)
    assert one["count"] == 1
    sample = one["containers"][0]
    assert sample["name"] == busy.name and sample["state"] == "running"
    assert isinstance(sample["cpu_percent"], float) and sample["pids"] >= 1
    assert sample["memory_bytes"] >= 0 and sample["memory_limit_bytes"] > 0
    assert {busy.name, quiet.name} <= {c["name"] for c in every["containers"]}
    assert halted.name not in {c["name"] for c in every["containers"]}
    assert stopped["containers"][0]["state"] == "created" and stopped["containers"][0]["cpu_percent"] is None
    assert "not_found:" in missing


def self_check(env: dict) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, str(SERVER_DIR / "server.py"), "--check"], capture_output=True,
                          text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    return proc.returncode, json.loads(proc.stdout)


def test_the_self_check_says_which_daemon_is_unreachable_and_what_to_do(home, tmp_path):
    host = f"unix://{tmp_path}/no-such.sock"
    code, report = self_check(server_env(home, host))
    assert code == 1 and report["ok"] is False and report["docker_host"] == host
    assert report["problems"][0].startswith(f"cannot reach the Docker daemon at DOCKER_HOST={host}: ")
    assert report["hint"].startswith("start the daemon, or point DOCKER_HOST at it")
    env = server_env(home, host)
    del env["DOCKER_HOST"]
    code, report = self_check(env)
    assert code == 1 and "DOCKER_HOST (unset, so the default unix:///var/run/docker.sock)" in report["problems"][0] \
        or code == 0  # a machine with a daemon on the default socket


def test_the_self_check_passes_against_a_running_daemon(home, engine):
    code, report = self_check(server_env(home, engine.host))
    assert (code, report["ok"], report["problems"]) == (0, True, [])
    assert report["docker_host"] == engine.host and report["server_version"]
