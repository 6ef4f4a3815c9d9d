"""TLS from the worker to vCenter and to the ESX hosts, against the vCenter sandbox's HTTPS listener (its own
self-signed CA, a new one per start) and, where the sandbox cannot play the part, an HTTPS server of the test's
own in front of it.

vCenter: certificates are verified by default, with the configured CA (only it) or a pinned thumbprint, and the
host name checked is the URL's even though the connection goes to the address the outbound policy checked. ESX:
the download is verified against the thumbprint the lease vouches for, before the session cookie is sent; the
audited "ignore ESX certificate errors" switch lets exactly that download through and nothing else."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest

from adapters.outbound import OutboundPolicy
from adapters.vsphere.client import REFUSED, TLS, UNREACHABLE, VCenterConnection, VSphereError, session
from tests.security.peers import Authority, FakeDns, https_server, thumbprint

pytestmark = pytest.mark.vcenter

# HTTPS only (the strict scheme rule), with the sandbox's loopback allowed.
LOOPBACK_HTTPS = OutboundPolicy(allowed_cidrs=("127.0.0.0/8",))
WRONG_SHA1 = ":".join(["AB"] * 20)
WRONG_SHA256 = ":".join(["CD"] * 32)


def https_connection(vcenter, **overrides) -> VCenterConnection:
    return VCenterConnection(**{"url": vcenter.https_url, "username": vcenter.username,
                                "password": vcenter.password, "outbound": LOOPBACK_HTTPS, "connect_timeout": 5,
                                "read_timeout": 15} | overrides)


def vm_names(connection: VCenterConnection) -> set[str]:
    with session(connection) as vc:
        return {vm.name for vm in vc.list_vms()}


def tls_error(connection: VCenterConnection) -> VSphereError:
    with pytest.raises(VSphereError) as error:
        vm_names(connection)
    assert error.value.category == TLS, error.value
    assert error.value.message == "vCenter's TLS certificate could not be verified."
    return error.value


# --------------------------------------------------------------------------- vCenter


def test_certificate_validation_is_on_by_default(vcenter):
    assert VCenterConnection(url="https://x", username="u", password="p").verify_tls is True
    tls_error(https_connection(vcenter))


def test_the_right_ca_is_accepted_and_a_wrong_one_refused(vcenter):
    assert "web01" in vm_names(https_connection(vcenter, ca_pem=vcenter.https_certificate_pem()))
    tls_error(https_connection(vcenter, ca_pem=Authority("Some other CA").pem))


def test_the_host_name_checked_is_the_urls_not_the_address_connected_to(vcenter, monkeypatch):
    """The connection goes to the checked 127.0.0.1 either way; the certificate (for localhost and 127.0.0.1) must
    name the URL's host."""
    dns = FakeDns(monkeypatch, {"localhost": [["127.0.0.1"]], "vcenter.sandbox.example": [["127.0.0.1"]]})
    ca = vcenter.https_certificate_pem()
    named = https_connection(vcenter, url=f"https://localhost:{vcenter.https_port}/sdk", ca_pem=ca)
    assert "web01" in vm_names(named)
    tls_error(https_connection(vcenter, url=f"https://vcenter.sandbox.example:{vcenter.https_port}/sdk", ca_pem=ca))
    assert dns.count("localhost") == 1 and dns.count("vcenter.sandbox.example") == 1


def test_sni_and_host_header_carry_the_real_name_over_the_checked_address(vcenter, monkeypatch):
    """A TLS front of the test's own for vcenter.acme.example (its certificate from the test's CA) forwards to the
    sandbox: every handshake asked for that name, every request named it, and the name was looked up once."""
    dns = FakeDns(monkeypatch, {"vcenter.acme.example": [["127.0.0.1"], ["169.254.169.254"]]})
    authority = Authority("Acme CA")
    with https_server(*authority.issue("vcenter.acme.example"), upstream=(vcenter.host, vcenter.port)) as (
            server, port):
        connection = https_connection(vcenter, url=f"https://vcenter.acme.example:{port}/sdk", ca_pem=authority.pem)
        with session(connection) as vc:
            assert "web01" in {vm.name for vm in vc.list_vms()}
            vc.si._stub.DropConnections()  # a new pooled connection: still the checked address, still the name
            assert "web01" in {vm.name for vm in vc.list_vms()}
    assert dns.count("vcenter.acme.example") == 1
    assert len(server.sni) >= 3 and set(server.sni) == {"vcenter.acme.example"}  # probe, SOAP, new connection
    assert {headers["Host"] for _, _, headers in server.requests} == {f"vcenter.acme.example:{port}"}
    assert {path for _, path, _ in server.requests} >= {"/sdk/vimServiceVersions.xml", "/sdk"}


