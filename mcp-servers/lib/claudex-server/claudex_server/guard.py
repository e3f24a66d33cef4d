"""The pumps `serve()` puts a server behind: fd 1 and fd 2 become pipes, and a thread per pipe
copies each line to the real descriptor through a Scrubber; a third thread stands before stdin and
answers a request holding a lone surrogate itself (scrub.refusal), so that the session goes on.
Apart from scrub.py so that `server.py --check` does not import threading."""

from __future__ import annotations

import os
import select
import sys
import threading

from .scrub import Scrubber, refusal

MAX_LINE = 16 << 20   # bytes of a line without its end before it goes out anyway (a JSON-RPC message is one line)


class _Pump(threading.Thread):
    """Copies a pipe to a descriptor line by line through ``scrub``. A partial line waits for its
    end (or the end of the server, or MAX_LINE bytes): flushed early, a secret written in two
    pieces would go out half masked."""

    def __init__(self, source: int, dest: int, scrub) -> None:
        super().__init__(name=f"claudex-scrub-{dest}", daemon=True)
        self.source, self.dest, self.scrub = source, dest, scrub
        self._wake_r, self._wake_w = os.pipe()
        self._broken = False
        self._lock = threading.Lock()   # the writes of this pump and the answers the stdin pump adds

    def stop(self, timeout: float = 5.0) -> None:
        """Drain what the pipe holds, write it, end (every writer has stopped writing)."""
        os.write(self._wake_w, b"x")
        self.join(timeout)
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def _out(self, data: bytes) -> None:
        body, end = (data[:-1], b"\n") if data.endswith(b"\n") else (data, b"")
        self.write(self.scrub(body.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape") + end)

    def write(self, data: bytes) -> None:
        """Write whole lines to the real descriptor, one writer at a time."""
        with self._lock:
            if self._broken:
                return
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self.dest, view):]
            except OSError:   # the reader went away: keep draining, so that writers never block
                self._broken = True

    def _lines(self, buffer: bytearray) -> None:
        end = buffer.rfind(b"\n")
        if end >= 0:
            for line in bytes(buffer[:end]).split(b"\n"):
                self._out(line + b"\n")
            del buffer[:end + 1]

    def run(self) -> None:
        buffer = bytearray()
        try:
            while True:
                ready, _, _ = select.select([self.source, self._wake_r], [], [])
                if self.source in ready:
                    chunk = os.read(self.source, 1 << 16)
                    if not chunk:
                        break
                    buffer += chunk
                    self._lines(buffer)
                    if len(buffer) > MAX_LINE:
                        self._out(bytes(buffer))
                        buffer.clear()
                elif self._wake_r in ready:
                    os.set_blocking(self.source, False)
                    while True:
                        try:
                            chunk = os.read(self.source, 1 << 16)
                        except BlockingIOError:
                            break
                        if not chunk:
                            break
                        buffer += chunk
                    self._lines(buffer)
                    break
            if buffer:
                self._out(bytes(buffer))
        finally:
            os.close(self.source)


class _Inlet(threading.Thread):
    """Copies the real stdin to the pipe the server reads, line by line, answering through
    ``out`` the requests that hold a lone surrogate instead of passing them on."""

    def __init__(self, source: int, dest: int, out: _Pump) -> None:
        super().__init__(name="claudex-stdin", daemon=True)
        self.source, self.dest, self.out = source, dest, out

    def run(self) -> None:
        buffer = bytearray()
        try:
            while True:
                chunk = os.read(self.source, 1 << 16)
                if not chunk:
                    break
                buffer += chunk
                end = buffer.rfind(b"\n")
                if end < 0 and len(buffer) <= MAX_LINE:
                    continue
                whole, buffer = (bytes(buffer[:end + 1]), buffer[end + 1:]) if end >= 0 else (bytes(buffer), bytearray())
                passed = []
                for line in whole.splitlines(keepends=True):
                    answer = refusal(line)
                    if answer is None:
                        passed.append(line)
                    elif answer:
                        self.out.write(answer)
                self._write(b"".join(passed))
            self._write(bytes(buffer))
        except OSError:
            pass
        finally:
            for fd in (self.source, self.dest):   # the server reads EOF
                os.close(fd)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.dest, view):]


class Guard:
    """fd 0, 1 and 2 behind pumps while the server runs (stdout and stderr scrubbed, stdin
    screened for lone surrogates); `close()` puts them back."""

    def __init__(self, scrubber: Scrubber) -> None:
        self._saved: list[tuple[int, int]] = []
        self._pumps: list[_Pump] = []
        for fd, scrub in ((1, scrubber.json_line), (2, scrubber.text)):
            real = os.dup(fd)
            os.set_inheritable(real, False)
            read, write = os.pipe()
            os.dup2(write, fd)
            os.close(write)
            self._saved.append((fd, real))
            pump = _Pump(read, real, scrub)
            pump.start()
            self._pumps.append(pump)
        real_in = os.dup(0)
        os.set_inheritable(real_in, False)
        read, write = os.pipe()
        os.dup2(read, 0)
        os.close(read)
        self._saved_in = os.dup(real_in)   # what fd 0 goes back to; the inlet owns real_in
        os.set_inheritable(self._saved_in, False)
        _Inlet(real_in, write, self._pumps[0]).start()

    def close(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        for fd, real in self._saved:
            os.dup2(real, fd)
        os.dup2(self._saved_in, 0)   # the inlet may still wait on the real stdin: it is a daemon, left to end with us
        os.close(self._saved_in)
        for pump in self._pumps:   # a copy of a pipe's write end may outlive us (the SDK keeps one): no EOF to wait for
            pump.stop()
        for _fd, real in self._saved:
            os.close(real)
