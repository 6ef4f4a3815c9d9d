"""Every way a migration request is refused: a clear status, a clear message, nothing created, an audit row."""

import time

import pytest
from django.core import signing
from django.test import override_settings
from django.urls import reverse

from connector import protocol
from core.models import AuditLog, TenantVCenter
from migrations_app import tokens
from migrations_app.models import ImportToken, MigrationTask
from migrations_app.preflight import MULTI_DISK_ROLE_MESSAGE

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def _detail(response):
    return response.json()["errors"][0]["detail"]


def _request(s, vm_name, token, **overrides):
    return {"token": token, "vm": s.vms[vm_name].moref, "environment": s.environment.pk,
            # t2: a Linux import has no ENA, so Nitro types are refused (tests/migrations/test_ena.py)
            "operating_system": "ubuntu-22.04", "instance_type": "t2.micro", "subnet": s.subnet.pk,
            "security_group": s.security_group.pk, **overrides}


def _token(api, s, user, vm_name):
    response = api.as_user(user).post(reverse("api:import-tokens"), {"environment": s.environment.pk,
                                                                     "vm": s.vms[vm_name].moref}, format="json")
    assert response.status_code == 201
    return response.json()["token"]


def _post(api, user, body):
    return api.as_user(user).post(reverse("api:migration-list"), body, format="json")


def test_without_any_grant_the_user_is_told_to_ask_an_administrator(setup, api):
    s = setup
    from environments.services import environment_revoke

    environment_revoke(actor=s.admin, environment=s.environment, principal=s.bob)
    response = api.as_user(s.bob).post(reverse("api:import-tokens"), {"environment": s.environment.pk,
                                                                      "vm": "vm-1"}, format="json")
    assert response.status_code == 403
    assert "Ask an administrator to grant you permission" in _detail(response)
    assert AuditLog.objects.filter(action="migration.authorize", outcome="denied", actor=s.bob).exists()


def test_expired_token(setup, api):
    s = setup
    token = _token(api, s, s.alice, "web01")
    with override_settings(CONNECTOR_TOKEN_MAX_AGE=0):
        time.sleep(1.1)
        response = _post(api, s.alice, _request(s, "web01", token))
    assert response.status_code == 403 and "expired" in _detail(response)
    assert not MigrationTask.objects.exists()


def test_tampered_and_foreign_key_tokens(setup, api):
    s = setup
    token = _token(api, s, s.alice, "web01")
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert _post(api, s.alice, _request(s, "web01", tampered)).status_code == 403
    claims = tokens.verify(token)
    payload = {"jti": claims.jti, "uid": s.alice.pk, "tid": s.tenant.pk, "env": s.environment.pk,
               "vm": s.vms["web01"].moref, "aud": "connector", "typ": "vm-import"}
    from django.conf import settings

    # Django's signer with either secret, and a well-formed token signed by an Ed25519 key that is not the portal's.
    with_secret_key = signing.TimestampSigner(key=settings.SECRET_KEY, salt="import-token").sign_object(payload)
    with_connector_secret = signing.TimestampSigner(key=settings.CONNECTOR_SIGNING_KEY).sign_object(payload)
    other_key = protocol.sign_token(protocol.new_private_key(), claims, lifetime_seconds=300)
    for forged in (with_secret_key, with_connector_secret, other_key):
        response = _post(api, s.alice, _request(s, "web01", forged))
        assert response.status_code == 403 and "not valid" in _detail(response)
    assert not MigrationTask.objects.exists()
    assert AuditLog.objects.filter(action="migration.token", outcome="denied").count() == 4


def test_token_bound_to_user_vm_and_environment(setup, api):
    s = setup
    token = _token(api, s, s.alice, "web01")
    other_vm = _post(api, s.alice, _request(s, "db01", token))
    assert other_vm.status_code == 403 and "another vm" in _detail(other_vm)
    other_user = _post(api, s.bob, _request(s, "web01", token))
    assert other_user.status_code == 403 and "another user" in _detail(other_user)
    assert not MigrationTask.objects.exists()


def test_replayed_token(setup, api):
    s = setup
    token = _token(api, s, s.alice, "web01")
    assert _post(api, s.alice, _request(s, "web01", token)).status_code == 201
    replay = _post(api, s.alice, _request(s, "web01", token))
    assert replay.status_code == 409 and "already used" in _detail(replay)
    assert MigrationTask.objects.count() == 1
    assert ImportToken.objects.get().used_at is not None


def test_a_failed_request_does_not_burn_the_token(setup, api):
    s = setup
    token = _token(api, s, s.alice, "web01")
    assert _post(api, s.alice, _request(s, "web01", token, instance_type="x9.huge")).status_code == 400
    assert _post(api, s.alice, _request(s, "web01", token)).status_code == 201


def test_revoked_grant_after_token(setup, api):
    s = setup
    from environments.services import environment_revoke

    token = _token(api, s, s.alice, "web01")
    environment_revoke(actor=s.admin, environment=s.environment, principal=s.alice)
    response = _post(api, s.alice, _request(s, "web01", token))
    assert response.status_code == 403 and "no longer have permission" in _detail(response)


