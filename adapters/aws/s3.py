"""S3: the staging bucket and the multipart upload a disk stream goes to, and the objects the portal leaves in a
tenant's buckets (listed, tagged, sized, removed, handed out as download links).

VM Export's bucket, which needs grants for AWS's own account, is in `exports`.
"""

from __future__ import annotations

import base64
import datetime
import threading
import time
import urllib.parse
from dataclasses import dataclass

import botocore.exceptions
from botocore.config import Config
from django.conf import settings

from adapters.aws import session, shapes
from adapters.aws.session import AwsCredentials, AwsError

try:  # ISA-L's CRC32: zlib's checksum at about four times the speed
    from isal.isal_zlib import crc32 as _crc32
except ImportError:  # pragma: no cover
    from zlib import crc32 as _crc32

__all__ = ["PendingUpload", "PresignedPart", "StoredObject", "UploadedPart", "multipart_abort",
           "multipart_abort_upload", "multipart_complete", "multipart_parts", "multipart_start",
           "multipart_upload_part", "multipart_uploads_list", "object_delete", "object_remove", "object_size",
           "object_tag", "object_tags", "objects_delete_under", "objects_list", "presigned_get_url",
           "presigned_upload_part", "presigner_ready", "staging_bucket_ensure", "transfer_client"]

# What S3 answers for a bucket, or an object, that does not exist (HeadBucket and HeadObject give bare statuses).
NO_BUCKET = ("NoSuchBucket", "404", "NotFound")
NO_OBJECT = ("404", "NoSuchKey", "NotFound")


@dataclass(frozen=True)
class UploadedPart:
    part_number: int
    etag: str
    size: int
    crc32: int | None = None  # the part's CRC32 as S3 checked it (None: S3 listed no checksum)


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    last_modified: datetime.datetime


@dataclass(frozen=True)
class PendingUpload:
    key: str
    upload_id: str
    initiated: datetime.datetime


#
# Buckets
#


def create_bucket(s3, bucket: str, region: str, **params) -> None:
    """CreateBucket in `region`; us-east-1 takes no location constraint (and refuses one naming itself)."""
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(Bucket=bucket, **params)


def abort_incomplete_uploads(s3, bucket: str, rule_id: str) -> None:
    """A lifecycle rule that aborts multipart uploads left incomplete for two days (a crashed or cancelled job
    never leaves parts behind for long). It replaces the bucket's whole lifecycle configuration."""
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
        "ID": rule_id, "Status": "Enabled", "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
    }]})


def staging_bucket_ensure(credentials: AwsCredentials, region: str, bucket: str) -> None:
    """Create the bucket if missing, with a rule that aborts multipart uploads left incomplete."""
    with session.calling("s3", credentials, region) as s3:
        try:
            s3.head_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError as exc:
            if not session.has_code(exc, *NO_BUCKET):
                raise
            with session.ignoring("BucketAlreadyOwnedByYou"):
                create_bucket(s3, bucket, region)
        abort_incomplete_uploads(s3, bucket, "abort-incomplete-migration-uploads")


#
# Multipart upload (the disk stream's destination)
#


CHECKSUM_HEADER = "x-amz-checksum-crc32"


def _crc32_header(crc32: int) -> str:
    return base64.b64encode(crc32.to_bytes(4, "big")).decode()


def _crc32_value(header: str | None) -> int | None:
    return int.from_bytes(base64.b64decode(header), "big") if header else None


def transfer_client(credentials: AwsCredentials, region: str):
    """The S3 client for the disk data path, which costs what S3 needs and nothing more: each part's CRC32 is
    computed once by the caller and sent as a header, so botocore computes no checksum of its own
    (`when_required`), and over HTTPS the body is not hashed for the signature either (UNSIGNED-PAYLOAD; TLS and
    the CRC32 protect it). Over plain HTTP (only a sandbox) the signature still covers the body."""
    https = (settings.AWS_ENDPOINT_URL or "https://").startswith("https://")
    config = session.CONFIG.merge(Config(
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
        parameter_validation=False,  # our own fixed parameters, a few hundred calls per GiB
        max_pool_connections=max(10, settings.MIGRATION_UPLOAD_CONCURRENCY + 2),
        s3={"payload_signing_enabled": False} if https else None))
    return session.make_client(session.tenant_session(credentials, region), "s3", config)


def multipart_start(s3, bucket: str, key: str, tags: dict[str, str]) -> str:
    with session.translated_errors():
        tagging = "&".join(f"{k}={v}" for k, v in tags.items())
        # CRC32 on every part: S3 checks each on arrival and lists it back (ListParts), which is how a resumed
        # upload knows that a part it holds has the bytes read again now.
        return s3.create_multipart_upload(Bucket=bucket, Key=key, Tagging=tagging,
                                          ChecksumAlgorithm="CRC32")["UploadId"]


