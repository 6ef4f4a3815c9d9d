"""A local webhook receiver: a tiny HTTP server thread that answers with the statuses it is told, in order, and
keeps every request it got."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest


@pytest.fixture
def receiver():
    state = SimpleNamespace(statuses=[], requests=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 -- http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(SimpleNamespace(path=self.path, headers=dict(self.headers), body=body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/portal?src=test"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def trickler():
    """A receiver that answers a byte every half second (a slow or malicious peer): every socket read succeeds
    well inside a per-read timeout, so only a deadline on the whole attempt ends it. It stops trickling after
    `seconds` (30) or when the test ends."""
    import socket
    import time

    state = SimpleNamespace(seconds=30, connections=0, stop=threading.Event())
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)

    def trickle(conn):
        with conn:
            conn.settimeout(1)
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                for _ in range(state.seconds * 2):
                    if state.stop.wait(0.5):
                        return
                    conn.sendall(b"X")
            except OSError:
                return

    def serve():
        while not state.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            state.connections += 1
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow"
    state.started = time.monotonic()
    yield state
    state.stop.set()
    thread.join(timeout=5)
    listener.close()
