"""A multipart upload that S3 no longer has (aborted by someone else, or by the bucket's lifecycle rule for
incomplete uploads) answers 404 NoSuchUpload to UploadPart, ListParts and CompleteMultipartUpload. Retrying the same
upload id can never succeed: the disk starts again in a new upload, and a job whose uploads keep vanishing fails
instead of retrying forever. The parts are sent by the tenant's connector agent (through presigned URLs,
`connector.s3.put_part`); listing and completing the upload stay the portal's."""

import threading
import urllib.parse

import pytest

from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from adapters.aws import client as aws
from connector import s3 as agent_s3
from tests.migrations.conftest import assert_no_leftovers
from tests.migrations.helpers import drive

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def _abort_behind_the_jobs_back(s, bucket, key, upload_id):
    s.aws.client("s3").abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def _upload_id(url: str) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["uploadId"][0]


def _abort_upload_of_the_url(s, url: str) -> str:
    """Abort the upload a presigned part URL is for, found in S3 by its id (the URL's addressing style aside)."""
    upload_id = _upload_id(url)
    s3 = s.aws.client("s3")
    for bucket in s3.list_buckets()["Buckets"]:
        for upload in s3.list_multipart_uploads(Bucket=bucket["Name"]).get("Uploads", []):
            if upload["UploadId"] == upload_id:
                _abort_behind_the_jobs_back(s, bucket["Name"], upload["Key"], upload_id)
                return upload_id
    raise AssertionError(f"no upload {upload_id} in S3")


def test_an_upload_aborted_while_parts_are_sent_restarts_the_disk_in_a_new_upload(setup, start_migration,
                                                                                   monkeypatch):
    s = setup
    s.aws.set_speed(500)
    real_put_part = agent_s3.put_part
    calls, aborted = [], []
    lock = threading.Lock()  # the agent sends parts from several threads

    def abort_before_the_third_part(url, *args, **kwargs):
        with lock:
            calls.append(_upload_id(url))
            if len(calls) == 3 and not aborted:
                aborted.append(_abort_upload_of_the_url(s, url))
        return real_put_part(url, *args, **kwargs)

    monkeypatch.setattr(agent_s3, "put_part", abort_before_the_third_part)
    task_id = start_migration(s, s.alice, "db01").json()["id"]
    drive(task_id)
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.COMPLETED, (task.error_code, task.status_message)
    assert task.attempts == 0  # not a transient error retried with the dead upload id
    assert s.agent.outcomes == ["uploaded"]  # restarted within the agent's one turn, not retried
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
    real_put_part = agent_s3.put_part
    aborted = set()
    lock = threading.Lock()  # the agent sends parts from several threads

    def abort_every_upload(url, *args, **kwargs):
        with lock:
            if _upload_id(url) not in aborted:
                aborted.add(_abort_upload_of_the_url(s, url))
        return real_put_part(url, *args, **kwargs)

    monkeypatch.setattr(agent_s3, "put_part", abort_every_upload)
    task_id = start_migration(s, s.alice, "db01").json()["id"]
    drive(task_id)
    task = MigrationTask.objects.get(pk=task_id)
    assert task.state == MigrationState.FAILED
    assert task.error_code == "upload_gone"
    assert "NoSuchUpload" in task.status_message and "3 times" in task.status_message
    assert len(aborted) == 3
    assert_no_leftovers(s, task)
