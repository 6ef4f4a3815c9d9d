"""The vCenter inventory a tenant's connector agent reports (its VMs and the mapped users' export privileges), and
the portal reading it instead of vCenter for a tenant its agents serve: the VM list with its age, a migration's
vCenter checks, plan validation; Refresh asks the agent for a fresh one through its heartbeat answer. The world's
tenants are served by their agent "dc1"; a second agent with a key of the test's signs the reports."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from adapters.vsphere import client as vsphere
from core.connectors.models import Agent, VCenterInventory
from core.models import AuditLog
from migrations_app.plans.validation import validate_plan
from tests.agents.test_agent_work_api import SigningAgent

INVENTORY = "/api/v1/agent/inventory/"
HEARTBEAT = "/api/v1/agent/heartbeat/"
VMS = "/api/v1/vcenter/vms/"
STATUS = "/api/v1/vcenter/inventory/"
ALICE = "VSPHERE.LOCAL\\alice"


def vm(moref, name, *, power_state="poweredOff", rdm=False, folder="Production/Linux"):
    disks = [{"key": 2000, "label": "Hard disk 1", "capacity_bytes": 16 * 2 ** 20, "is_rdm": False}]
    if rdm:
        disks.append({"key": 2001, "label": "Hard disk 2", "capacity_bytes": 64 * 2 ** 20, "is_rdm": True})
    return {"moref": moref, "name": name, "guest_id": "ubuntu64Guest", "guest_full_name": "Ubuntu Linux (64-bit)",
            "power_state": power_state, "num_cpu": 2, "memory_mb": 2048, "disks": disks,
            "host_name": "esx01.sandbox.local", "folder_path": folder, "firmware": "bios",
            "committed_bytes": 8 * 2 ** 20}


VMS_REPORTED = [vm("vm-40", "web01"), vm("vm-41", "app01"), vm("vm-50", "win01", power_state="poweredOn"),
                vm("vm-60", "lab01", folder="Lab")]


def report(taken_at=None, **changes):
    body = {"taken_at": (taken_at or timezone.now() - timedelta(minutes=2)).isoformat(), "vcenter_version":
            "VMware vCenter Server 8.0.2 build-22617221", "vms": VMS_REPORTED,
            # alice may export everything but lab01; a principal nobody is mapped to, a VM not in the inventory and
            # a privilege the portal did not ask about are not kept
            "privileges": {ALICE: {"vm-40": ["VApp.Export", "System.View"], "vm-41": ["VApp.Export"],
                                   "vm-50": ["VApp.Export"], "vm-99": ["VApp.Export"]},
                           "VSPHERE.LOCAL\\nobody": {"vm-60": ["VApp.Export"]}}}
    return {**body, **changes}


@pytest.fixture
def mapped(world):
    """Tenant A's general user is alice in vCenter; the owner is mapped too, but to a principal never reported."""
    a = world.a
    type(a.user_general).objects.filter(pk=a.user_general.pk).update(vcenter_principal=ALICE)
    type(a.user_owner).objects.filter(pk=a.user_owner.pk).update(vcenter_principal="VSPHERE.LOCAL\\owner")
    a.user_general.refresh_from_db()
    a.user_owner.refresh_from_db()
    return a


@pytest.fixture
def agent_a(mapped):
    return SigningAgent(mapped.tenant, "dc-a")


