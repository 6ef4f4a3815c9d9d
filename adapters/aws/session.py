"""Sessions, clients and errors: how every other module of the AWS adapter reaches AWS and how its failures leave.

A tenant's credentials arrive as a plain dataclass and the endpoint comes from settings, so the sandbox's moto server
and real AWS swap by configuration. Whatever botocore raises leaves the adapter as the one `AwsError`, whose code
`peer_errors` sorts into a category.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import boto3
import botocore.exceptions
import botocore.loaders
import botocore.session
from botocore.config import Config
from django.conf import settings

from adapters import peer_errors

__all__ = ["AwsCredentials", "AwsError", "calling", "client", "translated_errors"]


@dataclass(frozen=True)
class AwsCredentials:
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    role_arn: str = ""
    external_id: str = field(default="", repr=False)


class AwsError(Exception):
    """An AWS call failed. `code` is AWS's error code (or a local one), `message` is fit to show a user."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=10, read_timeout=60)


# Every call builds a session (credentials differ per tenant and per assumed role); sharing one loader keeps the
# service models parsed once per process instead of once per session (tens of milliseconds of JSON each time).
_LOADER = botocore.loaders.create_loader()


def _new_session(**kwargs) -> boto3.session.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core, **kwargs)


def make_client(session: boto3.session.Session, service: str, config: Config = CONFIG):
    """A client of `session` for the configured endpoint and CA bundle."""
    return session.client(service, endpoint_url=settings.AWS_ENDPOINT_URL, config=config,
                          verify=settings.AWS_CA_BUNDLE)


def platform_client(service: str, region: str):
    """A client acting as the platform's own identity (explicit keys from settings, else boto3's default chain:
    environment, instance role). It serves sts only (AssumeRole into a tenant's role, the platform's own account
    id); never a tenant's work."""
    return make_client(_new_session(
        aws_access_key_id=settings.PLATFORM_AWS_ACCESS_KEY_ID or None,
        aws_secret_access_key=settings.PLATFORM_AWS_SECRET_ACCESS_KEY or None,
        region_name=region,
    ), service)


def tenant_session(credentials: AwsCredentials, region: str) -> boto3.session.Session:
    """A session acting as the tenant: through its role when it names one, else with its own keys."""
    if credentials.role_arn:
        params = {"RoleArn": credentials.role_arn, "RoleSessionName": "vm-migration-portal"}
        if credentials.external_id:
            params["ExternalId"] = credentials.external_id
        sts = platform_client("sts", region)
        with translated_errors():
            assumed = sts.assume_role(**params)["Credentials"]
        return _new_session(
            aws_access_key_id=assumed["AccessKeyId"],
            aws_secret_access_key=assumed["SecretAccessKey"],
            aws_session_token=assumed["SessionToken"],
            region_name=region,
        )
    if not (credentials.access_key_id and credentials.secret_access_key):
        # Without explicit keys boto3 would fall back to the platform's default chain and act in the platform's
        # own account: a tenant's work never runs on the platform's identity.
        raise AwsError("NoCredentials", "No AWS credentials are configured for this tenant.")
    return _new_session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token or None,
        region_name=region,
    )


def client(service: str, credentials: AwsCredentials, region: str):
    return make_client(tenant_session(credentials, region), service)


@contextlib.contextmanager
def calling(service: str, credentials: AwsCredentials, region: str):
    """A tenant's client for `service`, with every failure inside the block (AssumeRole included) leaving as
    AwsError: the way an adapter function talks to AWS."""
    with translated_errors():
        yield client(service, credentials, region)


@contextlib.contextmanager
def translated_errors():
    """Turns botocore's exceptions into AwsError, so no caller needs to import botocore."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise reported(AwsError(error.get("Code", "ClientError"), error.get("Message", str(exc)))) from exc
    except botocore.exceptions.NoCredentialsError as exc:
        raise reported(AwsError("NoCredentials", "No AWS credentials are configured for this tenant.")) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise reported(AwsError("ConnectionError", f"AWS could not be reached: {exc}")) from exc


def reported(error: AwsError) -> AwsError:
    """`error`, counted in the peer-error metrics (every AwsError that comes from an AWS answer is)."""
    peer_errors.report(peer_errors.AWS, peer_errors.aws_category(error.code))
    return error


def has_code(exc: botocore.exceptions.ClientError, *codes: str) -> bool:
    """Whether AWS answered with one of `codes`; a code ending in "*" stands for every code that starts with the
    rest (AWS varies the tail, as in InvalidInstanceID.NotFound and InvalidInstanceID.Malformed)."""
    code = exc.response.get("Error", {}).get("Code") or ""
    return any(code.startswith(c[:-1]) if c.endswith("*") else code == c for c in codes)


@contextlib.contextmanager
def ignoring(*codes: str):
    """Lets a ClientError with one of `codes` (as `has_code` reads them) pass: for calls where "already gone" or
    "already done" is the outcome asked for. Used inside `translated_errors`, which sees every other error."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        if not has_code(exc, *codes):
            raise


def first_or_missing(found: list, code: str, message: str):
    """The first of the items a describe-by-id call returned; AwsError(code) when it returned none, as AWS itself
    does for most ids (some describe calls answer an unknown id with an empty list instead)."""
    if not found:
        raise AwsError(code, message)
    return found[0]
