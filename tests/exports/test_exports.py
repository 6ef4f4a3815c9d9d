"""Exporting an imported instance end to end against the sandbox: the AWS export task, its progress, the OVA's
bucket, key and size, and a download link that really downloads it. Administrators only; auditors read."""

import io
import tarfile
import urllib.request

import pytest
from django.urls import reverse
from django.utils import timezone

from environments.choices import InstanceOrigin
from environments.models import ImportedInstance
from exports.choices import INTENT_TAG, ExportState
from exports.models import ExportTask
from core.models import AuditLog
from tests.exports.conftest import drive, s3_keys

pytestmark = pytest.mark.aws


def _start(ex, instance=None, prefix="vms/", user=None):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user or ex.admin)
    return client.post(reverse("api:export-list"), {"instance": (instance or ex.instance).pk, "s3_prefix": prefix},
                       format="json")


def test_export_runs_to_completion_with_a_download_link(ex, api):
    response = _start(ex)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "exporting" and body["queue_position"] is None
    assert body["instance_id"] == ex.instance.instance_id and body["s3_bucket"] == ex.bucket
    task_id = body["id"]

    assert drive(task_id) == ["again"]  # the worker created the AWS export task and waits for it
    task = ExportTask.objects.get(pk=task_id)
    assert task.export_task_id.startswith("export-i-")
    aws_task = ex.aws.client("ec2").describe_export_tasks(ExportTaskIds=[task.export_task_id])["ExportTasks"][0]
    assert {"Key": INTENT_TAG, "Value": task.intent_token} in aws_task["Tags"]
    assert aws_task["ExportToS3Task"] == {"ContainerFormat": "ova", "DiskImageFormat": "VMDK",
                                          "S3Bucket": ex.bucket, "S3Key": f"vms/{task.export_task_id}.ova"}
    assert aws_task["InstanceExportDetails"] == {"InstanceId": ex.instance.instance_id, "TargetEnvironment": "vmware"}
    shown = api.as_user(ex.admin).get(reverse("api:export-detail", args=[task_id])).json()
    assert shown["export_task_id"] == task.export_task_id

    drive(task_id, ex.aws, seconds=35)  # "uploading"
    task.refresh_from_db()
    assert (task.state, task.progress, task.step) == (ExportState.EXPORTING, 60, "AWS: uploading")

    assert drive(task_id, ex.aws, seconds=30) == ["done"]
    task.refresh_from_db()
    assert task.state == ExportState.COMPLETED, task.status_message
    assert (task.s3_bucket, task.s3_key) == (ex.bucket, f"vms/{task.export_task_id}.ova")
    stored = ex.aws.client("s3").get_object(Bucket=ex.bucket, Key=task.s3_key)["Body"].read()
    assert task.size_bytes == len(stored) > 0 and task.progress == 100

    link = api.as_user(ex.admin).get(reverse("api:export-download", args=[task_id]))
    assert link.status_code == 200
    link = link.json()
    assert (link["bucket"], link["key"], link["size_bytes"]) == (ex.bucket, task.s3_key, task.size_bytes)
    assert "X-Amz-Expires=3600" in link["url"]
    downloaded = urllib.request.urlopen(link["url"], timeout=30).read()
    assert downloaded == stored
    with tarfile.open(fileobj=io.BytesIO(downloaded)) as ova:
        assert ova.getnames()[0] == f"{task.export_task_id}.ovf"
    assert AuditLog.objects.filter(action="export.download", object_id=str(task_id)).exists()
    # Auditors read the history but get no download link; plain users see no exports at all.
    assert api.as_user(ex.a.auditor).get(reverse("api:export-detail", args=[task_id])).status_code == 200
    assert api.as_user(ex.a.auditor).get(reverse("api:export-download", args=[task_id])).status_code == 403
    assert api.as_user(ex.a.user_owner).get(reverse("api:export-detail", args=[task_id])).status_code == 403


def test_only_instances_imported_through_the_portal(ex):
    launched = ImportedInstance.objects.create(tenant=ex.a.tenant, environment=ex.a.environment,
                                               instance_id="i-0fedcba9876543210", origin=InstanceOrigin.LAUNCHED)
    response = _start(ex, instance=launched)
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "instance"
    assert not ExportTask.objects.filter(ec2_instance_id=launched.instance_id).exists()


def test_a_bad_prefix_is_refused(ex):
    for prefix in ("/vms", "vms?x", "a" * 201):
        response = _start(ex, prefix=prefix)
        assert response.status_code == 400, prefix
        assert response.json()["errors"][0]["attr"] == "s3_prefix"


@pytest.mark.parametrize("role", ["user_general", "user_owner", "auditor"])
def test_users_and_auditors_cannot_export(ex, role):
    assert _start(ex, user=getattr(ex.a, role)).status_code == 403
    assert not ExportTask.objects.filter(ec2_instance_id=ex.instance.instance_id).exists()