def multipart_parts(s3, bucket: str, key: str, upload_id: str) -> list[UploadedPart]:
    """The parts S3 already holds (the truth after a crash, whatever our checkpoint says)."""
    parts: list[UploadedPart] = []
    with session.translated_errors():
        for page in s3.get_paginator("list_parts").paginate(Bucket=bucket, Key=key, UploadId=upload_id):
            parts += [UploadedPart(p["PartNumber"], p["ETag"], p["Size"], _crc32_value(p.get("ChecksumCRC32")))
                      for p in page.get("Parts", [])]
    return parts


def multipart_upload_part(s3, bucket: str, key: str, upload_id: str, part_number: int, body: bytes | bytearray,
                          crc32: int | None = None) -> UploadedPart:
    """Upload one part with its CRC32 (`crc32`, when the caller has it already, else computed here)."""
    if crc32 is None:
        crc32 = _crc32(body)
    with session.translated_errors():
        # A bytearray goes to the socket as it is; botocore wraps bytes in a BytesIO, copied out again in small
        # reads, with an Expect: 100-continue round trip per part. The data path hands bytearrays over.
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=part_number, Body=body,
                              ChecksumCRC32=_crc32_header(crc32))["ETag"]
    return UploadedPart(part_number, etag, len(body), crc32)


def multipart_complete(s3, bucket: str, key: str, upload_id: str, parts: list[UploadedPart]) -> int:
    """Complete the upload and confirm the object exists (CompleteMultipartUpload can fail after a 200).

    Raises AwsError("NoSuchUpload") when S3 has neither the upload nor the object: it was aborted, not completed."""
    gone = None
    with session.translated_errors():
        try:
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={
                "Parts": [{"PartNumber": p.part_number, "ETag": p.etag,
                           **({"ChecksumCRC32": _crc32_header(p.crc32)} if p.crc32 is not None else {})}
                          for p in sorted(parts, key=lambda p: p.part_number)]})
        except botocore.exceptions.ClientError as exc:
            if not session.has_code(exc, "NoSuchUpload"):
                raise
            # Completed by an earlier attempt, or aborted: the HEAD below tells.
            gone = exc.response["Error"].get("Message", "The specified upload does not exist.")
        try:
            return s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        except botocore.exceptions.ClientError as exc:
            if gone is None or not session.has_code(exc, *NO_OBJECT):
                raise
    raise session.reported(AwsError("NoSuchUpload", gone))


def multipart_abort(s3, bucket: str, key: str, upload_id: str) -> None:
    with session.translated_errors(), session.ignoring("NoSuchUpload", "404"):
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def multipart_abort_upload(credentials: AwsCredentials, region: str, bucket: str, key: str, upload_id: str) -> None:
    multipart_abort(session.client("s3", credentials, region), bucket, key, upload_id)


def multipart_uploads_list(credentials: AwsCredentials, region: str, bucket: str,
                           prefix: str) -> list[PendingUpload]:
    """The unfinished multipart uploads under `prefix`; a bucket that does not exist holds none."""
    found: list[PendingUpload] = []
    with session.calling("s3", credentials, region) as s3, session.ignoring(*NO_BUCKET):
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
            found += [PendingUpload(u["Key"], u["UploadId"], shapes.as_datetime(u["Initiated"]))
                      for u in page.get("Uploads", [])]
    return found


#
# Objects
#


def object_delete(s3, bucket: str, key: str) -> None:
    with session.translated_errors():
        s3.delete_object(Bucket=bucket, Key=key)


def object_remove(credentials: AwsCredentials, region: str, bucket: str, key: str) -> None:
    object_delete(session.client("s3", credentials, region), bucket, key)


def objects_list(credentials: AwsCredentials, region: str, bucket: str, prefix: str) -> list[StoredObject]:
    """The objects under `prefix`; a bucket that does not exist holds none."""
    found: list[StoredObject] = []
    with session.calling("s3", credentials, region) as s3, session.ignoring(*NO_BUCKET):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found += [StoredObject(o["Key"], o.get("Size", 0), shapes.as_datetime(o["LastModified"]))
                      for o in page.get("Contents", [])]
    return found


def object_size(credentials: AwsCredentials, region: str, bucket: str, key: str) -> int | None:
    """HeadObject's ContentLength, or None when there is no such object."""
    with session.calling("s3", credentials, region) as s3:
        try:
            return s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        except botocore.exceptions.ClientError as exc:
            if session.has_code(exc, *NO_OBJECT):
                return None
            raise


def object_tags(credentials: AwsCredentials, region: str, bucket: str, key: str) -> dict[str, str]:
    """The object's tags; none for an object that does not exist."""
    with session.calling("s3", credentials, region) as s3:
        try:
            return shapes.tag_dict(s3.get_object_tagging(Bucket=bucket, Key=key).get("TagSet"))
        except botocore.exceptions.ClientError as exc:
            if session.has_code(exc, "NoSuchKey", "404", *NO_BUCKET):
                return {}
            raise


