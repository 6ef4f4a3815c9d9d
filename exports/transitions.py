"""The only writer of ExportTask.state, admission of queued exports when a slot frees, and the lease primitives
every worker write is fenced by."""

from __future__ import annotations

import functools
import logging

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from exports.admission import admissible
from exports.choices import ACTIVE, ALLOWED_TRANSITIONS, TERMINAL, WORKABLE, ExportState
from exports.models import ExportTask
from exports.queue import enqueue_tick
from portal.core.audit import audit_record
from portal.core.errors import InvariantViolation
from portal.core.models import AuditOutcome
from portal.core.notifications.services import notify_job_finished

logger = logging.getLogger("portal.exports.transitions")


class InvalidTransition(Exception):
    pass


class LeaseLost(Exception):
    """Another worker holds the job now (our lease expired and was taken over); stop without writing."""


def export_transition(*, task_id: int, to: str, actor=None, epoch: int | None = None,
                      expected_from: frozenset | set | None = None, **fields) -> ExportTask | None:
    """Move an export to state `to`, with the fields that go with it, in one locked write plus an audit row.

    Returns None (and changes nothing) when the job is not in `expected_from` or, with `epoch`, when the caller no
    longer holds the lease. Raises InvalidTransition for a move the state machine does not allow."""
    with transaction.atomic():
        task = ExportTask.objects.select_for_update().get(pk=task_id)
        if expected_from is not None and task.state not in expected_from:
            return None
        if epoch is not None and task.lease_epoch != epoch:
            return None
        if to not in ALLOWED_TRANSITIONS[task.state]:
            raise InvalidTransition(f"export {task_id}: {task.state} -> {to} is not allowed")
        previous = task.state
        task.state = to
        now = timezone.now()
        if to in ACTIVE and task.started_at is None:
            task.started_at = now
        if to in TERMINAL:
            task.finished_at = now
            task.lease_owner, task.lease_expires_at = "", None
            transaction.on_commit(functools.partial(notify_job_finished, "export", task), robust=True)
        for name, value in fields.items():
            setattr(task, name, value)
        task.save()
        outcome = AuditOutcome.FAILED if to == ExportState.FAILED else AuditOutcome.SUCCESS
        audit_record(actor=actor, action=f"export.{to}", obj=task, tenant=task.tenant, outcome=outcome,
                     detail={"from": previous, "to": to, "export_task_id": task.export_task_id,
                             "message": task.status_message[:300]})
        if previous in ACTIVE and to not in ACTIVE:
            # The freed slot goes to the next queued export once this commits (not before: the count would still
            # see this one in progress).
            region_id = task.region_id
            transaction.on_commit(lambda: export_admit(region_id=region_id))
    logger.info("export %s: %s -> %s", task_id, previous, to)
    return task


def export_admit(*, region_id: int) -> list[int]:
    """Start the oldest queued exports of the region while slots are free; returns their ids."""
    with transaction.atomic():
        admitted = admissible(region_id)
        for task_id in admitted:
            export_transition(task_id=task_id, to=ExportState.EXPORTING, expected_from={ExportState.QUEUED},
                              step="starting", status_message="Waiting for a worker")
        for task_id in admitted:
            enqueue_tick(task_id)
    return admitted


#
# Leases
#


def lease_claim(*, task_id: int, owner: str, ttl_seconds: float) -> int | None:
    """Take the job's lease if nobody holds a live one; returns the new epoch, or None."""
    now = timezone.now()
    with transaction.atomic():
        claimed = ExportTask.objects.filter(pk=task_id, state__in=WORKABLE).filter(
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
        ).update(lease_owner=owner[:200], lease_epoch=F("lease_epoch") + 1, attempts=F("attempts") + 1,
                 lease_expires_at=now + timezone.timedelta(seconds=ttl_seconds), heartbeat_at=now)
        if not claimed:
            return None
        return ExportTask.objects.filter(pk=task_id).values_list("lease_epoch", flat=True).get()


def lease_renew(*, task_id: int, epoch: int, ttl_seconds: float) -> None:
    now = timezone.now()
    if not ExportTask.objects.filter(pk=task_id, lease_epoch=epoch).update(
            lease_expires_at=now + timezone.timedelta(seconds=ttl_seconds), heartbeat_at=now):
        raise LeaseLost(f"export {task_id}: lease epoch {epoch} was taken over")


def lease_release(*, task_id: int, epoch: int) -> None:
    ExportTask.objects.filter(pk=task_id, lease_epoch=epoch).update(lease_owner="", lease_expires_at=None)


def checkpoint(*, task_id: int, epoch: int, **fields) -> None:
    """Write progress or checkpoints, only while still holding the lease."""
    if "state" in fields:
        raise InvariantViolation("state changes go through export_transition")
    if not ExportTask.objects.filter(pk=task_id, lease_epoch=epoch).update(**fields, updated_at=timezone.now()):
        raise LeaseLost(f"export {task_id}: lease epoch {epoch} was taken over")
