"""The outbound address policy: a tenant's vCenter URL, and the ESX URLs its vCenter hands back, lead only to
addresses the platform's workers may reach.

The rules are a table of addresses and spellings checked by the policy alone (with a resolver the test controls);
then the same rules where they bite: saving the vCenter URL through the API, the adapter's connection to vCenter
(resolved once, connected to the checked address) and the download URLs of a real export lease."""

from __future__ import annotations

import dataclasses
import socket

import pytest
from django.urls import reverse

from core.models import AuditLog, TenantVCenter
from adapters.outbound import OutboundPolicy, OutboundRefused, Target
from adapters.vsphere.client import REFUSED, UNREACHABLE, VCenterConnection, VSphereError, session
from tests.security.peers import FakeDns

STRICT = OutboundPolicy()
RAW_TEXT = ("errno", "gaierror", "name or service", "connection refused", "[ssl", "traceback")


def resolver(table: dict[str, list[str]]):
    """A resolver for the policy alone: `table` maps names to addresses; it counts its lookups."""
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    resolve.calls = calls
    return resolve


# --------------------------------------------------------------------------- the rules


@pytest.mark.parametrize("url, category", [
    ("https://127.0.0.1/sdk", "loopback"),
    ("https://127.8.9.10:8443/sdk", "loopback"),
    ("https://[::1]/sdk", "loopback"),
    ("https://169.254.169.254/latest/meta-data/", "link_local"),
    ("https://[fe80::1]/sdk", "link_local"),
    ("https://[fe80::1%25eth0]/sdk", "link_local"),
    ("https://0.0.0.0/sdk", "unspecified"),
    ("https://[::]/sdk", "unspecified"),
    ("https://224.0.0.251/sdk", "multicast"),
    ("https://[ff02::1]/sdk", "multicast"),
    ("https://240.0.0.1/sdk", "reserved"),
    ("https://255.255.255.255/sdk", "reserved"),
    ("https://192.0.2.10/sdk", "reserved"),
    ("https://10.20.30.40/sdk", "private"),
    ("https://172.16.0.1/sdk", "private"),
    ("https://172.31.255.254/sdk", "private"),
    ("https://192.168.1.10/sdk", "private"),
    ("https://100.64.0.1/sdk", "private"),  # carrier-grade NAT
    ("https://100.127.255.254/sdk", "private"),
    ("https://[fd00::1]/sdk", "private"),  # unique local
    ("https://[fc00::1]/sdk", "private"),
    ("https://[fec0::1]/sdk", "private"),  # site-local
    # the same addresses spelt otherwise
    ("https://[::ffff:127.0.0.1]/sdk", "loopback"),  # IPv4-mapped IPv6
    ("https://[::ffff:7f00:1]/sdk", "loopback"),
    ("https://[::ffff:169.254.169.254]/sdk", "link_local"),
    ("https://[::ffff:10.0.0.1]/sdk", "private"),
    ("https://[64:ff9b::a9fe:a9fe]/sdk", "link_local"),  # NAT64 of 169.254.169.254
    ("https://[2002:7f00:1::]/sdk", "loopback"),  # 6to4 of 127.0.0.1
    ("https://2130706433/sdk", "loopback"),  # decimal
    ("https://0177.0.0.1/sdk", "loopback"),  # octal
    ("https://0x7f.0.0.1/sdk", "loopback"),  # hex
    ("https://0x7f000001/sdk", "loopback"),
    ("https://127.1/sdk", "loopback"),  # short
    ("https://127.0.1/sdk", "loopback"),
    ("https://2852039166/latest/meta-data/", "link_local"),  # 169.254.169.254, decimal
    ("https://0251.0376.0251.0376/", "link_local"),  # 169.254.169.254, octal
    ("https://10.1/sdk", "private"),
    ("https://0/sdk", "unspecified"),
    ("https://134744072/sdk", "address_spelling"),  # 8.8.8.8 in decimal: public, yet only dotted-decimal is taken
    ("https://127.0.0.1./sdk", "loopback"),  # trailing dot
    # schemes and shapes
    ("http://203.0.114.10/sdk", "scheme"),
    ("ftp://203.0.114.10/sdk", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("gopher://127.0.0.1:25/", "scheme"),
    ("vc.example.com/sdk", "scheme"),
    ("https:///sdk", "invalid_url"),
    ("https://vc.example.com:99999/sdk", "invalid_url"),
    ("https://203.0.114.10:0/sdk", "invalid_url"),
])
def test_refused_addresses_and_spellings(url, category):
    with pytest.raises(OutboundRefused) as refused:
        STRICT.check_url(url, resolver=resolver({}))
    assert refused.value.category == category
    message = refused.value.message_for("The vCenter URL")
    assert message.startswith("The vCenter URL ")
    if category not in ("scheme", "invalid_url", "address_spelling"):
        assert f"({category.replace('_', '-')}" in message
    assert not [raw for raw in RAW_TEXT if raw in message.lower()]


@pytest.mark.parametrize("url, expected", [
    ("https://203.0.114.10/sdk", Target("203.0.114.10", 443, "https", "203.0.114.10")),
    ("https://8.8.8.8:8443/sdk", Target("8.8.8.8", 8443, "https", "8.8.8.8")),
    ("HTTPS://[2001:4860:4860::8888]/sdk", Target("2001:4860:4860::8888", 443, "https", "2001:4860:4860::8888")),
    ("https://[::ffff:8.8.8.8]/sdk", Target("::ffff:8.8.8.8", 443, "https", "::ffff:808:808")),
    ("https://172.32.0.1/sdk", Target("172.32.0.1", 443, "https", "172.32.0.1")),  # just past 172.16/12
    ("https://100.128.0.1/sdk", Target("100.128.0.1", 443, "https", "100.128.0.1")),  # just past 100.64/10
    ("https://VC.Example.COM./sdk", Target("vc.example.com", 443, "https", "198.51.99.7")),
])
def test_public_addresses_are_allowed(url, expected):
    assert STRICT.check_url(url, resolver=resolver({"vc.example.com": ["198.51.99.7"]})) == expected


def test_a_name_is_resolved_once_and_every_address_checked():
    resolve = resolver({"vc.example.com": ["198.51.99.7", "2001:db9::7"],
                        "split.example.com": ["198.51.99.7", "10.0.0.7"],  # one public, one private: refused
                        "meta.example.com": ["169.254.169.254"],
                        "mapped.example.com": ["::ffff:127.0.0.1"]})
    assert STRICT.check_url("https://vc.example.com/sdk", resolver=resolve).ip == "198.51.99.7"
    assert resolve.calls == ["vc.example.com"]
    for name, category in (("split", "private"), ("meta", "link_local"), ("mapped", "loopback")):
        with pytest.raises(OutboundRefused) as refused:
            STRICT.check_url(f"https://{name}.example.com/sdk", resolver=resolve)
        assert refused.value.category == category


def test_localhost_resolves_to_loopback_and_is_refused():
    """No fake here: the system resolver's own answer for localhost (no /etc/hosts editing needed)."""
    with pytest.raises(OutboundRefused) as refused:
        STRICT.check_url("https://localhost/sdk")
    assert refused.value.category == "loopback"


def test_a_name_that_does_not_resolve_is_not_refused_but_unresolvable():
    with pytest.raises(socket.gaierror):
        STRICT.check_url("https://vc.does-not-exist.invalid/sdk", resolver=resolver({}))


def test_the_operator_allow_list_and_plain_http():
    lab = OutboundPolicy(allow_http=True, allowed_cidrs=("10.20.0.0/16", "127.0.0.0/8", "fd00:1::/32"))
    assert lab.check_url("http://10.20.30.40/sdk").ip == "10.20.30.40"
    assert lab.check_url("https://127.0.0.1:8443/sdk").port == 8443
    assert lab.check_url("https://[::ffff:127.0.0.1]/sdk").ip == "::ffff:7f00:1"  # the mapped address, too
    assert lab.check_url("https://[fd00:1::5]/sdk").ip == "fd00:1::5"
    for url, category in (("http://10.21.0.1/sdk", "private"), ("https://169.254.169.254/", "link_local"),
                          ("https://[::1]/sdk", "loopback"), ("https://127.1/sdk", "loopback")):
        with pytest.raises(OutboundRefused) as refused:
            lab.check_url(url)
        assert refused.value.category == category
    with pytest.raises(OutboundRefused):
        OutboundPolicy(allowed_cidrs=("10.20.0.0/16",)).check_url("http://10.20.30.40/sdk")  # HTTPS only
    with pytest.raises(ValueError):
        OutboundPolicy(allowed_cidrs=("10.0.0.0/33",))


def test_the_adapter_and_the_settings_default_to_the_strict_policy(settings):
    import portal.settings as module
    from core import peers

    assert VCenterConnection(url="https://vc.example.com/sdk", username="u", password="p").outbound == STRICT
    # the settings module as read without OUTBOUND_* in the environment (the tests' allowance is an override)
    assert module.OUTBOUND_ALLOW_HTTP is False and module.OUTBOUND_ALLOWED_CIDRS == []
    settings.OUTBOUND_ALLOW_HTTP, settings.OUTBOUND_ALLOWED_CIDRS = False, ["10.20.0.0/16"]
    assert peers.outbound_policy() == OutboundPolicy(allow_http=False, allowed_cidrs=("10.20.0.0/16",))


# --------------------------------------------------------------------------- saving the vCenter URL


@pytest.fixture
def strict(settings):
    settings.OUTBOUND_ALLOW_HTTP = False
    settings.OUTBOUND_ALLOWED_CIDRS = []
    return settings


def _put_vcenter(api, world, **body):
    return api.as_user(world.a.admin).put(reverse("api:settings-vcenter"), body, format="json")


# The vCenter URL is reached by the tenant's connector, in its own network: it is checked against the connector's
# policy (adapters.outbound.connector_policy), which the connector applies again at every connection.
@pytest.mark.parametrize("url, category", [
    ("https://169.254.169.254/sdk", "link-local"),
    ("https://[fe80::1]/sdk", "link-local"),
    ("https://224.0.0.1/sdk", "multicast"),
    ("https://0.0.0.0/sdk", "unspecified"),
    ("https://[::ffff:127.0.0.1]/sdk", "loopback"),
    ("http://vc.example.com/sdk", "https"),
])
def test_saving_a_refused_vcenter_url_is_a_400_on_url(world, api, strict, url, category):
    response = _put_vcenter(api, world, url=url)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert [e["attr"] for e in errors] == ["url"]
    assert errors[0]["detail"].startswith("The vCenter URL ") and category in errors[0]["detail"]
    assert "the connector may not reach" in errors[0]["detail"] or category == "https"
    assert not TenantVCenter.objects.exists()
    assert not AuditLog.objects.filter(action="vcenter.update").exists()


def test_saving_a_name_that_resolves_to_a_refused_address_is_refused(world, api, strict, monkeypatch):
    dns = FakeDns(monkeypatch, {"vcenter.acme.example": [["169.254.169.254"]], "vcenter.public.example": [["8.8.4.4"]],
                                "vcenter.lan.example": [["10.1.2.3"]]})
    response = _put_vcenter(api, world, url="https://vcenter.acme.example/sdk")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "url" and "(link-local)" in response.json()["errors"][0]["detail"]
    assert _put_vcenter(api, world, url="https://vcenter.public.example/sdk").status_code == 200
    assert _put_vcenter(api, world, url="https://vcenter.lan.example/sdk").status_code == 200
    assert dns.count("vcenter.acme.example") == 1  # resolved once


def test_saving_a_name_that_does_not_resolve_is_accepted(world, api, strict):
    """The vCenter may be reachable only where the connector runs; every connection resolves and checks again."""
    response = _put_vcenter(api, world, url="https://vcenter.does-not-resolve.invalid/sdk")
    assert response.status_code == 200, response.content


def test_a_vcenter_in_the_customers_network_is_saved_without_the_operators_allow_list(world, api, strict):
    """The portal's own allow-list (OUTBOUND_ALLOWED_CIDRS) is for what the portal reaches; the connector reaches
    its private network, and a vCenter on its own host."""
    for url in ("https://10.0.0.5/sdk", "https://192.168.1.20/sdk", "https://127.0.0.1/sdk", "http://localhost/sdk"):
        assert _put_vcenter(api, world, url=url).status_code == 200, url
    assert _put_vcenter(api, world, url="https://169.254.1.1/sdk").status_code == 400


def test_a_ca_certificate_that_does_not_parse_is_refused_when_saved(world, api, strict):
    from tests.security.peers import Authority

    for pem in ("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
                "just some text", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"):
        response = _put_vcenter(api, world, url="https://8.8.8.8/sdk", ca_certificate_pem=pem)
        assert response.status_code == 400, pem
        assert [e["attr"] for e in response.json()["errors"]] == ["ca_certificate_pem"]
    response = _put_vcenter(api, world, url="https://8.8.8.8/sdk", ca_certificate_pem=Authority().pem)
    assert response.status_code == 200, response.content


# --------------------------------------------------------------------------- connecting to vCenter


def _listener():
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    return server


def test_the_adapter_refuses_before_connecting():
    """A strict policy and a loopback vCenter: a category, no connection attempted at all."""
    with _listener() as listener:
        port = listener.getsockname()[1]
        loopback = "The vCenter URL points at an address the portal may not reach (loopback)."
        for url, expected in ((f"https://127.0.0.1:{port}/sdk", loopback),
                              (f"http://127.0.0.1:{port}/sdk", "The vCenter URL must use https.")):
            connection = VCenterConnection(url=url, username="u", password="p", connect_timeout=2)
            with pytest.raises(VSphereError) as error, session(connection):
                pass
            assert error.value.category == REFUSED
            assert error.value.message == expected
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody knocked


LOOPBACK_HTTP = OutboundPolicy(allow_http=True, allowed_cidrs=("127.0.0.0/8",))


@pytest.mark.vcenter
def test_vcenter_is_resolved_once_and_every_connection_goes_to_the_checked_address(vcenter, monkeypatch):
    """DNS rebinding: the name answers a loopback address (allowed here) once, then the metadata address. The
    session resolves it once and keeps connecting to the first answer: the version probe, the login, the SOAP
    calls and a fresh pooled connection all reach the sandbox."""
    dns = FakeDns(monkeypatch, {"vcenter.rebinding.example": [["127.0.0.1"], ["169.254.169.254"]]})
    url = f"http://vcenter.rebinding.example:{vcenter.port}/sdk"
    with session(VCenterConnection(url=url, username=vcenter.username, password=vcenter.password,
                                   outbound=LOOPBACK_HTTP)) as vc:
        assert "web01" in {vm.name for vm in vc.list_vms()}
        vc.si._stub.DropConnections()  # the next call opens a new connection
        assert vc.get_vm(next(vm.moref for vm in vc.list_vms() if vm.name == "web01")).name == "web01"
    assert dns.count("vcenter.rebinding.example") == 1
    again = VCenterConnection(url=url, username=vcenter.username, password=vcenter.password, outbound=LOOPBACK_HTTP)
    with pytest.raises(VSphereError) as error, session(again):  # a new session resolves again, and is refused
        pass
    assert error.value.category == REFUSED and "(link-local)" in error.value.message


# --------------------------------------------------------------------------- the addresses export leases hand back


@pytest.fixture
def export(vcenter):
    """An export lease on web01 taken through an HTTP session allowed to reach the sandbox."""

    def start(**connection):
        vc = session(VCenterConnection(url=vcenter.url, username=vcenter.username, password=vcenter.password,
                                       **({"outbound": LOOPBACK_HTTP} | connection)))
        return vc

    return start


def _lease_device(vc):
    web01 = next(vm for vm in vc.list_vms() if vm.name == "web01")
    lease = vc.lease_wait_ready(vc.export_start(web01.moref), timeout=30)
    return lease, next(d for d in lease.devices if d.disk)


@pytest.mark.vcenter
@pytest.mark.parametrize("host, answers, category_text", [
    ("169.254.169.254", None, "(link-local)"),
    ("10.0.0.7", None, "(private)"),
    ("2130706433", None, "(loopback, spelt"),
    ("metadata.attacker.example", [["169.254.169.254"]], "(link-local)"),
    ("esx01.sandbox.local", [["10.0.0.7"]], "(private)"),  # an inventory host, resolving to a refused address
])
def test_lease_urls_to_refused_addresses_are_refused(vcenter, export, monkeypatch, host, answers, category_text):
    if answers:
        FakeDns(monkeypatch, {host: answers})
    vcenter.set_faults(esx_host_unresolvable=host)
    with export() as vc:
        lease, device = _lease_device(vc)
        try:
            with pytest.raises(VSphereError) as error:
                vc.open_disk(device, "web01")
        finally:
            vc.lease_abort(lease.moref)
    assert error.value.category == REFUSED and error.value.code == "esx_refused"
    assert category_text in error.value.message
    assert not [raw for raw in RAW_TEXT if raw in error.value.message.lower()]
    assert all(lease["downloads"] == 0 for lease in vcenter.leases())


@pytest.mark.vcenter
def test_lease_urls_must_name_vcenter_or_an_esx_host_of_its_inventory(vcenter, export, monkeypatch):
    """A public-looking name outside vCenter's inventory is refused even though the policy would allow its address;
    an inventory host is downloaded from (at the address checked, with the Host header naming it)."""
    dns = FakeDns(monkeypatch, {"elsewhere.example": [["127.0.0.1"]], "esx01.sandbox.local": [["127.0.0.1"]]})
    vcenter.set_faults(esx_host_unresolvable="elsewhere.example")
    with export() as vc:
        lease, device = _lease_device(vc)
        with pytest.raises(VSphereError) as error:
            vc.open_disk(device, "web01")
        vc.lease_abort(lease.moref)
        assert error.value.category == REFUSED
        assert error.value.message == ("vCenter handed back a download address for web01 on elsewhere.example, "
                                       "which is neither vCenter nor one of its ESX hosts.")
        assert "esx01.sandbox.local" in vc.esx_host_names()

        vcenter.set_faults(esx_host_unresolvable="esx01.sandbox.local")
        lease, device = _lease_device(vc)
        stream = vc.open_disk(device, "web01")
        try:
            assert stream.read(4) == b"KDMV"
        finally:
            stream.close()
            vc.lease_abort(lease.moref)
    assert dns.count("esx01.sandbox.local") == 1


@pytest.mark.vcenter
def test_the_dns_suffix_retry_goes_through_the_policy(vcenter, export, monkeypatch):
    dns = FakeDns(monkeypatch, {"esx01": [[]], "esx01.sandbox.local": [["127.0.0.1"]],
                                "esx02": [[]], "esx02.corp.example": [["10.0.0.8"]],
                                "esx02.sandbox.local": [["127.0.0.1"]]})
    vcenter.set_faults(esx_host_unresolvable="esx01")
    with export(dns_suffixes=("sandbox.local",)) as vc:
        lease, device = _lease_device(vc)
        stream = vc.open_disk(device, "web01")
        try:
            assert stream.read(4) == b"KDMV"
        finally:
            stream.close()
            vc.lease_abort(lease.moref)
    # the first suffix that resolves decides: refused, not skipped for the next one
    vcenter.set_faults(esx_host_unresolvable="esx02")
    with export(dns_suffixes=("corp.example", "sandbox.local")) as vc:
        lease, device = _lease_device(vc)
        with pytest.raises(VSphereError) as error:
            vc.open_disk(device, "web01")
        vc.lease_abort(lease.moref)
    assert error.value.category == REFUSED and "(private)" in error.value.message
    assert dns.count("esx02.sandbox.local") == 0


@pytest.mark.vcenter
def test_an_unresolvable_esx_host_is_still_unreachable(vcenter, export):
    vcenter.set_faults(esx_host_unresolvable="esx07.unresolvable.invalid")
    with export() as vc:
        lease, device = _lease_device(vc)
        with pytest.raises(VSphereError) as error:
            vc.open_disk(device, "web01")
        vc.lease_abort(lease.moref)
    assert error.value.category == UNREACHABLE and error.value.code == "esx_unreachable"


@pytest.mark.vcenter
def test_a_plain_http_lease_url_is_refused_when_http_is_not_allowed(vcenter, export):
    with export() as vc:
        lease, device = _lease_device(vc)
        strict_vc = dataclasses.replace(vc.connection, outbound=OutboundPolicy(allowed_cidrs=("127.0.0.0/8",)))
        vc.connection = strict_vc
        with pytest.raises(VSphereError) as error:
            vc.open_disk(device, "web01")
        vc.lease_abort(lease.moref)
    assert error.value.category == REFUSED
    assert error.value.message == "The download address of ESX host 127.0.0.1 must use https."


@pytest.mark.vcenter
@pytest.mark.aws
def test_a_migration_whose_lease_points_at_the_metadata_address_fails_and_cleans_up(setup, start_migration):
    """Through the migration's steps, whose export is the tenant's connector agent's (run in the test): the agent's
    own outbound policy refuses the link-local download address (a cloud's metadata service, where the agent host's
    credentials are) and reports it; the job fails with that message (the portal answers the agent's report with
    409 job_failed, which ends its turn), nothing is downloaded and the lease is released."""
    from migrations_app.choices import MigrationState
    from migrations_app.models import MigrationTask
    from tests.jobs_engine.drive import run_tick
    from tests.migrations.conftest import assert_no_leftovers

    s = setup
    s.vcenter.set_faults(esx_host_unresolvable="169.254.169.254")
    response = start_migration(s, s.alice, "web01")
    assert response.status_code == 201, response.content
    for _ in range(30):
        run_tick(response.json()["id"])
        task = MigrationTask.objects.get(pk=response.json()["id"])
        if task.is_terminal:
            break
    assert task.state == MigrationState.FAILED
    assert s.agent.outcomes == ["failed"]
    assert task.error_code == "connector_vcenter_esx_refused"
    assert task.status_message == ("The download address of ESX host 169.254.169.254 points at an address the "
                                   "connector may not reach (link-local).")
    assert all(lease["downloads"] == 0 for lease in s.vcenter.leases())
    assert_no_leftovers(s, task)


def test_the_connectors_policy_reaches_its_private_network_but_never_link_local():
    """The agent beside a customer's vCenter reaches private addresses (its vCenter and ESX hosts), never a cloud's
    metadata address or loopback unless its vCenter is on the host itself; refusals name the connector."""
    from connector import vcenter as agent_vcenter

    credentials = {"url": "https://vcenter.corp.example", "username": "svc", "password": "pw"}
    policy = agent_vcenter.connection(credentials).outbound
    for address in ("10.1.2.3", "172.20.0.5", "192.168.1.10", "fd00::5", "8.8.8.200"):
        policy.check_address(address)
    for address, category in (("169.254.169.254", "link_local"), ("fe80::1", "link_local"), ("127.0.0.1", "loopback"),
                              ("224.0.0.1", "multicast")):
        with pytest.raises(OutboundRefused) as refused:
            policy.check_address(address)
        assert refused.value.category == category
        assert "the connector may not reach" in refused.value.message
    with pytest.raises(OutboundRefused):
        policy.check_url("http://vcenter.corp.example/sdk", resolver=lambda host, port: ["10.0.0.9"])
    on_this_host = agent_vcenter.connection({**credentials, "url": "http://127.0.0.1:8989"}).outbound
    on_this_host.check_url("http://127.0.0.1:8989/sdk")
    with pytest.raises(OutboundRefused):
        on_this_host.check_address("169.254.169.254")
