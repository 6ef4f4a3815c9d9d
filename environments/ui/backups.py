"""Pages for AMI backups and their schedules (per instance), templates made from backups, and launching from
templates. The same services as the API; rows come from `restrict()` (a row the user may not act on is a 404),
and errors are shown beside the form they concern."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from environments import services
from environments.backups import services as backup_services
from environments.backups.choices import BackupState
from environments.backups.models import BackupSchedule, BackupTask
from environments.launches import services as launch_services
from environments.launches.models import LaunchTask
from environments.models import Environment, ImportedInstance, Template
from environments.ui.backup_forms import BackupForm, ScheduleForm, TemplateFromBackupForm
from portal.core.errors import SHOWN_ERRORS, error_text
from portal.core.forms import add_service_error
from portal.core.roles import Action

RECENT = 50


def _row(model, user, action, pk, *related):
    row = model.objects.restrict(user, action).select_related(*related).filter(pk=pk).first()
    if row is None:
        raise Http404()
    return row


def _can(model, user, action, pk) -> bool:
    return model.objects.restrict(user, action).filter(pk=pk).exists()


def _instance_page(request, instance, *, backup_form=None, schedule_form=None, status=200):
    user = request.user
    operate = _can(ImportedInstance, user, Action.OPERATE, instance.pk)
    return render(request, "environments/backups/instance_backups.html", {
        "instance": instance,
        "environment": instance.environment,
        "backups": BackupTask.objects.restrict(user, Action.VIEW).filter(instance=instance).select_related(
            "created_by", "schedule")[:RECENT],
        "schedules": BackupSchedule.objects.restrict(user, Action.VIEW).filter(instance=instance).select_related(
            "q_schedule", "created_by"),
        "can_operate": operate,
        "can_manage": _can(Environment, user, Action.MANAGE, instance.environment_id),
        "cancellable": {BackupState.QUEUED, BackupState.CREATING},
        "available": BackupState.AVAILABLE,
        "backup_form": backup_form or (BackupForm() if operate else None),
        "schedule_form": schedule_form or (ScheduleForm() if operate else None),
    }, status=status)


@login_required
def instance_backups(request, pk):
    """An instance's backups and schedules, with the forms to back it up now and to schedule backups."""
    return _instance_page(request, _row(ImportedInstance, request.user, Action.VIEW, pk, "environment__region"))


@login_required
@require_POST
def instance_backup_start(request, pk):
    instance = _row(ImportedInstance, request.user, Action.OPERATE, pk, "environment__region", "tenant")
    form = BackupForm(request.POST)
    if form.is_valid():
        try:
            task = backup_services.backup_start(actor=request.user, instance=instance,
                                                reboot=form.cleaned_data["reboot"])
        except SHOWN_ERRORS as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Backup {task.pk} of {instance.instance_id} is queued.")
            return redirect("ui:instance-backups", pk=instance.pk)
    return _instance_page(request, instance, backup_form=form, status=400)


@login_required
@require_POST
def instance_schedule_add(request, pk):
    instance = _row(ImportedInstance, request.user, Action.OPERATE, pk, "environment__region", "tenant")
    form = ScheduleForm(request.POST)
    if form.is_valid():
        try:
            schedule = backup_services.backup_schedule_create(actor=request.user, instance=instance,
                                                              data=form.cleaned_data)
        except SHOWN_ERRORS as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Backups of {instance.instance_id} are scheduled ({schedule.cron}, keeping "
                                      f"the last {schedule.keep_last}).")
            return redirect("ui:instance-backups", pk=instance.pk)
    return _instance_page(request, instance, schedule_form=form, status=400)


@login_required
@require_POST
def schedule_delete(request, pk):
    schedule = _row(BackupSchedule, request.user, Action.OPERATE, pk)
    instance_id = schedule.instance_id
    backup_services.backup_schedule_delete(actor=request.user, schedule=schedule)
    messages.success(request, "The schedule was removed; the images it made are kept.")
    return redirect("ui:instance-backups", pk=instance_id)


@login_required
@require_POST
def backup_cancel(request, pk):
    task = _row(BackupTask, request.user, Action.OPERATE, pk)
    task = backup_services.backup_cancel(actor=request.user, task=task)
    messages.success(request, f"Backup {task.pk}: {task.get_state_display()}.")
    return redirect("ui:instance-backups", pk=task.instance_id)


@login_required
def backup_make_template(request, pk):
    """Make a template of the backup's environment from its image (owners)."""
    backup = _row(BackupTask, request.user, Action.MANAGE, pk, "environment__region", "instance")
    form = TemplateFromBackupForm(request.POST or None, actor=request.user, environment=backup.environment,
                                  initial={"name": f"{backup.instance.instance_id}-backup-{backup.pk}",
                                           "instance_type": backup.instance.instance_type})
    if request.method == "POST" and form.is_valid():
        try:
            template = services.template_create_from_backup(actor=request.user, backup=backup,
                                                            data=form.cleaned_data)
        except SHOWN_ERRORS as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Template {template.name} uses image {backup.image_id}.")
            return redirect("ui:environment-launches", pk=backup.environment_id)
    return render(request, "environments/backups/make_template.html", {"backup": backup, "form": form})


@login_required
def environment_launches(request, pk):
    """An environment's templates with their Launch buttons, its recent launches and its instances' backups."""
    environment = _row(Environment, request.user, Action.VIEW, pk, "region")
    return render(request, "environments/backups/environment_launches.html", {
        "environment": environment,
        "templates": Template.objects.restrict(request.user, Action.VIEW).filter(environment=environment)
        .select_related("subnet", "security_group", "key_pair"),
        "launches": LaunchTask.objects.restrict(request.user, Action.VIEW).filter(environment=environment)
        .select_related("created_by")[:RECENT],
        "instances": ImportedInstance.objects.restrict(request.user, Action.VIEW).filter(environment=environment),
        "can_launch": _can(Environment, request.user, Action.OPERATE, environment.pk),
    })


@login_required
def template_launch(request, pk):
    """Confirm, then launch one instance from the template (general role)."""
    template = _row(Template, request.user, Action.OPERATE, pk, "environment__region", "subnet", "security_group",
                    "key_pair")
    error = None
    if request.method == "POST":
        try:
            task, _ = launch_services.template_launch(actor=request.user, template=template)
        except SHOWN_ERRORS as exc:
            error = error_text(exc)
        else:
            messages.success(request, f"Launch {task.pk} from {template.name} is queued; the instance appears "
                                      "under the environment once EC2 has it.")
            return redirect("ui:environment-launches", pk=template.environment_id)
    return render(request, "environments/backups/launch.html", {"template": template, "error": error},
                  status=400 if error else 200)
