"""The environment page (tabs: Summary, the feature apps' panels, Instances, Templates, Permissions), the imported
instance page and the administrators' regions and environments pages. Querysets come from `restrict()`, writes
from services, gates from `Need`; auditors get every page administrators get, without the forms."""

from dataclasses import asdict

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django_tables2 import RequestConfig

from core.forms import Submitted, several_forms, submit
from core.models import TenantGroup, User
from core.pages import REFUSED, one, page, rows_it_opens
from core.querysets import Need
from core.roles import Action
from environments import selectors, services
from environments.choices import EnvironmentRole
from environments.models import Environment, EnvironmentUserObjectPermission, ImportedInstance, Region, Template
from environments.ui.forms import EnvironmentForm, GrantForm, PowerForm, RegionForm
from environments.ui.panels import instance_sections, panel, panels
from environments.ui.tables import EnvironmentTable, InstanceTable, TemplateTable

READ = Need(Action.VIEW)
MANAGE_GRANTS = Need(Action.ADMIN, of=Environment)
MANAGE_ENVIRONMENTS = MANAGE_GRANTS
READ_GRANTS = Need(Action.VIEW, of=EnvironmentUserObjectPermission)
# Administrators and auditors: the tenant's set-up pages, which auditors read without their forms.
READ_SETUP = READ_GRANTS
OPERATE_INSTANCES = Need(Action.OPERATE, of=ImportedInstance)
PAGE_SIZE = 25
WITH_REGION = ("region",)
INSTANCE_RELATED = ("environment__region", "tenant")


def environment_tabs(request, environment, active):
    """The environment page's tabs; a panel's tab links to its own URL."""
    pk = environment.pk
    tabs = [("summary", "Summary", reverse("ui:environment", args=[pk]))]
    tabs += [(p.key, p.label or p.key, reverse("ui:environment-panel", args=[pk, p.key])) for p in panels()
             if p.need is None or p.need.allows(request.user)]
    tabs += [("instances", "Instances", reverse("ui:environment-instances", args=[pk])),
             ("templates", "Templates", reverse("ui:environment-templates", args=[pk]))]
    if READ_GRANTS.allows(request.user):
        tabs.append(("permissions", "Permissions", reverse("ui:environment-permissions", args=[pk])))
    return [{"key": key, "label": label, "url": url, "active": key == active} for key, label, url in tabs]


def _render_tab(request, environment, active, template, context):
    return render(request, template, {
        "environment": environment, "tabs": environment_tabs(request, environment, active),
        "tree": selectors.environment_tree(fetched_by=request.user, current=environment), "active_tab": active, **context})


@page(get=READ, row=Environment, related=WITH_REGION)
def environment_detail(request, environment):
    return _render_tab(request, environment, "summary", "environments/environment_detail.html", {
        "subnets": list(environment.subnets.all()),
        "security_groups": list(environment.security_groups.all()),
        "key_pairs": list(environment.key_pairs.all()),
        "can_manage": MANAGE_ENVIRONMENTS.allows(request.user),
    })


@page(get=READ, row=Environment, related=WITH_REGION)
def environment_panel(request, environment, key):
    found = panel(key)
    if found is None:
        raise Http404()
    if found.need is not None and not found.need.allows(request.user):
        raise PermissionDenied(REFUSED)
    rendered = found.render(request, environment)
    if rendered is None:
        raise Http404()
    template, context = rendered
    return _render_tab(request, environment, key, "environments/environment_panel.html",
                       {"panel_template": template, "panel": context, "panel_label": found.label})


@page(get=READ, row=Environment, related=WITH_REGION)
def environment_instances(request, environment):
    table = InstanceTable(ImportedInstance.objects.restrict(request.user, Action.VIEW).filter(
        environment=environment).order_by("instance_id"))
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    return _render_tab(request, environment, "instances", "environments/environment_table.html",
                       {"table": table, "heading": "Imported instances"})


@page(get=READ, row=Environment, related=WITH_REGION)
def environment_templates(request, environment):
    can_manage = Environment.objects.restrict(request.user, Action.MANAGE).filter(pk=environment.pk).exists()
    templates = Template.objects.restrict(request.user, Action.VIEW).filter(environment=environment)
    # The launch page's own gate decides which templates show a Launch button.
    launchable = set(rows_it_opens(request.user, "ui:template-launch", templates).values_list("pk", flat=True))
    table = TemplateTable(templates.select_related("subnet", "security_group").order_by("name"),
                          launchable=launchable,
                          exclude=(() if can_manage else ("actions",)) + (() if launchable else ("launch",)))
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    return _render_tab(request, environment, "templates", "environments/environment_table.html",
                       {"table": table, "heading": "Templates", "launches_link": True,
                        "new_url": reverse("ui:template-create", args=[environment.pk]) if can_manage else None,
                        "new_label": "New template"})


