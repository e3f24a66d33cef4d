"""Drive the Codex CLI for the codex MCP server: settings, argv, the process and its JSONL
events, credentials, and Codex's own session files. Plain Python and anyio; never imports mcp."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import tomllib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from claudex_server.errors import ServerError

SANDBOX_MODES = ("read-only", "workspace-write", "danger-full-access")
APPROVAL_POLICIES = ("untrusted", "on-failure", "on-request", "never")
DEFAULT_TIMEOUT = 900.0
HEARTBEAT_SECONDS = 10.0
TERM_GRACE_SECONDS = 2.0
DRAIN_SECONDS = 2.0
STDERR_TAIL_LINES = 20
AGENT_FILES = ("AGENTS.md", "CLAUDE.md")
MAX_CONTEXT_BYTES = 64 * 1024
THREAD_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

INSTALL_HINT = ("Install it with `npm install -g @openai/codex`, or set CODEX_BIN to the path of "
                "the codex executable.")
LOGIN_HINT = ("Log in with `codex login` (or `printenv OPENAI_API_KEY | codex login --with-api-key`), "
              "or set OPENAI_API_KEY / CODEX_API_KEY for the server.")

# Lines Codex writes to stderr on every run that say nothing about a failure.
_STDERR_NOISE = ("Reading additional input from stdin...",)
_AUTH_FAILURE = re.compile(r"\b(401|403|unauthori[sz]ed|not logged in|invalid api key|"
                           r"incorrect api key|missing (an )?api key|authentication)\b", re.I)

# Process groups of Codex runs in flight, so a server that is told to stop can take them along.
_LIVE_GROUPS: set[int] = set()


class CodexError(ServerError):
    """A failure the caller should see as a tool error; the message says what happened and
    what to do, ``code`` its kind: invalid_input (a setting or an argument, the default),
    unavailable (no Codex CLI), not_configured (no credentials), timeout or failed (the run)."""

    code = "invalid_input"


# ---------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class Settings:
    """How to call Codex, from the environment (see README.md, "Environment")."""

    codex_bin: str = "codex"
    codex_home: Path = Path("~/.codex").expanduser()
    project_dir: Path = Path(".")
    sandbox: str = "read-only"
    approval: str = "never"
    timeout: float = DEFAULT_TIMEOUT
    model: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; raise CodexError for a value that cannot be right."""
        env = os.environ if env is None else env
        sandbox = env.get("CODEX_SANDBOX", "").strip() or "read-only"
        if sandbox not in SANDBOX_MODES:
            raise CodexError(f"CODEX_SANDBOX={sandbox!r} is not one of {', '.join(SANDBOX_MODES)}.")
        approval = env.get("CODEX_APPROVAL_POLICY", "").strip() or "never"
        if approval not in APPROVAL_POLICIES:
            raise CodexError(f"CODEX_APPROVAL_POLICY={approval!r} is not one of "
                             f"{', '.join(APPROVAL_POLICIES)}.")
        raw_timeout = env.get("CODEX_TIMEOUT", "").strip()
        try:
            timeout = float(raw_timeout) if raw_timeout else DEFAULT_TIMEOUT
        except ValueError:
            timeout = -1.0
        if not 0 < timeout < float("inf"):
            raise CodexError(f"CODEX_TIMEOUT={raw_timeout!r} is not a positive number of seconds.")
        home = env.get("HOME") or os.path.expanduser("~")
        codex_home = Path(env.get("CODEX_HOME") or Path(home, ".codex")).expanduser()
        return cls(codex_bin=env.get("CODEX_BIN", "").strip() or "codex", codex_home=codex_home,
                   project_dir=project_dir_from_env(env), sandbox=sandbox, approval=approval,
                   timeout=timeout, model=env.get("CODEX_MODEL", "").strip() or None)


def project_dir_from_env(env: Mapping[str, str], cwd: str | None = None) -> Path:
    """The project Codex works in: $CODEX_PROJECT_DIR, else $CLAUDEX_PROJECT_DIR, else $PWD
    (the client's directory: `claudex mcp run` changes to the server's folder but keeps PWD),
    else the current directory. The first that names an existing directory wins."""
    for name in ("CODEX_PROJECT_DIR", "CLAUDEX_PROJECT_DIR", "PWD"):
        value = env.get(name, "").strip()
        if value and os.path.isdir(os.path.expanduser(value)):
            return Path(os.path.expanduser(value)).resolve()
    return Path(cwd or os.getcwd()).resolve()


