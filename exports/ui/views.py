"""The export pages (configure instance export, export an instance, cancel with confirmation, download) and the
EC2-to-S3 Migrations tab of the environment page with its live rows. Same services, selectors and rules as the API;
errors are shown beside the fields they concern."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django_tables2 import RequestConfig

from core.errors import SHOWN_ERRORS, error_text
from core.forms import add_service_error, submit
from core.pages import back_to, page
from core.querysets import Need
from core.roles import Action
from environments.choices import InstanceOrigin
from environments.models import Environment, ImportedInstance
from exports import selectors, services
from exports.admission import queue_position, queue_positions
from exports.choices import ExportState
from exports.models import ExportBucket, ExportSettings, ExportTask
from exports.ui.forms import ExportCancelForm, ExportConfigureForm, ExportStartForm
from exports.ui.tables import ExportTable

CONFIGURE = Need(Action.ADMIN, of=ExportSettings)
READ_CONFIGURATION = Need(Action.VIEW, of=ExportSettings)
RUN = Need(Action.ADMIN, of=ExportTask)
READ = Need(Action.VIEW, of=ExportTask)
# Starting, cancelling and downloading an export: the API's Need for each (administrators only).
ADMINISTER = Need(Action.ADMIN)
PANEL_KEY = "ec2-to-s3-migrations"
ROWS_PER_PAGE = 25
# An export moves through AWS's phases in minutes: a slower poll than the migrations' would still show each one.
POLL_SECONDS = 3


def _panel_url(environment_id: int) -> str:
    return reverse("ui:environment-panel", args=[environment_id, PANEL_KEY])


def _to_panel(environment_id: int):
    return redirect(_panel_url(environment_id))


@page(get=READ_CONFIGURATION, post=CONFIGURE)
def configure(request):
    """Preview what the name creates, then create it with the administrator's explicit consent."""
    stored = ExportSettings.objects.restrict(request.user, Action.VIEW).first()
    form = ExportConfigureForm(request.POST if request.method == "POST" else None,
                               initial={"name": stored.name if stored else ""})
    name = stored.name if stored else None
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["name"]
        if request.POST.get("action") == "apply":
            done = submit(request, lambda: services.export_configure(actor=request.user, name=name,
                                                                     consent=form.cleaned_data["consent"]),
                          form=form, success=f"Instance export is configured: the buckets of {name} are ready.",
                          to="ui:export-configure")
            if done.response:
                return done.response
    configuration = None
    try:
        configuration = selectors.export_configuration(tenant=request.user.tenant, name=name)
    except ValidationError as exc:
        add_service_error(form, exc)
    return render(request, "exports/configure.html", {"form": form, "stored": stored,
                                                      "can_manage": CONFIGURE.allows(request.user),
                                                      "configuration": configuration})


def _started(task, instance) -> str:
    position = queue_position(task)
    return (f"Export {task.pk} of {instance.instance_id}: {task.get_state_display()}"
            + (f" (queue position {position})." if position else "."))


@page(get=ADMINISTER, post=ADMINISTER, row=ImportedInstance, related=("environment__region",))
def start(request, instance):
    """Export one imported instance to its region's export bucket."""
    form = ExportStartForm(request.POST if request.method == "POST" else None)
    done = submit(request, lambda: services.export_create(actor=request.user, instance=instance,
                                                          s3_prefix=form.cleaned_data["s3_prefix"]),
                  form=form, success=lambda task: _started(task, instance), to=_to_panel(instance.environment_id))
    if done.response:
        return done.response
    bucket = ExportBucket.objects.restrict(request.user, Action.ADMIN).filter(
        region=instance.environment.region).first()
    return render(request, "exports/start.html", {
        "instance": instance, "form": form, "bucket": bucket,
        "back": back_to(request, reverse("ui:instance", args=[instance.pk])),
        "configured": ExportSettings.objects.restrict(request.user, Action.ADMIN).exists(),
        "exportable": instance.origin == InstanceOrigin.IMPORTED,
    })


