"""The orphan sweep runs every hour (django-q2 schedule); what it may remove is at least
ORPHAN_SWEEP_MIN_AGE_SECONDS old, so the interval only bounds how long an orphan outlives that."""

from django.db import migrations


def create(apps, schema_editor):
    schedule = apps.get_model("django_q", "Schedule")
    schedule.objects.update_or_create(name="orphan-sweep", defaults={
        "func": "portal.site.tasks.orphan_sweep", "schedule_type": "H", "repeats": -1})


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="orphan-sweep").delete()


class Migration(migrations.Migration):
    dependencies = [("site", "0001_history_cleanup_schedule")]
    operations = [migrations.RunPython(create, remove)]
