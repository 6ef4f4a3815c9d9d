"""Exports run on the job engine (core.jobs): waits without a worker (wake_at), and the engine's reconciler
replaces this app's."""

from django.db import migrations, models


def drop_reconciler(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="export-reconciler").delete()


class Migration(migrations.Migration):

    dependencies = [
        ('exports', '0003_results_tagged'),
        ('portal', '0008_job_reconciler_schedule'),
    ]

    operations = [
        migrations.AddField(
            model_name='exporttask',
            name='wake_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(drop_reconciler, migrations.RunPython.noop),
    ]
