"""The lease every executor write is fenced by: claim (a new epoch), renew (the heartbeat), checkpoint (progress and
checkpoint fields, only under the caller's epoch) and release. They take ids and epochs only, so an executor
outside this process (a connector agent calling the API) holds a lease exactly as a local worker does."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from core.errors import InvariantViolation


class LeaseLost(Exception):
    """Another executor holds the job now (our lease ran out and was taken over): stop without writing."""


def claim(kind, *, job_id: int, owner: str, ttl_seconds: float) -> int | None:
    """Take the job's lease if nobody holds a live one; returns the new epoch, or None.

    A lease that ran out while still naming its owner was never released: that worker died mid-step, which
    counts as a failed attempt (a claim after an orderly release does not, however many ticks a step takes)."""
    now = timezone.now()
    model = kind.model
    with transaction.atomic():
        claimed = model.objects.filter(pk=job_id, state__in=kind.workable).filter(
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
        ).update(lease_owner=owner[:200], lease_epoch=F("lease_epoch") + 1,
                 attempts=Case(When(lease_owner="", then=F("attempts")), default=F("attempts") + 1),
                 lease_expires_at=now + timezone.timedelta(seconds=ttl_seconds), heartbeat_at=now, wake_at=None)
        if not claimed:
            return None
        return model.objects.filter(pk=job_id).values_list("lease_epoch", flat=True).get()


def renew(kind, *, job_id: int, epoch: int, ttl_seconds: float) -> None:
    now = timezone.now()
    if not kind.model.objects.filter(pk=job_id, lease_epoch=epoch).update(
            lease_expires_at=now + timezone.timedelta(seconds=ttl_seconds), heartbeat_at=now):
        raise LeaseLost(f"{kind.name} {job_id}: lease epoch {epoch} was taken over")


def release(kind, *, job_id: int, epoch: int) -> None:
    kind.model.objects.filter(pk=job_id, lease_epoch=epoch).update(lease_owner="", lease_expires_at=None)


def holds(kind, *, job_id: int, epoch: int) -> bool:
    return kind.model.objects.filter(pk=job_id, lease_epoch=epoch).exists()


NARRATIVE_FIELDS = frozenset({"step", "status_message"})


def checkpoint(kind, *, job_id: int, epoch: int, releasing: bool = False, **fields) -> None:
    """Write progress or checkpoints, only while still holding the lease.

    `releasing`: the note comes from the worker releasing a cancelled or failed job (it knows the state and
    keeps what the cancel wrote), so it is written as it is."""
    if {"state", "lease_epoch"} & set(fields):
        raise InvariantViolation("state changes go through transition(); the epoch only through claim()")
    # Progress notes never overwrite what a cancel wrote ("Cancelled by alice") while the worker, not yet aware of
    # it, is still mid-step: the note is kept as it is once the job is cancelling.
    if kind.cancelling and not releasing:
        for name in NARRATIVE_FIELDS & set(fields):
            fields[name] = Case(When(state=kind.cancelling, then=F(name)), default=Value(fields[name]))
    if not kind.model.objects.filter(pk=job_id, lease_epoch=epoch).update(**fields, updated_at=timezone.now()):
        raise LeaseLost(f"{kind.name} {job_id}: lease epoch {epoch} was taken over")
