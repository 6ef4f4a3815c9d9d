"""Presigned UploadPart URLs (the connector agent's only way into S3): the AWS adapter signs the part's number, key,
upload and CRC32 into a short-lived URL, and the AWS sandbox checks presigned requests as S3 does, refusing a URL
used for anything else, a body whose CRC32 differs, an expired URL and an unknown key (sandbox/aws/README.md,
"Presigned requests")."""

from __future__ import annotations

import base64
import datetime
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from types import SimpleNamespace

import pytest

from adapters.aws import client as aws_adapter

KEY, SECRET = "AKIAIOSFODNN7EXAMPLE", "sandbox-secret"
BUCKET, DISK = "staging", "vm-1/disk-1.vmdk"
BODY = b"disk bytes " * 100


def _crc_header(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _send(url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
          method: str = "PUT") -> tuple[int, str]:
    """(HTTP status, S3 error code or "") of a plain HTTP request, as the connector agent sends it."""
    # urllib would label a body form data, which moto then parses as a form and loses.
    headers = {"Content-Type": "application/octet-stream", **(headers or {})}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response.status, ""
    except urllib.error.HTTPError as exc:
        found = re.search(rb"<Code>([^<]+)</Code>", exc.read())
        return exc.code, found.group(1).decode() if found else ""


def _with_query(url: str, **changes: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = "&".join(f"{name}={urllib.parse.quote(changes[name], safe='') if name in changes else value}"
                     for name, _, value in (item.partition("=") for item in parts.query.split("&")))
    return urllib.parse.urlunsplit(parts._replace(query=query))


@pytest.fixture
def upload(aws, settings):
    """A multipart upload with CRC32 checksums in the sandbox, and the tenant's keys known to it."""
    settings.AWS_ENDPOINT_URL = aws.endpoint_url
    aws.register_credentials(KEY, SECRET)
    s3 = aws.client("s3", max_attempts=1)
    s3.create_bucket(Bucket=BUCKET)
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=DISK, ChecksumAlgorithm="CRC32")["UploadId"]
    return SimpleNamespace(s3=s3, upload_id=upload_id, credentials=aws_adapter.AwsCredentials(KEY, SECRET))


def _presign(upload, part_number=1, body=BODY, expires=300, credentials=None, key=DISK, upload_id=None):
    return aws_adapter.presigned_upload_part(credentials or upload.credentials, "us-east-1", BUCKET, key,
                                             upload_id or upload.upload_id, part_number, zlib.crc32(body), expires)


def _parts(upload, key=DISK, upload_id=None) -> list[dict]:
    return upload.s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id or upload.upload_id).get("Parts", [])


# --------------------------------------------------------------------------- the adapter


def test_the_part_url_signs_its_checksum_as_a_header_the_uploader_sends(settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # presigning is local: nothing listens there
    before = time.time()
    signed = aws_adapter.presigned_upload_part(aws_adapter.AwsCredentials(KEY, SECRET), "eu-west-1", BUCKET, DISK,
                                               "upload-1", 7, zlib.crc32(BODY), 600)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(signed.url).query)
    assert signed.headers == {"x-amz-checksum-crc32": _crc_header(BODY)}
    assert query["X-Amz-SignedHeaders"] == ["host;x-amz-checksum-crc32"]
    assert (query["partNumber"], query["uploadId"], query["X-Amz-Expires"]) == (["7"], ["upload-1"], ["600"])
    assert query["X-Amz-Credential"][0].startswith(f"{KEY}/") and "/eu-west-1/s3/" in query["X-Amz-Credential"][0]
    assert before + 600 <= signed.expires_at <= time.time() + 600


@pytest.mark.parametrize("expires", [901, 0, -5])
def test_a_part_url_lives_at_most_fifteen_minutes(expires):
    with pytest.raises(ValueError):
        aws_adapter.presigned_upload_part(aws_adapter.AwsCredentials(KEY, SECRET), "us-east-1", BUCKET, DISK,
                                          "upload-1", 1, 0, expires)


# --------------------------------------------------------------------------- the sandbox, as S3


def test_a_presigned_part_goes_in_with_its_checksum(upload):
    signed = _presign(upload)
    assert _send(signed.url, BODY, signed.headers) == (200, "")
    [part] = _parts(upload)
    assert (part["PartNumber"], part["Size"], part["ChecksumCRC32"]) == (1, len(BODY), _crc_header(BODY))


