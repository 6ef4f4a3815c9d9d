"""Presigned S3 requests (SigV4 query-string authentication), checked as S3 checks them; moto accepts any signature.

Amazon S3 API Reference, "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)"
(https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html): the signature is recomputed from
the request as it arrives (method, path, every query parameter but X-Amz-Signature, the signed headers' values,
``UNSIGNED-PAYLOAD``) with the secret of the access key named in X-Amz-Credential, so a URL changed in any of them
no longer matches. The codes are those of "Error responses", list of error codes
(https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList).

The sandbox knows the secrets of its own keys, of the keys registered with it (``register_credentials``), and of
the keys moto's IAM and STS issued (IAM users' access keys, AssumeRole's temporary credentials), as S3 knows every
key that AWS issued. Requests signed in the Authorization header are not checked here (moto serves them).

No moto import at module import time.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from .state import ACCESS_KEY, LOCK, SECRET_KEY, STATE

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_EXPIRES = 604800  # seven days: the longest a SigV4 presigned URL may live
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
QUERY_AUTH = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")
REQUIRED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders",
            "X-Amz-Expires")
# S3 tolerates this one unsigned; any other x-amz-* header must be among the signed ones.
UNSIGNED_ALLOWED = {"x-amz-content-sha256"}
_DATE = "%Y%m%dT%H%M%SZ"
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Refusal:
    """What S3 answers instead of serving the request: HTTP status, error code, message and the extra elements S3
    puts in its error document."""

    status: int
    code: str
    message: str
    details: tuple[tuple[str, str], ...] = ()


def is_presigned(query_string: str) -> bool:
    """Whether the request authenticates in its query string (a presigned URL, or what is left of one)."""
    names = {unquote(pair.split("=", 1)[0]) for pair in query_string.split("&") if pair}
    return any(name in names for name in QUERY_AUTH)


def verify(environ: dict[str, Any], now: float | None = None) -> Refusal | None:
    """None when the presigned request is S3's to serve, else how S3 refuses it. `now`: wall-clock epoch seconds
    (a presigned URL expires in real time, whatever the sandbox clock says)."""
    pairs = _query_pairs(environ.get("QUERY_STRING", ""))
    params = dict(pairs)
    missing = _parameter_error(params)
    if missing is not None:
        return missing
    access_key, scope_date, region, service = params["X-Amz-Credential"].split("/")[:4]
    signed_at = datetime.datetime.strptime(params["X-Amz-Date"], _DATE).replace(tzinfo=datetime.UTC)
    known = _secret(access_key, params.get("X-Amz-Security-Token"))
    if isinstance(known, Refusal):
        return known
    expired = _expired(signed_at, int(params["X-Amz-Expires"]), time.time() if now is None else now)
    if expired is not None:
        return expired
    signed_headers = params["X-Amz-SignedHeaders"].split(";")
    canonical = canonical_request(environ, pairs, signed_headers)
    scope = f"{scope_date}/{region}/{service}/aws4_request"
    to_sign = "\n".join((ALGORITHM, params["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()))
    expected = hmac.new(signing_key(known, scope_date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
        return Refusal(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                       "signature you provided. Check your key and signing method.", (
                           ("AWSAccessKeyId", access_key), ("StringToSign", to_sign),
                           ("SignatureProvided", params["X-Amz-Signature"]), ("CanonicalRequest", canonical)))
    return _unsigned_headers(environ, signed_headers)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def canonical_request(environ: dict[str, Any], pairs: list[tuple[str, str]], signed_headers: list[str]) -> str:
    """The canonical request S3 signs for a presigned URL; its path and query are encoded again from their decoded
    values, so a client's own (valid) percent-encoding does not matter."""
    # WSGI hands the decoded path over as latin-1 text of its bytes.
    path = quote(environ.get("PATH_INFO", "/").encode("latin-1"), safe="/~")
    query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(
        (k, v) for k, v in pairs if k != "X-Amz-Signature"))
    headers = "".join(f"{name}:{_header(environ, name)}\n" for name in signed_headers)
    return "\n".join((environ.get("REQUEST_METHOD", "GET").upper(), path, query, headers, ";".join(signed_headers),
                      UNSIGNED_PAYLOAD))


