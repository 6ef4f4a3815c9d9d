"""Writes for migration plans: creating and changing a plan, its waves and VMs, starting it (now or at a time),
retrying its failed VMs, cancelling it, and importing its VMs from CSV. Every write is atomic, validated and
audited; every migration a plan starts goes through `migrations_app.services.migration_start`, so the token, the
privilege check and the admission (fair share, slots per region, tenant and platform) apply unchanged."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from adapters.vsphere import client as vsphere
from core.audit import audit_record
from core.audit_actions import AuditAction
from core.errors import Conflict, Forbidden, PortalError
from core.jobs.queue import enqueue_tick, schedule_tick
from core.jobs.transitions import transition
from core.models import AuditOutcome, User
from core.roles import Action
from core.validation import same_tenant, validated_save
from environments.models import Environment, KeyPair, SecurityGroup, Subnet
from migrations_app import preflight
from migrations_app import services as migration_services
from migrations_app.choices import LIVE, MigrationState
from migrations_app.guest_os import operating_system_for, suggest_instance_type
from migrations_app.models import MigrationTask
from migrations_app.plans.job import PLAN_RUN
from migrations_app.plans.models import (
    PLAN_RUN_LIVE,
    MigrationPlan,
    PlanRun,
    PlanRunMode,
    PlanRunState,
    PlanVm,
    PlanVmAttempt,
    PlanWave,
)
from migrations_app.plans.validation import PlanValidation, target_of, validate_plan

RETRYABLE = frozenset({MigrationState.FAILED, MigrationState.CANCELLED})
PLAN_FIELDS = ("name", "description", "subnet", "security_group", "key_pair", "power_off", "license_type")
VM_FIELDS = ("operating_system", "instance_type", "subnet", "security_group", "key_pair", "private_ip", "power_off",
             "license_type")


class PlanInvalid(Conflict):
    """The plan cannot start as it is: `validation` says what blocks each VM."""

    def __init__(self, validation: PlanValidation):
        super().__init__(f"The plan cannot start: {validation.summary()}", code="plan_invalid")
        self.validation = validation


def _operable(actor: User, plan: MigrationPlan, action: AuditAction) -> None:
    same_tenant(actor, plan)
    if not MigrationPlan.objects.restrict(actor, Action.OPERATE).filter(pk=plan.pk).exists():
        audit_record(actor=actor, action=action, obj=plan, outcome=AuditOutcome.DENIED,
                     detail={"reason": "not_plan_owner"})
        raise Forbidden("Only the user who created the plan, while they hold the general role on its environment, "
                        "or an administrator can change, start or cancel it.", code="not_plan_owner")


def _of_environment(environment: Environment, **chosen) -> None:
    errors = {name: f"Choose a {name.replace('_', ' ')} of the plan's environment."
              for name, value in chosen.items() if value is not None and value.environment_id != environment.pk}
    if errors:
        raise ValidationError(errors)


def _checked_changes(plan: MigrationPlan, changes: dict, settable, what: str) -> None:
    """Only `settable` names, and subnets, security groups and key pairs of the plan's own environment."""
    unknown = set(changes) - set(settable)
    if unknown:
        raise ValidationError({name: f"This is not a setting of {what}." for name in unknown})
    _of_environment(plan.environment, **{k: v for k, v in changes.items()
                                         if k in ("subnet", "security_group", "key_pair")})


def _live_run(plan: MigrationPlan) -> PlanRun | None:
    return plan.runs.filter(state__in=PLAN_RUN_LIVE).first()


def _not_running(plan: MigrationPlan) -> None:
    if _live_run(plan) is not None:
        raise Conflict("The plan is running or scheduled; cancel it before changing it.", code="plan_running")


#
# The plan, its waves and its VMs
#


def plan_create(*, actor: User, environment: Environment, name: str, description: str = "",
                subnet: Subnet | None = None, security_group: SecurityGroup | None = None,
                key_pair: KeyPair | None = None, power_off: bool = False, license_type: str = "") -> MigrationPlan:
    same_tenant(actor, environment)
    if not Environment.objects.restrict(actor, Action.OPERATE).filter(pk=environment.pk).exists():
        audit_record(actor=actor, action=AuditAction.PLAN_CREATE, obj=environment, outcome=AuditOutcome.DENIED,
                     detail={"reason": "no_general_role"})
        raise Forbidden("Creating a migration plan needs the general role on the environment.", code="not_permitted")
    _of_environment(environment, subnet=subnet, security_group=security_group, key_pair=key_pair)
    with transaction.atomic():
        plan = MigrationPlan(tenant=actor.tenant, environment=environment, created_by=actor, name=name,
                             description=description, subnet=subnet, security_group=security_group,
                             key_pair=key_pair, power_off=power_off, license_type=license_type)
        validated_save(plan)
        PlanWave.objects.create(tenant=plan.tenant, plan=plan, number=1)
        audit_record(actor=actor, action=AuditAction.PLAN_CREATE, obj=plan,
                     detail={"name": name, "environment_id": environment.pk})
    return plan


