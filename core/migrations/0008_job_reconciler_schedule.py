"""The job engine's one reconciler runs every minute on whichever cluster picks it up (django-q2 schedule); it
replaces the three per-app reconcilers, whose schedules the apps' own migrations remove."""

from django.db import migrations


def create(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(name="job-reconciler", defaults={
        "func": "core.jobs.tasks.reconcile", "schedule_type": "I", "minutes": 1, "repeats": -1})


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="job-reconciler").delete()


class Migration(migrations.Migration):
    dependencies = [("portal", "0007_auditlog_action_vocabulary"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create, remove)]
