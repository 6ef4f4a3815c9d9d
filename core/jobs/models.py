"""The fields every durable job carries, declared once. Each job model adds its own `state` field (its choices),
its checkpoints and its progress."""

from django.conf import settings
from django.db import models

from core.models import TenantOwnedModel


class DurableJob(TenantOwnedModel):
    """A job a worker drives tick by tick.

    Only `core.jobs.transitions.transition` writes `state`; an executor writes anything else only while it
    holds the lease, fenced by `lease_epoch` (`core.jobs.lease`)."""

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    step = models.CharField(max_length=100, blank=True)
    status_message = models.CharField(max_length=1000, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Worker lease (fencing): only the holder of the current epoch may write progress and checkpoints.
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_epoch = models.PositiveIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Failed attempts of the current step (transient errors retried, workers that died holding the lease), not
    # claims: a step that simply takes several ticks does not count, and each new state starts again from 0.
    attempts = models.PositiveIntegerField(default=0)
    # When the job next wants a worker (the next poll, a retry after backoff); no worker is held while it waits.
    # A django-q2 schedule wakes it then, and the reconciler honours it as the safety net.
    wake_at = models.DateTimeField(null=True, blank=True)

    # Set by `kinds.register`.
    job_kind = None

    class Meta:
        abstract = True

    @property
    def is_terminal(self) -> bool:
        return self.state in self.job_kind.terminal
