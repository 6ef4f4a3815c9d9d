"""Reads for migration plans: what a user may see, a plan's derived state and its progress per wave and VM, and
times in the tenant's time zone."""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass, field

from django.db.models import Prefetch

from core.roles import Action
from migrations_app.choices import LIVE, MigrationState
from migrations_app.plans.models import PLAN_RUN_LIVE, MigrationPlan, PlanRun, PlanRunState, PlanVm

S = MigrationState


class PlanState:
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LABELS = {DRAFT: "Draft", SCHEDULED: "Scheduled", RUNNING: "Running", COMPLETED: "Completed",
              FAILED: "Partly failed", CANCELLED: "Cancelled"}


def plan_list(*, fetched_by, environment_id: int | None = None):
    plans = MigrationPlan.objects.restrict(fetched_by, Action.VIEW).select_related("environment", "created_by")
    if environment_id is not None:
        plans = plans.filter(environment_id=environment_id)
    return plans.prefetch_related(
        Prefetch("vms", queryset=PlanVm.objects.select_related("migration")),
        Prefetch("runs", queryset=PlanRun.objects.filter(state__in=PLAN_RUN_LIVE), to_attr="live_runs"))


def vm_state(plan_vm: PlanVm) -> str:
    """A plan VM's state: its latest migration's, "not started", or "failed" when its migration could not be
    created."""
    if plan_vm.migration_id is not None:
        return plan_vm.migration.state
    if plan_vm.start_error:
        return S.FAILED
    return "not_started"


def plan_state(plan: MigrationPlan, plan_vms=None, live_run: PlanRun | None = None) -> str:
    """Derived, never stored: from the VMs' latest migrations and the plan's live run."""
    plan_vms = list(plan.vms.select_related("migration")) if plan_vms is None else plan_vms
    if live_run is None:
        live_runs = getattr(plan, "live_runs", None)
        live_run = live_runs[0] if live_runs else (
            None if live_runs is not None else plan.runs.filter(state__in=PLAN_RUN_LIVE).first())
    states = [vm_state(pv) for pv in plan_vms]
    if any(s in LIVE for s in states) or (live_run is not None and live_run.state == PlanRunState.RUNNING):
        return PlanState.RUNNING
    if live_run is not None:
        return PlanState.SCHEDULED
    if not states or all(s == "not_started" for s in states):
        return PlanState.DRAFT
    if all(s == S.COMPLETED for s in states):
        return PlanState.COMPLETED
    if any(s == S.FAILED for s in states):
        return PlanState.FAILED
    if any(s == S.CANCELLED for s in states):
        return PlanState.CANCELLED
    return PlanState.FAILED if any(s == "not_started" for s in states) else PlanState.COMPLETED


@dataclass
class WaveProgress:
    number: int
    start_at: datetime.datetime | None
    vms: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    @property
    def percent(self) -> int:
        if not self.vms:
            return 0
        return round(sum(_vm_percent(pv) for pv in self.vms) / len(self.vms))


def _vm_percent(plan_vm: PlanVm) -> int:
    if plan_vm.migration_id is None:
        return 0
    if plan_vm.migration.state == S.COMPLETED:
        return 100
    return plan_vm.migration.progress_percent


@dataclass
class PlanProgress:
    plan: MigrationPlan
    state: str
    live_run: PlanRun | None
    waves: list[WaveProgress]
    counts: dict

    @property
    def percent(self) -> int:
        vms = [pv for w in self.waves for pv in w.vms]
        return round(sum(_vm_percent(pv) for pv in vms) / len(vms)) if vms else 0


def plan_progress(plan: MigrationPlan) -> PlanProgress:
    plan_vms = list(plan.vms.select_related("migration", "wave", "subnet", "security_group", "key_pair"))
    live_run = plan.runs.filter(state__in=PLAN_RUN_LIVE).first()
    waves = {w.pk: WaveProgress(w.number, w.start_at) for w in plan.waves.order_by("number")}
    counts: dict = {}
    for pv in plan_vms:
        state = vm_state(pv)
        wave = waves[pv.wave_id]
        wave.vms.append(pv)
        wave.counts[state] = wave.counts.get(state, 0) + 1
        counts[state] = counts.get(state, 0) + 1
    return PlanProgress(plan, plan_state(plan, plan_vms, live_run), live_run, list(waves.values()), counts)


def in_tenant_zone(moment: datetime.datetime | None, tenant) -> str:
    """'2026-12-08 22:00 CET (UTC+01:00)'."""
    if moment is None:
        return ""
    local = moment.astimezone(zoneinfo.ZoneInfo(tenant.time_zone or "UTC"))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} (UTC{offset[:3]}:{offset[3:]})"
