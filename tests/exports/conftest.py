"""An administrator's tenant wired to the AWS sandbox (the world's tenant A), with an instance imported through
VM Import in the sandbox so that AWS allows exporting it, and fast job settings: a tick that would wait returns
at once ("again"), and the test moves the sandbox clock instead."""

from types import SimpleNamespace

import pytest

from environments.models import ImportedInstance
from exports import services


@pytest.fixture
def fast_exports(settings):
    settings.EXPORT_LEASE_SECONDS = 3
    settings.EXPORT_POLL_SECONDS = 0.05
    settings.EXPORT_TICK_BUDGET_SECONDS = 0
    return settings


def sandbox_instances(aws, count=1):
    from sandbox.aws.testing import imported_instances

    return imported_instances(aws, count=count)


@pytest.fixture
def ex(transactional_db, world, aws, aws_tenant_account, fast_exports):
    """Tenant A of the world with AWS access, its export buckets created in the sandbox under its export name, and
    `instance` (the world's imported instance) backed by a sandbox instance VM Export accepts."""
    a = world.a
    aws_tenant_account(a.tenant)
    services.export_configure(actor=a.admin, name=a.export_settings.name, consent=True)
    (instance_id,) = sandbox_instances(aws)
    ImportedInstance.objects.filter(pk=a.instance.pk).update(instance_id=instance_id)
    a.instance.refresh_from_db()
    return SimpleNamespace(world=world, a=a, aws=aws, instance=a.instance, admin=a.admin,
                           bucket=f"export-to-s3-{a.export_settings.name}-us-east-1")


def more_instances(ex, count):
    """`count` more imported instances of tenant A's environment, each backed by a sandbox instance."""
    rows = []
    for i, instance_id in enumerate(sandbox_instances(ex.aws, count)):
        rows.append(ImportedInstance.objects.create(tenant=ex.a.tenant, environment=ex.a.environment,
                                                    instance_id=instance_id, source_vm_name=f"vm{i}"))
    return rows


def drive(task_id, aws=None, seconds=0, ticks=1):
    """Run `ticks` worker ticks, moving the sandbox clock `seconds` before each."""
    from tests.jobs_engine.drive import export_run_tick as run_tick

    outcomes = []
    for _ in range(ticks):
        if aws is not None and seconds:
            aws.advance(seconds)
        outcomes.append(run_tick(task_id))
    return outcomes


def s3_keys(aws, bucket):
    s3 = aws.client("s3")
    objects = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    uploads = [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    return objects, uploads
