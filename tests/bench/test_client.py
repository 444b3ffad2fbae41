"""The benchmarks' HTTP client reads every framing a server may send: a Content-Length
body, a chunked body with trailers, a body to the close, no body (204, HEAD); it keeps the
connection across requests and reconnects for a GET when the server closed it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.processes import Client


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[tuple[str, int]] = set()
    close_next = False

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        Handler.connections.add(self.client_address)
        body = json.dumps({"path": self.path, "auth": self.headers.get("Authorization")})
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            data = body.encode()
            for part in (data[:5], data[5:]):
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        elif self.path == "/close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b'{"closed": true}')
            self.close_connection = True
        elif self.path == "/missing":
            data = b'{"detail": "no such thing"}'
            self.send_response(404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif self.path == "/empty":
            self.send_response(204)
            self.end_headers()
        else:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Position", "7")
            self.end_headers()
            self.wfile.write(data)
            if Handler.close_next:  # closed without saying so, as a keep-alive timeout does
                Handler.close_next = False
                self.close_connection = True

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1234")
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        received = json.loads(self.rfile.read(length)) if length else None
        data = json.dumps({"received": received, "if_match": self.headers.get("If-Match")}).encode()
        self.send_response(201)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_every_framing_on_one_connection(base: str) -> None:
    client = Client(base, "secret")
    Handler.connections.clear()
    status, headers, answer = client.call("GET", "/plain?x=1")
    assert (status, headers["X-Position"]) == (200, "7")
    assert answer == {"path": "/plain?x=1", "auth": "Bearer secret"}
    assert client.call("GET", "/chunked")[2] == {"path": "/chunked", "auth": "Bearer secret"}
    assert client.call("HEAD", "/plain")[2] == b""
    assert client.call("GET", "/empty")[:1] == (204,)
    answer, _ = client.ok("POST", "/things", {"name": "Tuzla"}, version=3)
    assert answer == {"received": {"name": "Tuzla"}, "if_match": '"3"'}
    assert client.ok("POST", "/things")[0] == {"received": None, "if_match": None}
    assert len(Handler.connections) == 1  # kept alive throughout
    assert client.call("GET", "/close")[2] == {"closed": True}
    assert client.sock is None
    assert client.call("GET", "/again")[2]["path"] == "/again"  # a new connection
    assert len(Handler.connections) == 2
    client.close()


def test_a_get_is_sent_again_when_the_server_dropped_the_connection(base: str) -> None:
    client = Client(base)
    client.call("GET", "/first")
    assert client.sock is not None
    client.sock.shutdown(2)  # as a server closing an idle keep-alive connection looks
    assert client.call("GET", "/second")[2]["path"] == "/second"
    client.close()


def test_a_connection_the_server_closed_while_idle_is_not_used_for_a_command(
    base: str,
) -> None:
    client = Client(base)
    client.call("GET", "/first")
    assert client.sock is not None
    before = client.sock
    Handler.close_next = True
    client.call("GET", "/first")  # the server closes this one after answering
    time.sleep(0.2)
    answer, _ = client.ok("POST", "/things", {"n": 1})  # not retried: must not fail
    assert answer["received"] == {"n": 1}
    assert client.sock is not before
    client.close()


def test_ok_refuses_an_error_status(base: str) -> None:
    client = Client(base)
    with pytest.raises(RuntimeError, match=r"GET /missing: 404 .*no such thing"):
        client.ok("GET", "/missing")
    client.close()
