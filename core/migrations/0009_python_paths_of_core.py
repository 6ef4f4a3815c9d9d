"""The core and the adapters left the `portal` package for top-level packages of their own (`core`, `adapters`):
django-q2 schedules that name a function of the core by its old path now name the new one."""

from django.db import migrations
from django.db.models import F, Value
from django.db.models.functions import Replace


def forwards(apps, schema_editor):
    schedule = apps.get_model("django_q", "Schedule")
    schedule.objects.filter(func__startswith="portal.core.").update(
        func=Replace(F("func"), Value("portal.core."), Value("core.")))


def backwards(apps, schema_editor):
    schedule = apps.get_model("django_q", "Schedule")
    schedule.objects.filter(func__startswith="core.").update(
        func=Replace(F("func"), Value("core."), Value("portal.core.")))


class Migration(migrations.Migration):
    dependencies = [("portal", "0008_job_reconciler_schedule"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(forwards, backwards)]
