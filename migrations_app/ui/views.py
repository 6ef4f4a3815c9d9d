"""The migration pages: the vCenter VMs list with its migrate dialog, the migrate page of one environment, the
VM-to-EC2 Migrations tab with its live rows, cancelling, a migration's log, and Fix Error for the vmimport role.
Same services, selectors and rules as the API; errors are shown beside the fields they concern."""

import json

from django.db.models import OuterRef, Subquery
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django_tables2 import RequestConfig

from core.errors import Conflict, UpstreamError
from core.forms import submit
from core.observability.selectors import job_log_for
from core.pages import back_to, page
from core.querysets import Need
from core.roles import Action
from environments.models import Environment, ImportedInstance, Region
from environments.selectors import environment_tree
from environments.ui.views import MANAGE_ENVIRONMENTS, READ_SETUP
from migrations_app import preflight, selectors, services
from migrations_app.admission import queue_positions
from migrations_app.choices import ACTIVE, MigrationState
from migrations_app.guest_os import readable_guest_os
from migrations_app.models import MigrationTask
from migrations_app.ui.forms import ConsentForm, MigrateDialogForm, MigrateForm
from migrations_app.ui.tables import MigrationTable

SEE_VMS = Need(Action.VIEW, of=Environment)
MIGRATE = Need(Action.OPERATE, of=Environment)
CANCEL = Need(Action.OPERATE, of=MigrationTask)
# The API's Need for cancelling: whoever sees a migration may address it and is told why not (403); only its
# starter and administrators may cancel it.
CANCEL_ONE = Need(Action.OPERATE, find=Action.VIEW)
ROWS_PER_PAGE = 25
POLL_SECONDS = 2
_DAY = timezone.timedelta(days=1)


def _listing(tenant) -> tuple[list, str | None, object]:
    """The tenant's VMs, why there are none when they cannot be had, and the connector's inventory they come from
    (its age)."""
    try:
        listing = selectors.vm_listing(tenant=tenant)
    except (UpstreamError, Conflict) as exc:
        return [], exc.message, selectors.inventory_status(tenant=tenant)
    return listing.vms, None, listing.inventory


def _vms(tenant):
    vms, problem, _ = _listing(tenant)
    return vms, problem


def _aws_view(tenant, environment):
    """AWS's view of the environment for marking what it no longer holds; None when AWS cannot be asked, or no
    AWS access is configured yet (the services refuse then, with the reason)."""
    try:
        return preflight.aws_view(tenant=tenant, environment=environment)
    except (UpstreamError, Conflict):
        return None


@page(get=MIGRATE, post=MIGRATE, row=Environment, related=("region",))
def migrate(request, environment):
    """The migrate form of one environment: the portal issues the token and hands the request to the connector in
    one step."""
    vms, problem = _vms(request.user.tenant)
    form = MigrateForm(request.POST or None, environment=environment, vms=vms, initial={"vm": request.GET.get("vm")},
                       view=_aws_view(request.user.tenant, environment))
    done = submit(request, lambda: services.migration_start(actor=request.user, target=form.target()), form=form,
                  success=_started_message, to=reverse("ui:environment-panel", args=[environment.pk, PANEL_KEY]))
    return done.response or render(request, "migrations_app/migrate.html",
                                   {"environment": environment, "form": form, "problem": problem})


def _started_message(task) -> str:
    if task.state == "queued":
        position = queue_positions([task.region_id]).get(task.pk)
        return f"Migration of {task.vm_name} queued as task {task.pk}, position {position} in the queue."
    return f"Migration of {task.vm_name} started: import task {task.pk} ({task.get_state_display()})."


