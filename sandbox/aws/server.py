"""Run the AWS sandbox: moto in server mode (EC2, S3, IAM, STS, ...) + our VM Import/Export extension.

``start_aws()`` starts a :class:`SandboxMotoServer` (moto's ``ThreadedMotoServer`` with
:class:`~sandbox.aws.middleware.SandboxMiddleware` around moto's app) in a daemon thread and returns an
:class:`AWSSandbox` handle; ``connect(endpoint_url)`` returns a :class:`RemoteAWSSandbox` with the same control
methods for a sandbox server running in another process (``python -m sandbox.aws``).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

from .state import ACCESS_KEY, SECRET_KEY, STATE, Settings

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account; any access key maps to it

_SETTING_NAMES = set(Settings.__dataclass_fields__)


def _prepare_moto(validate_amis: bool) -> None:
    """Process-wide moto switches + our extension. Call before serving."""
    from moto import settings as moto_settings

    from . import s3checksums, s3multipart, vmie

    vmie.install()
    s3checksums.install()
    s3multipart.install()
    # run_instances(ImageId=...) then fails with InvalidAMIID.NotFound for unknown images, like AWS.
    moto_settings.ENABLE_AMI_VALIDATION = bool(validate_amis)


def make_app() -> Any:
    """moto's WSGI app (all services, dispatched like moto_server) wrapped in the sandbox middleware."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from .middleware import SandboxMiddleware

    return SandboxMiddleware(DomainDispatcherApplication(create_backend_app))