def test_user_without_the_vcenter_export_privilege(setup, api):
    s = setup
    token = _token(api, s, s.bob, "web01")
    response = _post(api, s.bob, _request(s, "web01", token))
    assert response.status_code == 403
    assert _detail(response) == "Your vCenter account VSPHERE.LOCAL\\bob does not hold the VApp.Export privilege " \
                                "on web01."
    row = AuditLog.objects.get(action="migration.create", outcome="denied")
    assert row.detail["reason"] == "no_vcenter_privilege"


def _vcenter_user(s, username, principal):
    from core import services
    from environments import services as env_services
    from environments.choices import EnvironmentRole
    from tests.migrations.conftest import PASSWORD

    user = services.user_create(actor=None, tenant=s.tenant, username=username, role="user", password=PASSWORD,
                                vcenter_principal=principal)
    env_services.environment_grant(actor=s.admin, environment=s.environment, principal=user,
                                   role=EnvironmentRole.GENERAL)
    s.agent.report_inventory()  # the connector's next report covers the new user's vCenter account
    return user


def test_a_user_allowed_only_through_a_vcenter_group_may_migrate(setup, api):
    """carol holds no permission of her own: VApp.Export on the Lab VMs comes from her group, LabExporters."""
    s = setup
    carol = _vcenter_user(s, "carol", "VSPHERE.LOCAL\\carol")
    token = _token(api, s, carol, "lab-big01")
    response = _post(api, carol, _request(s, "lab-big01", token))
    assert response.status_code == 201, response.content


def test_a_closer_user_permission_without_the_privilege_overrides_the_group(setup, api):
    """dave is in LabExporters too, but his own ReadOnly permission on lab-big01 is closer than the group's."""
    s = setup
    dave = _vcenter_user(s, "dave", "VSPHERE.LOCAL\\dave")
    token = _token(api, s, dave, "lab-big01")
    response = _post(api, dave, _request(s, "lab-big01", token))
    assert response.status_code == 403
    assert _detail(response) == "Your vCenter account VSPHERE.LOCAL\\dave does not hold the VApp.Export " \
                                "privilege on lab-big01."
    assert not MigrationTask.objects.filter(vm_moref=s.vms["lab-big01"].moref).exists()


def test_connector_updating_refuses_new_migrations(setup, api):
    s = setup
    TenantVCenter.objects.filter(tenant=s.tenant).update(connector_updating=True)
    token = _token(api, s, s.alice, "web01")
    response = _post(api, s.alice, _request(s, "web01", token))
    assert response.status_code == 409 and "connector is being updated" in _detail(response)


@pytest.mark.parametrize("field,value,message", [
    ("operating_system", "windows-95", "valid choice"),
    ("instance_type", "x9.huge", "valid choice"),
    ("subnet", 999999, "subnet of the environment"),
    ("security_group", 999999, "security group of the environment"),
    ("private_ip", "192.168.77.10", "not inside subnet"),
    ("private_ip", "not-an-ip", "valid IPv4"),
])
def test_bad_field_values(setup, api, field, value, message):
    s = setup
    token = _token(api, s, s.alice, "web01")
    response = _post(api, s.alice, _request(s, "web01", token, **{field: value}))
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["attr"] == field and message in error["detail"]


def test_reserved_private_ips_are_refused(setup, api):
    import ipaddress

    s = setup
    network = ipaddress.ip_network(s.subnet.cidr_block)
    for address in (network.network_address + 1, network.network_address + 3, network.broadcast_address):
        token = _token(api, s, s.alice, "web01")
        response = _post(api, s.alice, _request(s, "web01", token, private_ip=str(address)))
        assert response.status_code == 400 and "reserved by AWS" in _detail(response)


def test_security_group_of_another_environments_vpc_is_refused(setup, api):
    from environments import services as env_services
    from environments.models import SecurityGroup

    s = setup
    other = env_services.environment_create(actor=s.admin, region=s.region, name="other", vpc_id="vpc-0123456789abcdef0")
    foreign = SecurityGroup.objects.create(tenant=s.tenant, environment=other, group_id="sg-0aaaaaaaaaaaaaaa1",
                                           name="foreign")
    token = _token(api, s, s.alice, "web01")
    response = _post(api, s.alice, _request(s, "web01", token, security_group=foreign.pk))
    assert response.status_code == 400 and response.json()["errors"][0]["attr"] == "security_group"


def test_powered_on_vm_needs_the_power_off_option(setup, api):
    s = setup
    token = _token(api, s, s.alice, "win01")
    response = _post(api, s.alice, _request(s, "win01", token, operating_system="windows-server-2019"))
    assert response.status_code == 409 and "powered on" in _detail(response)
    token = _token(api, s, s.alice, "win01")
    # win01 boots with UEFI: a Nitro type
    accepted = _post(api, s.alice, _request(s, "win01", token, operating_system="windows-server-2019",
                                            instance_type="t3.micro", power_off=True))
    assert accepted.status_code == 201 and accepted.json()["power_off_requested"] is True


