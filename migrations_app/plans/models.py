"""Migration plans: a named list of VMs of one environment with per-VM target settings and plan-wide defaults,
grouped into ordered waves, and the runs (start, retry failed) that migrate them. A plan's state is never stored:
it is derived from its VMs' latest migrations and its live run (selectors.plan_state)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.jobs.models import DurableJob
from core.models import TenantOwnedModel
from core.querysets import Restriction
from core.roles import Action
from environments.models import Environment, KeyPair, SecurityGroup, Subnet, through_environment
from migrations_app.choices import LicenseType, OperatingSystem
from migrations_app.models import MigrationTask

_in_permitted_environment = through_environment("environment")
_plan_in_permitted_environment = through_environment("plan__environment")


def _plan_user_scope(user, action):
    """Like a migration's: users see the plans of environments they may see; changing, starting and cancelling a
    plan is for the user who created it while they hold the general role there (and administrators), since the
    plan's migrations run as that user and only their starter may cancel them."""
    scope = _in_permitted_environment(user, action)
    if action == Action.OPERATE:
        scope &= Q(created_by=user)
    return scope


def _plan_part_user_scope(user, action):
    scope = _plan_in_permitted_environment(user, action)
    if action == Action.OPERATE:
        scope &= Q(plan__created_by=user)
    return scope


PLAN_USER_ACTIONS = frozenset({Action.VIEW, Action.OPERATE})


class MigrationPlan(TenantOwnedModel):
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="migration_plans")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    # Plan-wide defaults; each VM may override them.
    subnet = models.ForeignKey(Subnet, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    security_group = models.ForeignKey(SecurityGroup, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+")
    key_pair = models.ForeignKey(KeyPair, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    power_off = models.BooleanField(default=False, help_text="Power each VM off before its export.")
    license_type = models.CharField(max_length=8, choices=LicenseType.choices, blank=True,
                                    help_text="For Windows VMs; blank: the operating system's default.")

    restriction = Restriction(user_scope=_plan_user_scope, user_actions=PLAN_USER_ACTIONS)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "name"], name="plan_name_unique_in_environment",
                                    violation_error_code="unique",
                                    violation_error_message="A plan of this name already exists in the environment."),
        ]

    def __str__(self):
        return self.name


class PlanWave(TenantOwnedModel):
    """An ordered group of a plan's VMs: it starts when the previous wave has completed, or at its own time."""

    plan = models.ForeignKey(MigrationPlan, on_delete=models.CASCADE, related_name="waves")
    number = models.PositiveSmallIntegerField()
    start_at = models.DateTimeField(null=True, blank=True,
                                    help_text="Start at this time even if the previous wave is still running.")

    restriction = Restriction(user_scope=_plan_part_user_scope, user_actions=PLAN_USER_ACTIONS)

    class Meta:
        ordering = ["plan", "number"]
        constraints = [models.UniqueConstraint(fields=["plan", "number"], name="wave_number_unique_in_plan")]

    def __str__(self):
        return f"wave {self.number}"


class PlanVm(TenantOwnedModel):
    """One VM of a plan with its target settings; blank ones take the plan's defaults. `migration` is its latest
    migration; every attempt stays in `attempts`."""

    plan = models.ForeignKey(MigrationPlan, on_delete=models.CASCADE, related_name="vms")
    wave = models.ForeignKey(PlanWave, on_delete=models.PROTECT, related_name="vms")
    vm_moref = models.CharField(max_length=64)
    vm_name = models.CharField(max_length=255, blank=True)
    operating_system = models.CharField(max_length=32, choices=OperatingSystem.choices)
    instance_type = models.CharField(max_length=32)
    subnet = models.ForeignKey(Subnet, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    security_group = models.ForeignKey(SecurityGroup, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+")
    key_pair = models.ForeignKey(KeyPair, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    private_ip = models.GenericIPAddressField(protocol="IPv4", null=True, blank=True)
    power_off = models.BooleanField(null=True, blank=True, help_text="Blank: the plan's policy.")
    license_type = models.CharField(max_length=8, choices=LicenseType.choices, blank=True)
    migration = models.ForeignKey(MigrationTask, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    # Why its migration could not be created at its wave's start (cleared when one is).
    start_error = models.CharField(max_length=1000, blank=True)

    restriction = Restriction(user_scope=_plan_part_user_scope, user_actions=PLAN_USER_ACTIONS)

    class Meta:
        ordering = ["plan", "wave__number", "vm_name", "id"]

    def __str__(self):
        return self.vm_name or self.vm_moref


class PlanRunState(models.TextChoices):
    WAITING = "waiting", "Waiting for its start time"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class PlanRunMode(models.TextChoices):
    START = "start", "Start"
    RETRY = "retry", "Retry failed"


R = PlanRunState
PLAN_RUN_TRANSITIONS = {
    R.WAITING: frozenset({R.RUNNING, R.FAILED, R.CANCELLED}),
    R.RUNNING: frozenset({R.COMPLETED, R.FAILED, R.CANCELLED}),
    R.COMPLETED: frozenset(),
    R.FAILED: frozenset(),
    R.CANCELLED: frozenset(),
}
PLAN_RUN_LIVE = frozenset({R.WAITING, R.RUNNING})


class PlanRun(DurableJob):
    """One start (or retry of the failed VMs) of a plan: a durable job (core.jobs) of kind "plan". It waits until
    `start_at`, then starts its waves in order; the waves it has started are its checkpoint, so a tick delivered
    twice or late (after downtime) starts each wave once."""

    plan = models.ForeignKey(MigrationPlan, on_delete=models.CASCADE, related_name="runs")
    plan_name = models.CharField(max_length=100)
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="+")
    mode = models.CharField(max_length=8, choices=PlanRunMode.choices, default=PlanRunMode.START)
    state = models.CharField(max_length=16, choices=PlanRunState.choices, default=PlanRunState.WAITING,
                             db_index=True)
    start_at = models.DateTimeField()
    waves_started = models.JSONField(default=list, blank=True, help_text="Numbers of the waves it has started.")

    restriction = Restriction(user_scope=_plan_user_scope, user_actions=PLAN_USER_ACTIONS)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="plan_run_history_idx")]
        constraints = [
            models.UniqueConstraint(fields=["plan"], condition=Q(state__in=sorted(PLAN_RUN_LIVE)),
                                    name="one_live_run_per_plan"),
        ]

    def __str__(self):
        return f"run {self.pk} of plan {self.plan_name}"


class PlanVmAttempt(TenantOwnedModel):
    """Every migration a plan VM has had, by run: the history behind `PlanVm.migration`."""

    plan_vm = models.ForeignKey(PlanVm, on_delete=models.CASCADE, related_name="attempts")
    run = models.ForeignKey(PlanRun, on_delete=models.CASCADE, related_name="vm_attempts")
    migration = models.ForeignKey(MigrationTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    restriction = Restriction(user_scope=through_environment("plan_vm__plan__environment"),
                              user_actions=frozenset({Action.VIEW}))

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["plan_vm", "run"], name="one_attempt_per_vm_and_run")]