def _another_upload(upload):
    return upload.s3.create_multipart_upload(Bucket=BUCKET, Key=DISK, ChecksumAlgorithm="CRC32")["UploadId"]


@pytest.mark.parametrize("change", ["part number", "upload id", "key", "bucket", "expiry", "method"])
def test_a_part_url_used_for_anything_else_does_not_match_its_signature(upload, change):
    signed = _presign(upload)
    url, method = signed.url, "PUT"
    if change == "part number":
        url = _with_query(url, partNumber="2")
    elif change == "upload id":
        url = _with_query(url, uploadId=_another_upload(upload))
    elif change == "key":
        upload.s3.create_multipart_upload(Bucket=BUCKET, Key="vm-1/disk-2.vmdk")
        url = url.replace("/disk-1.vmdk?", "/disk-2.vmdk?")
    elif change == "bucket":
        upload.s3.create_bucket(Bucket="other")
        url = url.replace(f"/{BUCKET}/", "/other/")
    elif change == "expiry":
        url = _with_query(url, **{"X-Amz-Expires": "900"})
    else:
        method = "POST"  # CompleteMultipartUpload of the same upload
    assert _send(url, BODY, signed.headers, method=method) == (403, "SignatureDoesNotMatch")
    assert _parts(upload) == []


def test_a_checksum_other_than_the_signed_one_does_not_match(upload):
    other = b"other bytes " * 100
    signed = _presign(upload)
    assert _send(signed.url, other, {"x-amz-checksum-crc32": _crc_header(other)}) == (403, "SignatureDoesNotMatch")
    assert _send(signed.url, BODY, {}) == (403, "SignatureDoesNotMatch")  # the signed header left out
    assert _parts(upload) == []


def test_a_body_whose_crc32_differs_from_the_signed_one_is_a_bad_digest(upload):
    signed = _presign(upload)
    assert _send(signed.url, BODY[:-1] + b"!", signed.headers) == (400, "BadDigest")
    assert _parts(upload) == []


def test_an_unsigned_amz_header_is_refused(upload):
    signed = _presign(upload)
    headers = {**signed.headers, "x-amz-storage-class": "GLACIER"}
    assert _send(signed.url, BODY, headers) == (403, "AccessDenied")
    assert _parts(upload) == []


def test_an_expired_url_is_refused(upload, monkeypatch):
    import botocore.auth

    # Signed twenty minutes ago for fifteen: the sandbox judges by the wall clock, as S3 does.
    past = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *args, **kwargs: past)
    signed = _presign(upload, expires=900)
    monkeypatch.undo()
    assert _send(signed.url, BODY, signed.headers) == (403, "AccessDenied")
    assert _parts(upload) == []
    assert _send(_presign(upload, expires=900).url, BODY, signed.headers) == (200, "")


def test_an_unknown_access_key_is_refused(upload):
    stranger = aws_adapter.AwsCredentials("AKIAUNKNOWNKEY000000", "whatever")
    signed = _presign(upload, credentials=stranger)
    assert _send(signed.url, BODY, signed.headers) == (403, "InvalidAccessKeyId")
    wrong_secret = aws_adapter.AwsCredentials(KEY, "not-the-secret")
    signed = _presign(upload, credentials=wrong_secret)
    assert _send(signed.url, BODY, signed.headers) == (403, "SignatureDoesNotMatch")
    assert _parts(upload) == []


def test_a_week_is_the_longest_a_url_may_live(upload):
    s3 = _tenant_s3(upload, KEY, SECRET)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": DISK}, ExpiresIn=604801)
    assert _send(url, method="GET") == (400, "AuthorizationQueryParametersError")
    stripped = re.sub(r"&X-Amz-Signature=[0-9a-f]+", "", _presign(upload).url)
    assert _send(stripped, BODY, _presign(upload).headers) == (400, "AuthorizationQueryParametersError")


def _tenant_s3(upload, key, secret, token=None):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=upload.s3.meta.endpoint_url, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
                        config=Config(signature_version="s3v4"))


