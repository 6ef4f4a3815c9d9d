"""VM Export writes the OVA as its own account, so the export bucket must grant that account WRITE and READ_ACP
(or the same as a bucket policy); the sandbox refuses CreateInstanceExportTask otherwise, as AWS does. The portal
sets the grant up when exports are configured, and puts it back when someone has taken it off its bucket since."""

import json

import pytest

from exports.choices import ExportState
from exports.models import ExportTask
from core.models import AuditLog
from adapters.aws import client as aws
from sandbox.aws.exportaccounts import export_canonical_id
from tests.exports.conftest import drive
from tests.exports.test_exports import _start

pytestmark = pytest.mark.aws


def _strip_the_grant(ex):
    """What a well-meaning administrator might do: ACL back to owner-only, bucket policy removed."""
    s3 = ex.aws.client("s3")
    owner = s3.get_bucket_acl(Bucket=ex.bucket)["Owner"]
    s3.put_bucket_acl(Bucket=ex.bucket, AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"}]})
    s3.delete_bucket_policy(Bucket=ex.bucket)


def _export_account_permissions(ex):
    grants = ex.aws.client("s3").get_bucket_acl(Bucket=ex.bucket)["Grants"]
    return sorted(g["Permission"] for g in grants if g["Grantee"].get("ID") == export_canonical_id("us-east-1"))


def test_the_configured_bucket_grants_vm_export_what_it_needs(ex):
    assert _export_account_permissions(ex) == ["READ_ACP", "WRITE"]
    policy = json.loads(ex.aws.client("s3").get_bucket_policy(Bucket=ex.bucket)["Policy"])
    assert policy["Statement"][0]["Principal"] == {"CanonicalUser": export_canonical_id("us-east-1")}
    task_id = _start(ex).json()["id"]
    assert drive(task_id) == ["again"]
    assert drive(task_id, ex.aws, seconds=65) == ["done"]
    assert ExportTask.objects.get(pk=task_id).state == ExportState.COMPLETED


def test_a_grant_taken_off_the_bucket_is_put_back_and_the_export_runs(ex):
    _strip_the_grant(ex)
    task_id = _start(ex).json()["id"]
    assert drive(task_id) == ["again"]
    task = ExportTask.objects.get(pk=task_id)
    assert task.export_task_id.startswith("export-i-"), (task.error_code, task.status_message)
    assert _export_account_permissions(ex) == ["READ_ACP", "WRITE"]
    repaired = AuditLog.objects.get(action="export.bucket", detail__repaired=True)
    assert repaired.detail["bucket"] == ex.bucket and repaired.detail["error"] == "AuthFailure"
    assert drive(task_id, ex.aws, seconds=65) == ["done"]


def test_a_grant_that_cannot_be_put_back_fails_the_export_saying_so(ex, monkeypatch):
    _strip_the_grant(ex)
    monkeypatch.setattr(aws, "export_bucket_ensure", lambda credentials, region, bucket: False)
    task_id = _start(ex).json()["id"]
    assert drive(task_id) == ["failed"]
    task = ExportTask.objects.get(pk=task_id)
    assert task.state == ExportState.FAILED and task.error_code == "export_bucket_grant"
    assert ex.bucket in task.status_message and "WRITE and READ_ACP" in task.status_message
