"""The only writer of an environment job's `state`, and the lease primitives every worker write is fenced by."""

from __future__ import annotations

import functools
import logging

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from portal.core.audit import audit_record
from portal.core.errors import InvariantViolation
from portal.core.models import AuditOutcome
from portal.core.notifications.services import notify_job_finished

logger = logging.getLogger("portal.environments.jobs")


class InvalidTransition(Exception):
    pass


class LeaseLost(Exception):
    """Another worker holds the job now (our lease ran out and was taken over); stop without writing."""


def job_transition(model, *, task_id: int, to: str, actor=None, epoch: int | None = None,
                   expected_from: frozenset | set | None = None, **fields):
    """Move a job to state `to`, with the fields that go with it, in one locked write plus an audit row.

    Returns None (and changes nothing) when the job is not in `expected_from` or, with `epoch`, when the caller no
    longer holds the lease. Raises InvalidTransition for a move the job's state machine does not allow."""
    if {"state", "lease_epoch"} & set(fields):
        raise InvariantViolation("state and lease_epoch are not fields a transition sets")
    with transaction.atomic():
        task = model.objects.select_for_update().get(pk=task_id)
        if expected_from is not None and task.state not in expected_from:
            return None
        if epoch is not None and task.lease_epoch != epoch:
            return None
        if to not in model.TRANSITIONS[task.state]:
            raise InvalidTransition(f"{model.AUDIT_NAME} {task_id}: {task.state} -> {to} is not allowed")
        previous = task.state
        task.state = to
        now = timezone.now()
        if previous == model.QUEUED and task.started_at is None:
            task.started_at = now
        if to in model.FINISHED:
            # The first ending is the job's; later moves (an available backup deleted by retention) keep it.
            if task.finished_at is None:
                transaction.on_commit(functools.partial(notify_job_finished, model.AUDIT_NAME, task), robust=True)
            task.finished_at = task.finished_at or now
            task.lease_owner, task.lease_expires_at = "", None
        for name, value in fields.items():
            setattr(task, name, value)
        task.save()
        audit_record(actor=actor, action=f"{model.AUDIT_NAME}.{to}", obj=task, tenant=task.tenant,
                     outcome=AuditOutcome.FAILED if to == model.FAILED else AuditOutcome.SUCCESS,
                     detail={"from": previous, "to": to, "message": task.status_message[:300]})
    logger.info("%s %s: %s -> %s", model.AUDIT_NAME, task_id, previous, to)
    return task


def lease_claim(model, *, task_id: int, owner: str, ttl_seconds: float) -> int | None:
    """Take the job's lease if nobody holds a live one; returns the new epoch, or None."""
    now = timezone.now()
    with transaction.atomic():
        claimed = model.objects.filter(pk=task_id, state__in=model.WORKABLE).filter(
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
        ).update(lease_owner=owner[:200], lease_epoch=F("lease_epoch") + 1, attempts=F("attempts") + 1,
                 lease_expires_at=now + timezone.timedelta(seconds=ttl_seconds), heartbeat_at=now)
        if not claimed:
            return None
        return model.objects.filter(pk=task_id).values_list("lease_epoch", flat=True).get()


def lease_renew(model, *, task_id: int, epoch: int, ttl_seconds: float) -> None:
    now = timezone.now()
    if not model.objects.filter(pk=task_id, lease_epoch=epoch).update(
            lease_expires_at=now + timezone.timedelta(seconds=ttl_seconds), heartbeat_at=now):
        raise LeaseLost(f"{model.AUDIT_NAME} {task_id}: lease epoch {epoch} was taken over")


def lease_release(model, *, task_id: int, epoch: int) -> None:
    model.objects.filter(pk=task_id, lease_epoch=epoch).update(lease_owner="", lease_expires_at=None)


def checkpoint(model, *, task_id: int, epoch: int, **fields) -> None:
    """Write progress or checkpoints, only while still holding the lease."""
    if "state" in fields:
        raise InvariantViolation("state changes go through job_transition")
    if not model.objects.filter(pk=task_id, lease_epoch=epoch).update(**fields, updated_at=timezone.now()):
        raise LeaseLost(f"{model.AUDIT_NAME} {task_id}: lease epoch {epoch} was taken over")
