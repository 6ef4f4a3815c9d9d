"""Environments sync their subnets, security groups and key pairs from AWS (the sandbox moto server, over HTTP)."""

import boto3
import pytest
from django.urls import reverse

from environments import services
from environments.models import Environment, SecurityGroup, Subnet
from core.errors import UpstreamError
from core.models import AuditLog, TenantAwsAccount

pytestmark = pytest.mark.aws


@pytest.fixture
def ec2(aws):
    return boto3.client("ec2", endpoint_url=aws.endpoint_url, region_name="us-east-1",
                        aws_access_key_id=aws.access_key, aws_secret_access_key=aws.secret_key)


@pytest.fixture
def custom_vpc(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone="us-east-1a")["Subnet"]
               for i in (1, 2)]
    ec2.create_tags(Resources=[subnets[0]["SubnetId"]], Tags=[{"Key": "Name", "Value": "app-a"}])
    sg = ec2.create_security_group(GroupName="web", Description="web tier", VpcId=vpc)["GroupId"]
    ec2.create_key_pair(KeyName="ops-key")
    return {"vpc": vpc, "subnets": {s["SubnetId"] for s in subnets}, "sg": sg}


def test_sync_fills_the_environment_from_its_vpc(world, api, aws_tenant_account, custom_vpc):
    a = world.a
    aws_tenant_account(a.tenant)
    env = services.environment_create(actor=a.admin, region=a.region, name="synced", vpc_id=custom_vpc["vpc"])
    response = api.as_user(a.admin).post(reverse("api:environment-sync", kwargs={"pk": env.pk}))
    assert response.status_code == 200, response.content
    body = response.json()
    assert {s["subnet_id"] for s in body["subnets"]} == custom_vpc["subnets"]
    assert {s["name"] for s in body["subnets"]} == {"app-a", ""}
    assert custom_vpc["sg"] in {g["group_id"] for g in body["security_groups"]}
    assert "ops-key" in {k["name"] for k in body["key_pairs"]}
    assert body["vpc_cidr_block"] == "10.20.0.0/16" and body["last_synced_at"]
    assert AuditLog.objects.filter(action="environment.sync", outcome="success", object_id=str(env.pk)).exists()


def test_the_default_environment_syncs_the_regions_default_vpc(world, aws_tenant_account, ec2):
    a = world.a
    aws_tenant_account(a.tenant)
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    services.environment_sync(actor=a.admin, environment=a.default_environment)
    env = Environment.objects.get(pk=a.default_environment.pk)
    assert env.vpc_cidr_block == default_vpc["CidrBlock"]
    assert Subnet.objects.filter(environment=env).count() >= 1


def test_resync_removes_what_is_gone_and_keeps_what_templates_use(world, aws_tenant_account, custom_vpc, ec2):
    a = world.a
    aws_tenant_account(a.tenant)
    env = services.environment_create(actor=a.admin, region=a.region, name="synced", vpc_id=custom_vpc["vpc"])
    services.environment_sync(actor=a.admin, environment=env)
    extra = ec2.create_security_group(GroupName="temp", Description="t", VpcId=custom_vpc["vpc"])["GroupId"]
    services.environment_sync(actor=a.admin, environment=env)
    assert SecurityGroup.objects.filter(environment=env, group_id=extra).exists()
    ec2.delete_security_group(GroupId=extra)
    services.environment_sync(actor=a.admin, environment=env)
    assert not SecurityGroup.objects.filter(environment=env, group_id=extra).exists()


def test_a_vpc_that_does_not_exist_fails_cleanly_and_keeps_old_data(world, api, aws_tenant_account):
    a = world.a
    aws_tenant_account(a.tenant)
    before = list(Subnet.objects.filter(environment=a.environment).values_list("subnet_id", flat=True))
    response = api.as_user(a.admin).post(reverse("api:environment-sync", kwargs={"pk": a.environment.pk}))
    assert response.status_code == 502
    assert "vpc-0aaaaaaaaaaaaaaa1" in response.json()["errors"][0]["detail"]
    assert list(Subnet.objects.filter(environment=a.environment).values_list("subnet_id", flat=True)) == before
    assert Environment.objects.get(pk=a.environment.pk).sync_error
    assert AuditLog.objects.filter(action="environment.sync", outcome="failed").exists()


def test_aws_unreachable_is_a_clear_error(world, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    a = world.a
    # The tenant has AWS access of its own (without it no AWS call is made at all: tests/aws_identity).
    TenantAwsAccount.objects.create(tenant=a.tenant, access_key_id="AKIAIOSFODNN7EXAMPLE", secret_access_key="x")
    with pytest.raises(UpstreamError, match="AWS"):
        services.environment_sync(actor=a.admin, environment=a.default_environment)
