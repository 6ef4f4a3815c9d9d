"""The page shell's own pages: the dashboard, the audit log, and the tenant administration that belongs to the core
(users, groups, connector and AWS settings). Each app's pages live in that app (`<app>/ui/`); like the API, every
queryset comes from `restrict()` and every gate from a `Need`."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_tables2 import RequestConfig

from environments.models import Environment, Region
from environments.selectors import environment_tree
from environments.ui.tables import EnvironmentTable
from migrations_app.selectors import connection_checks
from portal.core import csvsafe, services
from portal.core.errors import SHOWN_ERRORS
from portal.core.forms import add_service_error
from portal.core.models import AuditLog, TenantAwsAccount, TenantGroup, TenantVCenter, User
from portal.core.querysets import Need
from portal.core.roles import Action
from portal.core.selectors import vcenter_warnings
from portal.site.api_history import csv_response
from portal.site.history import HISTORY_DAYS, READ_HISTORY, HistoryFilters, history_rows
from portal.site.ui.forms import (
    AuditLogFilter,
    AwsAccountForm,
    GroupForm,
    HistoryFilterForm,
    UserCreateForm,
    UserEditForm,
    VCenterForm,
)
from portal.site.ui.tables import AuditLogTable, HistoryTable, UserTable

MANAGE_ENVIRONMENTS = Need(Action.ADMIN, of=Environment)
READ_AUDIT_LOG = Need(Action.VIEW, of=AuditLog)
READ_PEOPLE = Need(Action.VIEW, of=User)
MANAGE_PEOPLE = Need(Action.ADMIN, of=User)
READ_SETTINGS = Need(Action.VIEW, of=TenantVCenter)
MANAGE_SETTINGS = Need(Action.ADMIN, of=TenantVCenter)
AUDIT_DAYS = 7
PAGE_SIZE = 50


@login_required
def home(request):
    if request.user.is_superuser:
        return redirect("admin:index")
    if request.user.tenant_id is None:
        raise Http404("Platform operators use the platform admin.")
    environments = Environment.objects.restrict(request.user, Action.VIEW).select_related("region").order_by(
        "region__code", "name")
    table = EnvironmentTable(environments)
    RequestConfig(request, paginate={"per_page": 25}).configure(table)
    vcenter = TenantVCenter.objects.restrict(request.user, Action.VIEW).first()
    return render(request, "site/home.html", {
        "table": table,
        "has_environments": environments.exists(),
        "regions": Region.objects.restrict(request.user, Action.VIEW),
        "is_admin": MANAGE_ENVIRONMENTS.allows(request.user),
        "warnings": vcenter_warnings(vcenter) if vcenter else [],
        "tree": environment_tree(fetched_by=request.user),
    })


#
# Audit log (auditors and administrators)
#


class _Echo:
    def write(self, value):
        return value


@login_required
def audit_log(request):
    if not READ_AUDIT_LOG.allows(request.user):
        raise Http404()
    since = timezone.now() - timezone.timedelta(days=AUDIT_DAYS)
    rows = AuditLog.objects.restrict(request.user, Action.VIEW).filter(created_at__gte=since)
    filters = AuditLogFilter(request.GET or None, queryset=rows)
    rows = filters.qs if filters.is_bound and filters.is_valid() else rows
    if request.GET.get("format") == "csv":
        writer = csvsafe.writer(_Echo())
        header = ["created_at", "actor", "action", "outcome", "object_type", "object_id", "object", "remote_addr"]
        lines = (writer.writerow([r.created_at.isoformat(), r.actor_username, r.action, r.outcome, r.object_type,
                                  r.object_id, r.object_repr, r.remote_addr or ""]) for r in rows.iterator())
        response = StreamingHttpResponse((line for part in ([writer.writerow(header)], lines) for line in part),
                                         content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
        return response
    table = AuditLogTable(rows)
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    query = request.GET.copy()
    query.pop("page", None)
    query["format"] = "csv"
    return render(request, "site/audit_log.html", {"table": table, "filter": filters,
                                                   "csv_query": query.urlencode(), "days": AUDIT_DAYS})


#
# Task history (auditors and administrators)
#


@login_required
def history(request):
    if not READ_HISTORY.allows(request.user):
        raise Http404()
    form = HistoryFilterForm(request.GET or None, actor=request.user)
    filters = form.filters() if form.is_bound and form.is_valid() else HistoryFilters()
    rows = history_rows(fetched_by=request.user, filters=filters)
    if request.GET.get("format") == "csv":
        return csv_response(rows, filename="task-history.csv")
    table = HistoryTable(rows)
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    query = request.GET.copy()
    query.pop("page", None)
    query["format"] = "csv"
    return render(request, "site/history.html", {"table": table, "form": form, "csv_query": query.urlencode(),
                                                 "days": HISTORY_DAYS})


#
# Users and groups, connector and AWS settings (administrators change them; auditors read them)
#


def _may_change(request, read: Need, manage: Need) -> bool:
    """Whether the caller may change what the page shows. A role that may not read the page gets 404 (it is as
    absent as a missing page); one that reads it but posts to it (an auditor) gets 403, as the API answers."""
    if not read.allows(request.user):
        raise Http404()
    can_manage = manage.allows(request.user)
    if request.method not in ("GET", "HEAD") and not can_manage:
        raise PermissionDenied("Your role does not allow this.")
    return can_manage


def _rows_action(can_manage: bool) -> str:
    # An administrator's page finds its rows as the ones they may change; an auditor's as the ones they may read.
    return Action.ADMIN if can_manage else Action.VIEW


def _shown(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "—" if value in (None, "") else str(value)


def _set(secret) -> str:
    # A secret is only ever said to be there or not, to administrators and auditors alike.
    return "set (not shown)" if secret else "not set"


@login_required
def users(request):
    can_manage = _may_change(request, READ_PEOPLE, MANAGE_PEOPLE)
    form = group_form = None
    if can_manage:
        form = UserCreateForm(request.POST if request.POST.get("form") == "user" else None, prefix="user")
        group_form = GroupForm(request.POST if request.POST.get("form") == "group" else None, actor=request.user,
                               prefix="group")
    if request.method == "POST":
        if request.POST.get("form") == "user" and form.is_valid():
            try:
                user = services.user_create(actor=request.user, tenant=request.user.tenant, **form.cleaned_data)
            except SHOWN_ERRORS as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"User {user.username} created.")
                return redirect("ui:users")
        elif request.POST.get("form") == "group" and group_form.is_valid():
            try:
                group = services.group_create(actor=request.user, name=group_form.cleaned_data["name"],
                                              members=group_form.member_users())
            except SHOWN_ERRORS as exc:
                add_service_error(group_form, exc)
            else:
                messages.success(request, f"Group {group.display_name} created.")
                return redirect("ui:users")
    action = _rows_action(can_manage)
    table = UserTable(User.objects.restrict(request.user, action).order_by("username"))
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    groups = TenantGroup.objects.restrict(request.user, action).prefetch_related("user_set").order_by(
        "display_name")
    return render(request, "site/users.html", {"table": table, "form": form, "group_form": group_form,
                                               "groups": groups, "can_manage": can_manage})


@login_required
def user_edit(request, pk):
    can_manage = _may_change(request, READ_PEOPLE, MANAGE_PEOPLE)
    user = User.objects.restrict(request.user, _rows_action(can_manage)).filter(pk=pk).first()
    if user is None:
        raise Http404()
    if not can_manage:
        groups = TenantGroup.objects.restrict(request.user, Action.VIEW).filter(user=user).order_by("display_name")
        return render(request, "site/user_edit.html", {"subject": user, "summary": [
            ("Role", user.get_role_display()), ("Email", _shown(user.email)),
            ("vCenter identity", _shown(user.vcenter_principal)), ("Active", _shown(user.is_active)),
            ("Last login (UTC)", _shown(user.last_login and user.last_login.strftime("%Y-%m-%d %H:%M"))),
            ("Groups", ", ".join(g.display_name for g in groups) or "none"),
        ]})
    initial = {"role": user.role, "email": user.email, "vcenter_principal": user.vcenter_principal,
               "is_active": user.is_active}
    form = UserEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        password = data.pop("password") or None
        changes = {k: v for k, v in data.items() if getattr(user, k) != v}
        try:
            services.user_update(actor=request.user, user=user, data=changes, password=password)
        except SHOWN_ERRORS as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"User {user.username} saved.")
            return redirect("ui:users")
    return render(request, "site/user_edit.html", {"form": form, "subject": user})


@login_required
def group_edit(request, pk):
    can_manage = _may_change(request, READ_PEOPLE, MANAGE_PEOPLE)
    group = TenantGroup.objects.restrict(request.user, _rows_action(can_manage)).filter(pk=pk).first()
    if group is None:
        raise Http404()
    members = list(group.user_set.order_by("username"))
    if not can_manage:
        return render(request, "site/group_edit.html", {"group": group, "summary": [
            ("Name", group.display_name), ("Members", ", ".join(u.username for u in members) or "none")]})
    form = GroupForm(request.POST or None, actor=request.user, initial={
        "name": group.display_name, "members": [u.pk for u in members]})
    if request.method == "POST":
        if request.POST.get("delete"):
            services.group_delete(actor=request.user, group=group)
            messages.success(request, f"Group {group.display_name} deleted.")
            return redirect("ui:users")
        if form.is_valid():
            try:
                services.group_update(actor=request.user, group=group, name=form.cleaned_data["name"],
                                      members=form.member_users())
            except SHOWN_ERRORS as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Group {group.display_name} saved.")
                return redirect("ui:users")
    return render(request, "site/group_edit.html", {"form": form, "group": group})


def _vcenter_initial(vcenter):
    if vcenter is None:
        return {"verify_tls": True}
    return {name: getattr(vcenter, name) for name in VCenterForm.base_fields if name != "password"}


def _vcenter_summary(vcenter) -> list[tuple[str, str]]:
    if vcenter is None:
        return []
    fields = VCenterForm.base_fields
    rows = [(fields["url"].label, _shown(vcenter.url)), (fields["username"].label, _shown(vcenter.username)),
            ("Password", _set(vcenter.password))]
    rows += [(fields[name].label, _shown(getattr(vcenter, name))) for name in (
        "verify_tls", "thumbprint", "ignore_esx_certificate_errors", "dns_suffixes",
        "max_active_migrations_per_region", "connector_updating")]
    return rows


def _aws_summary(account) -> list[tuple[str, str]]:
    if account is None:
        return []
    fields = AwsAccountForm.base_fields
    return [(fields["account_id"].label, _shown(account.account_id)),
            (fields["auth_mode"].label, account.get_auth_mode_display()),
            (fields["role_arn"].label, _shown(account.role_arn)),
            (fields["access_key_id"].label, _shown(account.access_key_id)),
            (fields["secret_access_key"].label, _set(account.secret_access_key)),
            ("External id", account.external_id)]


@login_required
def settings_page(request):
    can_manage = _may_change(request, READ_SETTINGS, MANAGE_SETTINGS)
    vcenter = TenantVCenter.objects.restrict(request.user, _rows_action(can_manage)).first()
    warnings = vcenter_warnings(vcenter) if vcenter else []
    if not can_manage:
        # Reading writes nothing: the account row an administrator's first visit creates is not created here.
        account = TenantAwsAccount.objects.restrict(request.user, Action.VIEW).first()
        return render(request, "site/settings.html", {
            "can_manage": False, "warnings": warnings, "vcenter_summary": _vcenter_summary(vcenter),
            "ca_certificate_pem": vcenter.ca_certificate_pem if vcenter else "",
            "aws_summary": _aws_summary(account)})
    account = services.aws_account_ensure(actor=request.user)
    which = request.POST.get("form")
    vcenter_form = VCenterForm(request.POST if which == "vcenter" else None, initial=_vcenter_initial(vcenter),
                               prefix="vc")
    aws_form = AwsAccountForm(request.POST if which == "aws" else None, prefix="aws", initial={
        name: getattr(account, name) for name in AwsAccountForm.base_fields if name != "secret_access_key"})
    if request.method == "POST":
        if which == "vcenter" and vcenter_form.is_valid():
            try:
                services.vcenter_update(actor=request.user, data=vcenter_form.changes(vcenter))
            except SHOWN_ERRORS as exc:
                add_service_error(vcenter_form, exc)
            else:
                messages.success(request, "vCenter connection saved.")
                return redirect("ui:settings")
        elif which == "aws" and aws_form.is_valid():
            try:
                services.aws_account_update(actor=request.user, data=aws_form.changes(account))
            except SHOWN_ERRORS as exc:
                add_service_error(aws_form, exc)
            else:
                messages.success(request, "AWS account saved.")
                return redirect("ui:settings")
    return render(request, "site/settings.html", {
        "can_manage": True, "vcenter_form": vcenter_form, "aws_form": aws_form, "account": account,
        "warnings": warnings,
    })


@login_required
@require_POST
def connection_test(request):
    _may_change(request, READ_SETTINGS, MANAGE_SETTINGS)
    codes = list(Region.objects.restrict(request.user, Action.VIEW).order_by("code").values_list("code", flat=True))
    checks = connection_checks(tenant=request.user.tenant, region_codes=codes)
    template = "site/_connection_checks.html" if request.htmx else "site/connection_checks_page.html"
    return render(request, template, {"checks": checks})
