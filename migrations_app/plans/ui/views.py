"""Migration plan pages: the list of plans (with a form to create one) and a plan's page with its waves, each VM's
state and progress (refreshed by htmx while the plan runs), and its actions: add VMs, validate, start now or at a
time, retry failed, import and export CSV, cancel (with confirmation)."""

from __future__ import annotations

import datetime
import zoneinfo

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from core.forms import submit
from core.pages import page
from core.querysets import Need
from core.roles import Action
from migrations_app.plans import csvio, selectors, services
from migrations_app.plans.models import MigrationPlan
from migrations_app.plans.ui.forms import AddVmsForm, CsvForm, PlanCreateForm, ScheduleForm, WaveForm

VIEW, OPERATE = Need(Action.VIEW), Need(Action.OPERATE)
POLL_SECONDS = 5


@page(get=Need(Action.VIEW, of=MigrationPlan), post=Need(Action.OPERATE, of=MigrationPlan))
def plan_list(request):
    environment = request.GET.get("environment", "")
    plans = list(selectors.plan_list(fetched_by=request.user,
                                     environment_id=int(environment) if environment.isdigit() and
                                     len(environment) < 19 else None))
    form = PlanCreateForm(request.POST or None, user=request.user)
    done = submit(request, lambda: services.plan_create(actor=request.user, **form.cleaned_data), form=form,
                  success=lambda plan: f"Plan {plan.name} created.",
                  to=lambda plan: reverse("ui:plan", args=[plan.pk]))
    return done.response or render(request, "plans/plan_list.html", {
        "plans": [(plan, selectors.PlanState.LABELS[selectors.plan_state(plan, list(plan.vms.all()))])
                  for plan in plans],
        "form": form if form.fields["environment"].queryset.exists() else None, "error": done.error})


def _start_at(form: ScheduleForm, tenant) -> datetime.datetime | None:
    value = form.cleaned_data.get("start_at")
    if value is None:
        return None
    return value.replace(tzinfo=zoneinfo.ZoneInfo(tenant.time_zone or "UTC"))


def _context(request, plan, **extra) -> dict:
    progress = selectors.plan_progress(plan)
    operable = MigrationPlan.objects.restrict(request.user, Action.OPERATE).filter(pk=plan.pk).exists()
    tenant = plan.tenant
    return {
        "plan": plan, "progress": progress, "state_label": selectors.PlanState.LABELS[progress.state],
        "operable": operable, "running": progress.state in ("running", "scheduled"),
        # Only what can be done now is offered: a plan starts once, then only its failed VMs run again.
        "can_start": progress.state == "draft", "can_retry": progress.state in ("failed", "cancelled"),
        "start_at_shown": selectors.in_tenant_zone(progress.live_run.start_at, tenant) if progress.live_run else "",
        "waves": [(wave, selectors.in_tenant_zone(wave.start_at, tenant)) for wave in progress.waves],
        "time_zone": tenant.time_zone, "poll_seconds": POLL_SECONDS,
        "rows_url": reverse("ui:plan-rows", args=[plan.pk]), **extra}


@page(get=VIEW, post=OPERATE, row=MigrationPlan, related=("environment__region", "tenant", "created_by"))
def plan_detail(request, plan):
    action = request.POST.get("form", "")
    forms = {"add": AddVmsForm(request.POST if action == "add" else None, prefix="add"),
             "schedule": ScheduleForm(request.POST if action in ("start", "retry") else None, prefix="schedule"),
             "csv": CsvForm(request.POST if action == "import" else None, request.FILES or None, prefix="csv"),
             "wave": WaveForm(request.POST if action == "wave" else None, prefix="wave")}
    validation = None
    here = reverse("ui:plan", args=[plan.pk])
    calls = {
        "add": (forms["add"], lambda: services.plan_vms_add(actor=request.user, plan=plan, specs=[
            services.PlanVmSpec(vm=line.strip(), wave=forms["add"].cleaned_data["wave"])
            for line in forms["add"].cleaned_data["vms"].splitlines() if line.strip()]), "VMs added."),
        "start": (forms["schedule"], lambda: services.plan_start(
            actor=request.user, plan=plan, start_at=_start_at(forms["schedule"], plan.tenant)), "Plan started."),
        "retry": (forms["schedule"], lambda: services.plan_retry_failed(
            actor=request.user, plan=plan, start_at=_start_at(forms["schedule"], plan.tenant)),
            "Retrying the failed VMs."),
        "wave": (forms["wave"], lambda: services.plan_wave_schedule(
            actor=request.user, plan=plan, number=forms["wave"].cleaned_data["number"],
            start_at=_start_at(forms["wave"], plan.tenant)), "Wave time saved."),
        "import": (forms["csv"], lambda: csvio.plan_csv_import(
            actor=request.user, plan=plan, text=forms["csv"].cleaned_data["file"].read().decode("utf-8", "replace")),
            lambda count: f"{count} VMs imported."),
    }
    error, problems = None, []
    if request.method == "POST" and action == "validate":
        validation = services.plan_validate(actor=request.user, plan=plan)
    elif request.method == "POST" and action in calls:
        form, call, success = calls[action]
        done = submit(request, call, form=form, success=success, to=here)
        if done.response:
            return done.response
        if isinstance(done.failure, services.PlanInvalid):
            validation = done.failure.validation
        elif done.failure is not None:
            error = done.error
            problems = (getattr(done.failure, "message_dict", {}) or {}).get("csv", [])
    elif request.method == "POST":
        error = "Choose what to do."
    if validation is not None:
        names = {pv.pk: pv for wave in selectors.plan_progress(plan).waves for pv in wave.vms}
        validation = {"ok": validation.ok, "summary": validation.summary(),
                      "plan_problems": validation.plan_problems,
                      "vms": [(names.get(pk), found) for pk, found in validation.vm_problems.items() if found]}
    return render(request, "plans/plan_detail.html", _context(
        request, plan, forms=forms, validation=validation, error=error, csv_problems=problems))


@page(get=VIEW, row=MigrationPlan, related=("tenant",))
def plan_rows(request, plan):
    """The waves alone, for polling: they carry their own trigger while the plan runs and none after."""
    return render(request, "plans/_plan_rows.html", _context(request, plan))


@page(get=VIEW, row=MigrationPlan)
def plan_export(request, plan):
    response = HttpResponse(csvio.plan_csv_export(plan), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="plan-{plan.pk}.csv"'
    return response


@page(get=OPERATE, post=OPERATE, row=MigrationPlan)
def plan_cancel(request, plan):
    back = reverse("ui:plan", args=[plan.pk])
    done = submit(request, lambda: services.plan_cancel(actor=request.user, plan=plan), to=back,
                  success=lambda cancelled: f"Plan {plan.name} cancelled ({len(cancelled)} migrations cancelled).")
    return done.response or render(request, "plans/cancel_confirm.html", {
        "plan": plan, "back": back, "error": done.error,
        "state_label": selectors.PlanState.LABELS[selectors.plan_state(plan)]})