@page(get=SEE_VMS, post=MIGRATE)
def vm_list(request):
    """The tenant's vCenter VMs, by folder, searchable by name, guest OS or folder. For a tenant served by a
    connector agent they are the inventory it last reported, with its age; Refresh (POST) asks it for a fresh one,
    which it starts within seconds (the request rings the agent's held request for work)."""
    refreshed = submit(request, lambda: services.vm_inventory_refresh(actor=request.user),
                       success="Refresh asked for: the connector starts reading vCenter within seconds; reload in "
                               "a little while to see it.",
                       to=request.get_full_path())
    if refreshed.response:
        return refreshed.response
    vms, problem, inventory = _listing(request.user.tenant)
    query = request.GET.get("q", "").strip()
    if query:
        needle = query.lower()
        vms = [vm for vm in vms if needle in f"{vm.name} {vm.guest_full_name} {readable_guest_os(vm.guest_id)} "
                                             f"{vm.folder_path}".lower()]
    can_migrate = MIGRATE.allows(request.user)
    # Only those who may migrate are told what would refuse a migration.
    rows = selectors.vcenter_vm_rows(user=request.user, vms=vms, inventory=inventory) if can_migrate else [
        selectors.VmRow(vm, readable_guest_os(vm.guest_id, vm.guest_full_name), None) for vm in vms]
    folders: dict[str, list] = {}
    for row in sorted(rows, key=lambda row: (row.vm.folder_path, row.vm.name.lower())):
        folders.setdefault(row.vm.folder_path or "/", []).append(row)
    principal = request.user.vcenter_principal
    return render(request, "migrations_app/vm_list.html", {
        "folders": folders, "problem": problem, "query": query, "count": len(vms), "can_migrate": can_migrate,
        "no_principal": can_migrate and not principal, "inventory": inventory, "refresh_error": refreshed.error,
        "privileges_unknown": bool(can_migrate and principal and inventory.reported
                                   and inventory.privileges_of(principal) is None),
    })


@page(get=MIGRATE, post=MIGRATE)
def migrate_dialog(request):
    """The migrate dialog (a page of its own without JavaScript). Changing the environment re-renders the form
    with that environment's lists, keeping what was entered."""
    environments = list(Environment.objects.restrict(request.user, Action.OPERATE).select_related("region")
                        .order_by("region__code", "name"))
    template = "migrations_app/_migrate_dialog.html" if request.htmx else "migrations_app/migrate_dialog_page.html"
    if not environments:
        return render(request, template, {"no_grant": services.NO_GRANT_MESSAGE})
    data = request.POST if request.method == "POST" else None
    chosen_pk = (data or request.GET).get("environment")
    environment = next((e for e in environments if str(e.pk) == chosen_pk), environments[0])
    vms, problem = _vms(request.user.tenant)
    initial = {"vm": request.GET.get("vm"), "environment": environment.pk}
    reload = request.GET.get("reload")
    if reload:
        # The environment changed: keep every other answer, drop those that belonged to the old environment. The
        # VM changed: drop what was suggested from the old VM, so the new one's suggestions show. The operating
        # system changed: drop the instance type, so the list and suggestion are those that system can run.
        dropped = {"vm": ("operating_system", "instance_type"), "operating_system": ("instance_type",)}.get(
            reload, ("subnet", "security_group", "key_pair"))
        initial.update({k: v for k, v in request.GET.items() if k not in dropped})
        initial["environment"] = environment.pk
    form = MigrateDialogForm(data, environments=environments, environment=environment, vms=vms, initial=initial,
                             view=_aws_view(request.user.tenant, environment))
    if data is not None:
        # No redirect: the dialog answers in place with the task it started.
        task = submit(request, lambda: services.migration_start(actor=request.user, target=form.target()),
                      form=form).result
        if task is not None:
            position = queue_positions([task.region_id]).get(task.pk) if task.state == "queued" else None
            return render(request, template, {"task": task, "position": position, "environment": environment})
    return render(request, template, {"form": form, "problem": problem, "environment": environment})


#
# The VM-to-EC2 Migrations tab and its live rows
#

PANEL_KEY = "vm-to-ec2-migrations"


def _migration_table(request, environment):
    """The table of one page of the environment's seven-day migrations. The database sorts and slices (django-tables2
    counts, then asks for one page) and finds each shown row's instance link in the same query; queue positions and
    cancel links are read for that page only. It polls while a row shown may still change."""
    user = request.user
    instance = ImportedInstance.objects.restrict(user, Action.VIEW).filter(
        environment=environment, instance_id=OuterRef("instance_id")).values("pk")[:1]
    table = MigrationTable(selectors.migration_list(fetched_by=user).filter(environment=environment).annotate(
        linked_instance=Subquery(instance)))
    RequestConfig(request, paginate={"per_page": ROWS_PER_PAGE}).configure(table)
    rows = list(table.page.object_list.data)  # evaluates the page's slice once; rendering reuses these objects
    positions = queue_positions({m.region_id for m in rows if m.state == MigrationState.QUEUED})
    # A separate read of the few live ids: as an EXISTS in the page query PostgreSQL hashes every migration the
    # user may operate (thousands at scale) to answer for 25 rows.
    live = [m.pk for m in rows if not m.is_terminal]
    # A failing or cancelling job is already releasing what it holds: there is nothing left to cancel.
    can_still_cancel = [m.pk for m in rows if m.state == MigrationState.QUEUED or m.state in ACTIVE]
    cancellable = set(MigrationTask.objects.restrict(user, Action.OPERATE).filter(pk__in=can_still_cancel).values_list(
        "pk", flat=True)) if can_still_cancel and CANCEL.allows(user) else set()
    # Cancel and its answers come back to this tab as the user sees it (sort, page), not to the rows' own URL.
    back = reverse("ui:environment-panel", args=[environment.pk, PANEL_KEY]) + (
        f"?{request.GET.urlencode()}" if request.GET else "")
    for m in rows:
        m.queue_position = positions.get(m.pk)
        m.can_cancel = m.pk in cancellable
        m.cancel_next = back
        m.instance_pk = m.linked_instance if m.instance_id else None
    return table, bool(live)


