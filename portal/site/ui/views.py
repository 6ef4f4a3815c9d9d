"""The page shell's own pages: home (the environments the user may see) and the audit log. Each app's pages live
in that app (`<app>/ui/`); like the API, every queryset comes from `restrict()` and every gate from a `Need`."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone

from environments.models import Environment, Region
from portal.core.models import AuditLog, TenantVCenter
from portal.core.querysets import Need
from portal.core.roles import Action
from portal.core.selectors import vcenter_warnings

MANAGE_ENVIRONMENTS = Need(Action.ADMIN, of=Environment)
READ_AUDIT_LOG = Need(Action.VIEW, of=AuditLog)


@login_required
def home(request):
    if request.user.is_superuser:
        return redirect("admin:index")
    if request.user.tenant_id is None:
        raise Http404("Platform operators use the platform admin.")
    environments = Environment.objects.restrict(request.user, Action.VIEW).select_related("region")
    vcenter = TenantVCenter.objects.restrict(request.user, Action.ADMIN).first()
    return render(request, "site/home.html", {
        "environments": environments,
        "regions": Region.objects.restrict(request.user, Action.VIEW),
        "is_admin": MANAGE_ENVIRONMENTS.allows(request.user),
        "warnings": vcenter_warnings(vcenter) if vcenter else [],
    })


@login_required
def audit_log(request):
    if not READ_AUDIT_LOG.allows(request.user):
        raise Http404()
    since = timezone.now() - timezone.timedelta(days=7)
    rows = AuditLog.objects.restrict(request.user, Action.VIEW).filter(created_at__gte=since)[:500]
    return render(request, "site/audit_log.html", {"rows": rows})
