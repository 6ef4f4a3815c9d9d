"""The migrate page and the migrations panel of the environment page. Same services, selectors and rules as the
API; errors are shown beside the fields they concern."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render

from environments.models import Environment
from migrations_app import selectors, services
from migrations_app.ui.forms import MigrateForm
from portal.core.errors import SHOWN_ERRORS, Conflict, UpstreamError
from portal.core.forms import add_service_error
from portal.core.roles import Action


@login_required
def migrate(request, pk):
    """The migrate form: the portal issues the token and hands the request to the connector in one step."""
    environment = Environment.objects.restrict(request.user, Action.OPERATE).select_related("region").filter(
        pk=pk).first()
    if environment is None:
        raise Http404()
    vms, problem = [], None
    try:
        vms = selectors.vcenter_vm_list(tenant=request.user.tenant)
    except (UpstreamError, Conflict) as exc:
        problem = exc.message
    form = MigrateForm(request.POST or None, environment=environment, vms=vms)
    if request.method == "POST" and form.is_valid():
        try:
            task = services.migration_start(actor=request.user, target=form.target())
        except SHOWN_ERRORS as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Migration {task.pk} of {task.vm_name}: {task.get_state_display()}.")
            return redirect("ui:environment", pk=environment.pk)
    return render(request, "migrations_app/migrate.html", {"environment": environment, "form": form,
                                                            "problem": problem})


def environment_migrations_panel(request, environment):
    """The VM-to-EC2 Migrations section of the environment page (last seven days)."""
    migrations = list(selectors.migration_list(fetched_by=request.user).filter(environment=environment)[:200])
    return "migrations_app/_environment_migrations.html", {
        "migrations": migrations,
        "can_migrate": Environment.objects.restrict(request.user, Action.OPERATE).filter(pk=environment.pk).exists(),
        "migrations_running": any(not m.is_terminal for m in migrations),
    }
