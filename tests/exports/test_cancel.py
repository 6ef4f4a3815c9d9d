"""Cancel Export Task: only with confirmation, idempotent, and it leaves no partial object behind."""

import pytest
from django.urls import reverse

from exports.choices import ExportState
from exports.models import ExportTask
from tests.exports.conftest import drive, more_instances, s3_keys

pytestmark = pytest.mark.aws


def _cancel(api, user, task_id, body):
    return api.as_user(user).post(reverse("api:export-cancel", args=[task_id]), body, format="json")


def _start(ex, api, instance=None):
    response = api.as_user(ex.admin).post(reverse("api:export-list"), {
        "instance": (instance or ex.instance).pk, "s3_prefix": "vms/"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_cancel_needs_confirmation(ex, api):
    task_id = _start(ex, api)
    for body in ({}, {"confirm": False}):
        response = _cancel(api, ex.admin, task_id, body)
        assert response.status_code == 400
        assert response.json()["errors"][0]["attr"] == "confirm"
    assert ExportTask.objects.get(pk=task_id).state == ExportState.EXPORTING
    assert _cancel(api, ex.a.auditor, task_id, {"confirm": True}).status_code == 403
    assert _cancel(api, ex.world.b.admin, task_id, {"confirm": True}).status_code == 404


def test_cancel_during_upload_twice_leaves_nothing(ex, api):
    task_id = _start(ex, api)
    drive(task_id)
    drive(task_id, ex.aws, seconds=35)  # AWS is uploading: a partial (multipart) object exists
    task = ExportTask.objects.get(pk=task_id)
    assert s3_keys(ex.aws, ex.bucket) == ([], [task.s3_key])

    first = _cancel(api, ex.admin, task_id, {"confirm": True})
    assert first.status_code == 200 and first.json()["state"] == "cancelling"
    again = _cancel(api, ex.admin, task_id, {"confirm": True})
    assert again.status_code == 200 and again.json()["state"] == "cancelling"

    assert drive(task_id) == ["again"]  # CancelExportTask sent; AWS is cancelling
    aws_task = ex.aws.client("ec2").describe_export_tasks(ExportTaskIds=[task.export_task_id])["ExportTasks"][0]
    assert aws_task["State"] == "cancelling"
    assert drive(task_id, ex.aws, seconds=6) == ["done"]
    task.refresh_from_db()
    assert task.state == ExportState.CANCELLED and task.cancel_requested
    assert s3_keys(ex.aws, ex.bucket) == ([], [])
    third = _cancel(api, ex.admin, task_id, {"confirm": True})
    assert third.status_code == 200 and third.json()["state"] == "cancelled"
    ex.aws.advance(120)  # and nothing appears later
    assert s3_keys(ex.aws, ex.bucket) == ([], [])
    assert ex.aws.client("ec2").describe_export_tasks(
        ExportTaskIds=[task.export_task_id])["ExportTasks"][0]["State"] == "cancelled"


def test_cancel_while_aws_writes_the_final_image_deletes_it_once_written(ex, api):
    task_id = _start(ex, api)
    drive(task_id)
    drive(task_id, ex.aws, seconds=52)  # "finalizing": AWS no longer cancels
    assert _cancel(api, ex.admin, task_id, {"confirm": True}).json()["state"] == "cancelling"
    assert drive(task_id) == ["again"]
    assert drive(task_id, ex.aws, seconds=10) == ["done"]
    task = ExportTask.objects.get(pk=task_id)
    assert task.state == ExportState.CANCELLED
    assert s3_keys(ex.aws, ex.bucket) == ([], [])


def test_cancel_queued_ends_at_once_without_aws(ex, api, settings):
    settings.EXPORT_MAX_ACTIVE_PER_REGION = 1
    _start(ex, api)
    (other,) = more_instances(ex, 1)
    queued = _start(ex, api, instance=other)
    assert ExportTask.objects.get(pk=queued).state == ExportState.QUEUED
    for _ in range(2):
        response = _cancel(api, ex.admin, queued, {"confirm": True})
        assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert ExportTask.objects.get(pk=queued).export_task_id == ""


def test_cancel_completed_leaves_it_alone(ex, api):
    completed = ex.a.export
    response = _cancel(api, ex.admin, completed.pk, {"confirm": True})
    assert response.status_code == 200 and response.json()["state"] == "completed"
