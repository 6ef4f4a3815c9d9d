"""The environment page (tabs: Summary, the feature apps' panels, Instances, Templates, Permissions), the imported
instance page and the administrators' regions and environments pages. Querysets come from `restrict()`, writes
from services, gates from `Need`; auditors get every page administrators get, without the forms."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_tables2 import RequestConfig

from environments import selectors, services
from environments.models import Environment, EnvironmentUserObjectPermission, ImportedInstance, Region, Template
from environments.ui.forms import EnvironmentForm, GrantForm, PowerForm, RegionForm
from environments.ui.panels import instance_sections, panel, panels
from environments.ui.tables import EnvironmentTable, InstanceTable, TemplateTable
from portal.core.errors import SHOWN_ERRORS, error_items
from portal.core.forms import add_service_error
from portal.core.querysets import Need
from portal.core.roles import Action

MANAGE_GRANTS = Need(Action.ADMIN, of=Environment)
MANAGE_ENVIRONMENTS = MANAGE_GRANTS
READ_GRANTS = Need(Action.VIEW, of=EnvironmentUserObjectPermission)
# Administrators and auditors: the tenant's set-up pages, which auditors read without their forms.
READ_SETUP = READ_GRANTS
OPERATE_INSTANCES = Need(Action.OPERATE, of=ImportedInstance)
PAGE_SIZE = 25


def _message(exc) -> str:
    return " ".join(message for _, message in error_items(exc))


def _environment(request, pk, action=Action.VIEW):
    environment = Environment.objects.restrict(request.user, action).select_related("region").filter(pk=pk).first()
    if environment is None:
        raise Http404()
    return environment


def environment_tabs(request, environment, active):
    """The environment page's tabs; a panel's tab links to its own URL."""
    pk = environment.pk
    tabs = [("summary", "Summary", reverse("ui:environment", args=[pk]))]
    tabs += [(p.key, p.label or p.key, reverse("ui:environment-panel", args=[pk, p.key])) for p in panels()]
    tabs += [("instances", "Instances", reverse("ui:environment-instances", args=[pk])),
             ("templates", "Templates", reverse("ui:environment-templates", args=[pk]))]
    if READ_GRANTS.allows(request.user):
        tabs.append(("permissions", "Permissions", reverse("ui:environment-permissions", args=[pk])))
    return [{"key": key, "label": label, "url": url, "active": key == active} for key, label, url in tabs]


def _render_tab(request, environment, active, template, context):
    return render(request, template, {
        "environment": environment, "tabs": environment_tabs(request, environment, active),
        "tree": selectors.environment_tree(fetched_by=request.user), "active_tab": active, **context})


@login_required
def environment_detail(request, pk):
    environment = _environment(request, pk)
    return _render_tab(request, environment, "summary", "environments/environment_detail.html", {
        "subnets": list(environment.subnets.all()),
        "security_groups": list(environment.security_groups.all()),
        "key_pairs": list(environment.key_pairs.all()),
        "can_manage": MANAGE_ENVIRONMENTS.allows(request.user),
    })


@login_required
def environment_panel(request, pk, key):
    environment = _environment(request, pk)
    found = panel(key)
    rendered = found.render(request, environment) if found else None
    if rendered is None:
        raise Http404()
    template, context = rendered
    return _render_tab(request, environment, key, "environments/environment_panel.html",
                       {"panel_template": template, "panel": context, "panel_label": found.label})


@login_required
def environment_instances(request, pk):
    environment = _environment(request, pk)
    table = InstanceTable(ImportedInstance.objects.restrict(request.user, Action.VIEW).filter(
        environment=environment).order_by("instance_id"))
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    return _render_tab(request, environment, "instances", "environments/environment_table.html",
                       {"table": table, "heading": "Imported instances"})


@login_required
def environment_templates(request, pk):
    environment = _environment(request, pk)
    can_manage = Environment.objects.restrict(request.user, Action.MANAGE).filter(pk=environment.pk).exists()
    table = TemplateTable(Template.objects.restrict(request.user, Action.VIEW).filter(
        environment=environment).select_related("subnet", "security_group").order_by("name"),
        exclude=() if can_manage else ("actions",))
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    return _render_tab(request, environment, "templates", "environments/environment_table.html",
                       {"table": table, "heading": "Templates", "launches_link": True,
                        "new_url": reverse("ui:template-create", args=[environment.pk]) if can_manage else None,
                        "new_label": "New template"})


@login_required
def environment_permissions(request, pk):
    if not READ_GRANTS.allows(request.user):
        raise Http404()
    environment = _environment(request, pk)
    form = GrantForm(request.POST or None, actor=request.user) if MANAGE_GRANTS.allows(request.user) else None
    if request.method == "POST":
        if form is None:
            raise Http404()
        if form.is_valid():
            try:
                services.environment_grant(actor=request.user, environment=environment,
                                           principal=form.cleaned_principal(), role=form.cleaned_data["role"])
            except SHOWN_ERRORS as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, "Permission saved.")
                return redirect("ui:environment-permissions", pk=environment.pk)
    return _render_tab(request, environment, "permissions", "environments/environment_permissions.html", {
        "grants": selectors.environment_grants(environment=environment), "form": form})


#
# Imported instances
#


def _instance(request, pk, action=Action.VIEW):
    instance = ImportedInstance.objects.restrict(request.user, action).select_related(
        "environment__region", "tenant").filter(pk=pk).first()
    if instance is None:
        raise Http404()
    return instance


@login_required
def instance_detail(request, pk):
    instance = _instance(request, pk)
    can_power = OPERATE_INSTANCES.allows(request.user) and ImportedInstance.objects.restrict(
        request.user, Action.OPERATE).filter(pk=pk).exists()
    rendered = [r for r in (s.render(request, instance) for s in instance_sections()) if r is not None]
    return render(request, "environments/instance_detail.html", {
        "instance": instance, "environment": instance.environment,
        "live": selectors.instance_live_state(instance=instance),
        "tree": selectors.environment_tree(fetched_by=request.user),
        "power_form": PowerForm() if can_power else None,
        "sections": [{"template": template, **context} for template, context in rendered],
    })


@login_required
@require_POST
def instance_power(request, pk):
    if not OPERATE_INSTANCES.allows(request.user):
        raise Http404()
    instance = _instance(request, pk, Action.OPERATE)
    form = PowerForm(request.POST)
    if form.is_valid():
        try:
            instance = services.instance_power(actor=request.user, instance=instance,
                                               action=form.cleaned_data["action"])
        except SHOWN_ERRORS as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"{form.cleaned_data['action'].title()} sent to {instance.instance_id}: "
                                      f"now {instance.state}.")
            return redirect("ui:instance", pk=instance.pk)
    for error in form.errors.get("__all__", []) + form.errors.get("action", []):
        messages.error(request, error)
    return redirect("ui:instance", pk=instance.pk)


#
# Regions and environments (administrators; auditors read)
#


@login_required
def regions(request):
    if not READ_SETUP.allows(request.user):
        raise Http404()
    can_manage = MANAGE_ENVIRONMENTS.allows(request.user)
    region_form = environment_form = None
    if can_manage:
        region_form = RegionForm(request.POST if request.POST.get("form") == "region" else None, prefix="region")
        environment_form = EnvironmentForm(request.POST if request.POST.get("form") == "environment" else None,
                                           actor=request.user, prefix="environment")
    if request.method == "POST":
        if not can_manage:
            raise Http404()
        if request.POST.get("form") == "region" and region_form.is_valid():
            try:
                region = services.region_create(actor=request.user, code=region_form.cleaned_data["code"],
                                                name=region_form.cleaned_data["name"])
            except SHOWN_ERRORS as exc:
                add_service_error(region_form, exc)
            else:
                messages.success(request, f"Region {region.code} created with its default environment.")
                return redirect("ui:regions")
        elif request.POST.get("form") == "environment" and environment_form.is_valid():
            data = environment_form.cleaned_data
            try:
                environment = services.environment_create(
                    actor=request.user, region=environment_form.chosen_region(request.user), name=data["name"],
                    vpc_id=data["vpc_id"], description=data["description"])
            except SHOWN_ERRORS as exc:
                add_service_error(environment_form, exc)
            else:
                messages.success(request, f"Environment {environment.name} created. Sync it to load its VPC.")
                return redirect("ui:environment", pk=environment.pk)
    environment_table = EnvironmentTable(Environment.objects.restrict(request.user, Action.VIEW).select_related(
        "region").order_by("region__code", "name"), prefix="e-")
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(environment_table)
    return render(request, "environments/regions.html", {
        "regions": Region.objects.restrict(request.user, Action.VIEW).order_by("code"),
        "environment_table": environment_table, "region_form": region_form,
        "environment_form": environment_form, "can_manage": can_manage,
        "tree": selectors.environment_tree(fetched_by=request.user),
    })


@login_required
def region_delete(request, pk):
    if not MANAGE_ENVIRONMENTS.allows(request.user):
        raise Http404()
    region = Region.objects.restrict(request.user, Action.ADMIN).filter(pk=pk).first()
    if region is None:
        raise Http404()
    error = None
    if request.method == "POST":
        try:
            services.region_delete(actor=request.user, region=region)
        except SHOWN_ERRORS as exc:
            error = _message(exc)
        else:
            messages.success(request, f"Region {region.code} deleted.")
            return redirect("ui:regions")
    return render(request, "environments/confirm_delete.html", {
        "what": f"region {region.code}", "error": error, "cancel_url": reverse("ui:regions"),
        "consequence": "Its environments, their grants and synced VPC resources are deleted with it."})


@login_required
def environment_edit(request, pk):
    if not MANAGE_ENVIRONMENTS.allows(request.user):
        raise Http404()
    environment = _environment(request, pk, Action.ADMIN)
    initial = {"name": environment.name, "vpc_id": environment.vpc_id, "description": environment.description}
    form = EnvironmentForm(request.POST or None, initial=initial, actor=request.user, environment=environment)
    if request.method == "POST" and form.is_valid():
        changes = {k: v for k, v in form.cleaned_data.items() if getattr(environment, k) != v}
        try:
            services.environment_update(actor=request.user, environment=environment, data=changes)
        except SHOWN_ERRORS as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Environment saved.")
            return redirect("ui:environment", pk=environment.pk)
    return _render_tab(request, environment, "summary", "environments/environment_edit.html", {"form": form})


@login_required
def environment_delete(request, pk):
    if not MANAGE_ENVIRONMENTS.allows(request.user):
        raise Http404()
    environment = _environment(request, pk, Action.ADMIN)
    error = None
    if request.method == "POST":
        try:
            services.environment_delete(actor=request.user, environment=environment)
        except SHOWN_ERRORS as exc:
            error = _message(exc)
        else:
            messages.success(request, f"Environment {environment.name} deleted.")
            return redirect("ui:regions")
    return render(request, "environments/confirm_delete.html", {
        "what": f"environment {environment.region.code} / {environment.name}", "error": error,
        "cancel_url": reverse("ui:environment", args=[environment.pk]),
        "consequence": "Its grants and synced VPC resources are deleted with it; AWS is not touched."})


@login_required
@require_POST
def environment_sync(request, pk):
    if not MANAGE_ENVIRONMENTS.allows(request.user):
        raise Http404()
    environment = _environment(request, pk, Action.ADMIN)
    try:
        services.environment_sync(actor=request.user, environment=environment)
    except SHOWN_ERRORS as exc:
        messages.error(request, f"Sync failed: {_message(exc)}")
    else:
        messages.success(request, f"Synced from AWS: {environment.subnets.count()} subnets, "
                                  f"{environment.security_groups.count()} security groups, "
                                  f"{environment.key_pairs.count()} key pairs.")
    return redirect("ui:environment", pk=environment.pk)
