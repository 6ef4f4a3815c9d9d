"""Backups and launches move to the `lifecycle` app: they leave this app's state only; their tables stay, and
lifecycle's first migration takes them over and renames them."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('environments', '0006_job_engine_wake_at'),
    ]

    operations = [migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[
        migrations.RemoveField(
            model_name='backuptask',
            name='created_by',
        ),
        migrations.RemoveField(
            model_name='backuptask',
            name='environment',
        ),
        migrations.RemoveField(
            model_name='backuptask',
            name='instance',
        ),
        migrations.RemoveField(
            model_name='backuptask',
            name='schedule',
        ),
        migrations.RemoveField(
            model_name='backuptask',
            name='tenant',
        ),
        migrations.RemoveField(
            model_name='launchtask',
            name='created_by',
        ),
        migrations.RemoveField(
            model_name='launchtask',
            name='environment',
        ),
        migrations.RemoveField(
            model_name='launchtask',
            name='launched_instance',
        ),
        migrations.RemoveField(
            model_name='launchtask',
            name='template',
        ),
        migrations.RemoveField(
            model_name='launchtask',
            name='tenant',
        ),
        migrations.DeleteModel(
            name='BackupSchedule',
        ),
        migrations.DeleteModel(
            name='BackupTask',
        ),
        migrations.DeleteModel(
            name='LaunchTask',
        ),
    ])]
