"""The only writer of a job's `state`, and admission of queued jobs when a slot frees."""

from __future__ import annotations

import functools
import logging

from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.errors import InvariantViolation
from core.jobs.queue import enqueue_tick, unschedule_tick
from core.models import AuditOutcome
from core.notifications.services import notify_job_finished

logger = logging.getLogger("portal.jobs.transitions")


class InvalidTransition(Exception):
    pass


def transition(kind, *, job_id: int, to: str, actor=None, epoch: int | None = None,
               expected_from: frozenset | set | None = None, **fields):
    """Move a job to state `to`, with the fields that go with it, in one locked write plus an audit row.

    Returns None (and changes nothing) when the job is not in `expected_from` or, with `epoch`, when the caller no
    longer holds the lease. Raises InvalidTransition for a move the kind's state machine does not allow."""
    if {"state", "lease_epoch"} & set(fields):
        raise InvariantViolation("state and lease_epoch are not fields a transition sets")
    with transaction.atomic():
        job = kind.model.objects.select_for_update().get(pk=job_id)
        if expected_from is not None and job.state not in expected_from:
            return None
        if epoch is not None and job.lease_epoch != epoch:
            return None
        if to not in kind.transitions[job.state]:
            raise InvalidTransition(f"{kind.name} {job_id}: {job.state} -> {to} is not allowed")
        previous = job.state
        job.state = to
        now = timezone.now()
        if to in kind.workable and to != kind.queued and job.started_at is None:
            job.started_at = now
        # A new state is a new step: its attempts start from nothing (a long job is not failed by transient errors
        # spread over all of its steps).
        job.attempts = 0
        if to in kind.terminal:
            # The first ending is the job's; later moves (an available backup deleted by retention) keep it.
            if job.finished_at is None:
                transaction.on_commit(functools.partial(notify_job_finished, kind.name, job), robust=True)
            job.finished_at = job.finished_at or now
            job.lease_owner, job.lease_expires_at, job.wake_at = "", None, None
            transaction.on_commit(lambda: unschedule_tick(kind, job_id))
        for name, value in fields.items():
            setattr(job, name, value)
        job.save()
        failing = to in kind.failed or (kind.failing and to == kind.failing)
        audit_record(actor=actor, action=f"{kind.name}.{to}", obj=job, tenant=job.tenant,
                     outcome=AuditOutcome.FAILED if failing else AuditOutcome.SUCCESS,
                     detail={"from": previous, "to": to, "message": job.status_message[:300]})
        if previous in kind.active and to not in kind.active and kind.admission:
            # The freed slot goes to the next queued job once this commits (not before: the count would still see
            # this one holding it).
            policy = kind.admission_policy()
            scope = policy.scope_of(job)
            transaction.on_commit(lambda: admit(kind, scope=scope))
    logger.info("%s %s: %s -> %s", kind.name, job_id, previous, to)
    return job


def admit(kind, *, scope: int) -> list[int]:
    """Start the oldest (or fairest) queued jobs of the scope while its policy has slots; returns their ids."""
    policy = kind.admission_policy()
    with transaction.atomic():
        admitted = policy.admissible(scope)
        for job_id in admitted:
            transition(kind, job_id=job_id, to=policy.started, expected_from={kind.queued}, step="starting",
                       status_message="Waiting for a worker")
        for job_id in admitted:
            enqueue_tick(kind, job_id)
    return admitted


def cancel(kind, *, job_id: int, actor, message: str):
    """Cancel a job for `actor`: a queued one ends at once; a running one moves to the kind's cancelling state
    (freeing its slot) and a worker releases what it holds, then ends it. Returns the job as it is now, or None
    when it was neither (already finished, or already cancelling)."""
    (cancelled,) = kind.transitions[kind.cancelling]
    with transaction.atomic():
        if kind.records_cancel_requests:
            # Admission passes over it from now on, even before the move below commits.
            kind.model.objects.filter(pk=job_id).update(cancel_requested=True)
        done = transition(kind, job_id=job_id, to=cancelled, actor=actor, expected_from={kind.queued},
                          step="cancelled", status_message=message)
        if done is None:
            running = {s for s in kind.workable if kind.cancelling in kind.transitions[s]}
            done = transition(kind, job_id=job_id, to=kind.cancelling, actor=actor, expected_from=running,
                              step="releasing what it holds", status_message=message)
            if done is not None:
                enqueue_tick(kind, job_id)
    return done


def cancel_asked(kind, job, *, actor):
    """A user's cancel, after the service has checked that they may: idempotent, so a finished or already
    cancelling job is answered as it is. Returns the job as it is now."""
    if job.state in kind.terminal or job.state == kind.cancelling:
        return job
    cancel(kind, job_id=job.pk, actor=actor, message=f"Cancelled by {actor.get_username()}")
    job.refresh_from_db()
    return job