def find_codex(settings: Settings, env: Mapping[str, str] | None = None) -> str | None:
    """The codex executable (CODEX_BIN as a path, or looked up on PATH), or None."""
    env = os.environ if env is None else env
    name = os.path.expanduser(settings.codex_bin)
    if os.sep in name:
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    return shutil.which(name, path=env.get("PATH", os.defpath))


def read_config(codex_home: Path) -> dict:
    """Codex's config.toml as a dict; {} when it is missing or unreadable (Codex will say why)."""
    try:
        with open(codex_home / "config.toml", "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def credentials_problem(settings: Settings, env: Mapping[str, str] | None = None) -> str | None:
    """Why Codex has no credentials, or None when it seems to have some (without running it).

    A custom model provider needs the variable its env_key names; the built-in OpenAI provider
    needs auth.json (from `codex login`) or an API key in the environment. A login kept in the
    system keyring is invisible here: see `login_status`.
    """
    env = os.environ if env is None else env
    config = read_config(settings.codex_home)
    provider = config.get("model_provider", "openai")
    if provider != "openai":
        entry = (config.get("model_providers") or {}).get(provider)
        key = entry.get("env_key") if isinstance(entry, dict) else None
        if key and not env.get(key):
            return (f"Codex's model provider {provider!r} (in {settings.codex_home / 'config.toml'}) "
                    f"reads its API key from ${key}, which is not set for the server.")
        return None  # a provider without a key (ollama, lmstudio, a local gateway)
    if env.get("CODEX_API_KEY") or env.get("OPENAI_API_KEY"):
        return None
    if (settings.codex_home / "auth.json").is_file():
        return None
    return f"Codex is not logged in (no {settings.codex_home / 'auth.json'}, no API key). {LOGIN_HINT}"


def login_status(codex: str, settings: Settings, env: Mapping[str, str], timeout: float = 30) -> bool:
    """Whether `codex login status` says Codex is logged in (also sees a keyring login)."""
    try:
        proc = subprocess.run([codex, "login", "status"], stdin=subprocess.DEVNULL,
                              capture_output=True, cwd=settings.project_dir, env=dict(env),
                              timeout=timeout, start_new_session=True)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def codex_version(codex: str, env: Mapping[str, str], timeout: float = 30) -> str | None:
    """`codex --version` (e.g. "codex-cli 0.169.0"), or None when it does not run."""
    try:
        proc = subprocess.run([codex, "--version"], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, env=dict(env), timeout=timeout, start_new_session=True)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def check(env: Mapping[str, str] | None = None) -> dict:
    """The self-test behind `server.py --check`: settings, binary, version, credentials."""
    env = dict(os.environ if env is None else env)
    report: dict = {"ok": False, "problems": []}
    try:
        settings = Settings.from_env(env)
    except CodexError as exc:
        report["problems"].append(str(exc))
        return report
    report.update(codex_bin=settings.codex_bin, codex_home=str(settings.codex_home),
                  project_dir=str(settings.project_dir), sandbox=settings.sandbox,
                  approval_policy=settings.approval, timeout=settings.timeout)
    codex = find_codex(settings, env)
    report["codex"] = codex
    if codex is None:
        report["problems"].append(f"Codex CLI not found ({settings.codex_bin!r}). {INSTALL_HINT}")
        return report
    report["version"] = codex_version(codex, env)
    if report["version"] is None:
        report["problems"].append(f"{codex} --version failed: the Codex install looks broken. "
                                  f"{INSTALL_HINT}")
    problem = credentials_problem(settings, env)
    report["logged_in"] = problem is None or login_status(codex, settings, env)
    if not report["logged_in"]:
        report["problems"].append(problem)
    report["ok"] = not report["problems"]
    return report


# ---------------------------------------------------------------------------------------------
# argv and prompts


def exec_argv(codex: str, prompt: str, settings: Settings, *, thread_id: str | None = None,
              config: Iterable[tuple[str, str]] = ()) -> list[str]:
    """The argv of one non-interactive Codex turn: `codex exec [resume] --json ... -- [id] prompt`.

    Sandbox and approval go through `-c` because `exec resume` has no --sandbox flag; their
    values come from closed lists, so the TOML quoting is safe. The prompt (and the thread id)
    come after `--`, so a prompt that starts with a dash stays a prompt. `config` adds
    `-c key=value` pairs whose values are TOML literals.
    """
    argv = [codex, "exec"]
    if thread_id is not None:
        argv.append("resume")
    argv += ["--json", "--skip-git-repo-check",
             "-c", f'sandbox_mode="{settings.sandbox}"',
             "-c", f'approval_policy="{settings.approval}"']
    if settings.model:
        argv += ["--model", settings.model]
    for key, value in config:
        argv += ["-c", f"{key}={value}"]
    argv.append("--")
    if thread_id is not None:
        argv.append(thread_id)
    argv.append(prompt)
    return argv


def check_thread_id(thread_id: str) -> str:
    """The thread id, stripped; CodexError when it cannot be one (ids are UUIDs or names)."""
    thread_id = thread_id.strip()
    if not THREAD_ID_RE.match(thread_id):
        raise CodexError(f"thread_id {thread_id!r} is not a Codex thread id: pass the thread_id "
                         "a previous codex_* call returned, or one from codex_history.")
    return thread_id


def agent_instructions(project_dir: Path) -> tuple[str, str] | None:
    """(file name, text) of the project's agent instructions: AGENTS.md, else CLAUDE.md; the
    text is cut at MAX_CONTEXT_BYTES."""
    for name in AGENT_FILES:
        path = project_dir / name
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_CONTEXT_BYTES + 1)
        except OSError:
            continue
        text = data[:MAX_CONTEXT_BYTES].decode("utf-8", "replace")
        if len(data) > MAX_CONTEXT_BYTES:
            text += f"\n[... {name} cut at {MAX_CONTEXT_BYTES} bytes ...]"
        return name, text
    return None


