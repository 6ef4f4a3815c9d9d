"""Backups and launches run on the job engine (core.jobs): waits without a worker (wake_at); the engine's
reconciler replaces this app's (the retention pass it also ran gets its own schedule in lifecycle 0001)."""

from django.db import migrations, models


def forwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="environment-jobs-reconciler").delete()


class Migration(migrations.Migration):

    dependencies = [
        ('portal', '0008_job_reconciler_schedule'),
        ('environments', '0005_jobs_reconciler_schedule'),
    ]

    operations = [
        migrations.AddField(
            model_name='backuptask',
            name='wake_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='launchtask',
            name='wake_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
