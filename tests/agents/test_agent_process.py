"""The agent as a customer runs it: its own process, with an empty environment (no DATABASE_URL, SECRET_KEY,
encryption or AWS keys), only its config file, talking to the portal over HTTP(S) like any client."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.connectors import services
from core.connectors.models import Agent
from migrations_app.work_board import BOARD
from tests.migrations.helpers import wait_for

pytestmark = [pytest.mark.process]
ROOT = Path(__file__).resolve().parents[2]


def _beat_seldom(config: Path) -> None:
    """The agent's heartbeat every ten minutes, so that only a ring makes it send one sooner."""
    saved = json.loads(config.read_text())
    config.write_text(json.dumps({**saved, "heartbeat_seconds": 600}))


def _agent(*args, config):
    # env -i: nothing of the portal's environment reaches the agent.
    return [sys.executable, "-m", "connector", "--config", str(config), *args]


@pytest.fixture
def agent_row(transactional_db, world, settings):
    settings.AGENT_HEARTBEAT_SECONDS = 1
    agent, code = services.agent_create(actor=world.a.admin, name="dc-new")
    return agent, code


def test_the_agent_registers_and_reports_with_nothing_but_its_config(agent_row, live_server, tmp_path):
    agent, code = agent_row
    config = tmp_path / "connector" / "config.json"
    registered = subprocess.run(_agent("register", "--portal", live_server.url, "--code", code, config=config),
                                cwd=ROOT, env={}, capture_output=True, text=True, timeout=60)
    assert registered.returncode == 0, registered.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    saved = json.loads(config.read_text())
    assert saved["agent_id"] == str(agent.pk) and saved["portal_public_keys"]
    again = subprocess.run(_agent("register", "--portal", live_server.url, "--code", code,
                                  config=tmp_path / "second.json"), cwd=ROOT, env={}, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 2 and "not valid" in again.stderr  # a code works once

    _beat_seldom(config)
    process = subprocess.Popen(_agent("run", config=config), cwd=ROOT, env={}, stderr=subprocess.PIPE, text=True)
    try:
        environ = Path(f"/proc/{process.pid}/environ").read_bytes()
        assert not any(name in environ for name in (b"DATABASE_URL", b"SECRET_KEY", b"FIELD_ENCRYPTION_KEYS",
                                                     b"CONNECTOR_SIGNING_KEY", b"AWS_"))
        before = Agent.objects.get(pk=agent.pk).last_contact_at
        wait_for(lambda: Agent.objects.get(pk=agent.pk).last_contact_at != before, timeout=30,
                 what="the agent's heartbeat")
        wait_for(lambda: BOARD.holds(agent.pk), timeout=30, what="the agent's request for work")
        services.agent_revoke(actor=None, agent=Agent.objects.get(pk=agent.pk))
        # Refused: it stops rather than retrying for ever, at once although its next heartbeat is ten minutes off
        # (the revocation rang its held request for work).
        assert process.wait(timeout=30) == 3
    finally:
        if process.poll() is None:
            process.kill()
        stderr = process.communicate()[1]
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert {"running", "refused by the portal; an administrator must register this agent again"} <= {
        line["message"] for line in lines}


def test_the_agent_refuses_a_config_others_can_read(agent_row, tmp_path):
    config = tmp_path / "config.json"
    config.write_text("{}")
    os.chmod(config, 0o644)
    result = subprocess.run(_agent("run", config=config), cwd=ROOT, env={}, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "chmod 600" in result.stderr


def test_importing_the_agent_loads_no_django():
    probe = "import connector.__main__, sys; print('django' in sys.modules or 'core' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe],
                            cwd=ROOT, env={}, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.vcenter
def test_the_agent_reports_its_vcenter_with_credentials_only_it_holds(agent_row, live_server, tmp_path, vcenter):
    agent, code = agent_row
    config = tmp_path / "config.json"
    assert subprocess.run(_agent("register", "--portal", live_server.url, "--code", code, config=config), cwd=ROOT,
                          env={}, capture_output=True, text=True, timeout=60).returncode == 0
    wrong = subprocess.run(_agent("vcenter", "--url", vcenter.url, "--user", vcenter.username, config=config),
                           cwd=ROOT, env={"CONNECTOR_VCENTER_PASSWORD": "not-the-password"}, capture_output=True,
                           text=True, timeout=60)
    assert wrong.returncode == 4 and "vCenter not reached" in wrong.stderr
    right = subprocess.run(_agent("vcenter", "--url", vcenter.url, "--user", vcenter.username, config=config),
                           cwd=ROOT, env={"CONNECTOR_VCENTER_PASSWORD": vcenter.password}, capture_output=True,
                           text=True, timeout=60)
    assert right.returncode == 0, right.stderr
    assert vcenter.password in config.read_text() and stat.S_IMODE(config.stat().st_mode) == 0o600
    process = subprocess.Popen(_agent("run", config=config), cwd=ROOT, env={}, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: Agent.objects.get(pk=agent.pk).vcenter_reachable is True, timeout=30,
                 what="the agent's report on its vCenter")
    finally:
        process.kill()
        process.wait()
    reported = Agent.objects.get(pk=agent.pk)
    assert "vCenter" in reported.vcenter_version or "VMware" in reported.vcenter_version, reported.vcenter_version
    # The portal learned the version, never the credentials.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM connectors_agent")
        assert vcenter.password not in repr(cursor.fetchall())


@pytest.mark.vcenter
def test_the_agent_reports_its_vcenter_inventory_and_a_refresh_lands_within_seconds(agent_row, live_server, tmp_path,
                                                                                      vcenter, world, api,
                                                                                      monkeypatch):
    from adapters.vsphere import client as vsphere
    from core.connectors.models import VCenterInventory
    from core.models import User

    agent, code = agent_row
    User.objects.filter(pk=world.a.user_general.pk).update(vcenter_principal="VSPHERE.LOCAL\\alice")
    User.objects.filter(pk=world.a.user_owner.pk).update(vcenter_principal="VSPHERE.LOCAL\\bob")
    config = tmp_path / "config.json"
    assert subprocess.run(_agent("register", "--portal", live_server.url, "--code", code, config=config), cwd=ROOT,
                          env={}, capture_output=True, text=True, timeout=60).returncode == 0
    assert subprocess.run(_agent("vcenter", "--url", vcenter.url, "--user", vcenter.username, config=config),
                          cwd=ROOT, env={"CONNECTOR_VCENTER_PASSWORD": vcenter.password}, capture_output=True,
                          text=True, timeout=60).returncode == 0
    # Once, at an operator's command: the sandbox's VMs and alice's and bob's export privileges on them.
    once = subprocess.run(_agent("inventory", config=config), cwd=ROOT, env={}, capture_output=True, text=True,
                          timeout=60)
    assert once.returncode == 0, once.stderr
    row = VCenterInventory.objects.get(tenant=world.a.tenant)
    names = {vm["name"]: vm for vm in row.vms}
    assert {"web01", "db01", "win01", "lab-rdm01", "lab-big01"} <= set(names)
    assert row.agent_id == agent.pk and ("vCenter" in row.vcenter_version or "VMware" in row.vcenter_version)
    assert names["win01"]["power_state"] == "poweredOn" and names["win01"]["firmware"] == "efi"
    assert any(d["is_rdm"] for d in names["lab-rdm01"]["disks"]) and names["db01"]["folder_path"] == "Production/Linux"
    alice = row.privileges["VSPHERE.LOCAL\\alice"]
    assert names["web01"]["moref"] in alice and names["lab-rdm01"]["moref"] not in alice  # Production only
    assert row.privileges["VSPHERE.LOCAL\\bob"] == {}  # bob sees the datacenter, exports nothing
    first = row.taken_at

    # Running, it answers a user's Refresh within seconds although its next heartbeat is ten minutes off: the
    # request rings the agent's held request for work.
    _beat_seldom(config)
    process = subprocess.Popen(_agent("run", config=config), cwd=ROOT, env={}, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: VCenterInventory.objects.get(tenant=world.a.tenant).taken_at > first, timeout=30,
                 what="the inventory the agent takes as it starts")
        first = VCenterInventory.objects.get(tenant=world.a.tenant).taken_at
        wait_for(lambda: BOARD.holds(agent.pk), timeout=30, what="the agent's request for work")
        asked = api.as_user(world.a.user_general).post("/api/v1/vcenter/inventory/")
        assert asked.status_code == 202, asked.content
        # The report is what the portal holds (its log line may come after the answer, so the row decides).
        wait_for(lambda: (row := VCenterInventory.objects.get(tenant=world.a.tenant)).refresh_requested_at is None
                 and row.taken_at > first, timeout=30, what="the refreshed inventory")
    finally:
        process.kill()
        process.communicate()

    # The portal lists them without a vCenter session of its own, and never learned the agent's credentials.
    def no_session(*args, **kwargs):
        raise AssertionError("the portal called vCenter")

    monkeypatch.setattr(vsphere, "VCenterSession", no_session)
    listed = api.as_user(world.a.user_general).get("/api/v1/vcenter/vms/")
    assert listed.status_code == 200 and {"web01", "lab-big01"} <= {vm["name"] for vm in listed.json()}
    assert listed["X-Inventory-Source"] == "connector" and int(listed["X-Inventory-Age-Seconds"]) < 60
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM connectors_vcenterinventory")
        assert vcenter.password not in repr(cursor.fetchall())
