"""Schema fuzzing: every operation of /api/schema/, against the live test server, as a tenant administrator and as
a plain user with a role on one environment. No input may make the API answer with a server error.

Bounded and reproducible: a few examples per operation (positive and negative), Hypothesis derandomized, no example database, no deadline, no shrinking (a failure prints the request as a curl command and the
server's traceback). One world (tests/world.py) per actor; the operations run in the schema's order against it,
each one a subtest, and ids are aimed by position among the world's rows, so a run is the same run every time.

Peers: tenant A's AWS account and vCenter point at a local stub that refuses everything at once (and are put back
before every request), so the code behind "is it configured" runs too; a 502 in the API's error body is the right
answer there and passes, every other 5xx fails. A socket guard refuses any connection or name lookup outside the
loopback interface, whatever the fuzzer writes into the settings.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import traceback
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import schemathesis

from environments.models import Environment, ImportedInstance, KeyPair, Region, SecurityGroup, Subnet
from core.models import AwsAuthMode, Tenant, TenantAwsAccount, TenantGroup, TenantVCenter, User
from core.querysets import restriction_of
from portal.site.api_urls import router
from tests.world import PASSWORD, build_world

pytestmark = pytest.mark.fuzz

# Examples per operation: the administrator reaches every handler; the plain user mostly meets the role gates.
MAX_EXAMPLES = {"admin": 10, "user_general": 5}


def _config(max_examples: int) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "suppress-health-check": ["all"],
        "generation": {"mode": "all", "max-examples": max_examples, "deterministic": True, "database": "none",
                       "no-shrink": True},
        # The coverage phase enumerates every boundary of every field, 50 to 150 requests an operation: minutes per
        # actor, beyond this run's budget. Stateful runs chain operations through their links: beyond it too.
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    })


# The schema the live server serves, read by the `api_schema` fixture once per actor.
schema = schemathesis.pytest.from_fixture("api_schema")

ROLES = tuple(MAX_EXAMPLES)


# -- peers: a local stub that refuses at once, and a guard against anything beyond loopback ----------------------


class _RefusingPeer(BaseHTTPRequestHandler):
    """Answers every request 403 AccessDenied: not retried by botocore, no vimServiceVersions for pyVmomi."""

    BODY = b"<Error><Code>AccessDenied</Code><Message>The fuzzing stub refuses every request.</Message></Error>"

    def _refuse(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(403)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(self.BODY)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _refuse

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def refusing_peer():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingPeer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _is_loopback(host) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture
def loopback_only(monkeypatch):
    """Connections and name lookups beyond loopback are refused (the caller sees an unreachable peer) and listed
    in a warning: the settings' own checks may resolve a host name the fuzzer wrote, which is no server error."""
    attempts: list[str] = []
    real_getaddrinfo, real_connect, real_connect_ex = socket.getaddrinfo, socket.socket.connect, \
        socket.socket.connect_ex

    def getaddrinfo(host, *args, **kwargs):
        if host in (None, "localhost") or _is_loopback(host):
            return real_getaddrinfo(host, *args, **kwargs)
        attempts.append(f"lookup {host!r}")
        raise socket.gaierror(socket.EAI_NONAME, "name lookups outside loopback are refused while fuzzing")

    def guarded(real):
        def connect(self, address):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
                attempts.append(f"connect {address!r}")
                raise ConnectionRefusedError("connections outside loopback are refused while fuzzing")
            return real(self, address)
        return connect

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded(real_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(real_connect_ex))
    yield attempts
    if attempts:
        warnings.warn(f"refused while fuzzing (nothing left the machine): {sorted(set(attempts))}", stacklevel=1)


