"""A tenant's AWS work runs only on that tenant's own access: never on the platform's identity, never in the
platform's account, and with an external id the tenant cannot choose. A tenant's limits only lower the
platform's."""

from __future__ import annotations

import boto3
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from environments import services as env_services
from migrations_app.models import MigrationTask
from core import peers
from core.models import AuditLog, TenantAwsAccount
from tests.jobs_engine.drive import migration_admit

NOT_CONFIGURED = "Configure AWS access for this organisation first"


@pytest.fixture
def platform_identity(aws, settings, monkeypatch):
    """The platform has an AWS identity of its own (as on an EC2 instance with a role): boto3's default chain
    finds it. A tenant's work must never run on it."""
    settings.AWS_ENDPOINT_URL = aws.endpoint_url
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", aws.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", aws.secret_key)
    peers._platform_account_from_sts.cache_clear()
    yield aws
    peers._platform_account_from_sts.cache_clear()


def _codes(response):
    return [e["code"] for e in response.json()["errors"]]


@pytest.mark.aws
def test_no_aws_settings_means_no_aws_call_on_any_path(world, api, platform_identity):
    a = world.a
    client = api.as_user(a.admin)
    answers = [
        client.post(reverse("api:environment-sync", kwargs={"pk": a.default_environment.pk})),
        client.get(reverse("api:settings-vmimport-role"), {"region": "us-east-1"}),
        client.post(reverse("api:settings-vmimport-role"), {"region": "us-east-1"}, format="json"),
        client.post(reverse("api:instance-start", kwargs={"pk": a.instance.pk})),
    ]
    for response in answers:
        assert response.status_code == 409, response.content
        assert _codes(response) == ["aws_not_configured"]
        assert NOT_CONFIGURED in response.json()["errors"][0]["detail"]
    # The platform's default VPC was never read into the tenant's environment, and no role was written.
    a.default_environment.refresh_from_db()
    assert a.default_environment.last_synced_at is None and not a.default_environment.subnets.exists()
    iam = boto3.client("iam", endpoint_url=platform_identity.endpoint_url, region_name="us-east-1",
                       aws_access_key_id=platform_identity.access_key,
                       aws_secret_access_key=platform_identity.secret_key)
    assert "vmimport" not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
    with pytest.raises(CommandError, match=NOT_CONFIGURED):
        call_command("vm_migration", "instance", "--user", a.user_general.username, "start", str(a.instance.pk))


@pytest.mark.aws
def test_an_account_row_without_keys_is_not_configured(world, api, platform_identity):
    a = world.a
    api.as_user(a.admin).get(reverse("api:settings-aws"))  # creates the empty row with its external id
    assert TenantAwsAccount.objects.filter(tenant=a.tenant).exists()
    response = api.as_user(a.admin).post(reverse("api:environment-sync", kwargs={"pk": a.default_environment.pk}))
    assert response.status_code == 409 and _codes(response) == ["aws_not_configured"]


def test_external_id_is_generated_per_tenant_shown_and_never_settable(world, api):
    url = reverse("api:settings-aws")
    first = api.as_user(world.a.admin).get(url).json()["external_id"]
    assert len(first) >= 32
    assert api.as_user(world.a.admin).get(url).json()["external_id"] == first  # stable once shown
    other = api.as_user(world.b.admin).get(url).json()["external_id"]
    assert other != first
    response = api.as_user(world.a.admin).put(url, {"auth_mode": "assume_role", "external_id": "chosen-by-me",
                                                    "role_arn": "arn:aws:iam::111111111111:role/portal"},
                                              format="json")
    assert response.status_code == 200, response.content
    assert response.json()["external_id"] == first
    assert TenantAwsAccount.objects.get(tenant=world.a.tenant).external_id == first
    assert AuditLog.objects.filter(action="aws_account.create", tenant=world.a.tenant).count() == 1


@override_settings(PLATFORM_AWS_ACCOUNT_ID="222233334444")
def test_a_role_in_the_platforms_own_account_is_refused(world, api):
    url = reverse("api:settings-aws")
    client = api.as_user(world.a.admin)
    refused = client.put(url, {"auth_mode": "assume_role", "role_arn": "arn:aws:iam::222233334444:role/admin"},
                         format="json")
    assert refused.status_code == 400
    assert [(e["attr"], e["code"]) for e in refused.json()["errors"]] == [("role_arn", "platform_account_role")]
    assert client.put(url, {"auth_mode": "assume_role", "role_arn": "arn:aws:iam::111111111111:role/portal"},
                      format="json").status_code == 200


