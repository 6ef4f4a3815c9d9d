"""The orphan sweep against the AWS sandbox: resources the portal left behind (made here with boto3, tagged and
named as the pipeline does) are removed once their job ended long enough ago; a live job's resources, a completed
job's results, untagged resources and another tenant's are left alone; every removal writes an audit row."""

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from migrations_app.staging import staging_bucket_name
from core import services
from core.models import AuditLog
from portal.site.sweep import orphan_sweep
from sandbox.aws.testing import ensure_export_bucket, make_vmdk

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]
S = MigrationState
LATER = datetime.timedelta(hours=7)  # past the default ORPHAN_SWEEP_MIN_AGE_SECONDS (6 h)


def _migration(s, state, *, tenant=None, vm="vm-x", **fields):
    tenant = tenant or s.tenant
    now = timezone.now()
    return MigrationTask.objects.create(
        tenant=tenant, environment=s.environment, region=s.region, created_by=s.alice, vm_moref=f"{vm}-{state}",
        vm_name=vm, operating_system="ubuntu-22.04", instance_type="t3.micro", subnet=s.subnet,
        security_group=s.security_group, state=state, finished_at=now if state in
        (S.FAILED, S.CANCELLED, S.COMPLETED) else None, **fields)


class Orphans:
    """Resources made the way the pipeline makes them, straight through boto3."""

    def __init__(self, s):
        self.s, self.s3, self.ec2 = s, s.aws.client("s3"), s.aws.client("ec2")
        self.bucket = staging_bucket_name(s.tenant, "us-east-1")
        self.s3.create_bucket(Bucket=self.bucket)

    def key(self, task, n=1, slug=None):
        return f"{slug or self.s.tenant.slug}/migration-{task.pk}/disk-{n}.vmdk"

    def upload(self, key):
        upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        self.s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"x" * 1024)
        return upload_id

    def staged(self, key, body=None):
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body or b"disk")

    def import_task(self, task, slug=None):
        key = self.key(task, 9, slug)
        self.staged(key, make_vmdk())
        return self.ec2.import_image(
            ClientToken=f"import-{task.pk}", Platform="Linux",
            DiskContainers=[{"Format": "vmdk", "UserBucket": {"S3Bucket": self.bucket, "S3Key": key}}],
            TagSpecifications=[{"ResourceType": "import-image-task", "Tags": [
                {"Key": "portal-migration", "Value": str(task.pk)},
                {"Key": "portal-tenant", "Value": slug or self.s.tenant.slug}]}])["ImportTaskId"]

    def finish_imports(self):
        self.s.aws.advance(self.s.aws.settings()["import_duration"] + 1)

    def image_of(self, import_task_id):
        return self.ec2.describe_import_image_tasks(ImportTaskIds=[import_task_id])["ImportImageTasks"][0]

    def instance(self, image_id, tags):
        return self.ec2.run_instances(
            ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t2.micro",  # a Linux import has no ENA
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in
                                                                     tags.items()]}])["Instances"][0]["InstanceId"]

    def uploads(self):
        return {u["Key"] for u in self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])}

    def objects(self):
        return {o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])}

    def instance_state(self, instance_id):
        found = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        return found["State"]["Name"]

    def image_exists(self, image_id):
        return bool(self.ec2.describe_images(Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"])

    def snapshot_exists(self, snapshot_id):
        return bool(self.ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}])[
            "Snapshots"])