def register_credentials(access_key: str, secret: str) -> None:
    if not access_key or not secret:
        raise ValueError("an access key and its secret are both needed")
    if access_key == ACCESS_KEY and secret != SECRET_KEY:
        raise ValueError(f"{ACCESS_KEY} is the sandbox's own key; its secret is {SECRET_KEY}")
    with LOCK:
        STATE.credentials[access_key] = secret


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _query_pairs(query_string: str) -> list[tuple[str, str]]:
    # Not parse_qs: a "+" is a plus sign in S3's canonical query string, and a parameter without "=" (uploads,
    # tagging) has an empty value that must still be signed.
    pairs = []
    for item in query_string.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _header(environ: dict[str, Any], name: str) -> str:
    key = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}.get(
        name, "HTTP_" + name.upper().replace("-", "_"))
    return _SPACES.sub(" ", str(environ.get(key, "")).strip())


def _parameter_error(params: dict[str, str]) -> Refusal | None:
    def refused(message: str) -> Refusal:
        return Refusal(400, "AuthorizationQueryParametersError", message)

    if any(name not in params for name in REQUIRED):
        return refused("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                       "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        return refused(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    credential = params["X-Amz-Credential"].split("/")
    if len(credential) != 5 or credential[4] != "aws4_request" or not all(credential):
        return refused('Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting '
                       '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
    try:
        datetime.datetime.strptime(params["X-Amz-Date"], _DATE)
    except ValueError:
        return refused("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    if credential[1] != params["X-Amz-Date"][:8]:
        return refused("Invalid credential date. Date is not the same as X-Amz-Date.")
    if credential[3] != "s3":
        return refused(f'Error parsing the X-Amz-Credential parameter; incorrect service "{credential[3]}". This '
                       'endpoint belongs to "s3".')
    expires = params["X-Amz-Expires"]
    if not expires.isdigit():
        return refused("X-Amz-Expires should be a number")
    if int(expires) > MAX_EXPIRES:
        return refused("X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must "
                       f"be less than {MAX_EXPIRES} seconds")
    return None


def _expired(signed_at: datetime.datetime, expires: int, now: float) -> Refusal | None:
    ends = signed_at + datetime.timedelta(seconds=expires)
    server_time = datetime.datetime.fromtimestamp(now, datetime.UTC)
    if server_time <= ends:
        return None
    return Refusal(403, "AccessDenied", "Request has expired", (
        ("X-Amz-Expires", str(expires)), ("Expires", ends.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("ServerTime", server_time.strftime("%Y-%m-%dT%H:%M:%SZ"))))


def _unsigned_headers(environ: dict[str, Any], signed_headers: list[str]) -> Refusal | None:
    present = {key[5:].lower().replace("_", "-") for key in environ if key.startswith("HTTP_")}
    unsigned = sorted(name for name in present if (name == "host" or name.startswith("x-amz-"))
                      and name not in signed_headers and name not in UNSIGNED_ALLOWED)
    if not unsigned:
        return None
    return Refusal(403, "AccessDenied", "There were headers present in the request which were not signed",
                   (("HeadersNotSigned", ", ".join(unsigned)),))


def _secret(access_key: str, token: str | None) -> str | Refusal:
    """The secret of `access_key`, or S3's refusal of the key (or of its session token)."""
    with LOCK:
        registered = STATE.credentials.get(access_key)
    if registered is not None:
        return registered
    temporary = _assumed_role(access_key)
    if temporary is not None:
        return _temporary_secret(temporary, token)
    issued = _iam_key(access_key)
    if issued is not None:
        return issued
    return Refusal(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
                   (("AWSAccessKeyId", access_key),))


def _temporary_secret(role: Any, token: str | None) -> str | Refusal:
    if not token:
        # A temporary key is nothing without its session token: S3 does not know it alone.
        return Refusal(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our "
                       "records.", (("AWSAccessKeyId", role.access_key_id),))
    if not hmac.compare_digest(token, role.session_token):
        return Refusal(400, "InvalidToken", "The provided token is malformed or otherwise invalid.")
    expiration = role.expiration if role.expiration.tzinfo else role.expiration.replace(tzinfo=datetime.UTC)
    if expiration < datetime.datetime.now(datetime.UTC):
        return Refusal(400, "ExpiredToken", "The provided token has expired.")
    return role.secret_access_key


def _backends(backend_dict: Any) -> list[Any]:
    # list() copies: another request thread may add an account or region while this one looks.
    return [backend for account in list(backend_dict.values()) for backend in list(account.values())]


def _assumed_role(access_key: str) -> Any:
    from moto.sts.models import sts_backends

    for backend in _backends(sts_backends):
        role = backend.get_assumed_role_from_access_key(access_key)
        if role is not None:
            return role
    return None


def _iam_key(access_key: str) -> str | None:
    from moto.iam.models import iam_backends

    for backend in _backends(iam_backends):
        for user in list(backend.users.values()):
            for key in user.get_all_access_keys():
                if key.access_key_id == access_key and key.status == "Active":
                    return key.secret_access_key
    return None