def tls_material(directory: str) -> tuple[str, str]:
    """A new self-signed certificate for 127.0.0.1, ::1 and localhost, written to `directory` as ``ca.pem`` and
    ``key.pem``. It is its own CA: point a client's CA bundle (``AWS_CA_BUNDLE``, botocore's ``verify``) at
    ``ca.pem`` and the HTTPS sandbox verifies like a real endpoint, no verification turned off."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AWS sandbox (self-signed)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1"))]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(directory, "ca.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    return cert_path, key_path


def server_tls_context(cert_path: str, key_path: str) -> Any:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context


class _RequestBody:
    """The connection's reader while one request is served: counts what the app reads of the body, and reads
    nothing more once the response has started (werkzeug then "drains" the socket, which on a kept-alive
    connection would swallow the client's next request)."""

    def __init__(self, raw: Any):
        self.raw, self.consumed, self.closed_for_app = raw, 0, False

    def read(self, size: int = -1) -> bytes:
        if self.closed_for_app:
            return b""
        data = self.raw.read(size)
        self.consumed += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        if self.closed_for_app:
            return 0
        n = self.raw.readinto(buffer) or 0
        self.consumed += n
        return n

    def readline(self, size: int = -1) -> bytes:
        if self.closed_for_app:
            return b""
        data = self.raw.readline(size)
        self.consumed += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


_DRAIN_LIMIT = 64 * 1024 * 1024


def request_handler_class() -> type:
    """moto's request handler with HTTP/1.1 keep-alive, as S3 offers it. werkzeug's development server closes
    every connection, so each request would pay a new TCP (and TLS) handshake that no client of real S3 pays:
    the benchmark would charge the worker for the sandbox's shortcut. What the app left unread of a request body
    is read off before the next request (the reason werkzeug gave keep-alive up); a chunked request body, or a
    large unread one, still closes the connection."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class KeepAliveRequestHandler(MotoRequestHandler):
        protocol_version = "HTTP/1.1"
        # The handler writes the headers and the body in two sends. On a kept-alive connection, Nagle's algorithm
        # holds the body back until the client acknowledges the headers, which the client delays by up to 40 ms:
        # every call would wait 40 ms that no real S3 or EC2 endpoint makes a client wait.
        disable_nagle_algorithm = True
        _body: _RequestBody | None = None

        def _unread(self) -> int | None:
            """Body bytes the app left unread, or None when the connection cannot be reused."""
            if self._body is None or "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                return None
            try:
                unread = int(self.headers.get("Content-Length") or 0) - self._body.consumed
            except ValueError:
                return None
            return unread if 0 <= unread <= _DRAIN_LIMIT else None

        def send_header(self, keyword: str, value: str) -> None:
            if keyword.lower() == "connection" and value.lower() == "close" and self._unread() is not None:
                return  # werkzeug's blanket close: this connection can serve the next request
            super().send_header(keyword, value)

        def end_headers(self) -> None:
            if self._body is not None:
                self._body.closed_for_app = True
            super().end_headers()

        def run_wsgi(self) -> None:
            raw = self.rfile
            self._body = self.rfile = _RequestBody(raw)
            try:
                super().run_wsgi()
                unread = self._unread()
            finally:
                self.rfile, self._body = raw, None
            if self.close_connection:
                return
            if unread is None:
                self.close_connection = True
                return
            while unread > 0:
                chunk = raw.read(min(unread, 1024 * 1024))
                if not chunk:
                    self.close_connection = True
                    return
                unread -= len(chunk)

    return KeepAliveRequestHandler


def _server_class() -> type:
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class SandboxMotoServer(ThreadedMotoServer):
        """ThreadedMotoServer whose app is wrapped in the sandbox middleware (over TLS when given a context)."""

        ssl_context: Any = None

        def _server_entry(self) -> None:
            self._server = make_server(
                self._ip_address, self._port, make_app(), True, request_handler=request_handler_class(),
                ssl_context=self.ssl_context,
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return SandboxMotoServer


class _Controls:
    """Control methods shared by the in-process and the remote handle; subclasses implement ``_control``."""

    endpoint_url: str
    region: str = DEFAULT_REGION
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    account_id: str = DEFAULT_ACCOUNT_ID

    def _control(self, op: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        raise NotImplementedError

    # --- clock
    def advance(self, seconds: float) -> float:
        """Move sandbox time forward; due transitions are materialised immediately. Returns the new time."""
        return float(self._control("advance", {"seconds": seconds})["now"])

    def set_speed(self, speed: float) -> None:
        """0 = frozen (only advance() moves time), 1 = real time, N = N times faster."""
        self._control("set_speed", {"speed": speed})

    def now(self) -> float:
        return float(self._control("state")["clock"]["now"])

    @property
    def clock(self) -> ClockControl:
        return ClockControl(self)

    # --- faults
    def set_faults(self, **switches: Any) -> dict[str, Any]:
        """Arm/disarm fault switches (only the given ones change). See :class:`sandbox.aws.state.Faults`."""
        return self._control("set_faults", switches)

    def clear_faults(self) -> dict[str, Any]:
        return self._control("clear_faults")

    def faults(self) -> dict[str, Any]:
        return self._control("state")["faults"]

    # --- settings
    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change limits/durations (see :class:`sandbox.aws.state.Settings`) until the next reset()."""
        return self._control("configure", settings)

    def settings(self) -> dict[str, Any]:
        return self._control("state")["settings"]

    # --- state
    def reset(self) -> None:
        """moto reset (all resources, all tasks) + faults cleared + clock back to 0 + settings to start values;
        registered credentials stay."""
        self._control("reset")

    def state(self) -> dict[str, Any]:
        return self._control("state")

    def register_credentials(self, access_key: str, secret: str) -> None:
        """Let presigned S3 requests be signed with this key (a tenant's, as AWS would have issued it); the sandbox's
        own key and the keys moto's IAM and STS issue are always known. Registrations outlive reset()."""
        self._control("register_credentials", {"access_key": access_key, "secret": secret})

    def tasks(self) -> dict[str, Any]:
        """Every import/snapshot/export task as the Describe* calls show it now (debugging)."""
        return self._control("tasks")

    def create_vmimport_role(self, role_name: str = "vmimport", buckets: list[str] | None = None) -> str:
        """Create the VM Import service role in moto's IAM; returns its ARN (idempotent)."""
        payload: dict[str, Any] = {"role_name": role_name, "account_id": self.account_id}
        if buckets is not None:
            payload["buckets"] = list(buckets)
        return str(self._control("create_vmimport_role", payload)["arn"])

    # --- clients
    ca_bundle: str | None = None  # the HTTPS sandbox's CA certificate (PEM path); None over plain HTTP

    def boto3_kwargs(self) -> dict[str, Any]:
        kwargs = {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
        }
        if self.ca_bundle:
            kwargs["verify"] = self.ca_bundle
        return kwargs

    def client(self, service: str, max_attempts: int | None = None, **kwargs: Any) -> Any:
        """A boto3 client talking HTTP to the sandbox. ``max_attempts``: total attempts (1 = no retry).

        Clients without a custom ``config`` are cached per (service, max_attempts, kwargs).
        """
        import boto3
        from botocore.config import Config

        cache_key = None
        if "config" not in kwargs:
            try:
                cache_key = (service, max_attempts, tuple(sorted(kwargs.items())))
                hash(cache_key)
            except TypeError:
                cache_key = None
        cache = self.__dict__.setdefault("_clients", {})
        if cache_key is not None and cache_key in cache:
            return cache[cache_key]
        if max_attempts is not None:
            # total attempts including the first one (botocore's retries["max_attempts"] counts retries only)
            cfg = Config(retries={"total_max_attempts": max_attempts, "mode": "standard"})
            kwargs["config"] = cfg.merge(kwargs["config"]) if "config" in kwargs else cfg
        client = boto3.session.Session().client(service, **{**self.boto3_kwargs(), **kwargs})
        if cache_key is not None:
            cache[cache_key] = client
        return client


class ClockControl:
    def __init__(self, owner: _Controls):
        self._owner = owner

    def advance(self, seconds: float) -> float:
        return self._owner.advance(seconds)

    def set_speed(self, speed: float) -> None:
        self._owner.set_speed(speed)

    def now(self) -> float:
        return self._owner.now()

    @property
    def speed(self) -> float:
        return float(self._owner.state()["clock"]["speed"])


class AWSSandbox(_Controls):
    """Handle on a sandbox server running in this process (controls act on it directly, no HTTP)."""

    def __init__(self, server: Any, host: str, port: int, region: str = DEFAULT_REGION,
                 ca_bundle: str | None = None):
        self._server = server
        self.host = host
        self.port = port
        self.region = region
        self.ca_bundle = ca_bundle
        self.endpoint_url = f"{'https' if ca_bundle else 'http'}://{host}:{port}"
        self.control_url = f"{self.endpoint_url}/_sandbox"

    def _control(self, op: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        from .control import control

        return control(op, payload)

    def set_s3_min_part_size(self, size: int | None = None) -> int:
        """The smallest part (but the last) CompleteMultipartUpload accepts, 5 MiB as on S3; None restores that.
        Returns the value before. Lets a test stream a small disk in more parts than S3 allows (in-process
        sandboxes only: it is moto's module setting)."""
        import moto.s3.models as s3_models
        from moto import settings as moto_settings

        previous = s3_models.S3_UPLOAD_PART_MIN_SIZE
        s3_models.S3_UPLOAD_PART_MIN_SIZE = moto_settings.S3_UPLOAD_PART_MIN_SIZE if size is None else int(size)
        return previous

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> AWSSandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<AWSSandbox {self.endpoint_url} region={self.region}>"


class RemoteAWSSandbox(_Controls):
    """Same control methods, over HTTP, for a sandbox server in another process."""

    def __init__(self, endpoint_url: str, region: str = DEFAULT_REGION, timeout: float = 10.0,
                 ca_bundle: str | None = None):
        self.endpoint_url = endpoint_url.rstrip("/")
        self.control_url = f"{self.endpoint_url}/_sandbox"
        self.region = region
        self.timeout = timeout
        self.ca_bundle = ca_bundle

    def _control(self, op: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(payload or {}).encode()
        req = urllib.request.Request(
            f"{self.control_url}/{op}", data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            context = None
            if self.ca_bundle:
                import ssl

                context = ssl.create_default_context(cafile=self.ca_bundle)
            with urllib.request.urlopen(req, timeout=self.timeout, context=context) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except ValueError:
                pass
            raise ValueError(f"sandbox control {op} failed: {detail}") from None

    def stop(self) -> None:  # nothing to stop from here
        pass

    def __enter__(self) -> RemoteAWSSandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def start_aws(
    port: int = 0,
    host: str = "127.0.0.1",
    region: str = DEFAULT_REGION,
    speed: float = 1.0,
    validate_amis: bool = True,
    load_default_amis: bool = True,
    vmimport_role: bool = False,
    quiet: bool = True,
    https_dir: str | None = None,
    **settings: Any,
) -> AWSSandbox:
    """Start the sandbox server in a daemon thread of this process and return its handle.

    ``speed``: sandbox clock speed (0 = frozen/manual, 1 = real time). ``settings``: any
    :class:`sandbox.aws.state.Settings` field (``import_limit``, ``export_limit``, ``import_duration``, ...);
    ``reset()`` returns to these values. ``vmimport_role=True`` creates the vmimport role now and again
    after every ``reset()`` (default False: tests create it with ``create_vmimport_role()``).
    ``validate_amis``: RunInstances refuses unknown AMI ids (InvalidAMIID.NotFound), like AWS.
    ``load_default_amis=False`` skips moto's ~1300 stock AMIs (sets MOTO_EC2_LOAD_DEFAULT_AMIS=false for this
    process): every reset then costs ~0.05 s instead of ~0.4 s per EC2 region.
    ``https_dir``: serve HTTPS with a new self-signed certificate written there (:func:`tls_material`); the
    handle's ``ca_bundle`` is its path. A second server started in the same process shares the first one's
    moto state, so one HTTP and one HTTPS listener can serve the same resources.
    """
    unknown = set(settings) - _SETTING_NAMES
    if unknown:
        raise TypeError(f"unknown start_aws option(s): {sorted(unknown)}")
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    if not load_default_amis:
        os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    _prepare_moto(validate_amis)
    STATE.configure_defaults(speed=speed, vmimport_role=vmimport_role, **settings)
    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = _server_class()(ip_address=host, port=port, verbose=False)
    ca_bundle = None
    if https_dir:
        ca_bundle, key_path = tls_material(https_dir)
        server.ssl_context = server_tls_context(ca_bundle, key_path)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    sandbox = AWSSandbox(server, host if host not in ("0.0.0.0", "") else "127.0.0.1", bound_port, region,
                         ca_bundle=ca_bundle)
    if vmimport_role:
        sandbox.create_vmimport_role()
    return sandbox


def connect(endpoint_url: str, region: str = DEFAULT_REGION, ca_bundle: str | None = None) -> RemoteAWSSandbox:
    """Handle on a sandbox server started elsewhere (e.g. ``python -m sandbox.aws --port 5000``); ``ca_bundle``:
    the CA certificate of one started with ``--https-dir``."""
    return RemoteAWSSandbox(endpoint_url, region, ca_bundle=ca_bundle)
