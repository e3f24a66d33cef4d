"""The policy, the output caps, `since` and the stats arithmetic, in process (no daemon)."""

from __future__ import annotations

import pytest

import docker_ops
from docker_ops import Capped, DockerMgmtError, Policy, parse_since, summarize_stats


def refusal(fn, *args) -> str:
    with pytest.raises(DockerMgmtError) as info:
        fn(*args)
    assert info.value.code == "refused"
    return str(info.value)


def test_the_default_policy_allows_only_the_claudex_label_and_no_exec():
    policy = Policy.from_env({})
    assert policy.allows("web", {"claudex.managed": "true"})
    assert not policy.allows("web", {"claudex.managed": "false"}) and not policy.allows("web", {})
    message = refusal(policy.check_container, "docker_stop", "web", {})
    assert "DOCKER_MGMT_ALLOW_LABELS='claudex.managed=true'" in message and "DOCKER_MGMT_ALLOW_NAMES" in message
    assert "exec is off" in refusal(policy.check_exec, "web", {"claudex.managed": "true"}, ["id"], None, "root")
    assert Policy.from_env({"DOCKER_MGMT_ALLOW_LABELS": ""}).allow_labels == ()
    assert "docker_ops" not in repr(policy.describe()) and policy.describe()["exec_enabled"] is False


def test_names_patterns_and_labels():
    policy = Policy.from_env({"DOCKER_MGMT_ALLOW_NAMES": "web, db", "DOCKER_MGMT_ALLOW_PATTERNS": "dev-*,ci-?",
                              "DOCKER_MGMT_ALLOW_LABELS": "team=a,sandbox"})
    assert policy.allows("web", {}) and policy.allows("db", {}) and not policy.allows("webx", {})
    assert policy.allows("dev-api", {}) and policy.allows("ci-1", {}) and not policy.allows("ci-12", {})
    assert policy.allows("x", {"team": "a"}) and not policy.allows("x", {"team": "b"})
    assert policy.allows("x", {"sandbox": ""}) and not policy.allows("x", {"claudex.managed": "true"})
    assert Policy.from_env({"DOCKER_MGMT_ALLOW_PATTERNS": "*"}).allows("anything", None)


@pytest.mark.parametrize("env, message", [
    ({"DOCKER_MGMT_EXEC": "perhaps"}, "DOCKER_MGMT_EXEC='perhaps' is not a switch"),
    ({"DOCKER_MGMT_EXEC_SHELL": "2"}, "DOCKER_MGMT_EXEC_SHELL='2'"),
    ({"DOCKER_MGMT_MAX_OUTPUT": "10"}, "DOCKER_MGMT_MAX_OUTPUT='10'"),
    ({"DOCKER_MGMT_MAX_OUTPUT": "lots"}, "DOCKER_MGMT_MAX_OUTPUT='lots'"),
    ({"DOCKER_MGMT_ALLOW_LABELS": "=x"}, "DOCKER_MGMT_ALLOW_LABELS"),
])
def test_malformed_settings_name_themselves(env, message):
    with pytest.raises(DockerMgmtError) as info:
        Policy.from_env(env)
    assert info.value.code == "invalid_input" and message in str(info.value)


def test_exec_checks_programs_shells_and_users():
    managed = {"claudex.managed": "true"}
    on = Policy.from_env({"DOCKER_MGMT_EXEC": "on"})
    on.check_exec("c", managed, ["ls", "-l"], None, "root")
    for argv in (["sh", "-c", "x"], ["/bin/bash"], ["busybox", "sh"], ["env", "A=1", "-i", "dash"],
                 ["timeout", "5", "/usr/bin/zsh"], ["nice", "-n", "5", "ash"], ["env", "-u", "X", "busybox", "sh"], ["xargs", "sh"],
                 ["sudo", "id"], ["/sbin/su-exec", "app", "id"]):
        assert "DOCKER_MGMT_EXEC_SHELL=on" in refusal(on.check_exec, "c", managed, argv, None, "root"), argv
    for argv in (["grep", "sh", "f"], ["env"], ["busybox", "ls", "sh"], ["env", "busybox", "ls"], ["shasum"]):
        on.check_exec("c", managed, argv, None, "root")
    assert "DOCKER_MGMT_EXEC_USERS" in refusal(on.check_exec, "c", managed, ["id"], "app", "root")
    assert "DOCKER_MGMT_ALLOW_NAMES" in refusal(on.check_exec, "c", {}, ["id"], None, "root")
    with pytest.raises(DockerMgmtError, match="argv list"):
        on.check_exec("c", managed, [""], None, "root")

    strict = Policy.from_env({"DOCKER_MGMT_EXEC": "1", "DOCKER_MGMT_EXEC_PROGRAMS": "ls,/bin/cat,sh",
                              "DOCKER_MGMT_EXEC_SHELL": "yes", "DOCKER_MGMT_EXEC_USERS": "app,1000:1000"})
    strict.check_exec("c", managed, ["sh", "-c", "ls | wc"], "app", "root")
    strict.check_exec("c", managed, ["ls"], None, "1000")
    strict.check_exec("c", managed, ["/bin/cat", "f"], "1000:50", "root")
    assert "DOCKER_MGMT_EXEC_PROGRAMS='ls,/bin/cat,sh'" in refusal(strict.check_exec, "c", managed, ["cat"], "app", "root")
    assert "default user 'root'" in refusal(strict.check_exec, "c", managed, ["ls"], None, "")
    assert "user '0'" in refusal(strict.check_exec, "c", managed, ["ls"], "0", "app")


