"""The only writer of MigrationTask.state, admission of queued jobs when a slot frees, and the lease primitives
every worker write is fenced by."""

from __future__ import annotations

import functools
import logging

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from migrations_app.admission import admissible
from migrations_app.choices import ACTIVE, ALLOWED_TRANSITIONS, TERMINAL, WORKABLE, MigrationState
from migrations_app.models import MigrationTask
from migrations_app.queue import enqueue_tick, unschedule_tick
from portal.core.audit import audit_record
from portal.core.errors import InvariantViolation
from portal.core.models import AuditOutcome
from portal.core.notifications.services import notify_job_finished

logger = logging.getLogger("portal.migrations.transitions")


class InvalidTransition(Exception):
    pass


class LeaseLost(Exception):
    """Another worker holds the job now (our lease expired and was taken over); stop without writing."""


def migration_transition(*, task_id: int, to: str, actor=None, epoch: int | None = None,
                         expected_from: frozenset | set | None = None, **fields) -> MigrationTask | None:
    """Move a job to state `to`, with the fields that go with it, in one locked write plus an audit row.

    Returns None (and changes nothing) when the job is not in `expected_from` or, with `epoch`, when the caller no
    longer holds the lease. Raises InvalidTransition for a move the state machine does not allow."""
    with transaction.atomic():
        task = MigrationTask.objects.select_for_update().get(pk=task_id)
        if expected_from is not None and task.state not in expected_from:
            return None
        if epoch is not None and task.lease_epoch != epoch:
            return None
        if to not in ALLOWED_TRANSITIONS[task.state]:
            raise InvalidTransition(f"migration {task_id}: {task.state} -> {to} is not allowed")
        previous = task.state
        task.state = to
        now = timezone.now()
        if to in ACTIVE and task.started_at is None:
            task.started_at = now
        if to in TERMINAL:
            task.finished_at = now
            task.lease_owner, task.lease_expires_at, task.wake_at = "", None, None
            transaction.on_commit(lambda: unschedule_tick(task_id))
            transaction.on_commit(functools.partial(notify_job_finished, "migration", task), robust=True)
        for name, value in fields.items():
            setattr(task, name, value)
        task.save()
        failing = to in (MigrationState.FAILING, MigrationState.FAILED)
        outcome = AuditOutcome.FAILED if failing else AuditOutcome.SUCCESS
        audit_record(actor=actor, action=f"migration.{to}", obj=task, tenant=task.tenant, outcome=outcome,
                     detail={"from": previous, "to": to, "message": task.status_message[:300]})
        if previous in ACTIVE and to not in ACTIVE:
            # The freed slot goes to the next queued job once this commits (not before: the count would
            # still see this job active).
            region_id = task.region_id
            transaction.on_commit(lambda: migration_admit(region_id=region_id))
    logger.info("migration %s: %s -> %s", task_id, previous, to)
    return task


def migration_admit(*, region_id: int) -> list[int]:
    """Start the oldest queued migrations of the region while slots are free; returns their ids."""
    with transaction.atomic():
        admitted = admissible(region_id)
        for task_id in admitted:
            migration_transition(task_id=task_id, to=MigrationState.EXPORTING, expected_from={MigrationState.QUEUED},
                                 step="starting", status_message="Waiting for a worker")
        for task_id in admitted:
            enqueue_tick(task_id)
    return admitted


#
# Leases
#


def lease_claim(*, task_id: int, owner: str, ttl_seconds: float) -> int | None:
    """Take the job's lease if nobody holds a live one; returns the new epoch, or None.

    A lease that ran out while still naming its owner was never released: that worker died mid-step, which
    counts as a failed attempt (a claim after an orderly release does not, however many ticks a step takes)."""
    now = timezone.now()
    with transaction.atomic():
        claimed = MigrationTask.objects.filter(pk=task_id, state__in=WORKABLE).filter(
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
        ).update(lease_owner=owner[:200], lease_epoch=F("lease_epoch") + 1,
                 attempts=Case(When(lease_owner="", then=F("attempts")), default=F("attempts") + 1),
                 lease_expires_at=now + timezone.timedelta(seconds=ttl_seconds), heartbeat_at=now, wake_at=None)
        if not claimed:
            return None
        return MigrationTask.objects.filter(pk=task_id).values_list("lease_epoch", flat=True).get()


def lease_renew(*, task_id: int, epoch: int, ttl_seconds: float) -> None:
    now = timezone.now()
    if not MigrationTask.objects.filter(pk=task_id, lease_epoch=epoch).update(
            lease_expires_at=now + timezone.timedelta(seconds=ttl_seconds), heartbeat_at=now):
        raise LeaseLost(f"migration {task_id}: lease epoch {epoch} was taken over")


def lease_release(*, task_id: int, epoch: int) -> None:
    MigrationTask.objects.filter(pk=task_id, lease_epoch=epoch).update(lease_owner="", lease_expires_at=None)


NARRATIVE_FIELDS = frozenset({"step", "status_message"})


def checkpoint(*, task_id: int, epoch: int, releasing: bool = False, **fields) -> None:
    """Write progress or checkpoints, only while still holding the lease.

    `releasing`: the note comes from the worker releasing a cancelled or failed job (it knows the state and
    keeps what the cancel wrote), so it is written as it is."""
    if "state" in fields:
        raise InvariantViolation("state changes go through migration_transition")
    # Progress notes never overwrite what a cancel wrote ("Cancelled by alice") while the worker, not yet aware of
    # it, is still mid-step: the note is kept as it is once the job is cancelling.
    guarded = set() if releasing else NARRATIVE_FIELDS & set(fields)
    for name in guarded:
        fields[name] = Case(When(state=MigrationState.CANCELLING, then=F(name)), default=Value(fields[name]))
    if not MigrationTask.objects.filter(pk=task_id, lease_epoch=epoch).update(**fields, updated_at=timezone.now()):
        raise LeaseLost(f"migration {task_id}: lease epoch {epoch} was taken over")