def object_tag(credentials: AwsCredentials, region: str, bucket: str, key: str, tags: dict[str, str]) -> None:
    """Add `tags` to the object's own (PutObjectTagging replaces the set: the existing tags are kept)."""
    with session.calling("s3", credentials, region) as s3:
        current = shapes.tag_dict(s3.get_object_tagging(Bucket=bucket, Key=key).get("TagSet"))
        s3.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": shapes.tag_list({**current, **tags})})


def objects_delete_under(credentials: AwsCredentials, region: str, bucket: str, prefix: str) -> int:
    """Delete every object and abort every unfinished multipart upload whose key starts with `prefix` (an exact
    key included). Returns how many objects were deleted."""
    if not prefix:
        raise ValueError("refusing to empty a whole bucket")
    deleted = 0
    with session.calling("s3", credentials, region) as s3:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                multipart_abort(s3, bucket, upload["Key"], upload["UploadId"])
    return deleted


def presigned_get_url(credentials: AwsCredentials, region: str, bucket: str, key: str, expires_seconds: int) -> str:
    """A time-limited download link (SigV4, so at most seven days; with an assumed role, no longer than the role's
    session)."""
    s3 = session.make_client(session.tenant_session(credentials, region), "s3",
                             session.CONFIG.merge(Config(signature_version="s3v4")))
    with session.translated_errors():
        return s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                         ExpiresIn=int(expires_seconds))


@dataclass(frozen=True)
class PresignedPart:
    url: str
    headers: dict[str, str]  # to be sent exactly: they are signed
    expires_at: float  # epoch seconds


# Presigning a part is a local computation (no request to AWS), but building the client is not cheap (tens of ms):
# one client per tenant credentials and region is kept for a few minutes, well inside an assumed role's session.
_PRESIGNERS: dict = {}
_PRESIGNER_SECONDS = 300
_PRESIGNER_LOCK = threading.Lock()


def _presigner(credentials: AwsCredentials, region: str):
    # The endpoint is part of the key: a client made for one endpoint would sign URLs that point at it.
    key = (credentials, region, settings.AWS_ENDPOINT_URL, settings.AWS_CA_BUNDLE)
    now = time.monotonic()
    with _PRESIGNER_LOCK:
        cached = _PRESIGNERS.get(key)
        if cached is not None and now - cached[1] < _PRESIGNER_SECONDS:
            return cached[0]
    client = session.make_client(session.tenant_session(credentials, region), "s3",
                                 session.CONFIG.merge(Config(signature_version="s3v4")))
    with _PRESIGNER_LOCK:
        if len(_PRESIGNERS) > 256:
            _PRESIGNERS.clear()
        _PRESIGNERS[key] = (client, now)
    return client


def presigner_ready(credentials: AwsCredentials, region: str) -> None:
    """Build (and keep) the presigning client now, before the first part's URL is asked for: that ask then does not
    pay for it while the uploader waits."""
    _presigner(credentials, region)


def presigned_upload_part(credentials: AwsCredentials, region: str, bucket: str, key: str, upload_id: str,
                          part_number: int, crc32: int, expires_seconds: int) -> PresignedPart:
    """A URL that uploads exactly one part of one upload, for `expires_seconds` (at most 15 minutes), with the part's
    CRC32 signed in: the uploader must send `headers` as they are (botocore signs the checksum as the header
    `x-amz-checksum-crc32`), so S3 refuses the URL for another part, key, upload or checksum, and refuses a body
    whose CRC32 differs (BadDigest)."""
    if not 0 < expires_seconds <= 900:
        raise ValueError("a presigned part URL lives at most 15 minutes")
    checksum = _crc32_header(crc32)
    with session.translated_errors():
        url = _presigner(credentials, region).generate_presigned_url("upload_part", Params={
            "Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number,
            "ChecksumCRC32": checksum}, ExpiresIn=int(expires_seconds))
    return PresignedPart(url, _signed_checksum(url, checksum), time.time() + expires_seconds)


def _signed_checksum(url: str, checksum: str) -> dict[str, str]:
    """The headers that carry the checksum, found in what botocore signed: a URL whose checksum is not signed would
    let its holder upload any bytes as this part, so it is never handed out."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    if query.get(CHECKSUM_HEADER) == [checksum]:
        return {}  # in the query, hence in the signature
    if CHECKSUM_HEADER in query.get("X-Amz-SignedHeaders", [""])[0].split(";"):
        return {CHECKSUM_HEADER: checksum}
    raise AwsError("ChecksumNotSigned", "The presigned part URL does not sign the part's CRC32.")