def test_aws_refusing_the_export_fails_the_job_with_its_reason(ex):
    ex.aws.client("ec2").stop_instances(InstanceIds=[ex.instance.instance_id])
    ex.aws.client("ec2").terminate_instances(InstanceIds=[ex.instance.instance_id])
    task_id = _start(ex).json()["id"]
    assert drive(task_id) == ["failed"]
    task = ExportTask.objects.get(pk=task_id)
    assert task.state == ExportState.FAILED and task.error_code == "aws_IncorrectInstanceState"
    assert "AWS:" in task.status_message and task.finished_at is not None


def test_an_export_aws_ends_early_fails_and_leaves_no_object(ex):
    ex.aws.set_faults(export_failure="ClientError: the disk could not be read")
    task_id = _start(ex).json()["id"]
    drive(task_id)
    drive(task_id, ex.aws, seconds=55)
    task = ExportTask.objects.get(pk=task_id)
    assert task.state == ExportState.FAILED
    assert task.error_code == "export_failed" and "the disk could not be read" in task.status_message
    assert s3_keys(ex.aws, ex.bucket) == ([], [])


def test_list_is_seven_days_by_default_and_filters(ex, api):
    old = ExportTask.objects.get(pk=ex.a.export.pk)
    ExportTask.objects.filter(pk=old.pk).update(created_at=timezone.now() - timezone.timedelta(days=8))
    new_id = _start(ex).json()["id"]
    client = api.as_user(ex.a.auditor)

    def ids(**params):
        response = client.get(reverse("api:export-list"), params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [new_id]
    since = (timezone.now() - timezone.timedelta(days=30)).isoformat()
    assert ids(since=since) == [new_id, old.pk]
    assert ids(since=since, until=(timezone.now() - timezone.timedelta(days=1)).isoformat()) == [old.pk]
    assert ids(state="exporting") == [new_id]
    assert ids(since=since, state="completed") == [old.pk]
    assert ids(environment=ex.a.environment.pk) == [new_id]
    assert ids(environment=ex.a.other_environment.pk) == []
    assert client.get(reverse("api:export-list"), {"environment": ex.world.b.environment.pk}).status_code == 400
    assert api.as_user(ex.a.user_owner).get(reverse("api:export-list")).status_code == 403


def _link_lifetime(api, world):
    import urllib.parse

    response = api.as_user(world.a.admin).get(reverse("api:export-download", args=[world.a.export.pk]))
    assert response.status_code == 200, response.content
    body = response.json()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(body["url"]).query)
    expires_at = timezone.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    return int(query["X-Amz-Expires"][0]), (expires_at - timezone.now()).total_seconds()


def test_download_links_live_an_hour_by_default(world, api, aws, aws_tenant_account):
    aws_tenant_account(world.a.tenant)
    signed, shown = _link_lifetime(api, world)
    assert signed == 3600
    assert 3500 < shown <= 3600


def test_download_links_never_outlive_twelve_hours(world, api, aws, aws_tenant_account, settings):
    """Issue 20: AWS signs links for up to seven days, far too long for a bearer URL; the portal caps them."""
    aws_tenant_account(world.a.tenant)
    settings.EXPORT_DOWNLOAD_URL_SECONDS = 7 * 24 * 3600
    signed, shown = _link_lifetime(api, world)
    assert signed == 12 * 3600
    assert shown <= 12 * 3600
    audited = AuditLog.objects.filter(action="export.download").latest("id")
    assert audited.detail["expires_in"] == 12 * 3600


def test_a_deployment_asking_for_longer_links_fails_the_deploy_check(settings):
    from django.core.checks import run_checks

    settings.EXPORT_DOWNLOAD_URL_SECONDS = 13 * 3600
    errors = [m for m in run_checks() if m.id == "exports.E001"]
    assert errors and "12 hours" in errors[0].msg


def test_a_completed_exports_ova_outlives_its_row(ex, api):
    """Issue 20: the history retention deletes a completed export's row after 90 days; the OVA in the customer's
    bucket is the result, which the orphan sweep decides from the tag written at completion."""
    import datetime

    from portal.site.services import history_cleanup
    from portal.site.sweep import orphan_sweep

    task_id = _start(ex).json()["id"]
    drive(task_id)
    drive(task_id, ex.aws, seconds=35)
    drive(task_id, ex.aws, seconds=30)
    task = ExportTask.objects.get(pk=task_id)
    assert task.state == ExportState.COMPLETED, task.status_message
    assert task.s3_key in s3_keys(ex.aws, ex.bucket)[0]

    long_ago = timezone.now() - datetime.timedelta(days=100)
    ExportTask.objects.filter(pk=task_id).update(created_at=long_ago, finished_at=long_ago)
    assert history_cleanup()[ex.a.tenant.pk]["export"] >= 1
    assert not ExportTask.objects.filter(pk=task_id).exists()

    removals = orphan_sweep(now=timezone.now() + datetime.timedelta(hours=7))
    assert not [r for r in removals if task.s3_key in r.resource], removals
    assert task.s3_key in s3_keys(ex.aws, ex.bucket)[0]