@page(get=READ_GRANTS, post=MANAGE_GRANTS, row=Environment, related=WITH_REGION)
def environment_permissions(request, environment):
    """The grants, each with its own role change and Revoke for administrators (auditors read them); the form
    below grants a new one. A row's role change posts the same form, its principal fixed."""
    can_manage = MANAGE_GRANTS.allows(request.user)
    # A new grant starts at the least role that grants anything, not at "No access".
    form = GrantForm(request.POST or None, actor=request.user,
                     initial={"role": EnvironmentRole.READ_ONLY}) if can_manage else None
    done = submit(request, lambda: services.environment_grant(
        actor=request.user, environment=environment, principal=form.cleaned_principal(),
        role=form.cleaned_data["role"]), form=form, success=lambda role: _granted_message(form, role),
        to=reverse("ui:environment-permissions", args=[environment.pk]))
    return done.response or _render_tab(
        request, environment, "permissions", "environments/environment_permissions.html",
        {"grants": _labelled(selectors.environment_grants(environment=environment)), "form": form,
         "can_manage": can_manage,
         "row_roles": [c for c in EnvironmentRole.choices if c[0] != EnvironmentRole.NO_ACCESS]})


def _labelled(grants) -> list[dict]:
    return [{**asdict(g), "role_label": EnvironmentRole(g.role).label} for g in grants]


def _granted_message(form, role) -> str:
    who = dict(form.fields["principal"].choices).get(form.cleaned_data["principal"], "")
    if role == EnvironmentRole.NO_ACCESS:
        return f"Permission saved. {who} has no access any more."
    return f"Permission saved. {who} is now {EnvironmentRole(role).label}."


@page(get=MANAGE_GRANTS, post=MANAGE_GRANTS, row=Environment, related=WITH_REGION)
def environment_grant_revoke(request, environment, kind, principal):
    """Revoking one grant asks first, naming who loses access to what."""
    grant = next((g for g in selectors.environment_grants(environment=environment)
                  if g.principal_type == kind and g.principal_id == principal), None)
    if grant is None:
        raise Http404()
    model = User if kind == "user" else TenantGroup
    who = one(model.objects.restrict(request.user, Action.ADMIN), principal)
    name = f"{kind} {grant.principal_name}"
    where = f"{environment.region.code} / {environment.name}"
    back = reverse("ui:environment-permissions", args=[environment.pk])
    done = submit(request, lambda: services.environment_revoke(actor=request.user, environment=environment,
                                                               principal=who),
                  success=f"The {name} has no access to {where} any more.", to=back)
    return done.response or _render_tab(request, environment, "permissions", "environments/revoke_confirm.html", {
        "grant": _labelled([grant])[0], "name": name, "where": where, "back": back, "error": done.error})


#
# Imported instances
#


@page(get=READ, row=ImportedInstance, related=INSTANCE_RELATED)
def instance_detail(request, instance):
    can_power = OPERATE_INSTANCES.allows(request.user) and ImportedInstance.objects.restrict(
        request.user, Action.OPERATE).filter(pk=instance.pk).exists()
    rendered = [r for r in (s.render(request, instance) for s in instance_sections()) if r is not None]
    return render(request, "environments/instance_detail.html", {
        "instance": instance, "environment": instance.environment,
        "live": selectors.instance_live_state(instance=instance),
        "tree": selectors.environment_tree(fetched_by=request.user, current=instance.environment),
        "power_form": PowerForm() if can_power else None,
        "sections": [{"template": template, **context} for template, context in rendered],
    })


@page(post=OPERATE_INSTANCES, row=ImportedInstance, related=INSTANCE_RELATED)
def instance_power(request, instance):
    form = PowerForm(request.POST)
    # Success or not, back to the instance page: what went wrong is told there, as messages.
    submit(request, lambda: services.instance_power(actor=request.user, instance=instance,
                                                    action=form.cleaned_data["action"]), form=form,
           success=lambda powered: f"{form.cleaned_data['action'].title()} sent to {powered.instance_id}: "
                                   f"now {powered.state}.")
    for error in form.errors.get("__all__", []) + form.errors.get("action", []):
        messages.error(request, error)
    return redirect("ui:instance", pk=instance.pk)


