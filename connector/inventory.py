"""The agent's inventory of its vCenter, read here with this host's own credentials and reported to the portal,
which shows the VM list and runs a migration's vCenter checks from it instead of calling vCenter: every VM (one
PropertyCollector read: the vSphere adapter's `list_vms`) and, for each vCenter principal the portal names (its
users' own accounts), the privileges the portal asks about that the principal holds on each VM (`privileges_on_vms`,
one call per principal). The report carries no credential and nothing the portal did not ask for.

It is taken every `every_seconds` the portal's heartbeat answer says (at once when the agent starts), and at once
when the answer says a user asked for a fresh one (`refresh`); the report names the request it answers. It runs in
its own thread, so that reading a large vCenter never delays a heartbeat."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from adapters.vsphere import client as vsphere
from connector import config, vcenter
from connector.transport import Portal, PortalError

logger = logging.getLogger("connector.inventory")
DEFAULT_EVERY_SECONDS = 300
# After a failed attempt (vCenter away, the report not delivered), the next one comes this soon unless a user asks.
RETRY_SECONDS = 60
# A refresh a user asked for whose report did not reach the portal is tried again this often.
REFRESH_RETRY_SECONDS = 10
SEND_TIMEOUT_SECONDS = 120
# A principal's privileges are left out (and the reason reported) when vCenter refuses to tell them; these failures
# are vCenter's as a whole instead, and fail the inventory.
WHOLE_VCENTER = frozenset({vsphere.UNREACHABLE, vsphere.TLS, vsphere.REFUSED})


def _now() -> str:
    return datetime.now(UTC).isoformat()


def take(settings: dict, *, trust: dict | None = None, principals: list[str], privileges: list[str]) -> dict:
    """The inventory, as the body of `POST agent/inventory/`, read with this host's credentials (`settings`) from
    the vCenter the portal's administrator named (`trust`, see connector.vcenter.connection). Raises
    vsphere.VSphereError when vCenter cannot be read; a principal vCenter will not answer for is reported in
    `principal_errors` instead."""
    taken_at = _now()
    wanted = set(privileges)
    held: dict[str, dict[str, list[str]]] = {}
    refused: dict[str, str] = {}
    with vsphere.session(vcenter.connection(settings, trust)) as vc:
        vms = vc.list_vms()
        version = vc.product()
        morefs = [vm.moref for vm in vms]
        for principal in principals:
            try:
                found = vc.privileges_on_vms(morefs, principal) if morefs else {}
            except vsphere.VSphereError as exc:
                if exc.category in WHOLE_VCENTER:
                    raise
                refused[principal] = exc.category
                continue
            held[principal] = {moref: sorted(names & wanted) for moref, names in found.items() if names & wanted}
    return {"taken_at": taken_at, "vcenter_version": version[:80],
            "vms": [dataclasses.asdict(vm) for vm in vms], "privileges": held, "principal_errors": refused}


class InventoryReporter:
    def __init__(self, portal_of: Callable[[], Portal], settings_of: Callable[[], config.Config]):
        self.portal_of, self.settings_of = portal_of, settings_of
        self._instructions: dict | None = None
        self._wake = threading.Event()
        self._last_attempt: float | None = None
        self._last_ok = False
        self._answered = None  # the refresh request (its `requested_at`) last answered
        self._attempted = None  # the refresh request last attempted (a failed attempt is retried, not at once)

    def note(self, instructions: dict | None) -> None:
        """What a heartbeat answer says of the inventory (nothing, from a portal that does not take one)."""
        if not instructions:
            return
        self._instructions = instructions
        if self._wanted(instructions):
            self._wake.set()

    def _wanted(self, instructions: dict) -> bool:
        requested = instructions.get("requested_at")
        if instructions.get("refresh") and requested != self._answered:
            if requested != self._attempted or self._last_attempt is None:
                return True
            return time.monotonic() - self._last_attempt >= REFRESH_RETRY_SECONDS
        if self._last_attempt is None:
            return True
        every = max(10, int(instructions.get("every_seconds") or DEFAULT_EVERY_SECONDS))
        return time.monotonic() - self._last_attempt >= (every if self._last_ok else min(every, RETRY_SECONDS))

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            # Woken by a heartbeat's answer, or due by the clock: heartbeats are rare while a request for work is held.
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            instructions = self._instructions
            if instructions is None or not self._wanted(instructions):
                continue
            try:
                self.report(instructions)
            except PortalError as exc:
                if exc.category == "refused":
                    return  # the heartbeat loop reports it and ends the agent
                logger.warning("inventory not delivered", extra={"fields": {"category": exc.category}})

    def report(self, instructions: dict) -> dict:
        """Take the inventory now and send it: the portal's answer. A failure to read vCenter is reported too
        (its category, no VMs), so that the portal can say why the list is old."""
        self._last_attempt, self._last_ok = time.monotonic(), False
        requested = instructions.get("requested_at") if instructions.get("refresh") else None
        self._attempted = requested
        settings = self.settings_of()
        payload: dict = {"tenant": settings.tenant, "answers": requested}
        started = time.monotonic()
        if not settings.vcenter:
            payload.update(taken_at=_now(), error="not_configured")
        else:
            try:
                payload.update(take(settings.vcenter, trust=settings.portal_vcenter,
                                    principals=list(instructions.get("principals") or []),
                                    privileges=list(instructions.get("privileges") or [vsphere.EXPORT_PRIVILEGE])))
            except vsphere.VSphereError as exc:
                payload.update(taken_at=_now(), error=exc.category)
        if not payload.get("error") and _too_large(payload, instructions):
            payload = {"tenant": settings.tenant, "answers": requested, "taken_at": payload["taken_at"],
                       "error": "too_large"}
        answer = self.portal_of().post("agent/inventory/", payload, timeout=SEND_TIMEOUT_SECONDS)
        self._answered = requested if requested is not None else self._answered
        fields = {"vms": len(payload.get("vms", [])), "principals": len(payload.get("privileges", {})),
                  "seconds": round(time.monotonic() - started, 2), "refresh": requested is not None}
        if payload.get("error"):
            logger.warning("inventory not taken", extra={"fields": {**fields, "category": payload["error"]}})
        else:
            self._last_ok = True
            logger.info("inventory reported", extra={"fields": fields})
        return answer


def _too_large(payload: dict, instructions: dict) -> bool:
    max_vms, max_bytes = instructions.get("max_vms"), instructions.get("max_bytes")
    if max_vms and len(payload["vms"]) > int(max_vms):
        return True
    return bool(max_bytes) and len(json.dumps(payload, separators=(",", ":")).encode()) > int(max_bytes)
