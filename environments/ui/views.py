"""The environment page: its VPC resources, imported instances, grants (administrators and auditors) and the
panels feature apps add. Querysets come from `restrict()`, writes from services, gates from `Need`."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render

from environments import selectors, services
from environments.models import Environment, EnvironmentUserObjectPermission, ImportedInstance
from environments.ui.forms import GrantForm
from environments.ui.panels import panels
from portal.core.errors import SHOWN_ERRORS
from portal.core.forms import add_service_error
from portal.core.querysets import Need
from portal.core.roles import Action

MANAGE_GRANTS = Need(Action.ADMIN, of=Environment)
READ_GRANTS = Need(Action.VIEW, of=EnvironmentUserObjectPermission)


@login_required
def environment_detail(request, pk):
    environment = Environment.objects.restrict(request.user, Action.VIEW).select_related("region").filter(
        pk=pk).first()
    if environment is None:
        raise Http404()
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
                return redirect("ui:environment", pk=environment.pk)
    rendered = [r for r in (panel.render(request, environment) for panel in panels()) if r is not None]
    return render(request, "environments/environment_detail.html", {
        "environment": environment,
        "grants": selectors.environment_grants(environment=environment) if READ_GRANTS.allows(request.user)
        else None,
        "instances": ImportedInstance.objects.restrict(request.user, Action.VIEW).filter(environment=environment),
        "form": form,
        "panels": [{"template": template, **context} for template, context in rendered],
    })
