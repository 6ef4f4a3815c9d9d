"""Sending one disk part to S3 through a presigned UploadPart URL the portal made: the agent holds no AWS
credential, only URLs that each allow one part of one upload, for a few minutes, with the part's CRC32 signed in.

One keep-alive connection per uploading thread and host, so a disk's thousands of parts do not each pay a TCP and
TLS handshake. Failures leave as `S3Error` with S3's error code (NoSuchUpload, SignatureDoesNotMatch, ...) or a
category (unreachable, tls), never as raw socket text."""

from __future__ import annotations

import http.client
import re
import ssl
import threading
import urllib.parse
from dataclasses import dataclass

TIMEOUT_SECONDS = 120
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class S3Error(Exception):
    def __init__(self, code: str, message: str, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    @property
    def transient(self) -> bool:
        return self.status is None or self.status >= 500 or self.code in ("SlowDown", "RequestTimeout")


@dataclass(frozen=True)
class SentPart:
    part_number: int
    etag: str
    size: int
    crc32: int | None


_local = threading.local()


def _connection(scheme: str, host: str, port: int | None, ca_bundle: str) -> http.client.HTTPConnection:
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    key = (scheme, host, port, ca_bundle)
    connection = pool.get(key)
    if connection is None:
        if scheme == "https":
            context = ssl.create_default_context(cafile=ca_bundle or None)
            connection = http.client.HTTPSConnection(host, port, timeout=TIMEOUT_SECONDS, context=context)
        elif host in LOOPBACK:  # plain HTTP only to this host itself (a development S3 endpoint)
            connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)
        else:
            raise S3Error("config", "The S3 URL must be https:// (http:// only for localhost).")
        pool[key] = connection
    return connection


def _drop(scheme: str, host: str, port: int | None, ca_bundle: str) -> None:
    connection = getattr(_local, "pool", {}).pop((scheme, host, port, ca_bundle), None)
    if connection is not None:
        connection.close()


def put_part(url: str, headers: dict[str, str], body: bytes | bytearray, *, part_number: int, crc32: int,
             ca_bundle: str = "") -> SentPart:
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    where = (parts.scheme, parts.hostname or "", parts.port, ca_bundle)
    connection = _connection(*where)
    try:
        connection.request("PUT", target, body=body, headers={**headers, "Content-Length": str(len(body))})
        response = connection.getresponse()
        answer = response.read()
    except ssl.SSLError:
        _drop(*where)
        raise S3Error("tls", f"S3 at {parts.hostname} failed the TLS check.") from None
    except (OSError, http.client.HTTPException):
        _drop(*where)
        raise S3Error("unreachable", f"S3 at {parts.hostname} could not be reached.") from None
    if response.status != 200:
        code = _error_code(answer) or f"HTTP{response.status}"
        raise S3Error(code, f"S3 refused part {part_number} ({code}).", response.status)
    etag = response.getheader("ETag", "")
    return SentPart(part_number, etag, len(body), crc32)


def _error_code(body: bytes) -> str:
    found = re.search(rb"<Code>([A-Za-z0-9.]{1,64})</Code>", body[:4096])
    return found.group(1).decode() if found else ""
