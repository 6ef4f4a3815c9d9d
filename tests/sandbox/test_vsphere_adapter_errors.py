"""The vSphere adapter keeps its contract against misbehaving peers: every failure is a VSphereError with a
category and a message fit for a user, the raw cause only in the exception chain and the log, and no call waits
without a timeout.

The peers are real: a closed port, tiny HTTP servers in threads, a TCP listener that never answers, a proxy in
front of the vCenter sandbox that can be switched to misbehave, and the sandbox itself."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import logging
import socket
import threading
import time

import pytest

from adapters.outbound import OutboundPolicy
from adapters.vsphere.client import (
    AUTH,
    NOT_FOUND,
    OTHER,
    REFUSED,
    TLS,
    UNREACHABLE,
    VCenterConnection,
    VCenterSession,
    VSphereError,
    session,
)

RAW_TEXT = ("errno", "connection refused", "timed out", "<html", "syntax error", "not well-formed", "expaterror",
            "parseerror", "badstatusline", "ssl:", "certificate verify failed", "traceback")
CATEGORIES = {UNREACHABLE, TLS, AUTH, NOT_FOUND, REFUSED, OTHER}
# These peers all listen on loopback, most over plain HTTP: the outbound policy must allow that here.
LOOPBACK_ALLOWED = OutboundPolicy(allow_http=True, allowed_cidrs=("127.0.0.0/8",))
VERSIONS_XML = (b'<?xml version="1.0" encoding="UTF-8"?>\n<namespaces version="1.0"><namespace><name>urn:vim25</name>'
                b"<version>6.5</version><priorVersions><version>6.0</version></priorVersions></namespace></namespaces>")
HTML_GARBAGE = b"<html><head><title>502</title></head><body><h1>Bad gateway<p>upstream <b>gone</body>"


# --------------------------------------------------------------------------- helpers


def call_bounded(fn, limit: float = 15.0):
    """Runs fn in a thread so that a call without a timeout fails the test instead of hanging it."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001  (the test inspects whatever escaped)
            outcome["error"] = exc

    start = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    elapsed = time.monotonic() - start
    assert not thread.is_alive(), f"the call was still waiting after {limit:.0f} s"
    return outcome, elapsed


def vsphere_error(fn, limit: float = 15.0) -> VSphereError:
    outcome, _ = call_bounded(fn, limit)
    error = outcome.get("error")
    assert isinstance(error, VSphereError), f"expected a VSphereError, got {error!r}"
    assert error.category in CATEGORIES
    lowered = error.message.lower()
    assert not [raw for raw in RAW_TEXT if raw in lowered], error.message
    return error


def connection(url: str, **overrides) -> VCenterConnection:
    settings = {"username": "administrator@vsphere.local", "password": "whatever", "connect_timeout": 5,
                "read_timeout": 5, "outbound": LOOPBACK_ALLOWED} | overrides
    return VCenterConnection(url=url, **settings)


def list_vms(conn: VCenterConnection):
    with session(conn) as vc:
        return vc.list_vms()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def http_server(handler: type[http.server.BaseHTTPRequestHandler], **attributes):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.release = threading.Event()  # lets handlers that hang end at teardown
    for name, value in attributes.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/sdk"
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


class Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


class Garbage(Quiet):
    """A web server that is not vCenter: HTML for everything, with the configured status."""

    def do_GET(self):
        self.reply(self.server.status, HTML_GARBAGE, "text/html")

    def do_POST(self):
        self.body()
        self.reply(self.server.status, HTML_GARBAGE, "text/html")


class VersionsThenGarbage(Garbage):
    """Passes pyVmomi's version check, then answers the SOAP calls with HTML."""

    def do_GET(self):
        if self.path.endswith("/vimServiceVersions.xml"):
            self.reply(200, VERSIONS_XML, "text/xml")
        else:
            super().do_GET()


