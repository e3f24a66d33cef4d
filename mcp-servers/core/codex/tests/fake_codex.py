#!/usr/bin/env python3
"""A stand-in `codex` for the process tests: replays a recorded `codex exec --json` stream.

Behaviour from the environment:
  FAKE_CODEX_EVENTS   a .jsonl file to print line by line (default: none)
  FAKE_CODEX_ARGV     a file to write this process's argv to, as JSON
  FAKE_CODEX_STDERR   text to write to stderr
  FAKE_CODEX_EXIT     exit status (default 0)
  FAKE_CODEX_SLEEP    seconds to sleep after the events (default 0)
  FAKE_CODEX_CHILD    a file to write the pid of a `sleep 300` grandchild to (started first)
"""

import json
import os
import subprocess
import sys
import time

if os.environ.get("FAKE_CODEX_ARGV"):
    with open(os.environ["FAKE_CODEX_ARGV"], "w") as f:
        json.dump({"argv": sys.argv[1:], "cwd": os.getcwd(), "stdin": sys.stdin.read()}, f)
if os.environ.get("FAKE_CODEX_CHILD"):
    child = subprocess.Popen(["sleep", "300"])
    with open(os.environ["FAKE_CODEX_CHILD"], "w") as f:
        f.write(str(child.pid))
if sys.argv[1:] == ["--version"]:
    print("codex-cli 0.0.0-fake")
    sys.exit(0)
if sys.argv[1:3] == ["login", "status"]:
    print("Not logged in", file=sys.stderr)
    sys.exit(1)
if os.environ.get("FAKE_CODEX_EVENTS"):
    with open(os.environ["FAKE_CODEX_EVENTS"]) as f:
        for line in f:
            sys.stdout.write(line)
            sys.stdout.flush()
if os.environ.get("FAKE_CODEX_STDERR"):
    sys.stderr.write(os.environ["FAKE_CODEX_STDERR"])
    sys.stderr.flush()
time.sleep(float(os.environ.get("FAKE_CODEX_SLEEP", "0")))
sys.exit(int(os.environ.get("FAKE_CODEX_EXIT", "0")))