def test_sweep_removes_orphans_of_ended_jobs_and_nothing_else(setup):
    s = setup
    o = Orphans(s)
    failed = _migration(s, S.FAILED, vm="failed")
    cancelled = _migration(s, S.CANCELLED, vm="cancelled")
    live = _migration(s, S.UPLOADING, vm="live")
    cancelling = _migration(s, S.CANCELLING, vm="cancelling")
    done = _migration(s, S.COMPLETED, vm="done")
    # Another tenant (no AWS access of its own here) whose resources happen to sit in the same account.
    other = services.tenant_create(actor=None, name="Beta", slug="beta")
    theirs = _migration(s, S.FAILED, tenant=other, vm="theirs")

    failed_upload_key, live_upload_key = o.key(failed), o.key(live)
    o.upload(failed_upload_key)
    o.upload(live_upload_key)
    o.upload(o.key(cancelling))
    o.staged(o.key(cancelled, 2))
    o.staged(o.key(live, 2))
    o.staged("someone-else/notes.txt")  # in the bucket but not under a migration's prefix
    o.staged(o.key(theirs, 1, slug="beta"))

    failed_import = o.import_task(failed)
    done_import = o.import_task(done)
    theirs_import = o.import_task(theirs, slug="beta")
    o.finish_imports()
    cancelled_import = o.import_task(cancelled)  # still active: it must be cancelled
    failed_image = o.image_of(failed_import)["ImageId"]
    failed_snapshots = [d["SnapshotId"] for d in o.image_of(failed_import)["SnapshotDetails"]]
    done_image, theirs_image = o.image_of(done_import)["ImageId"], o.image_of(theirs_import)["ImageId"]

    orphan_instance = o.instance(failed_image, {"portal-migration": str(failed.pk)})
    done_instance = o.instance(done_image, {"portal-migration": str(done.pk)})
    MigrationTask.objects.filter(pk=done.pk).update(instance_id=done_instance, image_id=done_image)
    live_instance = o.instance(done_image, {"portal-migration": str(live.pk)})
    untagged_instance = o.instance(done_image, {"Name": "not the portal's"})
    theirs_instance = o.instance(theirs_image, {"portal-migration": str(theirs.pk)})
    unknown_instance = o.instance(done_image, {"portal-migration": "999999"})  # no row, no tenant tag

    # Everything is fresh: under the 6 h default nothing may go, not even in a dry run's list.
    assert orphan_sweep(dry_run=True) == []

    later = timezone.now() + LATER
    listed = orphan_sweep(dry_run=True, now=later)
    assert {(r.kind, r.resource) for r in listed} >= {
        ("multipart_upload", f"s3://{o.bucket}/{failed_upload_key}#{_upload_id(o, failed_upload_key)}"),
        ("import_task", cancelled_import), ("image", failed_image), ("instance", orphan_instance)}
    assert not any(r.removed for r in listed)
    assert failed_upload_key in o.uploads() and AuditLog.objects.filter(action="sweep.removed").count() == 0

    removals = orphan_sweep(now=later)
    assert all(r.removed for r in removals), [r for r in removals if not r.removed]
    removed = {(r.kind, r.resource.split("#")[0]) for r in removals}
    assert removed == {
        ("multipart_upload", f"s3://{o.bucket}/{failed_upload_key}"),
        ("staged_object", f"s3://{o.bucket}/{o.key(cancelled, 2)}"),
        ("staged_object", f"s3://{o.bucket}/{o.key(failed, 9)}"),
        ("staged_object", f"s3://{o.bucket}/{o.key(cancelled, 9)}"),
        ("staged_object", f"s3://{o.bucket}/{o.key(done, 9)}"),  # a completed job's staged disk is no result
        ("import_task", cancelled_import),
        ("image", failed_image),
        ("instance", orphan_instance),
    }, removed

    # gone
    assert failed_upload_key not in o.uploads()
    assert o.key(cancelled, 2) not in o.objects()
    assert o.image_of(cancelled_import)["Status"] in ("deleting", "deleted")
    assert not o.image_exists(failed_image)
    assert not any(o.snapshot_exists(snap) for snap in failed_snapshots)
    assert o.instance_state(orphan_instance) in ("shutting-down", "terminated")
    # kept: live and cancelling jobs, the completed job's results, untagged things, another tenant's
    assert {live_upload_key, o.key(cancelling)} <= o.uploads()
    assert {o.key(live, 2), "someone-else/notes.txt", o.key(theirs, 1, slug="beta")} <= o.objects()
    assert o.image_exists(done_image) and o.image_exists(theirs_image)
    for kept in (done_instance, live_instance, untagged_instance, theirs_instance, unknown_instance):
        assert o.instance_state(kept) not in ("shutting-down", "terminated"), kept

    audit = AuditLog.objects.filter(action="sweep.removed")
    assert audit.count() == len(removals)
    assert set(audit.values_list("tenant_id", flat=True)) == {s.tenant.pk}
    row = audit.get(detail__kind="instance")
    assert (row.object_type, row.object_id, row.detail["resource"]) == (
        "migrations_app.MigrationTask", str(failed.pk), orphan_instance)

    # A second pass finds nothing more: the sweep is idempotent.
    assert [r for r in orphan_sweep(now=later) if r.kind != "import_task"] == []


def _upload_id(o, key):
    return next(u["UploadId"] for u in o.s3.list_multipart_uploads(Bucket=o.bucket)["Uploads"] if u["Key"] == key)