def review_prompt(request: str, instructions: tuple[str, str] | None) -> str:
    """The prompt of codex_review: the request, with the project's instructions when given."""
    parts = ["You are reviewing work for another coding agent. Review the code or plan below "
             "critically: point out bugs, risks, missing cases and simpler alternatives, most "
             "important first, with file and line references where you can. Do not modify any "
             "files."]
    if instructions:
        name, text = instructions
        parts.append(f"The project's agent instructions ({name}):\n<{name}>\n{text}\n</{name}>")
    parts.append(f"What to review:\n{request}")
    return "\n\n".join(parts)


STATUS_PROMPT = ("Summarise the current state of the project in the working directory: what it is, "
                 "how it is organised, recent changes (git status and git log if it is a "
                 "repository), work in progress, and anything that looks broken or unfinished. "
                 "Be concise. Do not modify any files.")


# ---------------------------------------------------------------------------------------------
# Events


@dataclass
class Transcript:
    """What `codex exec --json` said, event by event: the thread, the messages, the activity
    (reasoning, commands, file changes, tool calls) and how the turn ended."""

    thread_id: str | None = None
    messages: list[str] = field(default_factory=list)
    activity: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failure: str | None = None
    usage: dict | None = None
    completed: bool = False
    stray: list[str] = field(default_factory=list)

    @property
    def final_message(self) -> str:
        return self.messages[-1] if self.messages else ""

    def feed(self, line: str) -> str | None:
        """Take one stdout line; return a short progress message when it is worth one."""
        line = line.strip()
        if not line:
            return None
        try:
            event = json.loads(line)
        except ValueError:
            self.stray.append(line)
            return None
        if not isinstance(event, dict):
            return None
        kind = event.get("type")
        if kind == "thread.started":
            self.thread_id = event.get("thread_id") or self.thread_id
            return f"Codex thread {self.thread_id} started"
        if kind == "turn.started":
            return "Codex is working"
        if kind == "turn.completed":
            self.completed = True
            self.usage = event.get("usage")
            return "Codex finished"
        if kind == "turn.failed":
            error = event.get("error") or {}
            self.failure = (error.get("message") if isinstance(error, dict) else str(error)) or "turn failed"
            return None
        if kind == "error":
            self.errors.append(str(event.get("message", "")))
            return f"Codex: {_first_line(self.errors[-1])}"
        if kind in ("item.started", "item.updated", "item.completed"):
            item = event.get("item")
            return self._item(kind, item) if isinstance(item, dict) else None
        return None

    def _item(self, kind: str, item: dict) -> str | None:
        itype = item.get("type")
        if kind == "item.started":
            if itype == "command_execution":
                return f"running: {_first_line(item.get('command', ''))}"
            return None
        if kind != "item.completed":
            return None
        if itype == "agent_message":
            self.messages.append(str(item.get("text", "")))
            return "Codex is answering"
        if itype == "reasoning":
            text = str(item.get("text", "")).strip()
            self.activity.append(f"reasoning: {text}")
            return f"thinking: {_first_line(text)}"
        if itype == "command_execution":
            status = item.get("status")
            code = item.get("exit_code")
            how = f"exit {code}" if code is not None else str(status or "?")
            self.activity.append(f"ran: {item.get('command', '')} ({how})")
            return None
        if itype == "file_change":
            changes = ", ".join(f"{c.get('kind', '?')} {c.get('path', '?')}"
                                for c in item.get("changes") or [] if isinstance(c, dict))
            self.activity.append(f"file change ({item.get('status', '?')}): {changes}")
            return None
        if itype == "mcp_tool_call":
            self.activity.append(f"tool: {item.get('server', '?')}.{item.get('tool', '?')} "
                                 f"({item.get('status', '?')})")
            return None
        if itype == "web_search":
            self.activity.append(f"web search: {item.get('query', '')}")
            return None
        if itype == "todo_list":
            steps = "; ".join(f"[{'x' if t.get('completed') else ' '}] {t.get('text', '')}"
                              for t in item.get("items") or [] if isinstance(t, dict))
            self.activity.append(f"plan: {steps}")
            return None
        if itype == "error":
            self.warnings.append(str(item.get("message", "")))
            return None
        return None

    def summary(self) -> str:
        """The activity as text: everything but the final message (what `quiet` leaves out)."""
        lines = list(self.activity)
        lines += [f"note: {m}" for m in self.messages[:-1]]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _first_line(text: str, width: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


# ---------------------------------------------------------------------------------------------
# The process


@dataclass
class RunResult:
    """One finished (or killed) Codex run."""

    transcript: Transcript
    returncode: int | None
    stderr_tail: str
    timed_out: bool
    elapsed: float

    @property
    def ok(self) -> bool:
        return (not self.timed_out and self.returncode == 0 and self.transcript.failure is None)

    def failure_message(self, timeout: float) -> str:
        """Why the run failed, with the partial output and the stderr tail, for a tool error."""
        t = self.transcript
        if self.timed_out:
            head = (f"Codex timed out after {timeout:g} s (CODEX_TIMEOUT) and was stopped; "
                    "its partial output follows.")
        elif t.failure:
            head = f"Codex failed: {t.failure}"
        else:
            reason = t.errors[-1] if t.errors else "see stderr below"
            head = f"Codex exited with status {self.returncode}: {reason}"
        parts = [head]
        text = " ".join([t.failure or "", *t.errors[-3:], self.stderr_tail])
        if not self.timed_out and _AUTH_FAILURE.search(text):
            parts.append(LOGIN_HINT)
        if t.thread_id:
            parts.append(f"thread_id: {t.thread_id}")
        partial = "\n".join(x for x in (t.summary(), t.final_message) if x)
        if partial:
            parts.append(f"--- partial output ---\n{partial}")
        if self.stderr_tail:
            parts.append(f"--- stderr (last lines) ---\n{self.stderr_tail}")
        return "\n".join(parts)


ProgressFn = Callable[[str], Awaitable[None]]


async def run_codex(argv: list[str], *, cwd: Path | str, env: Mapping[str, str], timeout: float,
                    on_progress: ProgressFn | None = None,
                    heartbeat: float = HEARTBEAT_SECONDS) -> RunResult:
    """Run argv (never through a shell) with stdin closed, in a new process group, parsing its
    JSONL stdout as it comes. On timeout or cancellation the whole group is killed (TERM, then
    KILL), and so is whatever the run left behind when it ends normally."""
    transcript = Transcript()
    stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    started = time.monotonic()

    async def progress(message: str | None) -> None:
        if message and on_progress is not None:
            await on_progress(message)

    process = await anyio.open_process(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, cwd=str(cwd), env=dict(env),
                                       start_new_session=True)
    pgid = process.pid
    _LIVE_GROUPS.add(pgid)
    stdout_done, stderr_done = anyio.Event(), anyio.Event()
    timed_out = exited = False
    try:
        async def read_stdout() -> None:
            try:
                async for line in _lines(process.stdout):
                    await progress(transcript.feed(line))
            finally:
                stdout_done.set()

        async def read_stderr() -> None:
            try:
                async for line in _lines(process.stderr):
                    if line.strip() and line.strip() not in _STDERR_NOISE:
                        stderr_tail.append(line.rstrip())
            finally:
                stderr_done.set()

        async def drained() -> None:
            await stdout_done.wait()
            await stderr_done.wait()

        async def beat() -> None:
            while True:
                await anyio.sleep(heartbeat)
                await progress(f"Codex still working ({time.monotonic() - started:.0f} s)")

        with anyio.move_on_after(timeout) as deadline:
            async with anyio.create_task_group() as tg:
                tg.start_soon(beat)
                tg.start_soon(read_stderr)
                tg.start_soon(read_stdout)
                await process.wait()
                exited = True
                # A child that inherited the pipes may hold them open after codex exits:
                # give the readers a moment, then take the group down so they see EOF.
                with anyio.move_on_after(DRAIN_SECONDS):
                    await drained()
                kill_group(pgid, signal.SIGKILL)
                with anyio.move_on_after(DRAIN_SECONDS):
                    await drained()
                tg.cancel_scope.cancel()
        timed_out = deadline.cancelled_caught and not exited
    finally:
        with anyio.CancelScope(shield=True):
            await _stop(process, pgid)
            _LIVE_GROUPS.discard(pgid)
    return RunResult(transcript, process.returncode, "\n".join(stderr_tail), timed_out,
                     time.monotonic() - started)


async def _lines(stream: anyio.abc.ByteReceiveStream | None):
    """Decoded lines of a byte stream; lines of any length, the last one without a newline."""
    if stream is None:
        return
    buffer = b""
    while True:
        try:
            chunk = await stream.receive(65536)
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", "replace")
    if buffer:
        yield buffer.decode("utf-8", "replace")


async def _stop(process: anyio.abc.Process, pgid: int) -> None:
    """End the run's process group: TERM, a grace period, then KILL; reap the leader."""
    if process.returncode is None:
        kill_group(pgid, signal.SIGTERM)
        with anyio.move_on_after(TERM_GRACE_SECONDS):
            await process.wait()
    kill_group(pgid, signal.SIGKILL)
    with anyio.move_on_after(TERM_GRACE_SECONDS):
        await process.aclose()  # waits for the leader and closes the pipes and the transport


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a process group; a group that is already gone is fine."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_all_groups() -> None:
    """Kill every Codex run in flight (for a server that is being stopped)."""
    for pgid in list(_LIVE_GROUPS):
        kill_group(pgid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# Sessions


@dataclass
class Session:
    """One Codex session file, summarised."""

    thread_id: str
    started: str
    updated: str
    cwd: str
    source: str
    prompt: str
    last_message: str
    path: str


def recent_sessions(codex_home: Path, limit: int) -> list[Session]:
    """The `limit` most recently written sessions under $CODEX_HOME/sessions, newest first.

    Read-only: the rollout files (`sessions/YYYY/MM/DD/rollout-*.jsonl`) are only opened for
    reading; a file that cannot be parsed is skipped.
    """
    root = codex_home / "sessions"
    files: list[tuple[float, Path]] = []
    for path in _rollouts(root):
        try:
            files.append((path.stat().st_mtime, path))
        except OSError:
            continue
    files.sort(key=lambda pair: (pair[0], pair[1].name), reverse=True)
    found: list[Session] = []
    for mtime, path in files:
        session = read_session(path, mtime)
        if session is not None:
            found.append(session)
            if len(found) >= limit:
                break
    return found


def _rollouts(root: Path) -> Iterable[Path]:
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.name.startswith("rollout-") and entry.name.endswith(".jsonl"):
                yield Path(entry.path)


_MAX_SESSION_BYTES = 16 * 1024 * 1024


def read_session(path: Path, mtime: float | None = None) -> Session | None:
    """Summarise one rollout file: its id, start, folder, first prompt and last answer."""
    meta: dict = {}
    prompt = last = ""
    read = 0
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                read += len(line)
                if read > _MAX_SESSION_BYTES:
                    break
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                payload = record.get("payload") if isinstance(record, dict) else None
                if not isinstance(payload, dict):
                    continue
                if record.get("type") == "session_meta" and not meta:
                    meta = payload
                elif record.get("type") == "response_item" and payload.get("type") == "message":
                    text = _message_text(payload)
                    if payload.get("role") == "user" and not prompt and _is_prompt(text):
                        prompt = text
                    elif payload.get("role") == "assistant" and text:
                        last = text
                elif record.get("type") == "event_msg" and payload.get("type") == "task_complete":
                    last = payload.get("last_agent_message") or last
    except OSError:
        return None
    thread_id = meta.get("id") or meta.get("session_id")
    if not thread_id:
        return None
    updated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime)) if mtime else ""
    return Session(thread_id=str(thread_id), started=str(meta.get("timestamp", "")), updated=updated,
                   cwd=str(meta.get("cwd", "")), source=str(meta.get("source", "")),
                   prompt=_clip(prompt, 300), last_message=_clip(last, 500), path=str(path))


def _message_text(payload: dict) -> str:
    parts = payload.get("content") or []
    return "\n".join(str(p.get("text", "")) for p in parts
                     if isinstance(p, dict) and p.get("type") in ("input_text", "output_text")).strip()


def _is_prompt(text: str) -> bool:
    """Whether a user message is what the user typed, not context Codex injected."""
    return bool(text) and not text.startswith("<") and not text.startswith("# AGENTS.md")


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
