"""S3 multipart uploads that are gone (aborted, completed, or expired by a lifecycle rule) answer as S3 does.

moto 5 answers ListParts and AbortMultipartUpload with ``NoSuchUpload`` but looks the upload up with a bare
``dict[...]`` in UploadPart, UploadPartCopy and CompleteMultipartUpload, so those answer 500 (a KeyError). S3
answers all of them 404 ``NoSuchUpload`` — "The specified upload does not exist. The upload ID may be invalid,
or the upload may have been aborted or completed." (Amazon S3 API Reference, "Error responses", list of error
codes: NoSuchUpload, HTTP 404 Not Found). A client that
takes the 500 for a passing server fault retries an upload that will never come back.
Installed by :func:`sandbox.aws.server._prepare_moto`.
"""

from __future__ import annotations

import functools
from typing import Any

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.s3.exceptions import NoSuchUpload
    from moto.s3.models import S3Backend

    def known_upload(method: Any, bucket_arg: str, upload_arg: str) -> Any:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            names = method.__code__.co_varnames[1:method.__code__.co_argcount]
            bound = dict(zip(names, args)) | kwargs
            upload_id = bound.get(upload_arg)
            if upload_id not in self.get_bucket(bound[bucket_arg]).multiparts:
                raise NoSuchUpload(upload_id=upload_id)
            return method(self, *args, **kwargs)

        return wrapper

    S3Backend.upload_part = known_upload(S3Backend.upload_part, "bucket_name", "multipart_id")
    S3Backend.upload_part_copy = known_upload(S3Backend.upload_part_copy, "dest_bucket_name", "multipart_id")
    S3Backend.complete_multipart_upload = known_upload(S3Backend.complete_multipart_upload, "bucket_name",
                                                       "multipart_id")
    _installed = True