@pytest.fixture
def no_vcenter_call(monkeypatch):
    """Any vCenter session the portal opens fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the portal called vCenter for a tenant its connector agent serves")

    monkeypatch.setattr(vsphere, "VCenterSession", refuse)


@pytest.fixture
def reported(agent_a, no_vcenter_call):
    answer = agent_a.post(INVENTORY, report())
    assert answer.status_code == 200, answer.content
    return agent_a


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_a_signed_inventory_is_kept_for_the_agents_own_tenant_only(world, agent_a):
    answer = agent_a.post(INVENTORY, report(tenant="acme"))
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"stored": True, "vms": 4}
    row = VCenterInventory.objects.get(tenant=world.a.tenant)
    assert row.agent_id == agent_a.row.pk and row.vm_count == 4 and [v["name"] for v in row.vms][:2] == [
        "web01", "app01"]
    # Only what the portal asked about: its mapped principals, the export privilege, VMs of this inventory.
    assert row.privileges == {ALICE: {"vm-40": ["VApp.Export"], "vm-41": ["VApp.Export"], "vm-50": ["VApp.Export"]}}

    other = SigningAgent(world.b.tenant, "dc-b")
    refused = other.post(INVENTORY, report(tenant="acme", vms=[vm("vm-1", "not-acme")]))
    assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "wrong_tenant"
    assert other.post(INVENTORY, report(vms=[vm("vm-1", "globex-only")], privileges={})).status_code == 200
    assert [v["name"] for v in VCenterInventory.objects.get(tenant=world.b.tenant).vms] == ["globex-only"]
    assert VCenterInventory.objects.get(tenant=world.a.tenant).vm_count == 4  # untouched by tenant B's agent

    unsigned = Client().post(INVENTORY, json.dumps(report()), content_type="application/json")
    assert unsigned.status_code in (401, 403)
    Agent.objects.filter(pk=agent_a.row.pk).update(revoked_at=timezone.now())
    assert agent_a.post(INVENTORY, report()).status_code == 401
    # Telemetry, like the heartbeat: no audit row per report.
    assert not AuditLog.objects.filter(action__startswith="agent.", detail__icontains="inventory").exists()


def test_oversize_and_malformed_inventories_are_refused(world, agent_a, settings):
    settings.AGENT_INVENTORY_MAX_VMS = 3
    too_many = agent_a.post(INVENTORY, report())
    assert too_many.status_code == 400 and too_many.json()["errors"][0]["attr"].startswith("vms")
    settings.AGENT_INVENTORY_MAX_VMS = 100
    settings.AGENT_INVENTORY_MAX_BYTES = 1000
    too_big = agent_a.post(INVENTORY, report())
    assert too_big.status_code == 413 and too_big.json()["errors"][0]["code"] == "payload_too_large"
    settings.AGENT_INVENTORY_MAX_BYTES = 100_000
    for bad in ({"vms": [vm("vm-40", "web01"), vm("vm-40", "web01 again")]},
                {"vms": [{**vm("vm-40", "web01"), "disks": [VMS_REPORTED[0]["disks"][0]] * 300}]},
                {"vms": [{**vm("vm-40", "web01"), "moref": "vm 40; drop"}]},
                {"vms": [{**vm("vm-40", "web01"), "power_state": "exploded"}]},
                {"error": "Connection refused by 10.0.0.5"}):
        answer = agent_a.post(INVENTORY, report(**bad))
        assert answer.status_code == 400, (bad, answer.content)
    assert agent_a.post(INVENTORY, {**report(), "taken_at": "yesterday"}).status_code == 400
    assert not VCenterInventory.objects.filter(tenant=world.a.tenant).exclude(taken_at=None).exists()


def test_a_body_beyond_djangos_limit_is_read_only_for_a_serving_agent(world, agent_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.AGENT_INVENTORY_MAX_BYTES = 100_000
    assert agent_a.post(INVENTORY, report()).status_code == 200  # about 3 kB: this endpoint's own limit applies
    stranger = SigningAgent(world.a.tenant, "dc-stranger")
    Agent.objects.filter(pk=stranger.row.pk).update(revoked_at=timezone.now())
    assert stranger.post(INVENTORY, report()).status_code == 401
    # Other agent endpoints keep Django's limit (a 413, never a server error).
    refused = agent_a.post(HEARTBEAT, {"version": "1", "padding": "x" * 2000})
    assert refused.status_code == 413 and refused.json()["errors"][0]["code"] == "payload_too_large"


def test_an_older_report_or_a_failed_attempt_keeps_the_inventory_held(world, agent_a):
    now = timezone.now()
    assert agent_a.post(INVENTORY, report(taken_at=now - timedelta(minutes=1))).json()["stored"] is True
    older = agent_a.post(INVENTORY, report(taken_at=now - timedelta(minutes=5), vms=[vm("vm-1", "old")]))
    assert older.status_code == 200 and older.json()["stored"] is False
    failed = agent_a.post(INVENTORY, {"taken_at": now.isoformat(), "error": "unreachable"})
    assert failed.status_code == 200 and failed.json()["stored"] is False
    row = VCenterInventory.objects.get(tenant=world.a.tenant)
    assert row.vm_count == 4 and row.error == "unreachable" and row.error_at is not None
    ahead = agent_a.post(INVENTORY, report(taken_at=now + timedelta(hours=1)))  # an agent clock ahead of ours
    assert ahead.json()["stored"] is True
    row.refresh_from_db()
    assert row.taken_at <= timezone.now() and row.error == ""


def test_refresh_sets_the_flag_and_the_heartbeat_answer_carries_it_until_answered(world, mapped, agent_a, api):
    beat = agent_a.post(HEARTBEAT, {}).json()["inventory"]
    assert beat["refresh"] is False and beat["requested_at"] is None
    assert beat["every_seconds"] == 300 and beat["principals"] == [ALICE, "VSPHERE.LOCAL\\owner"]
    assert beat["privileges"] == ["VApp.Export", "*"]

    asked = api.as_user(mapped.user_general).post(STATUS)
    assert asked.status_code == 202, asked.content
    assert asked.json()["source"] == "connector" and asked.json()["refresh_requested_at"]
    beat = agent_a.post(HEARTBEAT, {}).json()["inventory"]
    assert beat["refresh"] is True and beat["requested_at"]
    # Asking again while it is pending changes nothing: the agent answers the first request.
    api.as_user(mapped.admin).post(STATUS)
    assert agent_a.post(HEARTBEAT, {}).json()["inventory"]["requested_at"] == beat["requested_at"]

    assert agent_a.post(INVENTORY, report(answers=beat["requested_at"])).json()["stored"] is True
    assert agent_a.post(HEARTBEAT, {}).json()["inventory"]["refresh"] is False
    assert api.as_user(mapped.user_general).get(STATUS).json()["refresh_requested_at"] is None

    # The page's Refresh button does the same.
    page = _client(mapped.user_general).post(reverse("ui:vms") + "?q=web")
    assert page.status_code == 302 and page["Location"] == reverse("ui:vms") + "?q=web"
    assert agent_a.post(HEARTBEAT, {}).json()["inventory"]["refresh"] is True
    # Who may not migrate anywhere may not ask; a tenant without agents has nothing to ask.
    assert api.as_user(mapped.user_ro).post(STATUS).status_code == 403
    assert api.as_user(mapped.auditor).post(STATUS).status_code == 403
    Agent.objects.filter(tenant=mapped.tenant).update(revoked_at=timezone.now())
    direct = api.as_user(mapped.user_general).post(STATUS)
    assert direct.status_code == 409 and direct.json()["errors"][0]["code"] == "no_connector"
    status = api.as_user(mapped.user_general).get(STATUS).json()
    assert (status["source"], status["taken_at"], status["vm_count"]) == ("none", None, None)  # not the revoked one's


def test_the_vm_list_comes_from_the_inventory_with_its_age_and_no_vcenter_call(mapped, reported, api):
    listed = api.as_user(mapped.user_general).get(VMS)
    assert listed.status_code == 200, listed.content
    assert [v["name"] for v in listed.json()] == ["web01", "app01", "win01", "lab01"]
    assert set(listed.json()[0]) >= {"moref", "name", "power_state", "disks", "host_name", "folder_path"}
    assert listed["X-Inventory-Source"] == "connector" and listed["X-Inventory-Stale"] == "false"
    assert 110 <= int(listed["X-Inventory-Age-Seconds"]) <= 180 and listed["X-Inventory-Taken-At"]
    status = api.as_user(mapped.user_general).get(STATUS).json()
    assert status["agent"] == "dc-a" and status["vm_count"] == 4 and status["stale"] is False

    page = _client(mapped.user_general).get(reverse("ui:vms")).content.decode()
    assert "ago</time>, as the connector dc-a reported them." in page and ">2\xa0minutes ago</time>" in page
    assert ">Refresh</button>" in page
    # alice's privileges come from the inventory too: lab01 is the one she may not export.
    assert "does not hold the VApp.Export privilege on lab01" in page and "on web01" not in page
    # Those who may not migrate read the list and its age, without the button.
    auditor_page = _client(mapped.auditor).get(reverse("ui:vms")).content.decode()
    assert "as the connector dc-a reported them" in auditor_page and ">Refresh</button>" not in auditor_page
    # A user mapped after the report is told the privileges are not known yet rather than refused everywhere.
    owner_page = _client(mapped.user_owner).get(reverse("ui:vms")).content.decode()
    assert "has not reported the privileges of your vCenter account yet" in owner_page
    assert "does not hold the VApp.Export privilege" not in owner_page


def test_a_stale_inventory_and_a_failed_attempt_say_so(mapped, agent_a, no_vcenter_call, api):
    agent_a.post(INVENTORY, report(taken_at=timezone.now() - timedelta(hours=2)))
    agent_a.post(INVENTORY, {"taken_at": timezone.now().isoformat(), "error": "auth"})
    listed = api.as_user(mapped.user_general).get(VMS)
    assert listed.status_code == 200 and listed["X-Inventory-Stale"] == "true"
    page = _client(mapped.user_general).get(reverse("ui:vms")).content.decode()
    assert "This list is stale: the connector has not reported for 2\xa0hours" in page
    assert "vCenter refused the connector&#x27;s login" in page and "web01" in page


def test_no_inventory_yet_is_a_clear_message_never_a_server_error(mapped, no_vcenter_call, api):
    listed = api.as_user(mapped.user_general).get(VMS)
    assert listed.status_code == 409
    assert listed.json()["errors"][0]["code"] == "inventory_missing"
    assert "has not reported its VMs yet" in listed.json()["errors"][0]["detail"]
    page = _client(mapped.user_general).get(reverse("ui:vms"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "The connector has not reported its VMs yet." in html and ">Refresh</button>" in html
    dialog = _client(mapped.user_general).get(reverse("ui:migrate-dialog"))
    assert dialog.status_code == 200 and "has not reported its VMs yet" in dialog.content.decode()
    status = api.as_user(mapped.user_general).get(STATUS).json()
    assert status["taken_at"] is None and status["vm_count"] is None and status["source"] == "connector"


def _migrate(api, user, a, moref, **changes):
    client = api.as_user(user)
    token = client.post(reverse("api:import-tokens"), {"environment": a.environment.pk, "vm": moref}, format="json")
    assert token.status_code == 201, token.content
    body = {"token": token.json()["token"], "vm": moref, "environment": a.environment.pk,
            "operating_system": "ubuntu-22.04", "instance_type": "t3.micro", "subnet": a.subnet.pk,
            "security_group": a.security_group.pk, **changes}
    return client.post(reverse("api:migration-list"), body, format="json")


def _code(response) -> str:
    return response.json()["errors"][0]["code"]


def test_migration_create_checks_privilege_and_power_state_against_the_inventory(mapped, reported, api):
    no_privilege = _migrate(api, mapped.user_general, mapped, "vm-60")
    assert no_privilege.status_code == 403 and _code(no_privilege) == "no_vcenter_privilege"
    assert no_privilege.json()["errors"][0]["detail"] == (
        "Your vCenter account VSPHERE.LOCAL\\alice does not hold the VApp.Export privilege on lab01.")
    assert AuditLog.objects.filter(action="migration.create", outcome="denied",
                                   detail__reason="no_vcenter_privilege").exists()
    powered_on = _migrate(api, mapped.user_general, mapped, "vm-50")
    assert powered_on.status_code == 409 and _code(powered_on) == "vm_powered_on"
    # Allowed to export and powered off (or to be powered off): the vCenter checks pass, AWS's come next.
    for moref, changes in (("vm-40", {}), ("vm-50", {"power_off": True})):
        passed = _migrate(api, mapped.user_general, mapped, moref, **changes)
        assert _code(passed) not in ("no_vcenter_privilege", "vm_powered_on", "inventory_missing"), passed.content
        assert not _code(passed).startswith("vcenter_")


def test_what_the_inventory_cannot_tell_yet_is_refused_and_a_refresh_asked_for(mapped, reported, api):
    unknown_vm = _migrate(api, mapped.user_general, mapped, "vm-77")
    assert unknown_vm.status_code == 404 and "as the connector reported it" in unknown_vm.content.decode()
    row = VCenterInventory.objects.get(tenant=mapped.tenant)
    assert row.refresh_requested_at is not None
    VCenterInventory.objects.filter(pk=row.pk).update(refresh_requested_at=None)
    unknown_principal = _migrate(api, mapped.user_owner, mapped, "vm-40")
    assert unknown_principal.status_code == 409 and _code(unknown_principal) == "inventory_privileges_unknown"
    assert VCenterInventory.objects.get(pk=row.pk).refresh_requested_at is not None
    VCenterInventory.objects.filter(pk=row.pk).update(taken_at=None, vms=[])
    missing = _migrate(api, mapped.user_general, mapped, "vm-40")
    assert missing.status_code == 409 and _code(missing) == "inventory_missing"


def test_plan_validation_reads_the_inventory(mapped, agent_a, no_vcenter_call):
    plan = mapped.plan  # alice's VMs: app01 (vm-41)
    missing = validate_plan(plan=plan, actor=mapped.user_general)
    assert [p.code for p in missing.plan_problems] == ["inventory_missing"]
    agent_a.post(INVENTORY, report(vms=[vm("vm-41", "app01", power_state="poweredOn")], privileges={ALICE: {}}))
    result = validate_plan(plan=plan, actor=mapped.user_general)
    codes = {p.code for problems in result.vm_problems.values() for p in problems}
    assert {"vm_powered_on", "no_vcenter_privilege"} <= codes
    assert "inventory_missing" not in {p.code for p in result.plan_problems}


def test_the_connection_test_reports_what_the_connector_reported(mapped, reported):
    checks = _client(mapped.admin).post(reverse("ui:connection-test"), HTTP_HX_REQUEST="true").content.decode()
    assert "The connector dc-a reported 4 VM(s) 2\xa0minutes ago." in checks


def test_the_agent_takes_the_inventory_when_due_or_asked_and_answers_each_request_once(monkeypatch):
    from connector import config
    from connector import inventory as agent_inventory

    sent = []

    class Portal:
        def post(self, path, payload, **kwargs):
            sent.append((path, payload))
            return {"stored": not payload.get("error"), "vms": len(payload.get("vms", []))}

    taken = []

    def take(settings, *, trust, principals, privileges):
        taken.append((principals, privileges))
        return {"taken_at": timezone.now().isoformat(), "vcenter_version": "8.0", "vms": [vm("vm-1", "a")],
                "privileges": {}, "principal_errors": {}}

    monkeypatch.setattr(agent_inventory, "take", take)
    settings = config.Config(portal_url="https://portal.example.com", agent_id="1", private_key="k",
                             portal_public_keys=[], tenant="acme", vcenter={"url": "https://vc/sdk"})
    reporter = agent_inventory.InventoryReporter(lambda: Portal(), lambda: settings)
    instructions = {"every_seconds": 300, "refresh": False, "requested_at": None, "principals": [ALICE],
                    "privileges": ["VApp.Export"]}
    assert reporter._wanted(instructions)  # never taken: at once
    reporter.report(instructions)
    assert not reporter._wanted(instructions)  # not due for five minutes
    asked = {**instructions, "refresh": True, "requested_at": "2026-12-07T10:00:00.123456Z"}
    assert reporter._wanted(asked)
    reporter.report(asked)
    assert sent[-1][1]["answers"] == asked["requested_at"] and sent[-1][1]["tenant"] == "acme"
    assert not reporter._wanted(asked)  # the same request, until the portal has cleared it: not taken twice
    assert taken == [([ALICE], ["VApp.Export"])] * 2 and "password" not in json.dumps(sent)
    settings.vcenter = {}
    reporter.report(instructions)
    assert sent[-1][1]["error"] == "not_configured" and "vms" not in sent[-1][1]
