"""An UnrealCV client with a deadline on everything (the ``unrealcv`` package's own client
blocks forever on a reply that never comes).

Rules that keep replies from mixing: one request in flight at a time; every reply must carry the
id of the request it answers; after any timeout, broken frame or foreign id the connection is
closed, so a late reply dies with it, and the next request connects afresh.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time

from render.backends.unreal import protocol
from render.backends.unreal.protocol import EngineError, ProtocolError

__all__ = ["Client", "EngineError", "EngineTimeout", "EngineUnavailable", "ProtocolError", "parse_endpoint"]


class EngineTimeout(TimeoutError):
    """No (complete) reply within the deadline."""


class EngineUnavailable(ConnectionError):
    """Nothing accepted the connection, or the connection closed."""


def parse_endpoint(value: str) -> tuple[str, int]:
    """``HOST:PORT`` → (host, port); ValueError with a one-line message otherwise."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"endpoint {value!r}: expected HOST:PORT, e.g. 127.0.0.1:9000")
    return host.strip("[]"), int(port)


class Client:
    """A connection to one UnrealCV server at ``host:port``.

    ``timeout``: seconds for one request (or one batch) unless a call gives its own;
    ``connect_timeout``: how long :meth:`connect` waits for the server to come up and greet.
    """

    def __init__(self, host: str, port: int, timeout: float = 30.0, connect_timeout: float = 60.0):
        self.host, self.port = host, port
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.project: str | None = None  # from the greeting
        self._sock: socket.socket | None = None
        self._next_id = 0
        self._buf = bytearray()

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._sock is not None

    # -- connection ---------------------------------------------------------------------------

    def connect(self, timeout: float | None = None) -> str:
        """Wait until the server accepts and greets (polling: an engine takes minutes to start);
        return the project name. Raises :class:`EngineUnavailable` when nothing listens by the
        deadline, :class:`ProtocolError` when what answers is not UnrealCV."""
        self.close()
        deadline = time.monotonic() + (self.connect_timeout if timeout is None else timeout)
        delay, last = 0.05, "no answer"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise EngineUnavailable(f"UnrealCV at {self.endpoint}: {last} within the deadline")
            try:
                sock = socket.create_connection((self.host, self.port), timeout=min(left, 5.0))
            except OSError as exc:
                last = exc.strerror or str(exc) or type(exc).__name__
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 2.0)
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock, self._buf = sock, bytearray()
            try:
                greeting = self._read(deadline)
            except EngineUnavailable as exc:  # accepted, then closed: a server still starting
                last = str(exc)
                self.close()
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 2.0)
                continue
            except EngineTimeout:
                self.close()
                raise EngineTimeout(f"UnrealCV at {self.endpoint}: accepted but sent no greeting") from None
            except ProtocolError as exc:
                self.close()
                raise ProtocolError(f"{self.endpoint} does not speak UnrealCV ({exc})") from None
            if not greeting.startswith(protocol.GREETING):
                self.close()
                raise ProtocolError(f"{self.endpoint} does not speak UnrealCV (greeted {greeting[:40]!r})")
            self.project = greeting[len(protocol.GREETING) :].decode(errors="replace").strip()
            return self.project

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock, self._buf = None, bytearray()

    def peer_closed(self) -> bool:
        """Whether the server has closed a connection we hold (checked without blocking; no
        reply is ever pending when this is asked)."""
        if self._sock is None:
            return False
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            return bool(readable) and self._sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- framing ------------------------------------------------------------------------------

    def _recv(self, n: int, deadline: float) -> bytes:
        assert self._sock is not None
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise EngineTimeout(f"UnrealCV at {self.endpoint}: no reply within the deadline")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(min(max(65536, n - len(self._buf)), 1 << 20))
            except TimeoutError:
                raise EngineTimeout(f"UnrealCV at {self.endpoint}: no reply within the deadline") from None
            except OSError as exc:
                raise EngineUnavailable(f"UnrealCV at {self.endpoint}: {exc.strerror or exc}") from None
            if not chunk:
                raise EngineUnavailable(f"UnrealCV at {self.endpoint}: the connection closed")
            self._buf += chunk  # bytearray: appends in place, no copy of what came before
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _read(self, deadline: float) -> bytes:
        length = protocol.header_length(self._recv(protocol.HEADER.size, deadline))
        return self._recv(length, deadline)

    def _send(self, payload: bytes, deadline: float) -> None:
        assert self._sock is not None
        self._sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            self._sock.sendall(protocol.frame(payload))
        except TimeoutError:
            raise EngineTimeout(f"UnrealCV at {self.endpoint}: could not send within the deadline") from None
        except OSError as exc:
            raise EngineUnavailable(f"UnrealCV at {self.endpoint}: {exc.strerror or exc}") from None

    # -- requests -----------------------------------------------------------------------------

    def _ensure(self, deadline: float) -> None:
        if self._sock is None:
            self.connect(timeout=max(0.0, deadline - time.monotonic()))

    def _exchange(self, commands: list[str], deadline: float) -> list[bytes]:
        """Send ``commands`` and read their replies in order; on any failure the connection is
        dropped (its late replies go with it) and the error re-raised."""
        try:
            self._ensure(deadline)
            ids = []
            for cmd in commands:
                self._next_id += 1
                ids.append(self._next_id)
                self._send(protocol.request(self._next_id, cmd), deadline)
            return [protocol.reply_body(self._read(deadline), i) for i in ids]
        except (EngineTimeout, EngineUnavailable, ProtocolError, OSError):
            self.close()
            raise

    def request(self, command: str, timeout: float | None = None) -> bytes:
        """The raw reply body of ``command`` (``ok``, text, ``error …`` or binary)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        return self._exchange([command], deadline)[0]

    def text(self, command: str, timeout: float | None = None) -> str:
        """A text reply; :class:`EngineError` for ``error …``."""
        return protocol.text(self.request(command, timeout))

    def ok(self, command: str, timeout: float | None = None) -> None:
        """Send a command that answers ``ok``."""
        protocol.expect_ok(self.request(command, timeout), command)

    def batch(self, commands: list[str], timeout: float | None = None) -> list[bytes]:
        """``vbatch N`` then ``commands``, one deadline for all (the engine runs them in one
        tick); the raw reply bodies in order."""
        if not commands:
            return []
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        replies = self._exchange([f"vbatch {len(commands)}", *commands], deadline)
        try:
            protocol.expect_ok(replies[0], "vbatch")
        except (ProtocolError, EngineError):
            self.close()
            raise
        return replies[1:]

    # -- the vocabulary we use ----------------------------------------------------------------

    def status(self, timeout: float | None = None) -> str:
        """``vget /unrealcv/status``: raises unless the server says it is listening."""
        s = self.text("vget /unrealcv/status", timeout)
        if "Listening" not in s:
            raise ProtocolError(f"UnrealCV at {self.endpoint}: unexpected status {s[:60]!r}")
        return s

    def version(self, timeout: float | None = None) -> str:
        return self.text("vget /unrealcv/version", timeout).strip()

    def console(self, *tokens: str, timeout: float | None = None) -> None:
        """A console command through ``vrun`` (2 to 6 tokens, none with a space)."""
        if not 2 <= len(tokens) <= 6:
            raise ValueError(f"vrun takes 2 to 6 tokens, got {len(tokens)}")
        args = [protocol.argument(t, "console argument") for t in tokens]
        self.ok("vrun " + " ".join(args), timeout)
