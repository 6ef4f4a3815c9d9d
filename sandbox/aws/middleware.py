"""WSGI middleware wrapped around moto's server app.

1. ``/_sandbox/<op>``: the control API (JSON), see :mod:`sandbox.aws.control`.
2. Before every other request: :func:`sandbox.aws.vmie.tick_all` (due task transitions become visible to
   every API, e.g. an exported OVA to S3 GetObject, an imported AMI to DescribeImages).
3. S3 fault injection: when armed (``s3_error`` switch), matching S3 requests are answered with S3's own
   error document (InternalError 500, SlowDown 503, ServiceUnavailable 503) instead of reaching moto.
4. EC2 throttling: when armed (``ec2_throttle``), matching EC2 Query API requests are answered with EC2's
   ``RequestLimitExceeded`` (HTTP 503) instead of reaching moto.

Before the S3 faults, a presigned S3 request (SigV4 in the query string) is checked as S3 checks it
(:mod:`sandbox.aws.presigned`) and refused with S3's error document when S3 would refuse it.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from . import presigned, vmie
from .control import ControlError, control
from .state import LOCK, STATE

log = logging.getLogger(__name__)

CONTROL_PREFIX = "/_sandbox/"
_CREDENTIAL = re.compile(r"Credential=[^/,]+/\d{8}/([^/,]+)/([^/,]+)/aws4_request")
_IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")

# S3 sub-resources (query keys) -> operation name suffix
_BUCKET_SUBRESOURCES = {
    "acl": "BucketAcl", "policy": "BucketPolicy", "tagging": "BucketTagging", "versioning": "BucketVersioning",
    "cors": "BucketCors", "lifecycle": "BucketLifecycleConfiguration", "encryption": "BucketEncryption",
    "website": "BucketWebsite", "logging": "BucketLogging", "notification": "BucketNotificationConfiguration",
    "ownershipControls": "BucketOwnershipControls", "publicAccessBlock": "PublicAccessBlock",
    "object-lock": "ObjectLockConfiguration", "replication": "BucketReplication",
    "accelerate": "BucketAccelerateConfiguration", "requestPayment": "BucketRequestPayment",
}


def _signing_service(environ: dict[str, Any]) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = _CREDENTIAL.search(auth)
    if m is None:
        m = _CREDENTIAL.search("Credential=" + unquote(_query(environ).get("X-Amz-Credential", [""])[0]))
    return m.group(2) if m else None


def is_s3_request(environ: dict[str, Any]) -> bool:
    return _signing_service(environ) == "s3"


def ec2_action(environ: dict[str, Any]) -> str:
    """The Action of an EC2 Query API request (query string or form body; the body is put back for moto)."""
    action = _query(environ).get("Action", [""])[0]
    if action or environ.get("REQUEST_METHOD", "").upper() != "POST":
        return action
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]


def _query(environ: dict[str, Any]) -> dict[str, list[str]]:
    return parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)


def s3_operation(environ: dict[str, Any]) -> str:
    """Best-effort S3 operation name (as in the S3 API reference) of a request."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = environ.get("PATH_INFO", "/")
    query = _query(environ)
    host = environ.get("HTTP_HOST", "").split(":")[0]
    parts = [p for p in path.split("/") if p]
    virtual_host = bool(host) and not _IP.match(host) and "." in host and not host.startswith("s3.")
    has_key = len(parts) >= (1 if virtual_host else 2)
    has_bucket = virtual_host or len(parts) >= 1
    copy = "HTTP_X_AMZ_COPY_SOURCE" in environ

    if not has_bucket:
        return "ListBuckets"
    if has_key:
        if "uploadId" in query:
            if method == "PUT":
                return "UploadPartCopy" if copy else "UploadPart"
            if method == "POST":
                return "CompleteMultipartUpload"
            if method == "DELETE":
                return "AbortMultipartUpload"
            if method == "GET":
                return "ListParts"
        if "uploads" in query and method == "POST":
            return "CreateMultipartUpload"
        for sub, name in (("tagging", "ObjectTagging"), ("acl", "ObjectAcl"), ("retention", "ObjectRetention"),
                          ("legal-hold", "ObjectLegalHold"), ("attributes", "ObjectAttributes")):
            if sub in query:
                return {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, method.title()) + name
        return {
            "GET": "GetObject",
            "HEAD": "HeadObject",
            "PUT": "CopyObject" if copy else "PutObject",
            "DELETE": "DeleteObject",
            "POST": "PostObject",
        }.get(method, f"{method}Object")
    # bucket level
    if "uploads" in query:
        return "ListMultipartUploads"
    if "delete" in query and method == "POST":
        return "DeleteObjects"
    if "location" in query:
        return "GetBucketLocation"
    if "versions" in query:
        return "ListObjectVersions"
    for sub, name in _BUCKET_SUBRESOURCES.items():
        if sub in query:
            return {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, method.title()) + name
    if method == "GET":
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    return {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(method, f"{method}Bucket")


def _drain(environ: dict[str, Any]) -> None:
    """Consume the request body so the keep-alive connection stays usable."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    try:
        if length > 0:
            while length > 0:
                chunk = stream.read(min(length, 1 << 20))
                if not chunk:
                    break
                length -= len(chunk)
        elif environ.get("wsgi.input_terminated"):
            while stream.read(1 << 20):
                pass
    except Exception:  # pragma: no cover - best effort
        pass


class SandboxMiddleware:
    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self._control(path[len(CONTROL_PREFIX):].strip("/"), environ, start_response)
        try:
            vmie.tick_all()
        except Exception:  # never break the request because of the extension's bookkeeping
            log.exception("sandbox tick failed")
        if is_s3_request(environ):
            if presigned.is_presigned(environ.get("QUERY_STRING", "")):
                refusal = presigned.verify(environ)
                if refusal is not None:
                    return self._s3_error(environ, start_response, refusal.status, refusal.code, refusal.message,
                                          refusal.details, fault=False)
            with LOCK:
                fault = STATE.faults.take_s3(s3_operation(environ))
            if fault is not None:
                return self._s3_error(environ, start_response, *fault)
        elif STATE.faults.ec2_throttle and _signing_service(environ) == "ec2":
            action = ec2_action(environ)
            with LOCK:
                throttled = STATE.faults.take_ec2(action)
            if throttled:
                return self._ec2_throttled(environ, start_response)
        return self.app(environ, start_response)

    @staticmethod
    def _ec2_throttled(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        _drain(environ)
        request_id = str(uuid.uuid4())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
        start_response("503 Service Unavailable", [
            ("Content-Type", "text/xml;charset=UTF-8"),
            ("Content-Length", str(len(body))),
            ("x-vmigrate-sandbox-fault", "RequestLimitExceeded"),
        ])
        return [body]

    @staticmethod
    def _s3_error(environ: dict[str, Any], start_response: Callable[..., Any], status: int, code: str,
                  message: str, details: Iterable[tuple[str, str]] = (), fault: bool = True) -> Iterable[bytes]:
        """S3's XML error document; `details` are the extra elements S3 adds for some codes; `fault`: an injected
        fault (marked with a header the tests read), not a refusal S3 itself would make."""
        _drain(environ)
        request_id = uuid.uuid4().hex[:16].upper()
        extra = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in details)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{extra}"
            f"<RequestId>{request_id}</RequestId>"
            f"<HostId>{'vmigrate-sandbox-fault' if fault else 'vmigrate-sandbox'}</HostId></Error>"
        ).encode()
        if environ.get("REQUEST_METHOD", "").upper() == "HEAD":
            body = b""
        reason = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error",
                  503: "Service Unavailable"}.get(status, "Error")
        headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body))),
                   ("x-amz-request-id", request_id)]
        if fault:
            headers.append(("x-vmigrate-sandbox-fault", code))
        start_response(f"{status} {reason}", headers)
        return [body]

    @staticmethod
    def _control(op: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        payload: dict[str, Any] = {}
        status = "200 OK"
        try:
            if method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                raw = environ["wsgi.input"].read(length) if length else b""
                payload = json.loads(raw or b"{}")
                if not isinstance(payload, dict):
                    raise ControlError("the request body must be a JSON object")
            elif method != "GET" or op not in ("state", "tasks"):
                raise ControlError(f"use POST /_sandbox/{op} (GET only for state and tasks)")
            result: dict[str, Any] = control(op, payload)
        except (ControlError, ValueError) as exc:
            status, result = "400 Bad Request", {"error": str(exc)}
        body = json.dumps(result, default=str).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
