"""Writing audit rows. Every state-changing service and every denial calls `audit_record`."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import datetime, timezone

from django.conf import settings
from django.core.cache import cache
from django.db import models

from core.audit_actions import AuditAction, is_action
from core.errors import InvariantViolation
from core.middleware import current_remote_addr
from core.models import AuditLog, AuditOutcome, Tenant
from core.validation import same_tenant

logger = logging.getLogger(__name__)


def audit_record(
    *,
    actor,
    action: AuditAction | str,
    obj: models.Model | None = None,
    tenant=None,
    outcome: str = AuditOutcome.SUCCESS,
    detail: dict | None = None,
) -> AuditLog:
    """Append one audit row. The tenant defaults to the object's, then the actor's.

    `action` is an AuditAction, or a value of the vocabulary (job transitions build `<kind>.<state>`); anything else
    is a bug, refused before it writes a row that no filter offers."""
    if not is_action(action):
        raise InvariantViolation(f"{action!r} is not an audit action: add it to AuditAction")
    if tenant is None and obj is not None:
        tenant = obj if isinstance(obj, Tenant) else getattr(obj, "tenant", None)
    if tenant is None and actor is not None and getattr(actor, "is_authenticated", False):
        tenant = actor.tenant
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditLog.objects.create(
        tenant=tenant,
        actor=actor if authenticated else None,
        actor_username=actor.get_username() if authenticated else "",
        action=action,
        outcome=outcome,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        detail=detail or {},
        remote_addr=current_remote_addr.get(),
    )


def audit_auth_failure(*, username: str, path: str, reason: str) -> AuditLog | None:
    """Record a failed login (API token, login page or platform admin) as an "auth.failed" row, unless failures are
    flooding in.

    Anonymous callers choose how often this runs, so per window (AUDIT_AUTH_FAILURE_WINDOW_SECONDS) at most
    AUDIT_AUTH_FAILURE_ROWS rows are written per username and client address, AUDIT_AUTH_FAILURE_ROWS_PER_ADDRESS
    per address (a spray of usernames) and AUDIT_AUTH_FAILURE_ROWS_TOTAL in all (many addresses). Failures beyond
    a limit are only counted (shared cache); the next failure of the same scope after that window writes one
    "auth.failed.suppressed" row saying how many there were. Returns the row written, if any."""
    username = username[:150]
    address = current_remote_addr.get()
    window = settings.AUDIT_AUTH_FAILURE_WINDOW_SECONDS
    index = int(time.time() // window)
    scopes = (
        _FailureScope("username_address", {"username": username, "address": address},
                      settings.AUDIT_AUTH_FAILURE_ROWS, window),
        _FailureScope("address", {"address": address}, settings.AUDIT_AUTH_FAILURE_ROWS_PER_ADDRESS, window),
        _FailureScope("all", {}, settings.AUDIT_AUTH_FAILURE_ROWS_TOTAL, window),
    )
    over_limit = False
    for scope in scopes:
        scope.report_earlier_window(index)
        over_limit = scope.count(index) or over_limit
    if over_limit:
        return None
    return audit_record(actor=None, action=AuditAction.AUTH_FAILED, outcome=AuditOutcome.DENIED,
                        tenant=_tenant_of(username),
                        detail={"username": username, "path": path[:500], "reason": reason})


# A suppressed count waits this long for a later failure of its scope to report it.
_SUPPRESSED_TTL = 7 * 24 * 3600


class _FailureScope:
    def __init__(self, name: str, identity: dict, limit: int, window: int):
        self.name, self.identity, self.limit, self.window = name, identity, limit, window
        digest = hashlib.sha256(json.dumps([name, identity], sort_keys=True).encode()).hexdigest()[:40]
        self.key = f"portal:auth-failed:{digest}"

    def count(self, index: int) -> bool:
        """Count one failure in window `index`; True when it is over the limit (no row for it)."""
        key = f"{self.key}:{index}"
        cache.add(key, 0, timeout=2 * self.window)
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=2 * self.window)
            failures = 1
        if failures <= self.limit:
            return False
        cache.touch(key, _SUPPRESSED_TTL)
        if failures == self.limit + 1:  # incr is atomic: exactly one caller sees this value
            cache.set(f"{self.key}:pending", index, timeout=_SUPPRESSED_TTL)
        return True

    def report_earlier_window(self, index: int) -> None:
        pending = cache.get(f"{self.key}:pending")
        if pending is None or pending >= index:
            return
        if not cache.delete(f"{self.key}:pending"):
            return  # another process is reporting it
        failures = cache.get(f"{self.key}:{pending}")
        if failures is None:
            logger.warning("suppressed login failures of %s could not be counted (cache entry evicted)", self.name)
            return
        start = datetime.fromtimestamp(pending * self.window, tz=timezone.utc)
        end = datetime.fromtimestamp((pending + 1) * self.window, tz=timezone.utc)
        audit_record(actor=None, action=AuditAction.AUTH_FAILED_SUPPRESSED, outcome=AuditOutcome.DENIED,
                     tenant=_tenant_of(self.identity["username"]) if "username" in self.identity else None,
                     detail={"scope": self.name, **self.identity, "failures": failures,
                             "suppressed": failures - self.limit, "window_start": start.isoformat(),
                             "window_end": end.isoformat()})


def _tenant_of(username: str) -> Tenant | None:
    """The tenant whose member the username names, so that its administrators see attacks on their accounts."""
    return Tenant.objects.filter(users__username=username).first() if username else None


def audited_delete(*, actor, obj, action: AuditAction) -> None:
    """Delete a row of the actor's own tenant, audited first so that the audit row can still name it. The caller
    holds the transaction."""
    same_tenant(actor, obj)
    audit_record(actor=actor, action=action, obj=obj)
    obj.delete()
