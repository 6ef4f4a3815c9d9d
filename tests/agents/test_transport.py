"""The agent's transport to the portal (connector/transport.py), against a small local HTTP server: one kept-alive
connection per thread, a connection the portal closed while idle replaced without the caller noticing, and errors
as PortalError with the portal's code."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connector.transport import Portal, PortalError


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.server.connections += 1

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.bodies.append(json.loads(body))
        status, answer = (409, {"errors": [{"code": "lease_lost", "detail": "Stop."}]}) \
            if self.path.endswith("/refuse/") else (200, {"seen": len(self.server.bodies)})
        raw = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
        # The server drops the connection after this answer without saying so (as one that closes idle
        # connections does between two requests): the client learns it on its next request.
        self.close_connection = self.server.drop_after

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.connections, httpd.bodies, httpd.drop_after = 0, [], False
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_a_thread_keeps_one_connection_open_for_its_requests(server):
    portal = Portal(f"http://127.0.0.1:{server.server_port}")
    answers = [portal.post("agent/ping/", {"n": n}, signed=False) for n in range(5)]
    assert [a["seen"] for a in answers] == [1, 2, 3, 4, 5]
    assert server.connections == 1


def test_a_connection_the_portal_closed_is_replaced_and_the_request_sent_again(server):
    portal = Portal(f"http://127.0.0.1:{server.server_port}")
    server.drop_after = True
    answers = [portal.post("agent/ping/", {"n": n}, signed=False) for n in range(3)]
    assert [a["seen"] for a in answers] == [1, 2, 3]  # each request arrived once
    assert server.connections == 3


def test_each_thread_has_its_own_connection_and_a_refusal_keeps_the_portals_code(server):
    portal = Portal(f"http://127.0.0.1:{server.server_port}")
    portal.post("agent/ping/", {}, signed=False)
    other = threading.Thread(target=portal.post, args=("agent/ping/", {}), kwargs={"signed": False})
    other.start()
    other.join()
    assert server.connections == 2
    with pytest.raises(PortalError) as refused:
        portal.post("agent/refuse/", {}, signed=False)
    assert (refused.value.status, refused.value.code, refused.value.category) == (409, "lease_lost", "rejected")
    assert portal.post("agent/ping/", {}, signed=False)["seen"] == 4  # the connection serves on after a refusal
    assert server.connections == 2


def test_a_portal_that_is_not_there_is_unreachable():
    portal = Portal("http://127.0.0.1:9")  # discard: nothing listens
    with pytest.raises(PortalError) as failed:
        portal.post("agent/ping/", {}, signed=False, timeout=2)
    assert failed.value.category == "unreachable"
