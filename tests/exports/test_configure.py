"""Configure instance export: preview, explicit consent, one bucket per region with VM Export's grants, a name
given once, a taken bucket name named in the error, and a later region's bucket created on first use."""

import json

import boto3
import pytest
from django.urls import reverse

from environments import services as env_services
from exports import services
from exports.models import ExportBucket, ExportSettings
from core.models import AuditLog, TenantAwsAccount
from adapters.aws import client as aws_client

pytestmark = pytest.mark.aws

GRANTEE = aws_client.VMIE_EXPORT_DEFAULT_CANONICAL_ID


@pytest.fixture
def fresh(world, aws, aws_tenant_account):
    """Tenant A with AWS access, two regions and no export configuration yet."""
    a = world.a
    aws_tenant_account(a.tenant)
    ExportBucket.objects.filter(tenant=a.tenant).delete()
    ExportSettings.objects.filter(tenant=a.tenant).delete()
    env_services.region_create(actor=a.admin, code="eu-west-1")
    return a


def _buckets(aws):
    return sorted(b["Name"] for b in aws.client("s3").list_buckets()["Buckets"])


def test_preview_shows_exactly_what_will_be_created(fresh, api, aws):
    client = api.as_user(fresh.admin)
    empty = client.get(reverse("api:settings-export")).json()
    assert empty == {"configured": False, "name": None, "consent_text":
                     "I agree that the portal may create these buckets on my behalf", "buckets": []}
    preview = client.get(reverse("api:settings-export"), {"name": "acme"}).json()
    assert preview["configured"] is False
    assert [(b["region"], b["bucket"], b["exists"]) for b in preview["buckets"]] == [
        ("eu-west-1", "export-to-s3-acme-eu-west-1", False), ("us-east-1", "export-to-s3-acme-us-east-1", False)]
    plan = preview["buckets"][1]["plan"]
    assert plan["object_ownership"] == "BucketOwnerPreferred"
    assert plan["acl_grants"] == [{"grantee_canonical_id": GRANTEE, "permission": "READ_ACP"},
                                  {"grantee_canonical_id": GRANTEE, "permission": "WRITE"}]
    assert plan["bucket_policy"]["Statement"][0]["Resource"] == [
        "arn:aws:s3:::export-to-s3-acme-us-east-1", "arn:aws:s3:::export-to-s3-acme-us-east-1/*"]
    assert _buckets(aws) == []  # a preview creates nothing
    bad = client.get(reverse("api:settings-export"), {"name": "Acme_Corp"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["attr"] == "name"


def test_consent_is_required(fresh, api, aws):
    response = api.as_user(fresh.admin).put(reverse("api:settings-export"), {"name": "acme"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "consent"
    assert _buckets(aws) == [] and not ExportSettings.objects.filter(tenant=fresh.tenant).exists()


def test_configure_creates_one_bucket_per_region_ready_for_vm_export(fresh, api, aws):
    response = api.as_user(fresh.admin).put(reverse("api:settings-export"), {"name": "acme", "consent": True},
                                            format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["configured"] is True and body["name"] == "acme"
    assert all(b["exists"] for b in body["buckets"])
    assert _buckets(aws) == ["export-to-s3-acme-eu-west-1", "export-to-s3-acme-us-east-1"]
    for region in ("us-east-1", "eu-west-1"):
        bucket = f"export-to-s3-acme-{region}"
        s3 = boto3.client("s3", **{**aws.boto3_kwargs(), "region_name": region})
        location = s3.get_bucket_location(Bucket=bucket)["LocationConstraint"]
        assert (location or "us-east-1") == region
        grants = {(g["Grantee"].get("ID"), g["Permission"]) for g in s3.get_bucket_acl(Bucket=bucket)["Grants"]}
        assert {(GRANTEE, "READ_ACP"), (GRANTEE, "WRITE")} <= grants
        assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
            {"ObjectOwnership": "BucketOwnerPreferred"}]
        assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == aws_client.export_bucket_policy(
            bucket, region)
        assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    stored = ExportSettings.objects.get(tenant=fresh.tenant)
    assert (stored.name, stored.consented_by) == ("acme", fresh.admin)
    row = AuditLog.objects.filter(action="export.configure").latest("id")
    assert row.detail["consent"].startswith("I agree") and len(row.detail["buckets"]) == 2

    # Again with the same name: idempotent. Another name: refused, the name is given once.
    client = api.as_user(fresh.admin)
    assert client.put(reverse("api:settings-export"), {"name": "acme", "consent": True},
                      format="json").status_code == 200
    other = client.put(reverse("api:settings-export"), {"name": "globex", "consent": True}, format="json")
    assert other.status_code == 409 and "'acme'" in other.json()["errors"][0]["detail"]
    assert _buckets(aws) == ["export-to-s3-acme-eu-west-1", "export-to-s3-acme-us-east-1"]


def test_a_bucket_name_taken_by_another_account_is_named_and_nothing_is_left(fresh, api, aws):
    # Another AWS account (a role assumed in account 111111111111) already owns the eu-west-1 name.
    credentials = aws.client("sts").assume_role(RoleArn="arn:aws:iam::111111111111:role/someone-else",
                                                RoleSessionName="other-account")["Credentials"]
    boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="eu-west-1",
                 aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                 aws_session_token=credentials["SessionToken"]).create_bucket(
        Bucket="export-to-s3-acme-eu-west-1", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    response = api.as_user(fresh.admin).put(reverse("api:settings-export"), {"name": "acme", "consent": True},
                                            format="json")
    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert "export-to-s3-acme-eu-west-1 is already taken by another AWS account" in error["detail"]
    assert not ExportSettings.objects.filter(tenant=fresh.tenant).exists()
    assert not ExportBucket.objects.filter(tenant=fresh.tenant).exists()
    # The us-east-1 bucket this attempt created is gone again; the other account's bucket is untouched.
    assert "export-to-s3-acme-us-east-1" not in _buckets(aws)
    assert AuditLog.objects.filter(action="export.configure", outcome="failed").exists()


def test_a_name_of_another_tenant_is_refused_before_aws(fresh, api, aws):
    response = api.as_user(fresh.admin).put(reverse("api:settings-export"), {"name": "world-globex",
                                                                             "consent": True}, format="json")
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "export_name_taken"
    assert _buckets(aws) == []


def test_illegal_names_are_refused_for_every_region(fresh, api):
    for name in ("a" * 35, "Acme", "acme.corp", "-acme", "192.168.1.1"):
        response = api.as_user(fresh.admin).put(reverse("api:settings-export"), {"name": name, "consent": True},
                                                format="json")
        assert response.status_code == 400, name
        assert response.json()["errors"][0]["attr"] == "name"


def test_a_region_added_later_gets_its_bucket_when_first_used(fresh, aws):
    services.export_configure(actor=fresh.admin, name="acme", consent=True)
    later = env_services.region_create(actor=fresh.admin, code="ap-south-1")
    assert "export-to-s3-acme-ap-south-1" not in _buckets(aws)
    assert services.region_bucket(actor=fresh.admin, region=later) == "export-to-s3-acme-ap-south-1"
    assert "export-to-s3-acme-ap-south-1" in _buckets(aws)
    assert ExportBucket.objects.filter(region=later, name="export-to-s3-acme-ap-south-1").exists()
    assert services.region_bucket(actor=fresh.admin, region=later) == "export-to-s3-acme-ap-south-1"


def test_without_aws_access_nothing_is_called(fresh, api):
    TenantAwsAccount.objects.filter(tenant=fresh.tenant).delete()
    response = api.as_user(fresh.admin).put(reverse("api:settings-export"), {"name": "acme", "consent": True},
                                            format="json")
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "aws_not_configured"


@pytest.mark.parametrize("role", ["user_owner", "user_general", "auditor"])
def test_only_administrators_configure(fresh, api, role):
    client = api.as_user(getattr(fresh, role))
    assert client.put(reverse("api:settings-export"), {"name": "acme", "consent": True},
                      format="json").status_code == 403
    assert not ExportSettings.objects.filter(tenant=fresh.tenant).exists()


@pytest.mark.parametrize("role", ["user_owner", "user_general"])
def test_users_do_not_read_export_settings(fresh, api, role):
    assert api.as_user(getattr(fresh, role)).get(reverse("api:settings-export")).status_code == 403


def test_auditors_read_export_settings_like_administrators(fresh, api):
    """Issue 20: auditors read every resource an administrator reads, the export configuration included."""
    services.export_configure(actor=fresh.admin, name="acme", consent=True)
    as_admin = api.as_user(fresh.admin).get(reverse("api:settings-export"))
    as_auditor = api.as_user(fresh.auditor).get(reverse("api:settings-export"))
    assert as_auditor.status_code == 200
    assert as_auditor.json() == as_admin.json()
    assert as_auditor.json()["name"] == "acme"
