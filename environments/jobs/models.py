"""The fields every environment job carries. Each concrete job declares its state machine beside its fields."""

from django.conf import settings
from django.db import models

from environments.models import EnvironmentResource


class DurableJob(EnvironmentResource):
    """A job in one environment that a worker drives tick by tick.

    Only `environments.jobs.transitions.job_transition` writes `state`; workers write everything else only while
    they hold the lease, fenced by `lease_epoch`. Subclasses declare:

    QUEUED: the state a job is created in.
    TRANSITIONS: state -> the states it may move to.
    WORKABLE: states a worker drives (a lease is taken to work on them).
    FINISHED: states no worker drives any more (the lease is dropped on reaching one).
    FAILED: the failure state (audited as a failure).
    AUDIT_NAME: the prefix of its audit actions ("backup" gives "backup.available").
    TICK: the django-q2 function that drives it, given the job's id.
    """

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    step = models.CharField(max_length=100, blank=True)
    status_message = models.CharField(max_length=1000, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    lease_owner = models.CharField(max_length=200, blank=True)
    lease_epoch = models.PositiveIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    QUEUED: str = ""
    TRANSITIONS: dict = {}
    WORKABLE: frozenset = frozenset()
    FINISHED: frozenset = frozenset()
    FAILED: str = ""
    AUDIT_NAME: str = ""
    TICK: str = ""

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED
