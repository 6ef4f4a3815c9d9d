"""A multipart upload that S3 no longer has (aborted by someone else, or by the bucket's lifecycle rule for
incomplete uploads) answers 404 NoSuchUpload to UploadPart, ListParts and CompleteMultipartUpload. Retrying the same
upload id can never succeed: the disk starts again in a new upload, and a job whose uploads keep vanishing fails
instead of retrying forever."""

import pytest

from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from adapters.aws import client as aws
from tests.migrations.conftest import assert_no_leftovers
from tests.migrations.helpers import drive

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def _abort_behind_the_jobs_back(s, bucket, key, upload_id):
    s.aws.client("s3").abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def test_an_upload_aborted_while_parts_are_sent_restarts_the_disk_in_a_new_upload(setup, start_migration,
                                                                                   monkeypatch):
    s = setup
    s.aws.set_speed(500)
    real_upload_part = aws.multipart_upload_part
    calls, aborted = [], []

    def abort_before_the_third_part(s3, bucket, key, upload_id, *args, **kwargs):
        calls.append(upload_id)
        if len(calls) == 3 and not aborted:
            aborted.append(upload_id)
            _abort_behind_the_jobs_back(s, bucket, key, upload_id)
        return real_upload_part(s3, bucket, key, upload_id, *args, **kwargs)

    monkeypatch.setattr(aws, "multipart_upload_part", abort_before_the_third_part)
    task_id = start_migration(s, s.alice, "db01").json()["id"]
    drive(task_id)
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.COMPLETED, (task.error_code, task.status_message)
    assert task.attempts == 0  # not a transient error retried with the dead upload id
    disk = task.disks[0]
    assert disk["upload_id"] != aborted[0]
    assert disk["upload_restarts"] == 1
    assert "no longer has its upload" in disk["restarted"]
    assert_no_leftovers(s, task)


def test_an_upload_gone_before_it_is_completed_restarts_the_disk(setup, start_migration, monkeypatch):
    s = setup
    s.aws.set_speed(500)
    real_complete = aws.multipart_complete
    aborted = []

    def abort_first(s3, bucket, key, upload_id, parts):
        if not aborted:
            aborted.append(upload_id)
            _abort_behind_the_jobs_back(s, bucket, key, upload_id)
        return real_complete(s3, bucket, key, upload_id, parts)

    monkeypatch.setattr(aws, "multipart_complete", abort_first)
    task_id = start_migration(s, s.alice, "db01").json()["id"]
    drive(task_id)
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.COMPLETED, (task.error_code, task.status_message)
    assert task.disks[0]["upload_restarts"] == 1 and task.disks[0]["upload_id"] != aborted[0]
    assert_no_leftovers(s, task)


def test_uploads_that_keep_vanishing_fail_the_job(setup, start_migration, monkeypatch):
    s = setup
    s.aws.set_speed(500)
    real_upload_part = aws.multipart_upload_part
    aborted = set()

    def abort_every_upload(s3, bucket, key, upload_id, *args, **kwargs):
        if upload_id not in aborted:
            aborted.add(upload_id)
            _abort_behind_the_jobs_back(s, bucket, key, upload_id)
        return real_upload_part(s3, bucket, key, upload_id, *args, **kwargs)

    monkeypatch.setattr(aws, "multipart_upload_part", abort_every_upload)
    task_id = start_migration(s, s.alice, "db01").json()["id"]
    drive(task_id)
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.FAILED
    assert task.error_code == "upload_gone"
    assert "NoSuchUpload" in task.status_message and "3 times" in task.status_message
    assert len(aborted) == 3
    assert_no_leftovers(s, task)
