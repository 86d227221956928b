"""The UnrealCV wire format (pure): framing, request ids and reply bodies.

A message is the uint32 magic ``0x9E2B83C1``, a uint32 payload length (both little-endian, as
the ``unrealcv`` package and the engine's ``FNFSMessageHeader`` write them) and the payload. The
server greets each client with ``connected to <Project>``; a request is ``<id>:<command>``, its
reply ``<id>:<body>`` where the body is ``ok``, ``error <message>``, text or raw bytes.
"""

from __future__ import annotations

import re
import struct

MAGIC = 0x9E2B83C1
HEADER = struct.Struct("<II")
# Larger than any reply we ask for (a 4K PNG preview is ~30 MB); a length beyond it is garbage.
MAX_PAYLOAD = 256 << 20
GREETING = b"connected to "
# UnrealCV's argument regexes: [str] is ([^ ]*), so no argument may contain a space.
_NO_SPACE = re.compile(r"^\S+$")


class ProtocolError(ConnectionError):
    """The peer broke the wire format (bad magic, absurd length, a reply to another request)."""


class EngineError(RuntimeError):
    """The engine answered a request with ``error <message>``."""


def frame(payload: bytes) -> bytes:
    """One framed message."""
    if not payload:
        raise ValueError("UnrealCV messages cannot be empty")
    return HEADER.pack(MAGIC, len(payload)) + payload


def header_length(header: bytes) -> int:
    """The payload length announced by an 8-byte ``header``; raises :class:`ProtocolError`."""
    magic, length = HEADER.unpack(header)
    if magic != MAGIC:
        raise ProtocolError(f"not an UnrealCV message (magic {header[:4].hex()}, expected c1832b9e)")
    if length == 0 or length > MAX_PAYLOAD:
        raise ProtocolError(f"UnrealCV message of {length} bytes (1 to {MAX_PAYLOAD} allowed)")
    return length


def request(request_id: int, command: str) -> bytes:
    """The payload of request ``request_id``."""
    if "\n" in command or not command.strip():
        raise ValueError(f"bad UnrealCV command {command!r}")
    return f"{request_id}:{command}".encode()


def reply_body(payload: bytes, request_id: int) -> bytes:
    """The body of ``payload`` when it answers ``request_id``; :class:`ProtocolError` when it
    answers another request or has no id (a reply must never be taken for another's)."""
    head, sep, body = payload.partition(b":")
    if not sep or not head.isdigit():
        raise ProtocolError(f"reply without a request id: {payload[:40]!r}")
    if int(head) != request_id:
        raise ProtocolError(f"reply to request {int(head)} while waiting for {request_id}")
    return body


def text(body: bytes) -> str:
    """A text reply; raises :class:`EngineError` for ``error …``."""
    try:
        s = body.decode()
    except UnicodeDecodeError:
        raise ProtocolError(f"expected a text reply, got {len(body)} bytes of binary") from None
    if s.startswith("error"):  # match the prefix only: the engine's wording changed over versions
        raise EngineError(s[5:].strip() or "error")
    return s


def expect_ok(body: bytes, command: str) -> None:
    s = text(body)
    if s != "ok":
        raise ProtocolError(f"{command.split(' ')[0]} …: expected 'ok', got {s[:60]!r}")


def argument(value: str, what: str) -> str:
    """``value`` as one UnrealCV argument (no spaces, which the server's regexes cannot take)."""
    if not _NO_SPACE.match(value):
        raise ValueError(f"{what} {value!r}: UnrealCV arguments cannot contain spaces")
    return value


def parse_floats(s: str, n: int) -> tuple[float, ...]:
    """``"%.3f %.3f %.3f"``-style replies (locations, rotations) → ``n`` floats."""
    parts = s.split()
    if len(parts) != n:
        raise ProtocolError(f"expected {n} numbers, got {s[:60]!r}")
    try:
        return tuple(float(p) for p in parts)
    except ValueError:
        raise ProtocolError(f"expected {n} numbers, got {s[:60]!r}") from None


def parse_names(s: str) -> list[str]:
    """Space-separated name lists (``vget /objects``, ``/cameras``; a trailing space)."""
    return s.split()