def environment_migrations_panel(request, environment):
    """The VM-to-EC2 Migrations tab of the environment page (last seven days)."""
    table, running = _migration_table(request, environment)
    return "migrations_app/_environment_migrations.html", {
        "table": table, "migrations_running": running, "poll_seconds": POLL_SECONDS,
        "rows_url": reverse("ui:migration-rows", args=[environment.pk]),
        "can_migrate": Environment.objects.restrict(request.user, Action.OPERATE).filter(pk=environment.pk).exists(),
    }


@page(get=Need(Action.VIEW), row=Environment)
def migration_rows(request, environment):
    """The table alone, for polling: it carries its own trigger while a migration runs and none after, so the
    browser stops asking once everything has finished."""
    table, running = _migration_table(request, environment)
    return render(request, "migrations_app/_migration_rows.html", {
        "table": table, "migrations_running": running, "poll_seconds": POLL_SECONDS,
        "rows_url": reverse("ui:migration-rows", args=[environment.pk]), "environment": environment})


@page(get=CANCEL_ONE, post=CANCEL_ONE, row=MigrationTask, related=("environment__region",))
def migration_cancel(request, task):
    """Cancelling asks first; the starter and administrators only (the same rows the API lets cancel). Either
    answer returns to the tab the user came from (`next`), the VM-to-EC2 tab otherwise."""
    back = back_to(request, reverse("ui:environment-panel", args=[task.environment_id, PANEL_KEY]))
    done = submit(request, lambda: services.migration_cancel(actor=request.user, task=task), to=back,
                  success=lambda task: f"Migration {task.pk} of {task.vm_name}: {task.get_state_display()}.")
    return done.response or render(request, "migrations_app/cancel_confirm.html",
                                   {"task": task, "back": back, "error": done.error})


def instance_migration_section(request, instance):
    """The imported instance page's rows about the migration that made it (its subnet and task)."""
    task = selectors.migration_list(fetched_by=request.user, since=instance.created_at - _DAY).filter(
        instance_id=instance.instance_id).first() if instance.instance_id else None
    if task is None:
        return None
    return "migrations_app/_instance_migration.html", {"task": task}


#
# Fix Error: the vmimport role
#


@page(get=Need(Action.VIEW), row=MigrationTask, related=("environment",))
def migration_log(request, task):
    """Its workers' INFO and WARNING+ lines, exactly as visible as the migration."""
    return render(request, "observability/job_log.html", {
        "title": f"Migration {task.pk} of {task.vm_name}", "task": task,
        "log_lines": job_log_for(kind="migration", job=task)})


@page(get=READ_SETUP, post=MANAGE_ENVIRONMENTS)
def vmimport_role(request):
    regions = list(Region.objects.restrict(request.user, Action.VIEW).order_by("code"))
    code = request.GET.get("region") or (regions[0].code if regions else "")
    region = next((r for r in regions if r.code == code), None)
    form = ConsentForm(request.POST or None) if MANAGE_ENVIRONMENTS.allows(request.user) else None
    role, problem = None, None
    if region is not None:
        done = submit(request, lambda: services.vmimport_role_fix(actor=request.user, region_code=region.code),
                      form=form, success=f"The vmimport role is ready in {region.code}.",
                      to=f"{reverse('ui:vmimport-role')}?region={region.code}")
        if done.response:
            return done.response
    if region is not None and role is None:
        try:
            role = selectors.vmimport_role_describe(tenant=request.user.tenant, region_code=region.code)
        except (UpstreamError, Conflict) as exc:
            problem = exc.message
    return render(request, "migrations_app/vmimport_role.html", {
        "regions": regions, "region": region, "role": role, "problem": problem, "form": form,
        "trust_json": json.dumps(role.trust_policy, indent=2) if role else "",
        "permissions_json": json.dumps(role.permissions_policy, indent=2) if role else "",
        "ready": role is not None and role.exists and role.trusts_vmie and role.has_policy,
        "tree": environment_tree(fetched_by=request.user),
    })