def test_a_checksum_carried_in_the_query_is_checked_and_kept(upload):
    """Some SDKs move signed x-amz-* headers into a presigned URL's query; S3 reads the checksum there too."""
    s3 = _tenant_s3(upload, KEY, SECRET)

    def url_for(part_number, checksum):
        def hoist(request, **kwargs):
            request.url += f"&x-amz-checksum-crc32={urllib.parse.quote(checksum, safe='')}"

        s3.meta.events.register_first("before-sign.s3.UploadPart", hoist)
        try:
            return s3.generate_presigned_url("upload_part", Params={
                "Bucket": BUCKET, "Key": DISK, "UploadId": upload.upload_id, "PartNumber": part_number})
        finally:
            s3.meta.events.unregister("before-sign.s3.UploadPart", hoist)

    url = url_for(1, _crc_header(BODY))
    assert "x-amz-checksum-crc32=" in url
    assert _send(url_for(2, _crc_header(BODY)), b"other", {}) == (400, "BadDigest")
    assert _send(url, BODY, {}) == (200, "")
    assert [(p["PartNumber"], p["ChecksumCRC32"]) for p in _parts(upload)] == [(1, _crc_header(BODY))]


def test_a_presigned_download_of_an_object(upload):
    upload.s3.put_object(Bucket=BUCKET, Key="exports/vm.ova", Body=b"ova")
    url = aws_adapter.presigned_get_url(upload.credentials, "us-east-1", BUCKET, "exports/vm.ova", 60)
    assert urllib.request.urlopen(url, timeout=30).read() == b"ova"
    upload.s3.put_object(Bucket=BUCKET, Key="exports/other.ova", Body=b"other")
    assert _send(url.replace("/vm.ova?", "/other.ova?"), method="GET") == (403, "SignatureDoesNotMatch")


def test_keys_issued_by_iam_and_sts_are_known(upload):
    iam = _sandbox_client(upload, "iam")
    iam.create_user(UserName="uploader")
    issued = iam.create_access_key(UserName="uploader")["AccessKey"]
    signed = _presign(upload, credentials=aws_adapter.AwsCredentials(issued["AccessKeyId"],
                                                                     issued["SecretAccessKey"]))
    assert _send(signed.url, BODY, signed.headers) == (200, "")

    sts = _sandbox_client(upload, "sts")
    assumed = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/uploader", RoleSessionName="portal")
    temporary = assumed["Credentials"]
    credentials = aws_adapter.AwsCredentials(temporary["AccessKeyId"], temporary["SecretAccessKey"],
                                             temporary["SessionToken"])
    signed = _presign(upload, part_number=2, credentials=credentials)
    assert _send(signed.url, BODY, signed.headers) == (200, "")
    token = urllib.parse.quote(temporary["SessionToken"], safe="")
    assert _send(signed.url.replace(token, token[:-4] + "AAAA"), BODY, signed.headers) == (400, "InvalidToken")
    no_token = aws_adapter.AwsCredentials(temporary["AccessKeyId"], temporary["SecretAccessKey"])
    signed = _presign(upload, part_number=3, credentials=no_token)
    assert _send(signed.url, BODY, signed.headers) == (403, "InvalidAccessKeyId")
    assert [p["PartNumber"] for p in _parts(upload)] == [1, 2]


def _sandbox_client(upload, service):
    import boto3

    return boto3.client(service, endpoint_url=upload.s3.meta.endpoint_url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_registered_keys_outlive_a_reset_and_are_registered_over_http(aws, upload):
    from sandbox.aws import connect

    connect(aws.endpoint_url).register_credentials("AKIAREMOTEKEY0000000", "remote-secret")
    aws.reset()
    assert {KEY, "AKIAREMOTEKEY0000000", "testing"} <= set(aws.state()["access_keys"])
    s3 = aws.client("s3", max_attempts=1)
    s3.create_bucket(Bucket=BUCKET)
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=DISK, ChecksumAlgorithm="CRC32")["UploadId"]
    remote = aws_adapter.AwsCredentials("AKIAREMOTEKEY0000000", "remote-secret")
    signed = _presign(upload, credentials=remote, upload_id=upload_id)
    assert _send(signed.url, BODY, signed.headers) == (200, "")
    with pytest.raises(ValueError):
        aws.register_credentials("testing", "another-secret")


def test_requests_signed_in_the_authorization_header_need_no_known_key(upload):
    s3 = _tenant_s3(upload, "AKIANEVERREGISTERED0", "any-secret")
    s3.upload_part(Bucket=BUCKET, Key=DISK, UploadId=upload.upload_id, PartNumber=4, Body=BODY)
    assert [p["PartNumber"] for p in _parts(upload)] == [4]
