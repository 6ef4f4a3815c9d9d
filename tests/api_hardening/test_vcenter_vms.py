"""Whatever the vCenter settings say, saving them is 200 or 400, never a server error; the portal never reads
vCenter for the VM list (409 with the reason until a connector has reported); and the connector, which gets the
settings as its trust, reports a category for them and never raises. Every address here is on the loopback
interface: nothing leaves the machine."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters.vsphere import client as vsphere
from connector import vcenter as agent_vcenter
from core.connectors.selectors import vcenter_trust_for
from tests.api_hardening.conftest import error_body

SETTINGS = "/api/v1/settings/vcenter/"
VMS = "/api/v1/vcenter/vms/"


@pytest.fixture
def closed_port():
    """A loopback port bound but not listening: connecting is refused at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


class _Garbage(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"\x00\xffnot the document you are looking for <<<"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def garbage_port():
    """A loopback HTTP server that answers every request 200 with bytes that are no XML."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


ODD_SETTINGS = {
    "port_out_of_range": lambda p, g: {"url": "http://127.0.0.1:99999/sdk"},
    "port_zero": lambda p, g: {"url": "https://127.0.0.1:0/sdk"},
    "refused": lambda p, g: {"url": f"http://127.0.0.1:{p}/sdk"},
    "ftp_scheme": lambda p, g: {"url": f"ftp://127.0.0.1:{p}/sdk"},
    "user_info_in_url": lambda p, g: {"url": f"https://svc:pw@127.0.0.1:{p}/sdk"},
    "garbage_ca": lambda p, g: {"url": f"https://127.0.0.1:{p}/sdk", "verify_tls": True,
                                "ca_certificate_pem": "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                                                      "-----END CERTIFICATE-----\n"},
    "sha1_thumbprint": lambda p, g: {"url": f"https://127.0.0.1:{p}/sdk", "thumbprint": ":".join(["AB"] * 20)},
    "odd_dns_suffixes": lambda p, g: {"url": f"http://127.0.0.1:{p}/sdk", "dns_suffixes": " , ,..,\u00e9.,"},
    "non_latin_dns_suffix": lambda p, g: {"url": f"http://127.0.0.1:{p}/sdk", "dns_suffixes": "\u0430\u0434\u043c.\u2603"},
    "peer_answers_garbage": lambda p, g: {"url": f"http://127.0.0.1:{g}/sdk"},
    "tls_to_a_plain_http_peer": lambda p, g: {"url": f"https://127.0.0.1:{g}/sdk", "verify_tls": False},
}


@pytest.fixture
def loopback_peers_allowed(settings):
    """The outbound policy refuses loopback and plain HTTP in production; these peers are local on purpose."""
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_CIDRS = ["127.0.0.0/8"]


# The agent's own account for vCenter, entered on its host; non-Latin on purpose.
AGENT_ACCOUNT = {"username": "\u0430\u0434\u043c\\\u00fc", "password": "\u043f\u0430\u0440\u043e\u043b\u044c\u2603"}
CATEGORIES = {vsphere.UNREACHABLE, vsphere.TLS, vsphere.AUTH, vsphere.REFUSED, vsphere.OTHER}


def test_odd_vcenter_settings_are_saved_or_refused_and_the_connector_reports_a_category(
        world, call, closed_port, garbage_port, loopback_peers_allowed):
    accepted = []
    for name, odd in ODD_SETTINGS.items():
        data = {"thumbprint": "", "ca_certificate_pem": "", "dns_suffixes": "", **odd(closed_port, garbage_port)}
        saved = call(world.a.admin, "PUT", SETTINGS, data)
        assert saved.status_code in (200, 400), (name, saved.content)
        if saved.status_code == 400:
            error_body(saved)  # refused when saved: the settings' own validation caught it
            continue
        accepted.append(name)
        # The portal does not read vCenter: the list waits for the connector's report, whatever the settings.
        response = call(world.a.admin, "GET", VMS)
        assert response.status_code == 409, (name, response.content)
        assert error_body(response)[0]["code"] == "inventory_missing"
        # The connector, given these settings as its trust and an account entered for the same URL.
        trust = vcenter_trust_for(agent=world.a.agent)
        report = agent_vcenter.probe({**AGENT_ACCOUNT, "url": trust["url"], "verify_tls": trust["verify_tls"]}, trust)
        assert not report.reachable and report.category in CATEGORIES, (name, report)
    # Odd but accepted: the point of the test is what the connector makes of them.
    assert {"refused", "peer_answers_garbage", "non_latin_dns_suffix"} <= set(accepted), accepted


def test_a_trust_naming_another_destination_is_refused_by_the_connector(world, call, closed_port,
                                                                        loopback_peers_allowed):
    """The portal cannot send the connector's vCenter account elsewhere: a URL or TLS check set in the portal that
    differs from the one the account was entered for is refused before any connection, with its category."""
    entered = {**AGENT_ACCOUNT, "url": f"http://127.0.0.1:{closed_port}/sdk", "verify_tls": True}
    for changed in ({"url": "http://127.0.0.1:1/sdk"}, {"url": f"https://127.0.0.1:{closed_port}/sdk"},
                    {"verify_tls": False}):
        saved = call(world.a.admin, "PUT", SETTINGS, {"url": entered["url"], "verify_tls": True, **changed})
        assert saved.status_code == 200, saved.content
        report = agent_vcenter.probe(entered, vcenter_trust_for(agent=world.a.agent))
        assert (report.reachable, report.category) == (False, agent_vcenter.DESTINATION_CHANGED), changed
    # The same destination, spelt with a trailing slash, is the same.
    call(world.a.admin, "PUT", SETTINGS, {"url": entered["url"] + "/", "verify_tls": True})
    report = agent_vcenter.probe(entered, vcenter_trust_for(agent=world.a.agent))
    assert report.category == vsphere.UNREACHABLE


def test_without_a_connector_the_vm_list_says_so(world, call):
    from django.utils import timezone

    from core.connectors.models import Agent

    Agent.objects.filter(tenant=world.a.tenant).update(revoked_at=timezone.now())
    response = call(world.a.admin, "GET", VMS)
    assert response.status_code == 409
    error = error_body(response)[0]
    assert error["code"] == "no_connector" and "Connector page" in error["detail"]


def test_the_connector_reports_a_moved_destination_and_the_vm_list_says_what_to_do(world, call, closed_port):
    """The whole way: an administrator points the portal's vCenter URL elsewhere, the connector (the agent's own
    reporting code) refuses to send its account there and reports why, and the VM list tells the user."""
    from types import SimpleNamespace

    from tests.agents.inprocess import InProcessAgent

    entered = SimpleNamespace(url=f"http://127.0.0.1:{closed_port}/sdk", username="svc", password="pw")
    agent = InProcessAgent(world.a.tenant, entered)
    assert call(world.a.admin, "PUT", SETTINGS, {"url": "https://vcenter.elsewhere.invalid/sdk"}).status_code == 200
    agent.report_inventory()
    response = call(world.a.admin, "GET", VMS)
    assert response.status_code == 409
    detail = error_body(response)[0]["detail"]
    assert "not the one the connector's vCenter account was entered for" in detail
    assert "python -m connector vcenter" in detail
