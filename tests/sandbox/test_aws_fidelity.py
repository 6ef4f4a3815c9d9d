"""Sandbox fidelity, round 2 (issue 21, AWS): what real AWS refuses and moto alone accepts or answers with a 500.

Each test pins one behaviour of the real peer, as documented in sandbox/aws/README.md with its source.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.aws


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


# --------------------------------------------------------------------------- aborted multipart uploads


@pytest.fixture
def aborted(aws):
    s3 = aws.client("s3", max_attempts=1)
    s3.create_bucket(Bucket="disks")
    upload_id = s3.create_multipart_upload(Bucket="disks", Key="disk-1.vmdk")["UploadId"]
    part = s3.upload_part(Bucket="disks", Key="disk-1.vmdk", UploadId=upload_id, PartNumber=1, Body=b"a" * 1024)
    s3.abort_multipart_upload(Bucket="disks", Key="disk-1.vmdk", UploadId=upload_id)
    return s3, upload_id, part["ETag"]


def test_upload_part_after_abort_is_no_such_upload(aborted):
    s3, upload_id, _ = aborted
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket="disks", Key="disk-1.vmdk", UploadId=upload_id, PartNumber=2, Body=b"b" * 1024)
    assert _error(exc) == ("NoSuchUpload", 404)
    assert "aborted or completed" in exc.value.response["Error"]["Message"]


def test_complete_after_abort_is_no_such_upload(aborted):
    s3, upload_id, etag = aborted
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket="disks", Key="disk-1.vmdk", UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert _error(exc) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket="disks", Key="disk-1.vmdk")
    assert _error(missing)[1] == 404


def test_list_parts_and_abort_again_after_abort_are_no_such_upload(aborted):
    s3, upload_id, _ = aborted
    for call in (lambda: s3.list_parts(Bucket="disks", Key="disk-1.vmdk", UploadId=upload_id),
                 lambda: s3.abort_multipart_upload(Bucket="disks", Key="disk-1.vmdk", UploadId=upload_id)):
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == ("NoSuchUpload", 404)


def test_upload_part_with_a_checksum_after_abort_is_no_such_upload(aborted):
    """The portal sends a CRC32 with every part (the sandbox's checksum extension wraps UploadPart)."""
    s3, upload_id, _ = aborted
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket="disks", Key="disk-1.vmdk", UploadId=upload_id, PartNumber=2, Body=b"c" * 1024,
                       ChecksumAlgorithm="CRC32")
    assert _error(exc) == ("NoSuchUpload", 404)