def test_sweep_orphans_command_dry_run_lists_and_keeps(setup, settings):
    s = setup
    o = Orphans(s)
    failed = _migration(s, S.FAILED, vm="failed")
    MigrationTask.objects.filter(pk=failed.pk).update(finished_at=timezone.now() - LATER)
    o.upload(o.key(failed))
    out = StringIO()
    call_command("sweep_orphans", "--dry-run", "--min-age", "0", stdout=out)
    assert f"migration {failed.pk}\tmultipart_upload" in out.getvalue()
    assert "1 orphan(s) found (dry run)" in out.getvalue()
    assert o.key(failed) in o.uploads()
    out = StringIO()
    call_command("sweep_orphans", "--min-age", "0", stdout=out)
    assert "1 orphan(s) removed, 0 not removed" in out.getvalue()
    assert o.uploads() == set()


def test_sweep_deletes_objects_of_deleted_exports_only(setup):
    s = setup
    o = Orphans(s)
    done = _migration(s, S.COMPLETED, vm="done")
    done_import = o.import_task(done)
    o.finish_imports()
    image = o.image_of(done_import)["ImageId"]
    MigrationTask.objects.filter(pk=done.pk).update(image_id=image)
    instance = o.instance(image, {"portal-migration": str(done.pk)})
    MigrationTask.objects.filter(pk=done.pk).update(instance_id=instance)
    bucket = "export-to-s3-acme-us-east-1"
    ensure_export_bucket(s.aws, bucket)
    export = o.ec2.create_instance_export_task(
        InstanceId=instance, TargetEnvironment="vmware",
        ExportToS3Task={"DiskImageFormat": "VMDK", "ContainerFormat": "ova", "S3Bucket": bucket, "S3Prefix": "x/"},
        TagSpecifications=[{"ResourceType": "export-instance-task", "Tags": [
            {"Key": "portal-export", "Value": "424242"},  # its row was deleted with the history
            {"Key": "portal-tenant", "Value": s.tenant.slug}]}])["ExportTask"]
    untagged = "x/keep-me.ova"
    o.s3.put_object(Bucket=bucket, Key=untagged, Body=b"not the portal's")
    s.aws.advance(s.aws.settings()["export_duration"] + 1)
    key = o.ec2.describe_export_tasks(ExportTaskIds=[export["ExportTaskId"]])["ExportTasks"][0]["ExportToS3Task"][
        "S3Key"]
    assert key in {x["Key"] for x in o.s3.list_objects_v2(Bucket=bucket)["Contents"]}

    removals = orphan_sweep(now=timezone.now() + LATER)
    assert [(r.kind, r.resource, r.removed) for r in removals] == [
        ("staged_object", f"s3://{o.bucket}/{o.key(done, 9)}", True),
        ("export_object", f"s3://{bucket}/{key}", True)]
    assert {x["Key"] for x in o.s3.list_objects_v2(Bucket=bucket)["Contents"]} == {untagged}
    assert o.instance_state(instance) not in ("shutting-down", "terminated")


def test_the_sweep_runs_hourly_from_a_schedule(db):
    from django_q.models import Schedule

    from portal.site import tasks

    schedule = Schedule.objects.get(name="orphan-sweep")
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == (
        "portal.site.tasks.orphan_sweep", Schedule.HOURLY, -1)
    services.tenant_create(actor=None, name="No AWS", slug="no-aws")  # no credentials: nothing to sweep, no call
    assert tasks.orphan_sweep() == {"removed": 0, "problems": 0}


def test_a_completed_migrations_results_outlive_its_row(setup, start_migration):
    """Issue 20: the history retention deletes a completed migration's row after 90 days; its instance, image and
    snapshots are the customer's results, which the sweep decides from the tags written at completion, not from
    the row that is gone."""
    from portal.site.services import history_cleanup
    from tests.migrations.helpers import drive

    s = setup
    s.aws.set_speed(200)
    response = start_migration(s, s.alice, "web01")
    assert response.status_code == 201, response.content
    drive(response.json()["id"])
    task = MigrationTask.objects.get(pk=response.json()["id"])
    assert task.state == "completed", task.status_message
    o = Orphans(s)
    image = o.ec2.describe_images(ImageIds=[task.image_id])["Images"][0]
    snapshots = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
    assert snapshots

    long_ago = timezone.now() - datetime.timedelta(days=100)
    MigrationTask.objects.filter(pk=task.pk).update(created_at=long_ago, finished_at=long_ago)
    assert history_cleanup()[s.tenant.pk]["migration"] == 1
    assert not MigrationTask.objects.filter(pk=task.pk).exists()

    removals = orphan_sweep(now=timezone.now() + LATER)
    assert not [r for r in removals if r.resource in {task.instance_id, task.image_id, *snapshots}], removals
    assert o.image_exists(task.image_id)
    assert all(o.snapshot_exists(snap) for snap in snapshots)
    assert o.instance_state(task.instance_id) not in ("shutting-down", "terminated")
