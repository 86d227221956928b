"""The UnrealCV client against an in-test server speaking the real wire format
(tests/unreal_fake.py): replies as the server source formats them, and every way a server can
misbehave: no reply, a half frame, a late reply, another request's id, garbage, a restart."""

from __future__ import annotations

import socket
import struct
import threading
import time

import numpy as np
import pytest

from render.backends.unreal import protocol
from render.backends.unreal.client import Client, EngineTimeout, EngineUnavailable, parse_endpoint
from render.backends.unreal.protocol import EngineError, ProtocolError
from tests.unreal_fake import FakeUnreal, Fault


@pytest.fixture
def server():
    with FakeUnreal() as srv:
        yield srv


def client_for(srv: FakeUnreal, timeout: float = 1.0) -> Client:
    c = Client("127.0.0.1", srv.port, timeout=timeout, connect_timeout=5.0)
    c.connect()
    return c


def test_framing_matches_the_unrealcv_package_byte_for_byte():
    import unrealcv

    a, b = socket.socketpair()
    with a, b:
        unrealcv.SocketMessage.WrapAndSendPayload(a, b"12:vget /unrealcv/status")
        sent = b.recv(1024)
    assert sent == protocol.frame(b"12:vget /unrealcv/status")
    assert protocol.header_length(sent[:8]) == len(sent) - 8


def test_the_stock_unrealcv_client_talks_to_the_fake_server(server):
    """The fake is a real UnrealCV peer: the package's own client gets its replies."""
    import unrealcv

    c = unrealcv.Client(("127.0.0.1", server.port))
    try:
        assert c.connect(timeout=5)
        assert c.request("vget /camera/0/location") == "0.000 0.000 170.000"
        assert c.request("vset /camera/0/location 1 2.5 -3") == "ok"
        assert c.request("vget /camera/0/location") == "1.000 2.500 -3.000"
    finally:
        c.disconnect()


