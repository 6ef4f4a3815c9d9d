"""Per-part CRC32 checksums on moto's S3 multipart uploads, as S3 keeps them (moto 5 keeps none).

An UploadPart that carries ``x-amz-checksum-crc32`` is checked against its body (``BadDigest`` when they differ,
and the part is not stored) and the checksum is kept with the part; ListParts lists it back as
``<ChecksumCRC32>``. A presigned URL may carry it as a query parameter instead (some SDKs move signed ``x-amz-*``
headers into the query; botocore keeps it a signed header): it is checked and kept the same way, the header
winning when both are there. The portal's resume logic compares exactly that value with the part it reads again.
Installed by :func:`sandbox.aws.server._prepare_moto`.
"""

from __future__ import annotations

import base64
import threading
from typing import Any
from xml.etree import ElementTree

try:  # the sandbox's S3 is the benchmark's bottleneck: check with the fast CRC32 when it is there
    from isal.isal_zlib import crc32
except ImportError:
    from zlib import crc32

_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_HEADER = "x-amz-checksum-crc32"
_installed = False


def crc32_header(data: bytes) -> str:
    return base64.b64encode(crc32(data).to_bytes(4, "big")).decode()


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    class BadDigest(S3ClientError):
        code = "BadDigest"

        def __init__(self) -> None:
            super().__init__("The CRC32 you specified did not match the calculated checksum.")

    original_upload_part = S3Response.upload_part
    original_list_parts = S3Response.list_parts
    original_abort = S3Response.abort_multipart_upload
    # S3 stores a part and its checksum together: a ListParts never sees one without the other. Moto stores the
    # part first and this module adds the checksum after, so both sides take this lock (the body is already read
    # when the part is stored: the lock serialises no transfer). An abort takes it too: moto disposes the parts'
    # buffers, and an UploadPart storing its part at that moment read a closed file and answered 500, where S3
    # either stores the part or answers NoSuchUpload.
    stored_together = threading.Lock()

    def upload_part(self: Any):
        claimed = self.headers.get(_HEADER) or (self.querystring.get(_HEADER) or [None])[0]
        if claimed is not None and claimed != crc32_header(self.body):
            raise BadDigest()
        with stored_together:
            result = original_upload_part(self)
            if claimed is not None:
                part = _multipart(self).parts[self._get_int_param("partNumber")]
                part.checksum_algorithm, part.checksum_value = "CRC32", claimed
        return result

    def list_parts(self: Any):
        with stored_together:
            status, headers, body = original_list_parts(self)
            multipart = _multipart(self)
            root = ElementTree.fromstring(body)
            checksums = {number: getattr(part, "checksum_value", None) for number, part in multipart.parts.items()
                         if getattr(part, "checksum_algorithm", None) == "CRC32"}
        for element in root.iter(f"{{{_NS}}}Part"):
            number = int(element.findtext(f"{{{_NS}}}PartNumber"))
            if checksums.get(number) is not None:
                ElementTree.SubElement(element, f"{{{_NS}}}ChecksumCRC32").text = checksums[number]
        ElementTree.register_namespace("", _NS)
        body = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
        headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        return status, headers, body

    def abort_multipart_upload(self: Any):
        with stored_together:
            return original_abort(self)

    S3Response.upload_part = upload_part
    S3Response.list_parts = list_parts
    S3Response.abort_multipart_upload = abort_multipart_upload
    _installed = True


def _multipart(response: Any):
    bucket = response.backend.get_bucket(response.bucket_name)
    return bucket.multiparts[response._get_param("uploadId")]
