"""The page shell's own pages: the dashboard, the audit log, and the tenant administration that belongs to the core
(users, groups, connector and AWS settings). Each app's pages live in that app (`<app>/ui/`); like the API, every
queryset comes from `restrict()` and every gate from a `Need`."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django_tables2 import RequestConfig

from core import csvsafe, services
from core.forms import Submitted, several_forms, submit
from core.models import AuditLog, TenantAwsAccount, TenantGroup, TenantVCenter, User
from core.pages import page
from core.querysets import Need
from core.roles import Action
from core.selectors import vcenter_warnings
from environments.models import Environment, Region
from environments.selectors import environment_tree
from environments.ui.tables import EnvironmentTable
from migrations_app.selectors import connection_checks
from portal.site.api_history import csv_response
from portal.site.history import HISTORY_DAYS, READ_HISTORY, HistoryFilters, history_rows
from portal.site.selectors import dashboard
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


# Not behind `page`: everyone who logs in lands here, and a platform operator is sent on rather than refused.
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
    return render(request, "site/home.html", {
        "board": dashboard(fetched_by=request.user),
        "table": table,
        "is_admin": MANAGE_ENVIRONMENTS.allows(request.user),
        "read_history": READ_HISTORY.allows(request.user),
        "tree": environment_tree(fetched_by=request.user),
    })


#
# Audit log (auditors and administrators)
#


class _Echo:
    def write(self, value):
        return value


@page(get=READ_AUDIT_LOG)
def audit_log(request):
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


@page(get=READ_HISTORY)
def history(request):
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


def _shown(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "—" if value in (None, "") else str(value)


def _set(secret) -> str:
    # A secret is only ever said to be there or not, to administrators and auditors alike.
    return "set (not shown)" if secret else "not set"


@page(get=READ_PEOPLE, post=MANAGE_PEOPLE)
def users(request):
    can_manage = MANAGE_PEOPLE.allows(request.user)
    which, forms = several_forms(request, allowed=can_manage, user=UserCreateForm,
                                 group=lambda data, prefix: GroupForm(data, actor=request.user, prefix=prefix))
    form, group_form = forms["user"], forms["group"]
    done = Submitted()
    if which == "user":
        done = submit(request, lambda: services.user_create(actor=request.user, tenant=request.user.tenant,
                                                            **form.cleaned_data),
                      form=form, success=lambda user: f"User {user.username} created.", to="ui:users")
    elif which == "group":
        done = submit(request, lambda: services.group_create(actor=request.user, name=group_form.cleaned_data["name"],
                                                             members=group_form.member_users()),
                      form=group_form, success=lambda group: f"Group {group.display_name} created.", to="ui:users")
    if done.response:
        return done.response
    table = UserTable(User.objects.restrict(request.user, Action.VIEW).order_by("username"))
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    groups = TenantGroup.objects.restrict(request.user, Action.VIEW).prefetch_related("user_set").order_by(
        "display_name")
    return render(request, "site/users.html", {"table": table, "form": form, "group_form": group_form,
                                               "groups": groups, "can_manage": can_manage})


@page(get=READ_PEOPLE, post=MANAGE_PEOPLE, row=User)
def user_edit(request, subject):
    if not MANAGE_PEOPLE.allows(request.user):
        groups = TenantGroup.objects.restrict(request.user, Action.VIEW).filter(user=subject).order_by(
            "display_name")
        return render(request, "site/user_edit.html", {"subject": subject, "summary": [
            ("Role", subject.get_role_display()), ("Email", _shown(subject.email)),
            ("vCenter identity", _shown(subject.vcenter_principal)), ("Active", _shown(subject.is_active)),
            ("Last login (UTC)", _shown(subject.last_login and subject.last_login.strftime("%Y-%m-%d %H:%M"))),
            ("Groups", ", ".join(g.display_name for g in groups) or "none"),
        ]})
    initial = {"role": subject.role, "email": subject.email, "vcenter_principal": subject.vcenter_principal,
               "is_active": subject.is_active}
    form = UserEditForm(request.POST or None, initial=initial)

    def save():
        data = dict(form.cleaned_data)
        password = data.pop("password") or None
        changes = {k: v for k, v in data.items() if getattr(subject, k) != v}
        return services.user_update(actor=request.user, user=subject, data=changes, password=password)

    done = submit(request, save, form=form, success=f"User {subject.username} saved.", to="ui:users")
    return done.response or render(request, "site/user_edit.html", {"form": form, "subject": subject})


@page(get=READ_PEOPLE, post=MANAGE_PEOPLE, row=TenantGroup)
def group_edit(request, group):
    members = list(group.user_set.order_by("username"))
    if not MANAGE_PEOPLE.allows(request.user):
        return render(request, "site/group_edit.html", {"group": group, "summary": [
            ("Name", group.display_name), ("Members", ", ".join(u.username for u in members) or "none")]})
    form = GroupForm(request.POST or None, actor=request.user, initial={
        "name": group.display_name, "members": [u.pk for u in members]})
    if request.method == "POST":
        if request.POST.get("delete"):
            services.group_delete(actor=request.user, group=group)
            messages.success(request, f"Group {group.display_name} deleted.")
            return redirect("ui:users")
        done = submit(request, lambda: services.group_update(actor=request.user, group=group,
                                                             name=form.cleaned_data["name"],
                                                             members=form.member_users()),
                      form=form, success=lambda _: f"Group {group.display_name} saved.", to="ui:users")
        if done.response:
            return done.response
    return render(request, "site/group_edit.html", {"form": form, "group": group})


def _vcenter_initial(vcenter):
    if vcenter is None:
        return {"verify_tls": True}
    return {name: getattr(vcenter, name) for name in VCenterForm.base_fields}


def _vcenter_summary(vcenter) -> list[tuple[str, str]]:
    if vcenter is None:
        return []
    fields = VCenterForm.base_fields
    rows = [(fields["url"].label, _shown(vcenter.url))]
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


@page(get=READ_SETTINGS, post=MANAGE_SETTINGS)
def settings_page(request):
    vcenter = TenantVCenter.objects.restrict(request.user, Action.VIEW).first()
    warnings = vcenter_warnings(vcenter) if vcenter else []
    if not MANAGE_SETTINGS.allows(request.user):
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
    done = Submitted()
    if which == "vcenter":
        done = submit(request, lambda: services.vcenter_update(actor=request.user, data=vcenter_form.changes(vcenter)),
                      form=vcenter_form, success="vCenter connection saved.", to="ui:settings")
    elif which == "aws":
        done = submit(request, lambda: services.aws_account_update(actor=request.user,
                                                                   data=aws_form.changes(account)),
                      form=aws_form, success="AWS account saved.", to="ui:settings")
    return done.response or render(request, "site/settings.html", {
        "can_manage": True, "vcenter_form": vcenter_form, "aws_form": aws_form, "account": account,
        "warnings": warnings,
    })


@page(post=MANAGE_SETTINGS)
def connection_test(request):
    codes = list(Region.objects.restrict(request.user, Action.VIEW).order_by("code").values_list("code", flat=True))
    checks = connection_checks(tenant=request.user.tenant, region_codes=codes)
    template = "site/_connection_checks.html" if request.htmx else "site/connection_checks_page.html"
    return render(request, template, {"checks": checks})
