"""List endpoints cost the same number of queries for a few rows as for many (no N+1), within a budget."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core import services
from environments import services as env_services
from environments.choices import EnvironmentRole
from environments.models import ImportedInstance, KeyPair, SecurityGroup, Subnet, Template
from migrations_app.models import MigrationTask

BUDGETS = {
    "environment-list": 12,
    "region-list": 10,
    "template-list": 10,
    "instance-list": 10,
    "user-list": 8,
    "group-list": 8,
    "auditlog-list": 8,
    "migration-list": 10,
}
MORE_REGIONS = ["eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "ap-south-1", "sa-east-1", "ca-central-1"]


def _grow(world, start, stop):
    a = world.a
    for i in range(start, stop):
        env = env_services.environment_create(actor=a.admin, region=a.region, name=f"env{i}", vpc_id=f"vpc-0{i:016x}")
        subnet = Subnet.objects.create(tenant=a.tenant, environment=env, subnet_id=f"subnet-0{i:016x}",
                                       cidr_block="10.0.0.0/24", availability_zone="us-east-1a")
        sg = SecurityGroup.objects.create(tenant=a.tenant, environment=env, group_id=f"sg-0{i:016x}", name="g")
        KeyPair.objects.create(tenant=a.tenant, environment=env, name="k")
        Template.objects.create(tenant=a.tenant, environment=env, created_by=a.admin, name=f"t{i}",
                                ami_id="ami-0123456789abcdef0", instance_type="t3.micro", subnet=subnet,
                                security_group=sg)
        ImportedInstance.objects.create(tenant=a.tenant, environment=env, instance_id=f"i-0{i:016x}")
        env_services.environment_grant(actor=a.admin, environment=env, principal=a.user_owner,
                                       role=EnvironmentRole.OWNER)
        if i < len(MORE_REGIONS):
            env_services.region_create(actor=a.admin, code=MORE_REGIONS[i])
        MigrationTask.objects.create(tenant=a.tenant, environment=env, region=a.region, created_by=a.user_general,
                                     vm_moref=f"vm-q{i}", vm_name=f"q{i}", operating_system="ubuntu-22.04",
                                     instance_type="t3.micro", subnet=subnet, security_group=sg)
        user = services.user_create(actor=a.admin, tenant=a.tenant, username=f"u{i}", role="user")
        services.group_create(actor=a.admin, name=f"g{i}", members=[user, a.user_ro])


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, {"page_size": 500})
    assert response.status_code == 200
    return len(ctx.captured_queries), len(response.json()["results"])


ADMIN_LISTS = {"user-list", "group-list", "auditlog-list"}
CASES = [(name, "admin") for name in sorted(BUDGETS)] + [(name, "user_owner") for name in sorted(BUDGETS)
                                                          if name not in ADMIN_LISTS]
# Auditors read the administrators' lists too, through the same restriction.
CASES += [(name, "auditor") for name in sorted(ADMIN_LISTS)]


@pytest.mark.parametrize("name,who", CASES)
def test_list_query_count_does_not_grow_with_rows(world, api, name, who):
    client = api.as_user(getattr(world.a, who))
    url = reverse(f"api:{name}")
    _grow(world, 0, 2)
    small, small_rows = _count(client, url)
    _grow(world, 2, 12)
    large, large_rows = _count(client, url)
    # A user's regions are those of their environments, which all live in one region here.
    assert large_rows > small_rows or (name, who) == ("region-list", "user_owner")
    # Fewer is fine (ContentType and permission lookups are cached after the first request).
    assert large <= small, f"{name}: {small} queries for {small_rows} rows, {large} for {large_rows}"
    assert large <= BUDGETS[name]