def test_the_vcenter_thumbprint_pin(vcenter):
    for pin in (vcenter.thumbprint, vcenter.https_thumbprint("sha256")):
        assert "web01" in vm_names(https_connection(vcenter, thumbprint=pin))
    for pin in (WRONG_SHA1, WRONG_SHA256):
        tls_error(https_connection(vcenter, thumbprint=pin))
    # a pin decides even with the right CA configured beside it
    tls_error(https_connection(vcenter, thumbprint=WRONG_SHA256, ca_pem=vcenter.https_certificate_pem()))


# --------------------------------------------------------------------------- ESX (NFC downloads)


@pytest.fixture
def esx_dns(vcenter, monkeypatch):
    """The resolver the test controls: the sandbox's ESX host names lead to their listeners on loopback (nothing
    else resolves them), plus whatever answers a test adds."""
    def install(extra=None):
        return FakeDns(monkeypatch, {name: [[address]] for name, address in vcenter.esx_addresses().items()}
                       | (extra or {}))

    return install


@pytest.fixture
def https_lease(vcenter, esx_dns):
    """A session over HTTPS (trusting the sandbox's CA) holding an export lease on web01, whose device URLs name
    the ESX host that holds web01 (resolved by the test's resolver)."""
    with contextlib.ExitStack() as sessions:
        def open_lease(dns=None, **overrides):
            esx_dns(dns)
            vc = sessions.enter_context(session(https_connection(vcenter, ca_pem=vcenter.https_certificate_pem(),
                                                                 **overrides)))
            web01 = next(vm for vm in vc.list_vms() if vm.name == "web01")
            lease = vc.lease_wait_ready(vc.export_start(web01.moref), timeout=30)
            vc.web01_host = web01.host_name
            return vc, lease, next(d for d in lease.devices if d.disk)

        yield open_lease


def _first_bytes(vc, device) -> bytes:
    stream = vc.open_disk(device, "web01")
    try:
        return stream.read(4)
    finally:
        stream.close()


def test_the_leases_of_an_https_session_name_the_esx_host_and_vouch_for_its_certificate(vcenter, https_lease):
    vc, lease, device = https_lease()
    host = vc.web01_host
    assert device.url.startswith(f"https://{host}:{vcenter.esx_hosts[host]['https_port']}/nfc/")
    assert device.ssl_thumbprint == vcenter.esx_hosts[host]["thumbprint"] != vcenter.thumbprint
    assert _first_bytes(vc, device) == b"KDMV"
    vc.lease_abort(lease.moref)


def test_the_download_pins_the_esx_hosts_thumbprint_not_vcenters(vcenter, https_lease):
    """vCenter's own (trusted) certificate is no ESX host's: a client that checked it would download from a host
    no one vouched for."""
    vc, lease, device = https_lease()
    for vouched in (vcenter.thumbprint, vcenter.https_thumbprint("sha256")):
        with pytest.raises(VSphereError) as error:
            vc.open_disk(dataclasses.replace(device, ssl_thumbprint=vouched), "web01")
        assert error.value.category == TLS and error.value.code == "esx_certificate"
    assert _first_bytes(vc, dataclasses.replace(device, ssl_thumbprint=device.ssl_thumbprint.lower())) == b"KDMV"
    vc.lease_abort(lease.moref)


def test_an_esx_certificate_the_lease_does_not_vouch_for_is_refused(vcenter, https_lease):
    vc, lease, device = https_lease()
    for vouched in (WRONG_SHA1, WRONG_SHA256, ""):
        with pytest.raises(VSphereError) as error:
            vc.open_disk(dataclasses.replace(device, ssl_thumbprint=vouched), "web01")
        assert error.value.category == TLS and error.value.code == "esx_certificate"
        assert error.value.message == (f"ESX host {vc.web01_host} presented a certificate vCenter does not "
                                       "vouch for.")
    assert [le["downloads"] for le in vcenter.leases() if le["id"] == lease.moref] == [0]
    vc.lease_abort(lease.moref)