def test_multi_disk_vm_without_the_vmimport_role_gets_the_exact_message(setup, api):
    s = setup
    iam = s.aws.client("iam")
    for name in iam.list_role_policies(RoleName="vmimport")["PolicyNames"]:
        iam.delete_role_policy(RoleName="vmimport", PolicyName=name)
    for policy in iam.list_attached_role_policies(RoleName="vmimport")["AttachedPolicies"]:
        iam.detach_role_policy(RoleName="vmimport", PolicyArn=policy["PolicyArn"])
    token = _token(api, s, s.alice, "db01")
    response = _post(api, s.alice, _request(s, "db01", token))
    assert response.status_code == 409
    assert _detail(response) == MULTI_DISK_ROLE_MESSAGE
    # Fix Error (administrators): view the policy first, then apply it.
    admin = api.as_user(s.admin)
    view = admin.get(reverse("api:settings-vmimport-role"), {"region": "us-east-1"}).json()
    assert view["has_policy"] is False and "s3:GetObject" in str(view["permissions_policy"])
    fixed = admin.post(reverse("api:settings-vmimport-role"), {"region": "us-east-1"}, format="json").json()
    assert fixed["exists"] and fixed["has_policy"] and fixed["trusts_vmie"]
    token = _token(api, s, s.alice, "db01")
    assert _post(api, s.alice, _request(s, "db01", token)).status_code == 201


def test_rdm_disks_are_refused(setup, api):
    from pyVmomi import vim

    from tests.migrations.conftest import vcenter_session

    s = setup
    moref = s.vms["lab-rdm01"].moref
    with vcenter_session(s.vcenter) as vc:  # give alice the export role on the VM itself
        auth = vc.content.authorizationManager
        role = next(r for r in auth.roleList if r.name == "VM Exporter")
        auth.SetEntityPermissions(entity=vim.VirtualMachine(moref, vc.si._stub), permission=[
            vim.AuthorizationManager.Permission(principal="VSPHERE.LOCAL\\alice", group=False, roleId=role.roleId,
                                                propagate=True)])
    try:
        s.agent.report_inventory()  # the connector reports alice's new privilege
        token = _token(api, s, s.alice, "lab-rdm01")
        response = _post(api, s.alice, _request(s, "lab-rdm01", token, operating_system="centos-7"))
    finally:
        # The sandbox lives for the session: other tests expect alice to see only the Production VMs.
        with vcenter_session(s.vcenter) as vc:
            vc.content.authorizationManager.RemoveEntityPermission(
                entity=vim.VirtualMachine(moref, vc.si._stub), user="VSPHERE.LOCAL\\alice", isGroup=False)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["attr"] == "vm" and "raw device mapping" in error["detail"]


def test_unknown_vm(setup, api):
    s = setup
    response = api.as_user(s.alice).post(reverse("api:import-tokens"), {"environment": s.environment.pk,
                                                                        "vm": "vm-999"}, format="json")
    token = response.json()["token"]
    body = _request(s, "web01", token, vm="vm-999")
    result = _post(api, s.alice, body)
    assert result.status_code == 404 and "no virtual machine vm-999" in _detail(result)


def test_an_agent_reporting_that_it_is_updating_refuses_new_migrations_until_another_can_work(setup, api):
    import json as jsonlib

    from rest_framework.test import APIClient

    from connector import protocol
    from core.connectors.models import Agent
    from tests.migrations.helpers import report_inventory

    s = setup
    key = protocol.new_private_key()
    agent = Agent.objects.create(tenant=s.tenant, name="dc-one", public_key=protocol.public_key_text(key))

    def beat(**payload):
        body = jsonlib.dumps(payload).encode()
        headers = protocol.sign_request(key, agent_id=str(agent.pk), method="POST", path="/api/v1/agent/heartbeat/",
                                        body=body)
        meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
        return APIClient().generic("POST", "/api/v1/agent/heartbeat/", body, content_type="application/json", **meta)

    s.agent.settings.updating = True
    s.agent.beat()  # the tenant's first agent is being updated too
    answer = beat(version="1", updating=True)
    assert answer.status_code == 200
    # The portal's half of the vCenter settings reaches the agent; the credentials never do.
    trust = answer.json()["vcenter"]
    assert trust["url"] == s.vcenter.url and "password" not in trust and "username" not in trust
    token = _token(api, s, s.alice, "web01")
    response = _post(api, s.alice, _request(s, "web01", token))
    assert response.status_code == 409 and "connector is being updated" in _detail(response)
    other = Agent.objects.create(tenant=s.tenant, name="dc-two", public_key=protocol.public_key_text(
        protocol.new_private_key()))  # a second agent that is not being updated takes the work
    report_inventory(other, s.vcenter)  # and the VM and alice's privilege are checked against its inventory
    token = _token(api, s, s.alice, "web01")
    assert _post(api, s.alice, _request(s, "web01", token)).status_code == 201
