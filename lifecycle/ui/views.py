"""Pages for AMI backups and their schedules (per instance), templates made from backups, and launching from
templates. The same services as the API; rows come from `restrict()` (a row the user may not act on is a 404),
and errors are shown beside the form they concern."""

from django.contrib import messages
from django.shortcuts import redirect, render

from core.errors import error_text
from core.forms import submit
from core.pages import page
from core.querysets import Need
from core.roles import Action
from environments.models import Environment, ImportedInstance, Template
from lifecycle.backups import services as backup_services
from lifecycle.backups.choices import BackupState
from lifecycle.backups.models import BackupSchedule, BackupTask
from lifecycle.launches import services as launch_services
from lifecycle.launches.models import LaunchTask
from lifecycle.ui.forms import BackupForm, ScheduleForm, TemplateFromBackupForm

RECENT = 50
READ = Need(Action.VIEW)
OPERATE = Need(Action.OPERATE)
MANAGE = Need(Action.MANAGE)
INSTANCE_RELATED = ("environment__region", "tenant")


def _can(model, user, action, pk) -> bool:
    return model.objects.restrict(user, action).filter(pk=pk).exists()


def _instance_page(request, instance, *, backup_form=None, schedule_form=None, status=200):
    user = request.user
    operate = _can(ImportedInstance, user, Action.OPERATE, instance.pk)
    return render(request, "lifecycle/instance_backups.html", {
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


@page(get=READ, row=ImportedInstance, related=("environment__region",))
def instance_backups(request, instance):
    """An instance's backups and schedules, with the forms to back it up now and to schedule backups."""
    return _instance_page(request, instance)


def _to_backups(instance):
    return redirect("ui:instance-backups", pk=instance.pk)


@page(post=OPERATE, row=ImportedInstance, related=INSTANCE_RELATED)
def instance_backup_start(request, instance):
    form = BackupForm(request.POST)
    done = submit(request, lambda: backup_services.backup_start(actor=request.user, instance=instance,
                                                                reboot=form.cleaned_data["reboot"]),
                  form=form, success=lambda task: f"Backup {task.pk} of {instance.instance_id} is queued.",
                  to=_to_backups(instance))
    return done.response or _instance_page(request, instance, backup_form=form, status=400)


@page(post=OPERATE, row=ImportedInstance, related=INSTANCE_RELATED)
def instance_schedule_add(request, instance):
    form = ScheduleForm(request.POST)
    done = submit(request, lambda: backup_services.backup_schedule_create(actor=request.user, instance=instance,
                                                                          data=form.cleaned_data),
                  form=form, to=_to_backups(instance),
                  success=lambda schedule: f"Backups of {instance.instance_id} are scheduled ({schedule.cron}, "
                                           f"keeping the last {schedule.keep_last}).")
    return done.response or _instance_page(request, instance, schedule_form=form, status=400)


@page(post=OPERATE, row=BackupSchedule)
def schedule_delete(request, schedule):
    backup_services.backup_schedule_delete(actor=request.user, schedule=schedule)
    messages.success(request, "The schedule was removed; the images it made are kept.")
    return redirect("ui:instance-backups", pk=schedule.instance_id)


@page(post=OPERATE, row=BackupTask)
def backup_cancel(request, task):
    task = backup_services.backup_cancel(actor=request.user, task=task)
    messages.success(request, f"Backup {task.pk}: {task.get_state_display()}.")
    return redirect("ui:instance-backups", pk=task.instance_id)


@page(get=MANAGE, post=MANAGE, row=BackupTask, related=("environment__region", "instance"))
def backup_make_template(request, backup):
    """Make a template of the backup's environment from its image (owners)."""
    form = TemplateFromBackupForm(request.POST or None, actor=request.user, environment=backup.environment,
                                  initial={"name": f"{backup.instance.instance_id}-backup-{backup.pk}",
                                           "instance_type": backup.instance.instance_type})
    done = submit(request, lambda: backup_services.template_create_from_backup(actor=request.user, backup=backup,
                                                                        data=form.cleaned_data),
                  form=form, success=lambda template: f"Template {template.name} uses image {backup.image_id}.",
                  to=_to_launches(backup.environment_id))
    return done.response or render(request, "lifecycle/make_template.html", {"backup": backup, "form": form})


def _to_launches(environment_id):
    return redirect("ui:environment-launches", pk=environment_id)


@page(get=READ, row=Environment, related=("region",))
def environment_launches(request, environment):
    """An environment's templates with their Launch buttons, its recent launches and its instances' backups."""
    return render(request, "lifecycle/environment_launches.html", {
        "environment": environment,
        "templates": Template.objects.restrict(request.user, Action.VIEW).filter(environment=environment)
        .select_related("subnet", "security_group", "key_pair"),
        "launches": LaunchTask.objects.restrict(request.user, Action.VIEW).filter(environment=environment)
        .select_related("created_by")[:RECENT],
        "instances": ImportedInstance.objects.restrict(request.user, Action.VIEW).filter(environment=environment),
        "can_launch": _can(Environment, request.user, Action.OPERATE, environment.pk),
    })


@page(get=OPERATE, post=OPERATE, row=Template,
      related=("environment__region", "subnet", "security_group", "key_pair"))
def template_launch(request, template):
    """Confirm, then launch one instance from the template (general role)."""
    done = submit(request, lambda: launch_services.template_launch(actor=request.user, template=template),
                  success=lambda launched: f"Launch {launched[0].pk} from {template.name} is queued; the "
                                           "instance appears under the environment once EC2 has it.",
                  to=_to_launches(template.environment_id))
    if done.response:
        return done.response
    error = error_text(done.failure) if done.failure else None
    return render(request, "lifecycle/launch.html", {"template": template, "error": error},
                  status=400 if error else 200)
