"""status's quick stdio check (claudex_mcp.runtime.quick_probe): the same report as the SDK's session on
a real server, and each way a server can go wrong, told apart; scripted servers speak raw
JSON-RPC, so that a malformed answer can be sent on purpose."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from conftest import ECHO_SERVER, add_server, manifest
from claudex_mcp import versions
from claudex_mcp.runtime import sdk_probe, quick_probe
from claudex_mcp.store import registry as registry_mod

# A stdio server that answers by a script: ANSWERS maps a method to the JSON it answers with
# (a "result" or an "error" object), or to a list of them, one per call (pages). Before the
# answer to a method in ASK_FIRST it sends the client a ping request and a notification, and
# notes the client's answer to that ping in the file NOTES.
SCRIPTED = r'''
import json, os, sys
answers = json.loads(os.environ["ANSWERS"])
ask_first = set(json.loads(os.environ.get("ASK_FIRST", "[]")))
calls = {}
for raw in sys.stdin:
    message = json.loads(raw)
    method = message.get("method")
    if method is None:  # the client's answer to our ping
        with open(os.environ["NOTES"], "a") as notes:
            notes.write(json.dumps(message) + "\n")
        continue
    if "id" not in message:
        continue
    if method in ask_first:
        print(json.dumps({"jsonrpc": "2.0", "id": "s1", "method": "ping"}), flush=True)
        print(json.dumps({"jsonrpc": "2.0", "method": "notifications/message",
                          "params": {"level": "info", "data": "hi"}}), flush=True)
        ask_first.discard(method)
    answer = answers.get(method, {"error": {"code": -32601, "message": "no " + method}})
    if isinstance(answer, list):
        answer = answer[min(calls.get(method, 0), len(answer) - 1)]
    calls[method] = calls.get(method, 0) + 1
    if answer == "exit":
        sys.exit(4)
    if answer == "silence":
        continue
    if answer == "garbage":
        print("Listening on stdio...", flush=True)
        continue
    print(json.dumps({"jsonrpc": "2.0", "id": message["id"], **answer}), flush=True)
'''

INIT = {"result": {"protocolVersion": "2025-06-18", "serverInfo": {"name": "scripted", "version": "0.1"},
                   "capabilities": {"tools": {}}}}
TOOL = {"name": "t", "description": " Does t. ", "inputSchema": {"type": "object"}}


def scripted(tmp_path, answers: dict, ask_first=(), **probe) -> dict:
    server = tmp_path / "scripted.py"
    server.write_text(SCRIPTED)
    env = dict(os.environ, ANSWERS=json.dumps({"initialize": INIT, "tools/list": {"result": {"tools": [TOOL]}},
                                               "ping": {"result": {}}, **answers}),
               ASK_FIRST=json.dumps(list(ask_first)), NOTES=str(tmp_path / "notes"))
    return quick_probe.probe([sys.executable, str(server)], env, str(tmp_path), **{"timeout": 10, **probe})


def test_the_handshake_versions_are_the_sdks():
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

    assert versions.MCP_PROTOCOL_REVISIONS == HANDSHAKE_PROTOCOL_VERSIONS


def test_the_quick_report_is_the_sdk_sessions_report(tmp_path):
    argv, env = [sys.executable, str(ECHO_SERVER)], dict(os.environ)
    quick = quick_probe.probe(argv, env, str(tmp_path), 30, ["tools", "prompts", "resources"])
    sdk = sdk_probe.probe(argv, env, str(tmp_path), 30, ["tools", "prompts", "resources"])
    assert quick.pop("latencyMs") > 0 and sdk.pop("latencyMs") > 0
    assert quick == sdk
    assert quick["tools"] == ["add", "echo"] and quick["prompts"] == ["greet"] and quick["resources"] == ["echo://info"]
    assert quick["server"] == "echo" and quick["toolDescriptions"]["echo"]


def test_pages_requests_and_notifications_from_the_server(tmp_path):
    pages = [{"result": {"tools": [TOOL], "nextCursor": "2"}},
             {"result": {"tools": [dict(TOOL, name="u", description=7)]}}]
    report = scripted(tmp_path, {"tools/list": pages}, ask_first=["tools/list"])
    assert report["tools"] == ["t", "u"]
    assert report["toolDescriptions"] == {"t": "Does t.", "u": ""}  # a description that is not text: none
    assert report["server"] == "scripted" and report["protocolVersion"] == "2025-06-18"
    answer = json.loads((tmp_path / "notes").read_text())
    assert answer == {"jsonrpc": "2.0", "id": "s1", "result": {}}  # the server's ping was answered


@pytest.mark.parametrize("answers,declared,code,words", [
    ({"initialize": {"error": {"code": -32000, "message": "no config file"}}}, (), "failed",
     "answered initialize with an error: no config file"),
    ({"initialize": {"result": dict(INIT["result"], protocolVersion="1999-01-01")}}, (), "failed",
     "protocol version '1999-01-01'"),
    ({"initialize": {"result": {"protocolVersion": "2025-06-18"}}}, (), "not_mcp", "no capabilities or serverInfo"),
    ({"tools/list": {"result": {"tools": [{"name": "t"}]}}}, (), "not_mcp", "an item without name or inputSchema"),
    ({"tools/list": {"result": []}}, (), "not_mcp", "a result that is not an object"),
    ({"tools/list": [{"result": {"tools": [], "nextCursor": "again"}}]}, (), "not_mcp", "more than 100 pages"),
    ({"tools/list": "garbage"}, (), "not_mcp", "not MCP: Listening on stdio..."),
    ({"tools/list": "exit"}, (), "crashed", "exited before completing"),
    ({"tools/list": "silence"}, (), "timeout", "within 2 s"),
    ({}, ("tools", "prompts"), "capability", "declares: prompts"),
    ({"tools/list": {"result": {"tools": [dict(TOOL, inputSchema={"type": 7})]}}}, (), "schema", "t: 7 is not valid"),
])
def test_each_way_to_fail_is_told_apart(tmp_path, answers, declared, code, words):
    with pytest.raises(sdk_probe.ProbeFailure) as caught:
        scripted(tmp_path, answers, timeout=2, declared=list(declared))
    assert caught.value.code == code and words in caught.value.message, caught.value.message


def test_a_command_that_cannot_start(tmp_path):
    with pytest.raises(sdk_probe.ProbeFailure) as caught:
        quick_probe.probe([str(tmp_path / "nothing-here")], dict(os.environ), str(tmp_path), 5, label="ghost")
    assert caught.value.code == "command_not_found" and "ghost could not be started" in caught.value.message


def _marked(value: str) -> list[int]:
    wanted = f"CLAUDEX_TEST_MARK={value}".encode()
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if wanted in fh.read().split(b"\0"):
                    with open(f"/proc/{entry}/stat") as st:
                        if st.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                            found.append(int(entry))
        except OSError:
            continue
    return found


ESCAPING = """
import os, runpy, subprocess, sys
subprocess.Popen(["sleep", "300"], start_new_session=True)  # leaves the server's process group
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def test_nothing_is_left_behind_even_what_left_the_group(tmp_path):
    mark = uuid.uuid4().hex
    server = tmp_path / "escaping.py"
    server.write_text(ESCAPING)
    env = dict(os.environ, CLAUDEX_TEST_MARK=mark)
    report = quick_probe.probe([sys.executable, str(server), str(ECHO_SERVER)], env, str(tmp_path), 30)
    assert report["tools"] == ["add", "echo"]
    assert _marked(mark) == [] and quick_probe._RUNNING == {}


def test_ctrl_c_in_status_ends_every_server_at_once(sandbox):
    """Two servers that never answer, each with 60 s to do so: Ctrl-C ends status in a moment,
    exit 130, with nothing it started left running."""
    mark = uuid.uuid4().hex
    registry_mod.init(sandbox.registry)
    for name in ("hang1", "hang2"):
        doc = dict(manifest(name, command=sys.executable), healthCheck={"timeout": 60})
        add_server(sandbox.registry, name, doc=doc, files={"server.py": "import time\ntime.sleep(120)\n"})
    from conftest import ROOT

    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "status", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(sandbox.env, CLAUDEX_TEST_MARK=mark))
    try:
        deadline = time.monotonic() + 30
        while len(_marked(mark)) < 3 and time.monotonic() < deadline:  # status and both servers
            time.sleep(0.05)
        assert len(_marked(mark)) >= 3, proc.poll() is not None and proc.communicate()
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        assert time.monotonic() - interrupted < 10
        assert b"Traceback" not in err
        assert _marked(mark) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