def plan_update(*, actor: User, plan: MigrationPlan, **changes) -> MigrationPlan:
    _operable(actor, plan, AuditAction.PLAN_UPDATE)
    _checked_changes(plan, changes, PLAN_FIELDS, "a plan")
    with transaction.atomic():
        plan = MigrationPlan.objects.select_for_update().get(pk=plan.pk)
        _not_running(plan)
        for name, value in changes.items():
            setattr(plan, name, value)
        validated_save(plan)
        audit_record(actor=actor, action=AuditAction.PLAN_UPDATE, obj=plan, detail={"changed": sorted(changes)})
    return plan


def plan_delete(*, actor: User, plan: MigrationPlan) -> None:
    _operable(actor, plan, AuditAction.PLAN_DELETE)
    with transaction.atomic():
        plan = MigrationPlan.objects.select_for_update().get(pk=plan.pk)
        _not_running(plan)
        audit_record(actor=actor, action=AuditAction.PLAN_DELETE, obj=plan, detail={"name": plan.name})
        PlanVmAttempt.objects.filter(plan_vm__plan=plan).delete()
        plan.runs.all().delete()
        plan.vms.all().delete()
        plan.waves.all().delete()
        plan.delete()


def _wave(plan: MigrationPlan, number: int) -> PlanWave:
    if not 1 <= number <= 99:
        raise ValidationError({"wave": "A wave is numbered from 1 to 99."})
    return PlanWave.objects.get_or_create(plan=plan, number=number, defaults={"tenant": plan.tenant})[0]


def plan_wave_schedule(*, actor: User, plan: MigrationPlan, number: int,
                       start_at: datetime.datetime | None) -> PlanWave:
    """A wave's own start time (None: it starts when the previous one has completed)."""
    _operable(actor, plan, AuditAction.PLAN_UPDATE)
    with transaction.atomic():
        wave = _wave(plan, number)
        wave.start_at = start_at
        validated_save(wave)
        audit_record(actor=actor, action=AuditAction.PLAN_UPDATE, obj=plan, detail={
            "wave": number, "start_at": start_at.isoformat() if start_at else None})
    return wave


@dataclass(frozen=True)
class PlanVmSpec:
    """One VM to put in a plan; blank settings take the plan's defaults, a blank OS and instance type are
    detected from the VM's guest id and suggested from its vCPUs and memory."""

    vm: str  # moref or name
    wave: int = 1
    operating_system: str = ""
    instance_type: str = ""
    subnet: Subnet | None = None
    security_group: SecurityGroup | None = None
    key_pair: KeyPair | None = None
    private_ip: str | None = None
    power_off: bool | None = None
    license_type: str = ""


def vcenter_vms(tenant) -> list[vsphere.VmInfo]:
    from migrations_app.selectors import vcenter_vm_list

    return vcenter_vm_list(tenant=tenant)


def _resolve(spec: PlanVmSpec, by_moref: dict, by_name: dict) -> vsphere.VmInfo:
    vm = by_moref.get(spec.vm) or by_name.get(spec.vm)
    if vm is None:
        raise ValidationError({"vm": f"There is no virtual machine {spec.vm!r} in vCenter."})
    return vm


