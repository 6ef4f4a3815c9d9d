"""The backup, schedule and launch lists cost the same number of queries for a few rows as for many."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments.models import ImportedInstance
from lifecycle.backups import services as backup_services
from lifecycle.backups.models import BackupTask
from lifecycle.launches.models import LaunchTask

BUDGET = 10


def _grow(world, start, stop):
    a = world.a
    for i in range(start, stop):
        instance = ImportedInstance.objects.create(tenant=a.tenant, environment=a.environment,
                                                   instance_id=f"i-0{i:016x}")
        BackupTask.objects.create(tenant=a.tenant, environment=a.environment, instance=instance,
                                  created_by=a.user_general, state="available", client_token=f"backup-grow-{i}",
                                  image_name=f"grow-{i}", image_id=f"ami-0{i:016x}")
        backup_services.backup_schedule_create(actor=a.user_general, instance=instance,
                                               data={"cron": "0 2 * * *", "keep_last": 2})
        LaunchTask.objects.create(tenant=a.tenant, environment=a.environment, template=a.template,
                                  template_name=a.template.name, created_by=a.user_owner, image_id=a.template.ami_id,
                                  instance_type="t3.micro", subnet_id=a.subnet.subnet_id,
                                  security_group_id=a.security_group.group_id, client_token=f"launch-grow-{i}")


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, {"page_size": 500})
    assert response.status_code == 200
    return len(ctx.captured_queries), len(response.json()["results"])


@pytest.mark.parametrize("name", ["backup-list", "backup-schedule-list", "launch-list"])
@pytest.mark.parametrize("who", ["admin", "user_ro", "auditor"])
def test_list_query_count_does_not_grow_with_rows(world, api, name, who):
    client = api.as_user(getattr(world.a, who))
    url = reverse(f"api:{name}")
    _grow(world, 0, 2)
    small, small_rows = _count(client, url)
    _grow(world, 2, 12)
    large, large_rows = _count(client, url)
    assert large_rows == small_rows + 10
    assert large <= small <= BUDGET, f"{name}: {small} queries for {small_rows} rows, {large} for {large_rows}"