def test_a_bare_esx_host_name_is_resolved_with_the_dns_suffixes(vcenter, https_lease):
    """vCenter knows some hosts by a bare name; the connector's suffix list makes it resolvable, and the host is
    still pinned to its own thumbprint. Without the list it is the "ESX host unreachable" case."""
    host = next(iter(vcenter.esx_hosts))  # where web01 runs does not matter: the name is the URL's
    bare = host.split(".", 1)[0]
    vcenter.set_faults(esx_host_unresolvable=bare)
    vc, lease, device = https_lease(dns={bare: [[]], f"{bare}.corp.example": [[]]},
                                    dns_suffixes=("corp.example", "sandbox.local"))
    assert device.url.startswith(f"https://{bare}:")
    assert _first_bytes(vc, device) == b"KDMV"
    with pytest.raises(VSphereError) as error:
        vc.open_disk(dataclasses.replace(device, ssl_thumbprint=vcenter.thumbprint), "web01")
    assert error.value.category == TLS
    vc.lease_abort(lease.moref)
    vc, lease, device = https_lease(dns={bare: [[]]})
    with pytest.raises(VSphereError) as error:
        vc.open_disk(device, "web01")
    assert error.value.category == UNREACHABLE and error.value.code == "esx_unreachable"
    assert error.value.message == f"Connector is unable to reach ESX host {bare} to migrate virtual machine web01"
    vc.lease_abort(lease.moref)


def test_ignoring_esx_certificate_errors_lets_only_the_esx_download_through(vcenter, https_lease):
    vc, lease, device = https_lease(ignore_esx_certificate_errors=True)
    assert _first_bytes(vc, dataclasses.replace(device, ssl_thumbprint=WRONG_SHA1)) == b"KDMV"
    assert _first_bytes(vc, dataclasses.replace(device, ssl_thumbprint=vcenter.thumbprint)) == b"KDMV"
    vc.lease_abort(lease.moref)
    # the vCenter connection is verified as ever: untrusted, wrong CA, wrong pin, the ESX host's pin
    tls_error(https_connection(vcenter, ignore_esx_certificate_errors=True))
    tls_error(https_connection(vcenter, ignore_esx_certificate_errors=True, ca_pem=Authority().pem))
    tls_error(https_connection(vcenter, ignore_esx_certificate_errors=True, thumbprint=WRONG_SHA1))
    tls_error(https_connection(vcenter, ignore_esx_certificate_errors=True, thumbprint=device.ssl_thumbprint))
    # and it lets nothing through the outbound policy
    vcenter.set_faults(esx_host_unresolvable="169.254.169.254")
    vc, lease, device = https_lease(ignore_esx_certificate_errors=True)
    with pytest.raises(VSphereError) as error:
        vc.open_disk(device, "web01")
    assert error.value.category == REFUSED
    vc.lease_abort(lease.moref)


def test_an_esx_host_is_verified_under_its_own_name_before_the_cookie_is_sent(vcenter, https_lease, monkeypatch):
    """An ESX host of vCenter's inventory, played by an HTTPS server of the test's own: the download connects to
    the address checked for esx01.sandbox.local, asks for that name in its handshake and its Host header, and
    sends nothing at all to a host whose certificate the lease does not vouch for."""
    certificate, key = Authority("VMCA").issue("esx01.sandbox.local")
    vc, lease, device = https_lease()
    dns = FakeDns(monkeypatch, {"esx01.sandbox.local": [["127.0.0.1"]]})
    with https_server(certificate, key, payload=b"KDMV-from-esx01") as (esx, port):
        on_esx = dataclasses.replace(device, url=f"https://esx01.sandbox.local:{port}/nfc/ticket/disk-0.vmdk",
                                     ssl_thumbprint=thumbprint(certificate, "sha1"))
        with pytest.raises(VSphereError) as error:
            vc.open_disk(dataclasses.replace(on_esx, ssl_thumbprint=vcenter.thumbprint), "web01")
        assert error.value.category == TLS and esx.requests == []  # not a byte of HTTP, so no cookie
        stream = vc.open_disk(on_esx, "web01")
        try:
            assert stream.read(64) == b"KDMV-from-esx01"
        finally:
            stream.close()
        on_esx_sha256 = dataclasses.replace(on_esx, ssl_thumbprint=thumbprint(certificate, "sha256"))
        stream = vc.open_disk(on_esx_sha256, "web01")
        stream.close()
    vc.lease_abort(lease.moref)
    assert set(esx.sni) == {"esx01.sandbox.local"}
    [(method, path, headers), *_] = esx.requests
    assert (method, path) == ("GET", "/nfc/ticket/disk-0.vmdk")
    assert headers["Host"] == f"esx01.sandbox.local:{port}"
    assert headers["Cookie"].startswith("vmware_soap_session=")
    assert dns.count("esx01.sandbox.local") == 3  # once per download, each checked