def _plan_vm(plan: MigrationPlan, spec: PlanVmSpec, vm: vsphere.VmInfo) -> PlanVm:
    operating_system = spec.operating_system or operating_system_for(vm.guest_id) or ""
    instance_type = spec.instance_type
    if not instance_type:
        suggestion = suggest_instance_type(num_cpu=vm.num_cpu, memory_mb=vm.memory_mb,
                                           operating_system=operating_system or None,
                                           boot_mode=preflight.boot_mode_of(vm))
        instance_type = suggestion.instance_type if suggestion else ""
    _of_environment(plan.environment, subnet=spec.subnet, security_group=spec.security_group,
                    key_pair=spec.key_pair)
    errors = {}
    if not operating_system:
        errors["operating_system"] = f"The operating system of {vm.name} could not be detected; choose it."
    if not instance_type:
        errors["instance_type"] = f"The size of {vm.name} is unknown; choose an instance type."
    if errors:
        raise ValidationError(errors)
    plan_vm = PlanVm(tenant=plan.tenant, plan=plan, wave=_wave(plan, spec.wave), vm_moref=vm.moref, vm_name=vm.name,
                     operating_system=operating_system, instance_type=instance_type, subnet=spec.subnet,
                     security_group=spec.security_group, key_pair=spec.key_pair, private_ip=spec.private_ip or None,
                     power_off=spec.power_off, license_type=spec.license_type)
    validated_save(plan_vm)
    return plan_vm


def plan_vms_add(*, actor: User, plan: MigrationPlan, specs: list[PlanVmSpec],
                 vms: list[vsphere.VmInfo] | None = None) -> list[PlanVm]:
    """Add VMs (all or none). vCenter is read once for all of them."""
    _operable(actor, plan, AuditAction.PLAN_UPDATE)
    vms = vcenter_vms(plan.tenant) if vms is None else vms
    by_moref, by_name = {vm.moref: vm for vm in vms}, {vm.name: vm for vm in vms}
    with transaction.atomic():
        _not_running(plan)
        added = [_plan_vm(plan, spec, _resolve(spec, by_moref, by_name)) for spec in specs]
        audit_record(actor=actor, action=AuditAction.PLAN_UPDATE, obj=plan,
                     detail={"added": [pv.vm_moref for pv in added][:100], "count": len(added)})
    return added


def plan_vm_update(*, actor: User, plan_vm: PlanVm, wave: int | None = None, **changes) -> PlanVm:
    plan = plan_vm.plan
    _operable(actor, plan, AuditAction.PLAN_UPDATE)
    _checked_changes(plan, changes, VM_FIELDS, "a plan's VM")
    with transaction.atomic():
        _not_running(plan)
        plan_vm = PlanVm.objects.select_for_update().get(pk=plan_vm.pk)
        for name, value in changes.items():
            setattr(plan_vm, name, value)
        if wave is not None:
            plan_vm.wave = _wave(plan, wave)
        validated_save(plan_vm)
        audit_record(actor=actor, action=AuditAction.PLAN_UPDATE, obj=plan,
                     detail={"vm": plan_vm.vm_moref, "changed": sorted(changes) + (["wave"] if wave else [])})
    return plan_vm


def plan_vm_remove(*, actor: User, plan_vm: PlanVm) -> None:
    plan = plan_vm.plan
    _operable(actor, plan, AuditAction.PLAN_UPDATE)
    with transaction.atomic():
        _not_running(plan)
        audit_record(actor=actor, action=AuditAction.PLAN_UPDATE, obj=plan, detail={"removed": plan_vm.vm_moref})
        plan_vm.attempts.all().delete()
        plan_vm.delete()


#
# Validate, start, retry failed, cancel
#


def plan_validate(*, actor: User, plan: MigrationPlan) -> PlanValidation:
    same_tenant(actor, plan)
    return validate_plan(plan=plan, actor=actor)


def needs_migration(plan_vm: PlanVm) -> bool:
    """Never migrated, or its latest migration failed or was cancelled: never a completed or a live one."""
    return plan_vm.migration_id is None or plan_vm.migration.state in RETRYABLE


def _schedule(run: PlanRun) -> None:
    if run.start_at > timezone.now():
        schedule_tick(PLAN_RUN, run.pk, run.start_at)
    else:
        enqueue_tick(PLAN_RUN, run.pk)


