"""Launch jobs. `environments.models` imports them, so Django registers them in the app."""

from django.db import models
from django.db.models import Q

from core.jobs.models import DurableJob
from environments.models import Environment, EnvironmentResource, ImportedInstance, Template


class LaunchState(models.TextChoices):
    QUEUED = "queued", "Queued"
    LAUNCHING = "launching", "Launching"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


S = LaunchState
TRANSITIONS = {
    S.QUEUED: frozenset({S.LAUNCHING, S.FAILED}),
    S.LAUNCHING: frozenset({S.COMPLETED, S.FAILED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
}
TOKEN_TAG = "portal-launch-token"


class LaunchTask(DurableJob, EnvironmentResource):
    """One RunInstances from a template. The template's image, type, subnet, security group and key pair are
    copied when the launch is asked for, so editing the template meanwhile cannot change what this token
    launches (AWS refuses a reused ClientToken with other parameters)."""

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="launches")
    template = models.ForeignKey(Template, null=True, blank=True, on_delete=models.SET_NULL, related_name="launches")
    template_name = models.CharField(max_length=100)
    state = models.CharField(max_length=16, choices=LaunchState.choices, default=LaunchState.QUEUED, db_index=True)

    image_id = models.CharField(max_length=21)
    instance_type = models.CharField(max_length=32)
    subnet_id = models.CharField(max_length=24)
    security_group_id = models.CharField(max_length=24)
    key_name = models.CharField(max_length=255, blank=True)

    # The caller's own key for retrying the request; the same key gives the same launch.
    idempotency_key = models.CharField(max_length=64, blank=True)
    client_token = models.CharField(max_length=64, unique=True)
    instance_id = models.CharField(max_length=32, blank=True)
    launched_instance = models.ForeignKey(ImportedInstance, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="launch_history_idx")]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], condition=~Q(idempotency_key=""),
                                    name="launch_idempotency_key_unique_in_tenant", violation_error_code="unique",
                                    violation_error_message="This idempotency key was already used."),
        ]

    def __str__(self):
        return f"launch {self.pk} of {self.template_name}"
