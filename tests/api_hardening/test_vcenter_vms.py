"""Whatever the vCenter settings say, listing the VMs (of a tenant without a connector agent, read live) is the
peer's failure (502) or the caller's (4xx), never a server error. Every address here is on the loopback interface: nothing leaves the machine."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from migrations_app import selectors
from core.errors import UpstreamError
from adapters.vsphere import client as vsphere
from tests.api_hardening.conftest import error_body

SETTINGS = "/api/v1/settings/vcenter/"
VMS = "/api/v1/vcenter/vms/"


@pytest.fixture(autouse=True)
def read_live(world):
    """Tenant A reads its vCenter itself: the world's agent is revoked (an agent-served tenant's list is the
    inventory its agent reported, tests/agents/test_inventory.py)."""
    from django.utils import timezone

    from core.connectors.models import Agent

    Agent.objects.filter(tenant=world.a.tenant).update(revoked_at=timezone.now())


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
    "non_latin_credentials": lambda p, g: {"url": f"http://127.0.0.1:{p}/sdk", "username": "\u0430\u0434\u043c\\\u00fc",
                                           "password": "\u043f\u0430\u0440\u043e\u043b\u044c\u2603"},
    "peer_answers_garbage": lambda p, g: {"url": f"http://127.0.0.1:{g}/sdk"},
    "tls_to_a_plain_http_peer": lambda p, g: {"url": f"https://127.0.0.1:{g}/sdk", "verify_tls": False},
}


@pytest.fixture
def loopback_peers_allowed(settings):
    """The outbound policy refuses loopback and plain HTTP in production; these peers are local on purpose."""
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_CIDRS = ["127.0.0.0/8"]


def test_odd_vcenter_settings_then_listing_vms_is_never_a_server_error(world, call, closed_port, garbage_port,
                                                                       loopback_peers_allowed):
    accepted = []
    for name, odd in ODD_SETTINGS.items():
        data = {"username": "svc", "password": "pw", "thumbprint": "", "ca_certificate_pem": "", "dns_suffixes": "",
                **odd(closed_port, garbage_port)}
        saved = call(world.a.admin, "PUT", SETTINGS, data)
        assert saved.status_code in (200, 400), (name, saved.content)
        if saved.status_code == 400:
            error_body(saved)  # refused when saved: the settings' own validation caught it
            continue
        accepted.append(name)
        response = call(world.a.admin, "GET", VMS)
        assert 400 <= response.status_code < 500 or response.status_code == 502, (name, response.content)
        errors = error_body(response)
        if response.status_code == 502:
            assert errors[0]["code"].startswith("vcenter_"), name
    # Odd but accepted: the point of the test is what listing makes of them.
    assert {"refused", "peer_answers_garbage", "non_latin_credentials"} <= set(accepted), accepted


def _session_raising(exc):
    class Session:
        def __enter__(self):
            raise exc

        def __exit__(self, *args):
            return False

    return lambda connection: Session()


def _session_listing(answer):
    class Session:
        def __enter__(self):
            return self

        def __exit__(self, *args):
            return False

        def list_vms(self):
            return answer

    return lambda connection: Session()


@pytest.fixture
def configured(world):
    from core.models import TenantVCenter

    TenantVCenter.objects.create(tenant=world.a.tenant, url="https://127.0.0.1:9/sdk", username="svc")
    return world.a.tenant


@pytest.mark.parametrize("session, code", [
    (_session_raising(vsphere.VSphereError("unreachable", "vCenter could not be reached.", "unreachable")),
     "vcenter_unreachable"),
    (_session_raising(ValueError("Port out of range 0-65535")), "vcenter_unexpected_answer"),
    (_session_raising(UnicodeError("label too long")), "vcenter_unexpected_answer"),
    (_session_listing(None), "vcenter_unexpected_answer"),
    (_session_listing(["vm-1"]), "vcenter_unexpected_answer"),
])
def test_every_adapter_failure_is_an_upstream_error(configured, monkeypatch, session, code):
    monkeypatch.setattr(vsphere, "session", session)
    with pytest.raises(UpstreamError) as caught:
        selectors.vcenter_vm_list(tenant=configured)
    assert caught.value.code == code
    assert "Port" not in caught.value.message and "label" not in caught.value.message


def test_no_vcenter_connection_is_the_tenants_to_fix(world, call):
    response = call(world.a.admin, "GET", VMS)
    assert response.status_code == 409
    assert error_body(response)[0]["code"] == "vcenter_not_configured"