def _run(*, actor: User, plan: MigrationPlan, mode: str, start_at: datetime.datetime | None,
         action: AuditAction) -> PlanRun:
    _operable(actor, plan, action)
    if start_at is not None and start_at <= timezone.now() - datetime.timedelta(minutes=1):
        raise ValidationError({"start_at": "The start time has passed; choose a time to come, or start now."})
    plan_vms = list(plan.vms.select_related("wave", "migration"))
    if mode == PlanRunMode.START:
        if any(pv.migration_id for pv in plan_vms):
            raise Conflict("The plan has already been started; retry its failed VMs instead.", code="plan_started")
        chosen = plan_vms
    else:
        chosen = [pv for pv in plan_vms if needs_migration(pv) and (pv.migration_id or pv.start_error)]
        if not chosen:
            raise Conflict("No VM of the plan failed or was cancelled: there is nothing to retry.",
                           code="nothing_to_retry")
    if _live_run(plan) is not None:
        raise Conflict("The plan is already running or scheduled.", code="plan_running")
    validation = validate_plan(plan=plan, actor=actor, plan_vms=chosen)
    if not validation.ok:
        audit_record(actor=actor, action=action, obj=plan, outcome=AuditOutcome.DENIED,
                     detail={"reason": "plan_invalid", "summary": validation.summary()[:300]})
        raise PlanInvalid(validation)
    with transaction.atomic():
        MigrationPlan.objects.select_for_update().filter(pk=plan.pk).get()
        if _live_run(plan) is not None:
            raise Conflict("The plan is already running or scheduled.", code="plan_running")
        at = start_at or timezone.now()
        run = PlanRun(tenant=plan.tenant, plan=plan, plan_name=plan.name, environment=plan.environment,
                      created_by=actor, mode=mode, start_at=at, wake_at=at,
                      status_message=f"Waiting to start at {at.isoformat(timespec='minutes')}" if start_at
                      else "Starting")
        validated_save(run)
        audit_record(actor=actor, action=action, obj=plan, detail={
            "run": run.pk, "start_at": at.isoformat(), "vms": len(chosen)})
        _schedule(run)
    return run


def plan_start(*, actor: User, plan: MigrationPlan, start_at: datetime.datetime | None = None) -> PlanRun:
    """Start now, or at `start_at`. The whole plan is validated first; nothing starts while a VM is blocked."""
    return _run(actor=actor, plan=plan, mode=PlanRunMode.START, start_at=start_at, action=AuditAction.PLAN_START)


def plan_retry_failed(*, actor: User, plan: MigrationPlan, start_at: datetime.datetime | None = None) -> PlanRun:
    """Migrate again only the VMs whose latest migration failed or was cancelled (or could not be created)."""
    return _run(actor=actor, plan=plan, mode=PlanRunMode.RETRY, start_at=start_at, action=AuditAction.PLAN_RETRY)


def plan_cancel(*, actor: User, plan: MigrationPlan) -> list[MigrationTask]:
    """End the plan's live run and cancel its running and queued migrations; completed ones are left alone.
    Returns the migrations a cancel was asked for (a migration the actor may not cancel is left to its starter)."""
    _operable(actor, plan, AuditAction.PLAN_CANCEL)
    with transaction.atomic():
        run = _live_run(plan)
        if run is not None:
            transition(PLAN_RUN, job_id=run.pk, to=PlanRunState.CANCELLED, actor=actor,
                       expected_from=PLAN_RUN_LIVE, step="cancelled", status_message=f"Cancelled by {actor}")
        live = list(MigrationTask.objects.filter(
            pk__in=plan.vms.filter(migration__state__in=LIVE).values("migration_id")))
        audit_record(actor=actor, action=AuditAction.PLAN_CANCEL, obj=plan,
                     detail={"run": run.pk if run else None, "migrations": [t.pk for t in live][:100]})
    cancelled = []
    for task in live:
        try:
            cancelled.append(migration_services.migration_cancel(actor=actor, task=task))
        except Forbidden:
            # Started for the plan by someone else (an administrator): theirs to cancel; the refusal is audited.
            continue
    return cancelled


def plan_vm_migrate(*, run: PlanRun, plan_vm: PlanVm) -> MigrationTask | None:
    """Start one VM's migration for the run, through the migrations' own path; None when it could not be created
    (the reason stays on the plan VM, and the VM counts as failed)."""
    plan = run.plan
    try:
        with transaction.atomic():
            task = migration_services.migration_start(actor=run.created_by, target=target_of(plan_vm, plan))
            PlanVm.objects.filter(pk=plan_vm.pk).update(migration=task, start_error="")
            PlanVmAttempt.objects.create(tenant=run.tenant, plan_vm=plan_vm, run=run, migration=task)
        return task
    except (PortalError, ValidationError) as exc:
        message = exc.message if isinstance(exc, PortalError) else "; ".join(
            f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items())
        with transaction.atomic():
            PlanVm.objects.filter(pk=plan_vm.pk).update(start_error=message[:1000])
            PlanVmAttempt.objects.create(tenant=run.tenant, plan_vm=plan_vm, run=run, migration=None)
        return None
