"""Process-wide sandbox knobs: the sandbox clock, the fault switches and the settings (limits, durations).

They live in the process that runs the moto server (like moto's own backends), so every client - the test
process, portal workers in other processes - sees the same clock, faults and task state. Other processes
change them over HTTP (``/_sandbox/...``, see :mod:`sandbox.aws.middleware`).

No moto import here.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# One lock for everything the extension does (task state, clock, faults); the moto server is threaded.
LOCK = threading.RLock()

# The sandbox's own keys (any key signs a request in the Authorization header; a presigned URL needs a known one).
ACCESS_KEY = "testing"
SECRET_KEY = "testing"


class SandboxClock:
    """Sandbox time in seconds since start/reset: ``now = offset + real_elapsed * speed``.

    ``speed=0`` freezes time (tests: only :meth:`advance` moves it, fully deterministic);
    ``speed=1`` is real time (demo); any other factor fast-forwards.
    """

    def __init__(self, speed: float = 1.0):
        self._speed = float(speed)
        self._anchor_real = time.monotonic()
        self._anchor_sandbox = 0.0

    def now(self) -> float:
        with LOCK:
            return self._anchor_sandbox + (time.monotonic() - self._anchor_real) * self._speed

    @property
    def speed(self) -> float:
        return self._speed

    def _reanchor(self) -> None:
        now = self.now()
        self._anchor_real = time.monotonic()
        self._anchor_sandbox = now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with LOCK:
            self._reanchor()
            self._anchor_sandbox += float(seconds)
            return self._anchor_sandbox

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        with LOCK:
            self._reanchor()
            self._speed = float(speed)

    def reset(self, speed: float) -> None:
        with LOCK:
            self._anchor_real = time.monotonic()
            self._anchor_sandbox = 0.0
            self._speed = float(speed)

    def as_dict(self) -> dict[str, float]:
        return {"now": self.now(), "speed": self._speed}


S3_ERRORS = {
    # code: (HTTP status, message) - what S3 sends
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "SlowDown": (503, "Please reduce your request rate."),
    "ServiceUnavailable": (503, "Service is unable to handle request."),
}

DEFAULT_IMPORT_FAILURE = "ClientError: Disk validation failed [Unsupported VMDK File Format]"
DEFAULT_EXPORT_FAILURE = "ClientError: Export failed: the instance's volume could not be converted"
IMPORT_FAILURE_STAGES = ("pending", "validating", "validated", "converting", "updating", "booting", "booted",
                         "preparing ami")


@dataclass
class Faults:
    """Fault switches. Counts: remaining number of hits; -1 = every time until cleared; 0 = off.

    ``update()`` changes only the switches it is given, except that setting a rule's main switch
    (``s3_error``, ``import_failure``, ``export_failure``, ``ec2_throttle``) replaces that whole rule: omitted
    companions go back to their defaults (count 1, operations/actions None = all, stage "converting").
    """

    # S3 over HTTP: the next `s3_error_count` matching S3 requests get this error instead of being served.
    s3_error: str | None = None  # InternalError (500) | SlowDown (503) | ServiceUnavailable (503)
    s3_error_count: int = 0
    s3_error_operations: list[str] | None = None  # e.g. ["UploadPart"]; None = any S3 operation
    # ImportImage: the next `import_failure_count` accepted tasks end Status=deleted with this StatusMessage,
    # failing in the middle of stage `import_failure_stage`.
    import_failure: str | None = None
    import_failure_count: int = 0
    import_failure_stage: str = "converting"
    # CreateInstanceExportTask: the next `export_failure_count` accepted tasks end State=cancelled with this
    # StatusMessage after their upload started (partial objects are removed).
    export_failure: str | None = None
    export_failure_count: int = 0
    # EC2 API throttling: the next `ec2_throttle_count` matching EC2 requests get 503 RequestLimitExceeded.
    ec2_throttle: bool = False
    ec2_throttle_count: int = 0
    ec2_throttle_actions: list[str] | None = None  # e.g. ["DescribeImportImageTasks"]; None = every Describe*
    # ImportImage: the next `import_root_only_count` multi-disk imports register an AMI that maps only the root
    # disk (the data disks' snapshots are made but left out), so an instance launched from it lacks them.
    import_root_only_count: int = 0
    # bookkeeping, read-only: how many faults were injected so far
    injected: dict[str, int] = field(default_factory=lambda: {"s3": 0, "import": 0, "export": 0, "ec2": 0})

    def update(self, **switches: Any) -> None:
        known = {f.name for f in fields(self)} - {"injected"}
        unknown = set(switches) - known
        if unknown:
            raise ValueError(f"unknown fault switch(es): {sorted(unknown)}; known: {sorted(known)}")
        if "s3_error" in switches:
            code = switches["s3_error"]
            if code is not None and code not in S3_ERRORS:
                raise ValueError(f"s3_error must be one of {sorted(S3_ERRORS)} or None")
            if code is not None and "s3_error_count" not in switches:
                switches["s3_error_count"] = 1
            switches.setdefault("s3_error_operations", None)  # setting s3_error replaces the whole rule
            if code is None:
                switches.setdefault("s3_error_count", 0)
        if "import_failure" in switches:
            msg = switches["import_failure"]
            if msg is True:
                switches["import_failure"] = DEFAULT_IMPORT_FAILURE
            if msg and "import_failure_count" not in switches:
                switches["import_failure_count"] = 1
            switches.setdefault("import_failure_stage", "converting")
            if not msg:
                switches["import_failure"] = None
                switches.setdefault("import_failure_count", 0)
        if "export_failure" in switches:
            msg = switches["export_failure"]
            if msg is True:
                switches["export_failure"] = DEFAULT_EXPORT_FAILURE
            if msg and "export_failure_count" not in switches:
                switches["export_failure_count"] = 1
            if not msg:
                switches["export_failure"] = None
                switches.setdefault("export_failure_count", 0)
        if "ec2_throttle" in switches:
            on = bool(switches["ec2_throttle"])
            switches["ec2_throttle"] = on
            if on and "ec2_throttle_count" not in switches:
                switches["ec2_throttle_count"] = 1
            switches.setdefault("ec2_throttle_actions", None)
            if not on:
                switches.setdefault("ec2_throttle_count", 0)
        actions = switches.get("ec2_throttle_actions")
        if actions is not None:
            switches["ec2_throttle_actions"] = [actions] if isinstance(actions, str) else list(actions)
        stage = switches.get("import_failure_stage")
        if stage is not None and stage not in IMPORT_FAILURE_STAGES:
            raise ValueError(f"import_failure_stage must be one of {IMPORT_FAILURE_STAGES}")
        ops = switches.get("s3_error_operations")
        if ops is not None:
            switches["s3_error_operations"] = [ops] if isinstance(ops, str) else list(ops)
        for key, value in switches.items():
            if key.endswith("_count"):
                value = int(value)
            setattr(self, key, value)

    def take(self, kind: str) -> bool:
        """Consume one hit of an import/export fault; True if this one must fail."""
        attr = f"{kind}_failure_count"
        count = getattr(self, attr)
        if not getattr(self, f"{kind}_failure") or count == 0:
            return False
        if count > 0:
            setattr(self, attr, count - 1)
        self.injected[kind] += 1
        return True

    def take_s3(self, operation: str) -> tuple[int, str, str] | None:
        """Consume one S3 hit for ``operation`` if armed; returns (status, code, message)."""
        if not self.s3_error or self.s3_error_count == 0:
            return None
        if self.s3_error_operations is not None and operation not in self.s3_error_operations:
            return None
        if self.s3_error_count > 0:
            self.s3_error_count -= 1
        self.injected["s3"] += 1
        status, message = S3_ERRORS[self.s3_error]
        return status, self.s3_error, message

    def take_ec2(self, action: str) -> bool:
        """Consume one EC2 throttle hit for ``action`` if armed; True if this request must be throttled."""
        if not self.ec2_throttle or self.ec2_throttle_count == 0:
            return False
        if self.ec2_throttle_actions is None:
            if not action.startswith("Describe"):
                return False
        elif action not in self.ec2_throttle_actions:
            return False
        if self.ec2_throttle_count > 0:
            self.ec2_throttle_count -= 1
        self.injected["ec2"] += 1
        return True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Settings:
    """Limits and durations (durations in sandbox seconds)."""

    import_limit: int = 5  # active ImportImage tasks per account+region
    import_snapshot_limit: int = 5  # active ImportSnapshot tasks per account+region
    export_limit: int = 5  # active CreateInstanceExportTask tasks per account+region
    import_duration: float = 90.0  # ImportImage: accepted -> completed
    import_snapshot_duration: float = 45.0  # ImportSnapshot: accepted -> completed
    export_duration: float = 60.0  # CreateInstanceExportTask: accepted -> completed
    cleanup_duration: float = 5.0  # deleting -> deleted (import), cancelling -> cancelled (export)
    retain_disk_bytes: int = 64 * 1024 * 1024  # imported disk data kept (per image) for exports

    def update(self, **values: Any) -> None:
        types = {f.name: f.type for f in fields(self)}
        unknown = set(values) - set(types)
        if unknown:
            raise ValueError(f"unknown setting(s): {sorted(unknown)}; known: {sorted(types)}")
        for key, value in values.items():
            value = int(value) if types[key] == "int" else float(value)
            if value < 0:
                raise ValueError(f"{key} must be >= 0")
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SandboxState:
    def __init__(self) -> None:
        self.initial_speed = 1.0
        self.initial_settings: dict[str, Any] = {}
        self.vmimport_role = False  # re-create the vmimport role after every reset
        self.clock = SandboxClock(1.0)
        self.faults = Faults()
        self.settings = Settings()
        # Access key -> secret, for checking presigned S3 requests (`presigned.py`). Not reset: like the keys AWS
        # issued to a tenant, they outlive the resources a reset removes, so a tenant configured once keeps working.
        self.credentials: dict[str, str] = {ACCESS_KEY: SECRET_KEY}

    def configure_defaults(self, speed: float | None = None, vmimport_role: bool | None = None,
                           **settings: Any) -> None:
        """What :meth:`reset_knobs` returns to (set by start_aws / the CLI)."""
        with LOCK:
            if speed is not None:
                self.initial_speed = float(speed)
            if vmimport_role is not None:
                self.vmimport_role = bool(vmimport_role)
            self.initial_settings.update(settings)
            self.reset_knobs()

    def reset_knobs(self) -> None:
        with LOCK:
            self.clock.reset(self.initial_speed)
            self.faults = Faults()
            self.settings = Settings()
            self.settings.update(**self.initial_settings)


STATE = SandboxState()
