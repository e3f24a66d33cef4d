"""The codequery server through real MCP stdio sessions (the official SDK's client), installed
with `claudex mcp install` and reached with `claudex mcp run` as a client does (codequery is
shared: through a claudex gateway of the test's own): index a small repository, search by meaning,
change and delete files, apply diffs, refuse hostile input, two agents in two folders on one
process, a process of its own told of the conflict, and embeddings in the background seen by
another agent. cq_chat runs from the dev venv, where claudex_llm is."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest

from claudex_testing.embeddings import FakeEmbeddings
from conftest import CLAUDEX, SERVER_DIR, claudex, installed_env, run_installed, server_env, start, write_tree

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def symbols(found: dict) -> list:
    return [(r["path"], r["symbol"]) for r in found["results"]]


async def test_index_search_change_delete_and_edit_through_mcp(gw, home, sample, tmp_path):
    async with run_installed(gw, home, sample) as s:
        tools = {t.name: t for t in await s.list_tools()}
        assert sorted(tools) == ["cq_apply_diff", "cq_chat", "cq_embed", "cq_search", "cq_stats"]
        assert tools["cq_search"].annotations.read_only_hint is True
        assert tools["cq_apply_diff"].annotations.destructive_hint is True
        assert "cq_embed" in await s.error_text("cq_search", {"query": "anything"})

        progress = []

        async def on_progress(done, total, message):
            progress.append((done, total, message))

        indexed = await s.call_data("cq_embed", {"wait": True}, progress_callback=on_progress)
        assert indexed["files"]["added"] == 6 and indexed["chunks"]["total"] > 8
        assert progress and progress[-1][0] == progress[-1][1] == indexed["chunks"]["added"]
        assert indexed["dense"]["complete"] is True

        found = await s.call_data("cq_search", {"query": "where do we retry HTTP requests?", "limit": 3})
        assert symbols(found)[0] == ("src/net/http_client.py", "fetch_with_retry")
        hit = found["results"][0]
        assert hit["start_line"] == 6 and hit["end_line"] == 14 and "requests.get" in hit["snippet"]
        assert symbols(await s.call_data("cq_search", {"query": "getUserName", "mode": "lexical", "limit": 1})) == [
            ("src/users/store.py", "UserStore.getUserName")]

        # Change a file: flagged stale until re-indexed; then the old chunk is gone.
        store = sample / "src/users/store.py"
        store.write_text(store.read_text().replace("delete_user", "erase_customer"))
        assert (await s.call_data("cq_search", {"query": "delete user", "mode": "lexical"}))["results"][0]["stale"]
        again = await s.call_data("cq_embed", {"wait": True})
        assert again["files"]["updated"] == 1 and again["chunks"]["removed"] == 1
        names = [n for _p, n in symbols(await s.call_data("cq_search", {"query": "delete user erase customer",
                                                                   "limit": 50}))]
        assert "UserStore.erase_customer" in names and "UserStore.delete_user" not in names

        (sample / "web/stats.js").unlink()
        assert (await s.call_data("cq_embed", {"wait": True}))["files"]["removed"] == 1
        found = await s.call_data("cq_search", {"query": "compute the average", "limit": 50})
        assert "web/stats.js" not in {p for p, _ in symbols(found)}

        # A diff: dry run changes nothing, then applied and re-indexed.
        diff = ("--- a/src/net/http_client.py\n+++ b/src/net/http_client.py\n@@ -13,2 +13,6 @@\n"
                "             time.sleep(backoff * 2 ** attempt)\n"
                '     raise RuntimeError(f"{url}: gave up after {attempts} attempts")\n'
                "+\n+\n+def parse_rfc822_date(text):\n+    return email.utils.parsedate_to_datetime(text)\n")
        before = (sample / "src/net/http_client.py").read_text()
        dry = await s.call_data("cq_apply_diff", {"diff": diff})
        assert dry["ok"] and not dry["applied"] and (sample / "src/net/http_client.py").read_text() == before
        done = await s.call_data("cq_apply_diff", {"diff": diff, "dry_run": False})
        assert done["applied"] and done["reindex"]["files"]["updated"] == 1
        assert "parse_rfc822_date" in (sample / "src/net/http_client.py").read_text()
        found = await s.call_data("cq_search", {"query": "parse a date", "limit": 1})
        assert symbols(found) == [("src/net/http_client.py", "parse_rfc822_date")]

        # Hostile diffs: a clear error each, nothing written anywhere.
        outside = tmp_path / "outside"
        outside.mkdir()
        os.symlink(outside, sample / "out")
        snapshot = {p: p.read_bytes() for p in sample.rglob("*") if p.is_file()}
        for target, message in (("../x", "'..' is refused"), ("/etc/passwd", "absolute paths"),
                                ("out/evil.py", "symlink leads outside"), (".git/hooks/pre-commit", ".git")):
            text = await s.error_text("cq_apply_diff", {"diff": f"--- /dev/null\n+++ b/{target}\n@@ -0,0 +1 @@\n+x\n",
                                                   "dry_run": False})
            assert message in text and "invalid_input:" in text, text
        mismatch = ("--- a/src/users/store.py\n+++ b/src/users/store.py\n@@ -1,2 +1,2 @@\n"
                    "-class Account:\n+class Customer:\n     def __init__(self, db):\n")
        result = await s.call_data("cq_apply_diff", {"diff": mismatch, "dry_run": False})
        assert not result["ok"] and not result["applied"] and "do not match" in result["files"][0]["hunks"][0]["reason"]
        assert {p: p.read_bytes() for p in sample.rglob("*") if p.is_file()} == snapshot
        assert not any(outside.iterdir()) and not (tmp_path / "x").exists()

        # Bad input everywhere else.
        assert "outside the folders" in await s.error_text("cq_embed", {"path": str(tmp_path)})
        assert "does not exist" in await s.error_text("cq_embed", {"path": "missing"})
        assert "query is empty" in await s.error_text("cq_search", {"query": "  "})
        assert "limit" in await s.error_text("cq_search", {"query": "x", "limit": 10 ** 6})

        stats = await s.call_data("cq_stats")
        import claudex_embeddings

        assert stats["files"] == 5 and stats["embedding_model"] == claudex_embeddings.DEFAULT_MODEL
        assert stats["changed_since"]["added"] == 0 and stats["vector_store"] == "embedded"


async def test_a_diff_never_writes_what_configures_agents_or_claudex(gw, home, sample):
    """A diff that would set a server's args in the project's .claudex/mcp.json (code that runs
    at that server's next start), or write another agent's config, is refused whole."""
    (sample / ".claudex").mkdir()
    (sample / ".claudex" / "mcp.json").write_text('{"servers": {}}\n')
    fine = ("--- a/docs/guide.md\n+++ b/docs/guide.md\n@@ -1 +1 @@\n-# Guide\n+# The guide\n")
    hijack = ("--- a/.claudex/mcp.json\n+++ b/.claudex/mcp.json\n@@ -1 +1 @@\n-{\"servers\": {}}\n"
              '+{"servers": {"qdrant": {"command": "sh", "args": ["-c", "touch PWNED"]}}}\n')
    before = {p: p.read_bytes() for p in sample.rglob("*") if p.is_file()}
    async with run_installed(gw, home, sample) as s:
        text = await s.error_text("cq_apply_diff", {"diff": fine + hijack, "dry_run": False})
        assert ".claudex/mcp.json: writing into .claudex is refused" in text and "nothing was written" in text
        for rel in ("sub/.mcp.json", ".Claude/settings.json", "CLAUDE.md", ".vscode/tasks.json"):
            text = await s.error_text("cq_apply_diff", {"diff": f"{fine}--- /dev/null\n+++ b/{rel}\n@@ -0,0 +1 @@\n+{{}}\n",
                                                   "dry_run": False})
            assert f"{rel}: writing into" in text, text
        assert {p: p.read_bytes() for p in sample.rglob("*") if p.is_file()} == before
        assert (await s.call_data("cq_apply_diff", {"diff": fine}))["ok"]   # the session goes on


async def test_a_lone_surrogate_is_a_tool_error_and_the_session_goes_on(gw, home, sample):
    """JSON may carry "\\ud800"; Unicode text may not. The SDK cannot even send it, so this client
    speaks JSON-RPC itself, to the server as `claudex mcp run` reaches it: through the bridge and
    the gateway, which pass the escape on as it came."""
    import json
    import queue
    import subprocess
    import threading

    env = installed_env(gw, home, sample)
    proc = subprocess.Popen([str(CLAUDEX), "mcp", "run", "codequery"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, cwd=str(sample))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(json.loads(line)) for line in proc.stdout], daemon=True).start()

    def ask(id_, method, params):
        proc.stdin.write((json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params}) + "\n").encode())
        proc.stdin.flush()
        answer = lines.get(timeout=120)   # no answer at all was the bug: the client waited forever
        assert answer["id"] == id_, answer
        return answer

    try:
        ask(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}})
        proc.stdin.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
        diff = "--- a/docs/guide.md\n+++ b/docs/guide.md\n@@ -1 +1 @@\n-# Guide\n+# \ud800\n"
        bad = ask(2, "tools/call", {"name": "cq_apply_diff", "arguments": {"diff": diff, "dry_run": False}})
        assert bad["result"]["isError"] is True
        assert "lone surrogate in /params/arguments/diff" in bad["result"]["content"][0]["text"]
        good = ask(3, "tools/call", {"name": "cq_apply_diff", "arguments": {"diff": diff.replace("\ud800", "Guide!")}})
        assert good["result"].get("isError") is not True and good["result"]["structuredContent"]["ok"] is True
        assert (sample / "docs" / "guide.md").read_text().startswith("# Guide\n")
        assert len(gw.server_pids("codequery")) == 1  # the gateway's process answered
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_chat_without_a_provider_names_the_variable_and_returns_the_context(home, sample):
    async with start(home, sample) as s:
        await s.call_data("cq_embed", {})
        result = await s.call("cq_chat", {"question": "How are HTTP requests retried?"})
        assert result.is_error
        text = "\n".join(c.text for c in result.content)
        assert "OPENAI_API_KEY" in text or "ANTHROPIC_API_KEY" in text or "claudex_llm" in text, text
        assert "src/net/http_client.py" in text and "requests.get" in text  # the retrieved code is still there


async def test_two_agents_in_two_folders_share_one_process_each_with_its_own_index(gw, home, sample, tmp_path):
    """As users get it: two agents, each `claudex mcp run codequery` in its own project, reach one
    process through the gateway, which tells it each agent's folder; each folder has its own
    index and root, and neither agent sees the other's code."""
    other = tmp_path / "other"
    write_tree(other, {"lib/billing.py": "def refund_invoice(invoice):\n    return invoice.total\n"})
    async with run_installed(gw, home, sample) as mine, run_installed(gw, home, other) as theirs:
        results = {}

        async def work(name, s):
            results[name] = await s.call_data("cq_embed", {"wait": True})

        async with anyio.create_task_group() as group:
            group.start_soon(work, "mine", mine)
            group.start_soon(work, "theirs", theirs)
        assert results["mine"]["root"] == str(sample) and results["theirs"]["root"] == str(other)
        assert results["mine"]["files"]["total"] == 6 and results["theirs"]["files"]["total"] == 1
        assert symbols(await mine.call_data("cq_search", {"query": "retry HTTP requests", "limit": 1})) == [
            ("src/net/http_client.py", "fetch_with_retry")]
        assert symbols(await theirs.call_data("cq_search", {"query": "give money back", "limit": 1})) == [
            ("lib/billing.py", "refund_invoice")]
        found = await theirs.call_data("cq_search", {"query": "retry HTTP requests", "limit": 50})
        assert {path for path, _ in symbols(found)} == {"lib/billing.py"}  # never the other folder's code
        assert (await theirs.call_data("cq_stats"))["files"] == 1 and (await mine.call_data("cq_stats"))["files"] == 6
        assert "outside the folders" in await theirs.error_text("cq_embed", {"path": str(sample)})
        (server,) = gw.status()["servers"]
        assert server["name"] == "codequery" and server["pid"] and server["restarts"] == 0
        assert sorted(s["folder"] for s in server["sessions"]) == sorted([str(sample), str(other)])


async def test_a_second_process_on_the_same_index_is_told(home, sample):
    """The server alone: the process that indexed owns the embedded vector store of the folder's
    index (the gateway's, when shared); another process on the same index (one started outside
    the gateway) gets a conflict that names the gateway, never a traceback, and its searches by
    name and words still work (SQLite: any process)."""
    async with start(home, sample) as first:
        await first.call_data("cq_embed", {"wait": True})
        async with start(home, sample) as second:
            text = await second.error_text("cq_search", {"query": "retry", "mode": "semantic"})
            assert "conflict: the embedded Qdrant store" in text and "gateway" in text and "Traceback" not in text
            lexical = await second.call_data("cq_search", {"query": "retry", "mode": "lexical", "limit": 1})
            assert symbols(lexical) == [("src/net/http_client.py", "fetch_with_retry")]
            hybrid = await second.call_data("cq_search", {"query": "retry", "limit": 1})
            assert symbols(hybrid) == symbols(lexical) and "found by name and words only" in hybrid["dense"]["note"]
        assert symbols(await first.call_data("cq_search", {"query": "retry", "mode": "semantic", "limit": 1})) == [
            ("src/net/http_client.py", "fetch_with_retry")]


async def test_stats_of_another_session_show_the_embeddings_in_progress(gw, home, project):
    """One agent indexes: cq_embed returns once the index is searchable, the embeddings go on in
    the background (held after the first batch here). Another agent's session on the same
    project, and `claudex mcp call codequery cq_stats` (a person's), both through the gateway to
    the one process, show how far they are, and a lexical search there already answers; once
    released, wait: true returns with every chunk embedded."""
    import json

    import cq_index

    write_tree(project, {f"pkg/mod{i:03d}.py": f"def handler_{i}(value):\n    return value + {i}\n" for i in range(100)})
    gate = FakeEmbeddings(hold_after=1)   # the first batch at once, the others held until release()
    cli_env = installed_env(gw, home, project)

    def cli(*argv):
        return claudex(cli_env, "call", "codequery", *argv, "--json", timeout=120, cwd=project)

    try:
        # The first session's environment is the shared process's: the held embeddings endpoint.
        async with run_installed(gw, home, project, **gate.env) as indexer:
            first = await indexer.call_data("cq_embed", {})
            assert first["files"]["added"] == 100 and first["dense"]["complete"] is False
            assert await anyio.to_thread.run_sync(gate.held.wait, 120), "the embeddings never reached their second batch"
            proc = await anyio.to_thread.run_sync(cli, "cq_stats")
            assert proc.returncode == 0, proc.stderr
            stats = json.loads(proc.stdout)["structuredContent"]
            assert (stats["indexed"], stats["files"]) == (True, 100)
            assert stats["dense"]["done"] == cq_index.EMBED_BATCH and stats["dense"]["total"] == first["chunks"]["total"] >= 100
            assert stats["dense"]["complete"] is False and stats["dense"]["running"] is True
            async with run_installed(gw, home, project) as other:
                theirs = await other.call_data("cq_stats")
            assert theirs["dense"]["running"] is True and theirs["dense"]["done"] == cq_index.EMBED_BATCH
            search = await anyio.to_thread.run_sync(cli, "cq_search", "--args", '{"query": "handler_7", "mode": "lexical"}')
            assert search.returncode == 0, search.stderr
            assert json.loads(search.stdout)["structuredContent"]["results"][0]["symbol"] == "handler_7"
            assert len(gw.server_pids("codequery")) == 1
            gate.release()
            done = await indexer.call_data("cq_embed", {"wait": True})
            assert done["dense"]["complete"] is True and done["dense"]["done"] == done["chunks"]["total"]
        proc = await anyio.to_thread.run_sync(cli, "cq_stats")
        stats = json.loads(proc.stdout)["structuredContent"]
        assert (stats["indexed"], stats["files"], "indexing" in stats, stats["dense"]["complete"]) == (True, 100, False, True)
        folder = Path(stats["index_path"])
        assert not (folder / "indexing.json").exists()
        # What a run killed half-way leaves: its progress file, but no one holds the lock.
        (folder / "indexing.json").write_text(json.dumps({"phase": "scanning", "root": str(project)}))
        stats = json.loads((await anyio.to_thread.run_sync(cli, "cq_stats")).stdout)["structuredContent"]
        assert (stats["indexed"], "indexing" in stats) == (True, False)
        (server,) = gw.status()["servers"]
        assert server["restarts"] == 0 and server["calls"] >= 7  # every call above went to that one process
    finally:
        gate.close()


async def test_chat_answers_from_the_retrieved_code_with_citations(home, sample):
    """cq_chat through claudex_llm against its local OpenAI-compatible stand-in (real wire format)."""
    import json

    fake_api = pytest.importorskip("claudex_llm.fake_api")
    with fake_api.FakeAPI("openai") as api:
        api.script(fake_api.Plan(text="Failed requests are retried with backoff in fetch_with_retry "
                                      "(src/net/http_client.py:6-14)."))
        async with start(home, sample, **api.env()) as s:
            await s.call_data("cq_embed", {})
            answer = await s.call_data("cq_chat", {"question": "How are failed HTTP requests retried?", "limit": 3})
        sent = json.dumps(api.chat_requests()[0].body)
    assert "src/net/http_client.py:6-14" in answer["answer"] and answer["provider"] == "openai"
    assert answer["sources"][0]["path"] == "src/net/http_client.py"
    # The model was given the excerpts with their locations, and told to cite them.
    assert "src/net/http_client.py:6-14" in sent and "path:line" in sent and "requests.get" in sent


def self_check(env: dict) -> tuple[int, dict]:
    import json
    import subprocess

    proc = subprocess.run([sys.executable, str(SERVER_DIR / "server.py"), "--check"], capture_output=True,
                          text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    return proc.returncode, json.loads(proc.stdout)


def test_the_self_check_names_the_missing_provider_key_and_an_unreachable_qdrant(home, tmp_path):
    import socket

    project = tmp_path / "checked"
    project.mkdir()
    code, report = self_check(server_env(home, project))
    assert code == 1 and report["ok"] is False
    assert report["problems"] == ["cq_chat cannot answer with openai/gpt-4o-mini: The openai provider has no key: "
                                  "OPENAI_API_KEY is not set."]
    assert "Set OPENAI_API_KEY" in report["hint"]
    code, report = self_check(server_env(home, project, ANTHROPIC_API_KEY="sk-test"))
    assert (code, report["ok"], report["problems"], report["chat_model"]) == (0, True, [], "anthropic/claude-haiku-4-5")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    code, report = self_check(server_env(home, project, OPENAI_API_KEY="sk-test", QDRANT_URL=url))
    assert code == 1 and report["store"] == "server"
    assert report["problems"] == [f"the Qdrant server at QDRANT_URL={url} is not reachable: [Errno 111] Connection refused"]
    assert "unset QDRANT_URL" in report["hint"]
