"""The export reconciler runs every minute on whichever cluster picks it up (django-q2 schedule)."""

from django.db import migrations


def create(apps, schema_editor):
    schedule = apps.get_model("django_q", "Schedule")
    schedule.objects.update_or_create(name="export-reconciler", defaults={
        "func": "exports.tasks.export_reconcile", "schedule_type": "I", "minutes": 1, "repeats": -1})


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="export-reconciler").delete()


class Migration(migrations.Migration):
    dependencies = [("exports", "0001_initial"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create, remove)]