@pytest.mark.aws
def test_the_platform_account_comes_from_sts_when_not_configured(world, api, platform_identity, settings):
    platform_account = boto3.client(
        "sts", endpoint_url=platform_identity.endpoint_url, region_name="us-east-1",
        aws_access_key_id=platform_identity.access_key,
        aws_secret_access_key=platform_identity.secret_key).get_caller_identity()["Account"]
    settings.PLATFORM_AWS_ACCOUNT_ID = ""
    refused = api.as_user(world.a.admin).put(reverse("api:settings-aws"), {
        "auth_mode": "assume_role", "role_arn": f"arn:aws:iam::{platform_account}:role/anything"}, format="json")
    assert refused.status_code == 400 and _codes(refused) == ["platform_account_role"]


@pytest.mark.aws
def test_assume_role_does_the_tenants_work_in_the_tenants_account(world, api, platform_identity, settings):
    """The platform identity only assumes the role; the sync then reads the tenant's account, not the
    platform's."""
    settings.PLATFORM_AWS_ACCOUNT_ID = ""
    a = world.a
    response = api.as_user(a.admin).put(reverse("api:settings-aws"), {
        "auth_mode": "assume_role", "role_arn": "arn:aws:iam::111111111111:role/portal"}, format="json")
    assert response.status_code == 200, response.content
    credentials = peers.aws_credentials(a.tenant)
    assert credentials.role_arn.endswith(":role/portal") and not credentials.access_key_id
    assert credentials.external_id == TenantAwsAccount.objects.get(tenant=a.tenant).external_id
    synced = api.as_user(a.admin).post(reverse("api:environment-sync", kwargs={"pk": a.default_environment.pk}))
    assert synced.status_code == 200, synced.content
    tenant_subnets = {s["subnet_id"] for s in synced.json()["subnets"]}
    ec2 = boto3.client("ec2", endpoint_url=platform_identity.endpoint_url, region_name="us-east-1",
                       aws_access_key_id=platform_identity.access_key,
                       aws_secret_access_key=platform_identity.secret_key)
    platform_subnets = {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]}
    assert tenant_subnets and not tenant_subnets & platform_subnets


def test_a_tenant_may_lower_the_region_limit_never_raise_it(world, api, settings):
    settings.MIGRATION_MAX_ACTIVE_PER_REGION = 4
    url = reverse("api:settings-vcenter")
    client = api.as_user(world.a.admin)
    base = {"url": "https://vc.example.com/sdk"}
    raised = client.put(url, {**base, "max_active_migrations_per_region": 32767}, format="json")
    assert raised.status_code == 400
    assert [e["attr"] for e in raised.json()["errors"]] == ["max_active_migrations_per_region"]
    assert client.put(url, {**base, "max_active_migrations_per_region": 2}, format="json").status_code == 200


def _queue(a, region, environment, n, prefix):
    return [MigrationTask.objects.create(
        tenant=a.tenant, environment=environment, region=region, created_by=a.admin, vm_moref=f"{prefix}-{i}",
        vm_name=f"{prefix}{i}", operating_system="ubuntu-22.04", instance_type="t3.micro", subnet=a.subnet,
        security_group=a.security_group) for i in range(n)]


def test_a_platform_cap_per_tenant_spans_its_regions(world, settings):
    a = world.a
    MigrationTask.objects.all().delete()
    settings.MIGRATION_MAX_ACTIVE_PER_REGION = 4
    settings.MIGRATION_MAX_ACTIVE_PER_TENANT = 5
    other_region = env_services.region_create(actor=a.admin, code="eu-west-1")
    _queue(a, a.region, a.environment, 4, "us")
    _queue(a, other_region, other_region.environments.get(), 4, "eu")
    # One admission pass starts what fits anywhere in the tenant's capacity pool, both regions included.
    admitted = migration_admit(region_id=a.region.pk) + migration_admit(region_id=other_region.pk)
    running = MigrationTask.objects.filter(pk__in=admitted)
    assert len(admitted) == 5 and running.count() == 5
    assert running.filter(region=a.region).count() <= 4 and running.filter(region=other_region).count() <= 4
    # A rule written before the cap was enforced cannot raise the limit either.
    from core.models import TenantVCenter

    TenantVCenter.objects.create(tenant=a.tenant, url="https://vc.example.com/sdk",
                                 max_active_migrations_per_region=30)
    settings.MIGRATION_MAX_ACTIVE_PER_TENANT = 100
    assert len(migration_admit(region_id=other_region.pk)) == 3
