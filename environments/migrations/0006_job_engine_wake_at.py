"""Backups and launches run on the job engine (portal.core.jobs): waits without a worker (wake_at); the engine's
reconciler replaces this app's, and the retention pass it ran gets a schedule of its own."""

from django.db import migrations, models


def forwards(apps, schema_editor):
    schedule = apps.get_model("django_q", "Schedule")
    schedule.objects.filter(name="environment-jobs-reconciler").delete()
    schedule.objects.update_or_create(name="backup-retention", defaults={
        "func": "environments.tasks.backup_retention_sweep", "schedule_type": "I", "minutes": 1, "repeats": -1})


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="backup-retention").delete()


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
        migrations.RunPython(forwards, backwards),
    ]