class Proxy(Quiet):
    """Forwards to the vCenter sandbox while `server.mode` is "forward"; "garbage" answers HTML, "hang" holds the
    request without answering."""

    def do_GET(self):
        self.handle_request()

    def do_POST(self):
        self.handle_request()

    def handle_request(self):
        body = self.body()
        if self.server.mode == "hang":
            self.server.release.wait(30)
            return
        if self.server.mode == "garbage":
            self.reply(200, HTML_GARBAGE, "text/html")
            return
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=10)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# --------------------------------------------------------------------------- peers that are not vCenter


def test_nothing_listening_is_unreachable_without_errno_text(caplog):
    url = f"http://127.0.0.1:{closed_port()}/sdk"
    with caplog.at_level(logging.WARNING, logger="adapters.vsphere"):
        error = vsphere_error(lambda: list_vms(connection(url)))
    assert error.category == UNREACHABLE
    assert error.code == "unreachable"
    assert isinstance(error.__cause__, ConnectionRefusedError)  # the raw cause is kept, in the chain
    assert "Errno" not in error.message and "refused" not in error.message.lower()
    logged = [r for r in caplog.records if r.name == "adapters.vsphere" and r.levelno == logging.WARNING]
    assert logged and "ConnectionRefusedError" in logged[-1].getMessage()  # and in the log, for operators


def test_unresolvable_host_is_unreachable():
    error = vsphere_error(lambda: list_vms(connection("https://vcenter.does-not-exist.invalid/sdk")))
    assert error.category == UNREACHABLE
    assert isinstance(error.__cause__, socket.gaierror)


@pytest.mark.parametrize("status", [200, 500, 404])
def test_web_server_that_is_not_vcenter_is_an_unexpected_answer(status):
    with http_server(Garbage, status=status) as (_, url):
        error = vsphere_error(lambda: list_vms(connection(url)))
    assert error.category == OTHER
    assert error.code == "unexpected_answer"


def test_html_instead_of_soap_is_an_unexpected_answer():
    """The version check passes, the SOAP call gets HTML: pyVmomi's parser error must not escape."""
    with http_server(VersionsThenGarbage, status=200) as (_, url):
        error = vsphere_error(lambda: list_vms(connection(url)))
    assert error.category == OTHER
    assert error.code == "unexpected_answer"


def test_peer_speaking_another_protocol_is_an_unexpected_answer():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def banner():
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
                time.sleep(0.2)

        threading.Thread(target=banner, daemon=True).start()
        error = vsphere_error(lambda: list_vms(connection(f"http://127.0.0.1:{listener.getsockname()[1]}/sdk")))
    assert error.category in (OTHER, UNREACHABLE)


def test_silent_server_times_out_as_unreachable():
    """The TCP connection is accepted (by the kernel's backlog) and nothing is ever answered."""
    with socket.create_server(("127.0.0.1", 0), backlog=4) as listener:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/sdk"
        outcome, elapsed = call_bounded(lambda: list_vms(connection(url, read_timeout=1)), limit=20)
    error = outcome.get("error")
    assert isinstance(error, VSphereError), f"expected a VSphereError, got {outcome!r}"
    assert error.category == UNREACHABLE
    assert isinstance(error.__cause__, TimeoutError)
    assert elapsed < 15, elapsed
    assert "timed out" not in error.message


# --------------------------------------------------------------------------- the sandbox, and a proxy in front of it


needs_vcenter = pytest.mark.vcenter


def sandbox_connection(vcenter, **overrides) -> VCenterConnection:
    settings = {"url": vcenter.url, "username": vcenter.username, "password": vcenter.password,
                "outbound": LOOPBACK_ALLOWED} | overrides
    return VCenterConnection(**settings)


@needs_vcenter
def test_sandbox_lists_vms_with_explicit_timeouts(vcenter):
    vms = list_vms(sandbox_connection(vcenter, connect_timeout=2, read_timeout=5))
    assert "web01" in {vm.name for vm in vms}