def test_capped_keeps_the_end_or_both_ends_and_says_what_it_dropped():
    tail = Capped(1024, "tail")
    for i in range(1000):
        tail.add(f"line {i}\n".encode())
    text = tail.text("narrow it")
    assert tail.truncated and text.startswith("[... truncated: ") and "narrow it" in text.splitlines()[0]
    assert text.endswith("line 999\n") and text.splitlines()[1].startswith("line ")
    assert len(text.encode()) <= 1024 + 100

    both = Capped(1024, "both")
    both.add(b"".join(f"{i}\n".encode() for i in range(2000)))
    text = both.text("x")
    assert text.startswith("0\n1\n2\n") and text.endswith("1998\n1999\n") and "[... truncated: " in text

    small = Capped(1024, "both")
    small.add(b"hello ")
    small.add(b"world")
    assert not small.truncated and small.text("x") == "hello world" and small.total == 11


def test_parse_since():
    now = 1_700_000_000.0
    assert parse_since("90s", now) == now - 90
    assert parse_since("1h30m", now) == now - 5400
    assert parse_since("2d", now) == now - 172800
    assert parse_since("1700000000", now) == 1_700_000_000.0
    assert parse_since("2023-11-14T22:13:20Z", now) == 1_700_000_000.0
    assert parse_since("2023-11-14T22:13:20", now) == 1_700_000_000.0
    assert parse_since(None) is None and parse_since(" ") is None
    with pytest.raises(DockerMgmtError, match="since='soon'"):
        parse_since("soon")


def test_stats_arithmetic_for_cgroup_v1_and_v2():
    v1 = {"cpu_stats": {"cpu_usage": {"total_usage": 300, "percpu_usage": [1, 1]}, "system_cpu_usage": 2000},
          "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
          "memory_stats": {"usage": 1000, "limit": 4000, "stats": {"total_inactive_file": 200}},
          "networks": {"eth0": {"rx_bytes": 5, "tx_bytes": 6}, "eth1": {"rx_bytes": 1, "tx_bytes": 1}},
          "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 7}, {"op": "Write", "value": 8}]},
          "pids_stats": {"current": 3}}
    assert summarize_stats(v1) == {"cpu_percent": 40.0, "memory_bytes": 800, "memory_limit_bytes": 4000,
                                   "memory_percent": 20.0, "net_rx_bytes": 6, "net_tx_bytes": 7,
                                   "block_read_bytes": 7, "block_write_bytes": 8, "pids": 3}
    v2 = {"cpu_stats": {"cpu_usage": {"total_usage": 50}, "system_cpu_usage": 1000, "online_cpus": 4},
          "precpu_stats": {"cpu_usage": {"total_usage": 50}, "system_cpu_usage": 500},
          "memory_stats": {"usage": 100, "limit": 1000, "stats": {"inactive_file": 300}},
          "blkio_stats": {"io_service_bytes_recursive": None}}
    stats = summarize_stats(v2)
    assert stats["cpu_percent"] == 0.0 and stats["memory_bytes"] == 0 and stats["pids"] is None
    assert summarize_stats({})["cpu_percent"] is None


def test_an_unreachable_daemon_is_named_and_the_client_is_retried(tmp_path):
    engine = docker_ops.Docker(Policy(), {"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    for _ in range(2):
        with pytest.raises(DockerMgmtError) as info:
            engine.ps()
        assert info.value.code == "unavailable" and f"DOCKER_HOST=unix://{tmp_path}/none.sock" in str(info.value)
    default = docker_ops.Docker(Policy(), {"DOCKER_HOST": ""})
    assert "the default unix:///var/run/docker.sock" in docker_ops._host_description(default.environ)
