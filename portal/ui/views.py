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