def test_replies_in_the_server_formats(server):
    c = client_for(server)
    assert c.project == "AlphaMatte4K"
    assert "Is Listening" in c.status()
    assert protocol.parse_floats(c.text("vget /camera/0/rotation"), 3) == (0.0, 0.0, 0.0)
    assert c.text("vget /camera/0/fov") == "90.000000"
    assert c.text("vget /camera/0/size") == "640 480"
    assert c.text("vget /objects").endswith(" ")
    assert protocol.parse_names(c.text("vget /objects")) == ["Floor", "SkyLight", "DirectionalLight"]
    png = c.request("vget /camera/0/lit png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    depth = np.load(__import__("io").BytesIO(c.request("vget /camera/0/depth npy")))
    assert depth.shape == (480, 640)
    with pytest.raises(EngineError, match="Invalid filename type"):
        c.text("vget /camera/0/lit shot.exr")  # UnrealCV cannot write EXR: frames come from MRQ
    with pytest.raises(EngineError, match="Unrecognised alias"):
        c.text("vrun stat")
    with pytest.raises(EngineError, match="Can not find a class"):
        c.text("vset /objects/spawn BP_Ada_C")
    with pytest.raises(ValueError, match="cannot contain spaces"):
        c.console("py", "my script.py")
    with pytest.raises(EngineError, match="No valid game world"):  # the editor, not PIE or -game
        c.console("py", "amatte4k_render_shot.py", "/srv/job.json")
    assert c.connected  # an engine error reply does not break the connection
    server.game_world = True
    c.console("stat", "fps")
    c.close()


def test_a_batch_runs_under_one_deadline(server):
    c = client_for(server)
    replies = c.batch(["vget /camera/0/fov", "vset /camera/0/fov 40", "vget /camera/0/fov"])
    assert replies == [b"90.000000", b"ok", b"40.000000"]
    server.faults.append(Fault("hang", "vget /camera/0/size"))
    t = time.monotonic()
    with pytest.raises(EngineTimeout):
        c.batch(["vget /camera/0/fov", "vset /camera/0/fov 50", "vget /camera/0/size"], timeout=0.6)
    assert time.monotonic() - t < 2.0
    assert not c.connected
    assert c.batch(["vget /camera/0/size"]) == [b"640 480"]  # a new connection, its own replies


def test_asynchronous_level_change_is_polled_not_slept(server):
    c = client_for(server)
    c.ok("vset /action/game/level /Game/AlphaMatte4K/Maps/gym/gym")
    assert c.text("vget /level/name") == "Startup"  # ok came before the switch
    deadline = time.monotonic() + 5
    while c.text("vget /level/name") != "gym":
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.mark.parametrize("kind", ["hang", "late", "wrong_id", "garbage", "close"])
def test_a_bad_reply_fails_that_request_and_never_reaches_the_next(server, kind):
    """Each fault fails its own request within the deadline; the connection is replaced, and
    the next request gets its own reply (never the late one)."""
    c = client_for(server, timeout=0.5)
    server.faults.append(Fault(kind, "vget /camera/0/fov", delay=0.9))
    t = time.monotonic()
    errors = {
        "hang": EngineTimeout,
        "late": EngineTimeout,
        "wrong_id": ProtocolError,
        "garbage": ProtocolError,
        "close": EngineUnavailable,
    }
    with pytest.raises(errors[kind]):
        c.text("vget /camera/0/fov")
    assert time.monotonic() - t < 1.5
    assert not c.connected
    if kind == "late":
        time.sleep(0.6)  # the late reply is sent now, to a connection that is gone
    assert c.text("vget /camera/0/location") == "0.000 0.000 170.000"
    assert c.text("vget /camera/0/size") == "640 480"


def test_reconnects_after_the_server_restarts_on_the_same_port(server):
    c = client_for(server)
    port = server.port
    server.restart()
    assert server.port == port
    with pytest.raises(EngineUnavailable):  # the old connection is gone with the old server
        c.text("vget /unrealcv/version")
    assert c.text("vget /unrealcv/version") == "v1.1.0"


def test_connect_polls_until_the_engine_listens():
    """An engine takes minutes to start: connect retries until it greets (no fixed sleep)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = FakeUnreal(port=port)
    timer = threading.Timer(0.8, srv.start)
    timer.start()
    try:
        c = Client("127.0.0.1", port, timeout=1.0, connect_timeout=10.0)
        t = time.monotonic()
        assert c.connect() == "AlphaMatte4K"
        assert 0.7 < time.monotonic() - t < 4.0
        c.close()
    finally:
        timer.join()
        srv.stop()


def test_nothing_listening_and_wrong_protocol_are_one_line_errors():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EngineUnavailable, match="within the deadline"):
        Client("127.0.0.1", port, connect_timeout=0.5).connect()
    # An HTTP server on the port: it answers, but not in UnrealCV frames.
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)

    def http():
        conn, _ = lsock.accept()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        time.sleep(0.5)
        conn.close()

    t = threading.Thread(target=http)
    t.start()
    try:
        with pytest.raises(ProtocolError, match="does not speak UnrealCV") as err:
            Client("127.0.0.1", lsock.getsockname()[1], connect_timeout=3.0).connect()
        assert "\n" not in str(err.value)
    finally:
        t.join()
        lsock.close()


def test_the_server_drops_requests_without_an_id_and_closes_on_a_bad_magic(server):
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=2)
    with raw:
        raw.recv(1024)  # greeting
        raw.sendall(protocol.frame(b"vget /unrealcv/version"))  # no id: dropped silently
        raw.sendall(protocol.frame(b"7:vget /unrealcv/version"))
        head = raw.recv(8)
        body = raw.recv(protocol.header_length(head))
        assert body == b"7:v1.1.0"
        raw.sendall(struct.pack("<II", 0xDEADBEEF, 4) + b"1:ok")
        try:
            closed = raw.recv(8) == b""
        except ConnectionResetError:  # the server hung up with our bytes unread
            closed = True
        assert closed


def test_endpoint_parsing():
    assert parse_endpoint("10.0.0.5:9001") == ("10.0.0.5", 9001)
    assert parse_endpoint("[::1]:9000") == ("::1", 9000)
    for bad in ("localhost", ":9000", "host:0", "host:70000", "host:port"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_endpoint(bad)