#
# Regions and environments (administrators; auditors read)
#


@page(get=READ_SETUP, post=MANAGE_ENVIRONMENTS)
def regions(request):
    can_manage = MANAGE_ENVIRONMENTS.allows(request.user)
    which, forms = several_forms(request, allowed=can_manage, region=RegionForm, environment=lambda data, prefix:
                                 EnvironmentForm(data, actor=request.user, prefix=prefix))
    region_form, environment_form = forms["region"], forms["environment"]
    done = Submitted()
    if which == "region":
        done = submit(request, lambda: services.region_create(actor=request.user, code=region_form.cleaned_data["code"],
                                                              name=region_form.cleaned_data["name"]),
                      form=region_form, to="ui:regions",
                      success=lambda region: f"Region {region.code} created with its default environment.")
    elif which == "environment":
        def create():
            data = environment_form.cleaned_data
            return services.environment_create(
                actor=request.user, region=environment_form.chosen_region(request.user), name=data["name"],
                vpc_id=data["vpc_id"], description=data["description"])

        done = submit(request, create, form=environment_form,
                      success=lambda environment: f"Environment {environment.name} created. Sync it to load its VPC.",
                      to=lambda environment: reverse("ui:environment", args=[environment.pk]))
    if done.response:
        return done.response
    environment_table = EnvironmentTable(Environment.objects.restrict(request.user, Action.VIEW).select_related(
        "region").order_by("region__code", "name"), prefix="e-")
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(environment_table)
    return render(request, "environments/regions.html", {
        "regions": Region.objects.restrict(request.user, Action.VIEW).order_by("code"),
        "environment_table": environment_table, "region_form": region_form,
        "environment_form": environment_form, "can_manage": can_manage,
        "tree": selectors.environment_tree(fetched_by=request.user),
    })


def confirm_delete(request, delete, *, what: str, consequence: str, success: str, to, cancel_url: str):
    """A delete page: GET asks (saying what goes with it), POST deletes; a refusal is told on the same page."""
    done = submit(request, delete, success=success, to=to)
    return done.response or render(request, "environments/confirm_delete.html", {
        "what": what, "error": done.error, "cancel_url": cancel_url, "consequence": consequence})


@page(get=MANAGE_ENVIRONMENTS, post=MANAGE_ENVIRONMENTS, row=Region)
def region_delete(request, region):
    return confirm_delete(
        request, lambda: services.region_delete(actor=request.user, region=region), what=f"region {region.code}",
        success=f"Region {region.code} deleted.", to="ui:regions", cancel_url=reverse("ui:regions"),
        consequence="Its environments, their grants and synced VPC resources are deleted with it.")


@page(get=MANAGE_ENVIRONMENTS, post=MANAGE_ENVIRONMENTS, row=Environment, related=WITH_REGION)
def environment_edit(request, environment):
    initial = {"name": environment.name, "vpc_id": environment.vpc_id, "description": environment.description}
    form = EnvironmentForm(request.POST or None, initial=initial, actor=request.user, environment=environment)

    def save():
        changes = {k: v for k, v in form.cleaned_data.items() if getattr(environment, k) != v}
        return services.environment_update(actor=request.user, environment=environment, data=changes)

    done = submit(request, save, form=form, success="Environment saved.",
                  to=reverse("ui:environment", args=[environment.pk]))
    return done.response or _render_tab(request, environment, "summary", "environments/environment_edit.html",
                                        {"form": form})


@page(get=MANAGE_ENVIRONMENTS, post=MANAGE_ENVIRONMENTS, row=Environment, related=WITH_REGION)
def environment_delete(request, environment):
    return confirm_delete(
        request, lambda: services.environment_delete(actor=request.user, environment=environment),
        what=f"environment {environment.region.code} / {environment.name}",
        success=f"Environment {environment.name} deleted.", to="ui:regions",
        cancel_url=reverse("ui:environment", args=[environment.pk]),
        consequence="Its grants and synced VPC resources are deleted with it; AWS is not touched.")


@page(post=MANAGE_ENVIRONMENTS, row=Environment, related=WITH_REGION)
def environment_sync(request, environment):
    done = submit(request, lambda: services.environment_sync(actor=request.user, environment=environment),
                  success=lambda _: f"Synced from AWS: {environment.subnets.count()} subnets, "
                                    f"{environment.security_groups.count()} security groups, "
                                    f"{environment.key_pairs.count()} key pairs.")
    if done.error:
        messages.error(request, f"Sync failed: {done.error}")
    return redirect("ui:environment", pk=environment.pk)