@page(get=ADMINISTER, post=ADMINISTER, row=ExportTask, related=("environment",))
def cancel(request, task):
    """Cancel Export Task asks first, in words that say what each answer does; both return to the tab the user came
    from (`next`), the EC2-to-S3 tab otherwise."""
    back = back_to(request, _panel_url(task.environment_id))
    form = ExportCancelForm(request.POST if request.method == "POST" else None)
    done = submit(request, lambda: services.export_cancel(actor=request.user, task=task,
                                                          confirm=form.cleaned_data["confirm"]),
                  form=form, success=lambda task: f"Export {task.pk}: {task.get_state_display()}.", to=back)
    return done.response or render(request, "exports/cancel.html", {"task": task, "form": form, "back": back})


@page(get=ADMINISTER, row=ExportTask)
def download(request, task):
    """Hand the browser a fresh time-limited link to the OVA."""
    try:
        link = services.export_download_link(actor=request.user, task=task)
    except SHOWN_ERRORS as exc:
        messages.error(request, error_text(exc))
        return _to_panel(task.environment_id)
    return redirect(link.url)


def _export_table(request, environment):
    """One page of the environment's seven-day exports, sorted and sliced by the database; queue positions and
    the actions are worked out for that page only. The second value: whether a row shown may still change."""
    user = request.user
    can_run = RUN.allows(user)
    table = ExportTable(selectors.export_list(fetched_by=user).filter(environment=environment),
                        exclude=() if can_run else ("actions",))
    RequestConfig(request, paginate={"per_page": ROWS_PER_PAGE}).configure(table)
    rows = list(table.page.object_list.data)  # evaluates the page's slice once; rendering reuses these objects
    positions = queue_positions({e.region_id for e in rows if e.state == ExportState.QUEUED})
    # Cancel and its answers come back to this tab as the user sees it (sort, page), not to the rows' own URL.
    back = _panel_url(environment.pk) + (f"?{request.GET.urlencode()}" if request.GET else "")
    for export in rows:
        export.queue_position = positions.get(export.pk)
        export.can_download = can_run and export.state == ExportState.COMPLETED
        cancellable = can_run and export.state in (ExportState.QUEUED, ExportState.EXPORTING)
        export.cancel_url = (f"{reverse('ui:export-cancel', args=[export.pk])}?{urlencode({'next': back})}"
                             if cancellable else None)
    return table, any(not e.is_terminal for e in rows)


def _rows_context(request, environment) -> dict:
    table, running = _export_table(request, environment)
    return {"table": table, "exports_running": running, "poll_seconds": POLL_SECONDS,
            "rows_url": reverse("ui:export-rows", args=[environment.pk])}


def environment_exports_panel(request, environment):
    """The EC2-to-S3 Migrations tab of the environment page (last seven days), for those who may read it."""
    if not READ.allows(request.user):
        return None
    can_run = RUN.allows(request.user)
    return "exports/_environment_exports.html", {
        **_rows_context(request, environment),
        "can_run": can_run,
        "configured": can_run and selectors.export_configured(fetched_by=request.user),
        "exportable": list(selectors.exportable_instances(fetched_by=request.user, environment=environment))
        if can_run else [],
    }


@page(get=READ, row=Environment)
def export_rows(request, environment):
    """The table alone, for polling: it carries its own trigger while an export is live and none after, so the
    browser stops asking once everything has finished."""
    return render(request, "exports/_export_rows.html", _rows_context(request, environment))


def instance_export_section(request, instance):
    """The imported instance page's row about its latest export, and for administrators the Export to S3 button
    (beside the page's other actions, not in the summary)."""
    if not READ.allows(request.user):
        return None
    latest = ExportTask.objects.restrict(request.user, Action.VIEW).filter(
        ec2_instance_id=instance.instance_id).select_related("created_by").first()
    can_export = RUN.allows(request.user) and instance.origin == InstanceOrigin.IMPORTED
    if latest is None and not can_export:
        return None
    return "exports/_instance_export.html", {"export": latest, "can_export": can_export, "panel_key": PANEL_KEY,
                                             "actions_template": "exports/_instance_export_action.html"}