@needs_vcenter
@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_soap_connections_send_without_waiting_for_delayed_acks(vcenter, https):
    """pyVmomi sends a request's headers and body in two writes: with Nagle's algorithm on, every call would wait
    for vCenter's delayed ACK (40 ms). The adapter's sockets are opened with TCP_NODELAY, as http.client's are."""
    overrides = {"url": vcenter.https_url, "thumbprint": vcenter.thumbprint} if https else {}
    with session(sandbox_connection(vcenter, **overrides)) as vc:
        assert vc.list_vms()
        pooled = [connection for connection, _ in vc.si._stub.pool]
        assert pooled
        for connection in pooled:
            assert connection.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


@needs_vcenter
def test_wrong_password_is_auth(vcenter):
    error = vsphere_error(lambda: list_vms(sandbox_connection(vcenter, password="not-the-password")))
    assert error.code == "login_failed"
    assert error.category == AUTH


@needs_vcenter
def test_unknown_vm_is_not_found_for_every_call(vcenter):
    with session(sandbox_connection(vcenter)) as vc:
        for call in (lambda: vc.get_vm("vm-does-not-exist"),
                     lambda: vc.privileges_of("vm-does-not-exist", "alice@vsphere.local"),
                     lambda: vc.power_off("vm-does-not-exist"),
                     lambda: vc.export_start("vm-does-not-exist")):
            error = vsphere_error(call)
            assert error.code == "vm_not_found"
            assert error.category == NOT_FOUND


@needs_vcenter
def test_unknown_lease_is_not_found(vcenter):
    with session(sandbox_connection(vcenter)) as vc:
        error = vsphere_error(lambda: vc.lease_progress("lease-does-not-exist", 10))
        assert error.code == "lease_lost"
        assert error.category == NOT_FOUND


@needs_vcenter
def test_untrusted_certificate_is_tls(vcenter):
    error = vsphere_error(lambda: list_vms(sandbox_connection(vcenter, url=vcenter.https_url)))
    assert error.category == TLS


@needs_vcenter
def test_thumbprint_pin_is_enforced(vcenter):
    vms = list_vms(sandbox_connection(vcenter, url=vcenter.https_url, thumbprint=vcenter.thumbprint))
    assert "web01" in {vm.name for vm in vms}
    wrong = ":".join(["AB"] * 20)
    error = vsphere_error(lambda: list_vms(sandbox_connection(vcenter, url=vcenter.https_url, thumbprint=wrong)))
    assert error.category == TLS


@needs_vcenter
@pytest.mark.parametrize("mode, category", [("garbage", OTHER), ("hang", UNREACHABLE)])
def test_calls_after_login_are_translated(vcenter, mode, category):
    """Logged in through a proxy, which then starts answering HTML or stops answering."""
    with http_server(Proxy, upstream=(vcenter.host, vcenter.port), mode="forward") as (server, url):
        with session(sandbox_connection(vcenter, url=url, read_timeout=1)) as vc:
            web01 = next(vm for vm in vc.list_vms() if vm.name == "web01")
            server.mode = mode
            for call in (vc.list_vms, lambda: vc.get_vm(web01.moref),
                         lambda: vc.privileges_of(web01.moref, "alice@vsphere.local"),
                         lambda: vc.power_off(web01.moref)):
                outcome, elapsed = call_bounded(call, limit=15)
                error = outcome.get("error")
                assert isinstance(error, VSphereError), f"expected a VSphereError, got {outcome!r}"
                assert error.category == category
                assert elapsed < 10, elapsed


@needs_vcenter
def test_vcenter_going_away_after_login_is_unreachable(vcenter):
    with http_server(Proxy, upstream=(vcenter.host, vcenter.port), mode="forward") as (server, url):
        vc = VCenterSession(sandbox_connection(vcenter, url=url))
    try:
        error = vsphere_error(vc.list_vms)  # the proxy's port is closed now
        assert error.category == UNREACHABLE
    finally:
        vc.close()
