"""Server-rendered pages. Like the API, every queryset comes from `restrict()` and every write from a service."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone

from environments import selectors, services
from environments.models import Environment, ImportedInstance, Region
from migrations_app.selectors import migration_list
from portal.errors import Conflict
from portal.models import AuditLog
from portal.roles import Action, TenantRole
from portal.ui.forms import GrantForm


def _tenant_member(request):
    if request.user.tenant_id is None:
        raise Http404("Platform operators use the platform admin.")


@login_required
def home(request):
    if request.user.is_superuser:
        return redirect("admin:index")
    _tenant_member(request)
    environments = Environment.objects.restrict(request.user, Action.VIEW).select_related("region")
    return render(request, "portal/home.html", {
        "environments": environments,
        "regions": Region.objects.restrict(request.user, Action.VIEW),
        "is_admin": request.user.role == TenantRole.ADMIN,
        "warnings": _vcenter_warnings(request.user),
    })


def _vcenter_warnings(user) -> list[str]:
    from portal.api.serializers import vcenter_warnings
    from portal.models import TenantVCenter

    vcenter = TenantVCenter.objects.restrict(user, Action.ADMIN).first()
    return vcenter_warnings(vcenter) if vcenter else []


@login_required
def environment_detail(request, pk):
    _tenant_member(request)
    environment = Environment.objects.restrict(request.user, Action.VIEW).select_related("region").filter(pk=pk).first()
    if environment is None:
        raise Http404()
    is_admin = request.user.role == TenantRole.ADMIN
    form = GrantForm(request.POST or None, actor=request.user) if is_admin else None
    if request.method == "POST":
        if form is None:
            raise Http404()
        if form.is_valid():
            try:
                services.environment_grant(actor=request.user, environment=environment,
                                           principal=form.cleaned_principal(), role=form.cleaned_data["role"])
                messages.success(request, "Permission saved.")
                return redirect("ui:environment", pk=environment.pk)
            except (ValidationError, Conflict) as exc:
                form.add_error(None, getattr(exc, "message", None) or "; ".join(exc.messages))
    can_read_grants = request.user.role in (TenantRole.ADMIN, TenantRole.AUDITOR)
    migrations = list(migration_list(fetched_by=request.user).filter(environment=environment)[:200])
    return render(request, "portal/environment_detail.html", {
        "environment": environment,
        "grants": selectors.environment_grants(environment=environment) if can_read_grants else None,
        "instances": ImportedInstance.objects.restrict(request.user, Action.VIEW).filter(environment=environment),
        "form": form,
        "migrations": migrations,
        "can_migrate": Environment.objects.restrict(request.user, Action.OPERATE).filter(pk=environment.pk).exists(),
        "migrations_running": any(not m.is_terminal for m in migrations),
    })


@login_required
def audit_log(request):
    _tenant_member(request)
    if request.user.role not in (TenantRole.ADMIN, TenantRole.AUDITOR):
        raise Http404()
    since = timezone.now() - timezone.timedelta(days=7)
    rows = AuditLog.objects.restrict(request.user, Action.VIEW).filter(created_at__gte=since)[:500]
    return render(request, "portal/audit_log.html", {"rows": rows})


@login_required
def migrate(request, pk):
    """The migrate form: the portal issues the token and hands the request to the connector in one step."""
    from migrations_app import selectors as migration_selectors
    from migrations_app import services as migration_services
    from portal.errors import Forbidden, NotFound, UpstreamError
    from portal.ui.forms import MigrateForm

    _tenant_member(request)
    environment = Environment.objects.restrict(request.user, Action.OPERATE).select_related("region").filter(
        pk=pk).first()
    if environment is None:
        raise Http404()
    vms, problem = [], None
    try:
        vms = migration_selectors.vcenter_vm_list(tenant=request.user.tenant)
    except (UpstreamError, Conflict) as exc:
        problem = exc.message
    form = MigrateForm(request.POST or None, environment=environment, vms=vms)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            task = migration_services.migration_start(
                actor=request.user, environment_id=environment.pk, vm_moref=data["vm"],
                operating_system=data["operating_system"], instance_type=data["instance_type"],
                subnet_id=data["subnet"], security_group_id=data["security_group"], key_pair_id=data["key_pair"],
                private_ip=data["private_ip"] or None, power_off=data["power_off"])
        except ValidationError as exc:
            for field, field_errors in getattr(exc, "message_dict", {None: exc.messages}).items():
                form.add_error(field if field in form.fields else None, field_errors)
        except (Conflict, Forbidden, NotFound, UpstreamError) as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Migration {task.pk} of {task.vm_name}: {task.get_state_display()}.")
            return redirect("ui:environment", pk=environment.pk)
    return render(request, "portal/migrate.html", {"environment": environment, "form": form, "problem": problem})
