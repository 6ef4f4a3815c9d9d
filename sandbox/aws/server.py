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

from .state import STATE, Settings

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account; any access key maps to it
ACCESS_KEY = "testing"
SECRET_KEY = "testing"

_SETTING_NAMES = set(Settings.__dataclass_fields__)


def _prepare_moto(validate_amis: bool) -> None:
    """Process-wide moto switches + our extension. Call before serving."""
    from moto import settings as moto_settings

    from . import vmie

    vmie.install()
    # run_instances(ImageId=...) then fails with InvalidAMIID.NotFound for unknown images, like AWS.
    moto_settings.ENABLE_AMI_VALIDATION = bool(validate_amis)


def make_app() -> Any:
    """moto's WSGI app (all services, dispatched like moto_server) wrapped in the sandbox middleware."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from .middleware import SandboxMiddleware

    return SandboxMiddleware(DomainDispatcherApplication(create_backend_app))


def _server_class() -> type:
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class SandboxMotoServer(ThreadedMotoServer):
        """ThreadedMotoServer whose app is wrapped in the sandbox middleware."""

        def _server_entry(self) -> None:
            self._server = make_server(
                self._ip_address, self._port, make_app(), True, request_handler=MotoRequestHandler
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
        """moto reset (all resources, all tasks) + faults cleared + clock back to 0 + settings to start values."""
        self._control("reset")

    def state(self) -> dict[str, Any]:
        return self._control("state")

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
    def boto3_kwargs(self) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
        }

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

    def __init__(self, server: Any, host: str, port: int, region: str = DEFAULT_REGION):
        self._server = server
        self.host = host
        self.port = port
        self.region = region
        self.endpoint_url = f"http://{host}:{port}"
        self.control_url = f"{self.endpoint_url}/_sandbox"

    def _control(self, op: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        from .control import control

        return control(op, payload)

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

    def __init__(self, endpoint_url: str, region: str = DEFAULT_REGION, timeout: float = 10.0):
        self.endpoint_url = endpoint_url.rstrip("/")
        self.control_url = f"{self.endpoint_url}/_sandbox"
        self.region = region
        self.timeout = timeout

    def _control(self, op: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(payload or {}).encode()
        req = urllib.request.Request(
            f"{self.control_url}/{op}", data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
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
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    sandbox = AWSSandbox(server, host if host not in ("0.0.0.0", "") else "127.0.0.1", bound_port, region)
    if vmimport_role:
        sandbox.create_vmimport_role()
    return sandbox


def connect(endpoint_url: str, region: str = DEFAULT_REGION) -> RemoteAWSSandbox:
    """Handle on a sandbox server started elsewhere (e.g. ``python -m sandbox.aws --port 5000``)."""
    return RemoteAWSSandbox(endpoint_url, region)