@pytest.fixture
def peers(settings, monkeypatch, refusing_peer):
    """Every AWS call goes to the stub, with explicit identities, so boto3 never searches its credential chain
    (environment, files, instance metadata at 169.254.169.254)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    settings.AWS_ENDPOINT_URL = refusing_peer
    settings.PLATFORM_AWS_ACCESS_KEY_ID = "AKIAFUZZPLATFORM0000"
    settings.PLATFORM_AWS_SECRET_ACCESS_KEY = "fuzz-platform-secret"
    settings.PLATFORM_AWS_ACCOUNT_ID = "000000000000"
    # The outbound policy refuses loopback and plain HTTP in production; the stub is local on purpose.
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_CIDRS = ["127.0.0.0/8"]
    return refusing_peer


# -- the world each operation runs against -----------------------------------------------------------------------


def _point_peers_at(tenant, stub):
    TenantAwsAccount.objects.update_or_create(tenant=tenant, defaults={
        "auth_mode": AwsAuthMode.ACCESS_KEYS, "role_arn": "",
        "access_key_id": "AKIAFUZZTENANT000000", "secret_access_key": "fuzz-tenant-secret"})
    TenantVCenter.objects.update_or_create(tenant=tenant, defaults={
        "url": f"{stub}/sdk", "verify_tls": True,
        "ca_certificate_pem": "", "thumbprint": "", "dns_suffixes": "", "connector_updating": False})


@pytest.fixture(params=ROLES)
def fuzz_actor(request):
    return request.param


@pytest.fixture
def fuzz_world(transactional_db, peers):
    world = build_world()
    _point_peers_at(world.a.tenant, peers)
    return world


@pytest.fixture
def api_schema(live_server, fuzz_world, fuzz_actor, loopback_only):
    # Generating the schema is slow on a busy machine; the first request builds it.
    return schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json",
                                         config=_config(MAX_EXAMPLES[fuzz_actor]), timeout=120)


# Request body fields that name a row, and the model they name.
BODY_IDS = {"environment": Environment, "region": Region, "user": User, "members": User, "group": TenantGroup,
            "subnet": Subnet, "security_group": SecurityGroup, "key_pair": KeyPair, "instance": ImportedInstance}


def _row_ids(model, world) -> list[int]:
    """A few of tenant A's rows (so updates and actions run on real rows) and one of tenant B's (which must answer
    like a missing one)."""
    if model is Tenant:
        return [world.a.tenant.pk, world.b.tenant.pk]
    path = restriction_of(model).tenant_path
    rows = model.objects.order_by("pk").values_list("pk", flat=True)
    return [*rows.filter(**{path: world.a.tenant.pk})[:4], *rows.filter(**{path: world.b.tenant.pk})[:1]]


def _ids_by_name(world) -> dict[str, list[int]]:
    """Path resource (`/api/v1/<resource>/{id}/`) or body field -> ids worth aiming at; every route of the router
    is included, so a new endpoint gets real ids without a line here."""
    ids = {name: _row_ids(model, world) for name, model in BODY_IDS.items()}
    for prefix, viewset, _ in router.registry:
        model = viewset.base_queryset.model if getattr(viewset, "base_queryset", None) is not None else Tenant
        ids[prefix] = _row_ids(model, world)
    return ids


def _aim(value, ids):
    """Two generated integers in three become a real id; the rest stay as generated (unknown, huge, negative)."""
    if isinstance(value, bool) or not isinstance(value, int) or not ids or value % 3 == 0:
        return value
    return ids[value % len(ids)]


def _aim_case(case, ids):
    resource = case.path.split("/")[3]  # /api/v1/<resource>/...
    for name, value in case.path_parameters.items():
        target = resource if name == "id" else {"principal_id": "users"}.get(name)
        case.path_parameters[name] = _aim(value, ids.get(target, []))
    if isinstance(case.body, dict):
        for name, value in case.body.items():
            if isinstance(value, list):
                case.body[name] = [_aim(v, ids.get(name, [])) for v in value]
            else:
                case.body[name] = _aim(value, ids.get(name, []))


# -- what counts as a failure ------------------------------------------------------------------------------------


class _ServerErrors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.tracebacks: list[str] = []

    def emit(self, record):
        if record.exc_info:
            self.tracebacks.append("".join(traceback.format_exception(*record.exc_info)))


@pytest.fixture
def server_errors():
    handler = _ServerErrors()
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield handler.tracebacks
    logger.removeHandler(handler)


def _error_body(response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and set(body) == {"type", "errors"} else None


def _check(case, response, tracebacks, headers):
    status = response.status_code
    body = _error_body(response)
    if status < 500 or (status == 502 and body is not None and body["type"] == "server_error"):
        return
    pytest.fail(f"{case.operation.label} answered {status}\n\n{case.as_curl_command(headers=headers)}\n\n"
                f"{response.text[:2000]}\n\n{tracebacks[-1] if tracebacks else '(no server traceback logged)'}",
                pytrace=False)


@pytest.fixture
def fuzz_headers(live_server, fuzz_world, fuzz_actor):
    """The actor's API token, obtained the way a script does."""
    user: User = getattr(fuzz_world.a, fuzz_actor)
    response = requests.post(f"{live_server.url}/api/v1/auth/token/",
                             json={"username": user.username, "password": PASSWORD}, timeout=60)
    response.raise_for_status()
    return {"Authorization": f"Token {response.json()['token']}"}


@schema.parametrize()
def test_no_input_makes_a_server_error(case, fuzz_world, fuzz_headers, peers, live_server, server_errors):
    headers = fuzz_headers
    _point_peers_at(fuzz_world.a.tenant, peers)
    _aim_case(case, _ids_by_name(fuzz_world))
    response = case.call(base_url=live_server.url, headers=headers, timeout=30)
    _check(case, response, server_errors, headers)
