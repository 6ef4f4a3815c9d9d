"""Migrations run on the job engine (core.jobs): its reconciler replaces this app's, and pending wake-ups
name the engine's tick."""

import ast

from django.db import migrations


def forwards(apps, schema_editor):
    schedule = apps.get_model("django_q", "Schedule")
    schedule.objects.filter(name="migration-reconciler").delete()
    for wake in schedule.objects.filter(func="migrations_app.tasks.migration_tick"):
        (job_id,) = ast.literal_eval(wake.args)
        wake.func, wake.args = "core.jobs.tasks.job_tick", repr(("migration", int(job_id)))
        wake.save(update_fields=["func", "args"])


class Migration(migrations.Migration):
    dependencies = [("migrations_app", "0006_migration_license_type"), ("portal", "0008_job_reconciler_schedule")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
