"""The sandbox control operations, one implementation for both entry points.

* in-process: :class:`sandbox.aws.server.AWSSandbox` calls :func:`control` directly;
* over HTTP (other processes, the standalone server): ``POST /_sandbox/<op>`` with a JSON object body
  (``GET`` works for the read-only ops ``state`` and ``tasks``); see :mod:`sandbox.aws.middleware` and
  :class:`sandbox.aws.server.RemoteAWSSandbox`.

Operations and their JSON payloads:

=====================  =================================================  ==========================
op                     payload                                            returns
=====================  =================================================  ==========================
state                  {}                                                 {clock, faults, settings, ...}
reset                  {}                                                 state
advance                {"seconds": 30}                                    clock
set_speed              {"speed": 0}                                       clock
set_faults             fault switches (see state.Faults)                  faults
clear_faults           {}                                                 faults
configure              settings (see state.Settings)                      settings
create_vmimport_role   {"role_name"?, "buckets"?, "account_id"?}          {"arn": ...}
register_credentials   {"access_key", "secret"}                           {"access_keys": [...]}
tasks                  {}                                                 every task as Describe* shows it
=====================  =================================================  ==========================
"""

from __future__ import annotations

from typing import Any

from . import presigned, vmie
from .state import LOCK, STATE, Faults

DEFAULT_ACCOUNT_ID = "123456789012"


class ControlError(ValueError):
    pass


def reset_all() -> None:
    """moto's reset (every backend, hence every task) plus our clock, faults and settings; registered credentials
    stay (see state.SandboxState.credentials)."""
    from moto.moto_api._internal.models import moto_api_backend

    with LOCK:
        moto_api_backend.reset()
        STATE.reset_knobs()
        if STATE.vmimport_role:
            vmie.create_vmimport_role(DEFAULT_ACCOUNT_ID)


def snapshot() -> dict[str, Any]:
    return {
        "clock": STATE.clock.as_dict(),
        "faults": STATE.faults.as_dict(),
        "settings": STATE.settings.as_dict(),
        "access_keys": sorted(STATE.credentials),  # the keys presigned requests may be signed with (not secrets)
        "vmie_installed": vmie.installed(),
    }


def control(op: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = dict(payload or {})
    try:
        with LOCK:
            if op == "state":
                return snapshot()
            if op == "reset":
                reset_all()
                return snapshot()
            if op == "advance":
                STATE.clock.advance(float(payload.get("seconds", 0)))
                vmie.tick_all()
                return STATE.clock.as_dict()
            if op == "set_speed":
                STATE.clock.set_speed(float(payload["speed"]))
                return STATE.clock.as_dict()
            if op == "set_faults":
                STATE.faults.update(**payload)
                return STATE.faults.as_dict()
            if op == "clear_faults":
                STATE.faults = Faults()
                return STATE.faults.as_dict()
            if op == "configure":
                STATE.settings.update(**payload)
                return STATE.settings.as_dict()
            if op == "create_vmimport_role":
                arn = vmie.create_vmimport_role(
                    account_id=payload.get("account_id", DEFAULT_ACCOUNT_ID),
                    role_name=payload.get("role_name", vmie.DEFAULT_ROLE),
                    buckets=payload.get("buckets"),
                )
                return {"arn": arn}
            if op == "register_credentials":
                presigned.register_credentials(str(payload["access_key"]), str(payload["secret"]))
                return {"access_keys": sorted(STATE.credentials)}
            if op == "tasks":
                return vmie.all_tasks()
    except (KeyError, TypeError, ValueError) as exc:
        raise ControlError(f"{op}: {exc}") from exc
    raise ControlError(f"unknown sandbox control operation {op!r}")
