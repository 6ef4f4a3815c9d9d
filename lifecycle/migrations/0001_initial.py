"""Backups and launches move from `environments` into this app: the models enter this app's state over their
existing tables (no data is copied), then the tables take this app's names. Content types, and the django-q2
schedules that name the old task paths, follow."""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import lifecycle.backups.cron

MOVED = ("backupschedule", "backuptask", "launchtask")


def follow(apps, schema_editor):
    apps.get_model("contenttypes", "ContentType").objects.filter(app_label="environments", model__in=MOVED).update(
        app_label="lifecycle")
    schedule = apps.get_model("django_q", "Schedule")
    schedule.objects.filter(func="environments.tasks.backup_schedule_fire").update(
        func="lifecycle.tasks.backup_schedule_fire")
    schedule.objects.update_or_create(name="backup-retention", defaults={
        "func": "lifecycle.tasks.backup_retention_sweep", "schedule_type": "I", "minutes": 1, "repeats": -1})


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('django_q', '0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more'),
        ('environments', '0007_backups_and_launches_leave'),
        ('portal', '0008_job_reconciler_schedule'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
        migrations.CreateModel(
            name='BackupSchedule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('cron', models.CharField(help_text='Five cron fields, in UTC.', max_length=100, validators=[lifecycle.backups.cron.validate_cron])),
                ('keep_last', models.PositiveSmallIntegerField(default=7, help_text="How many of this schedule's images to keep; older ones are deleted with their snapshots.", validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(100)])),
                ('reboot', models.BooleanField(default=False, help_text='Reboot the instance for a consistent image.')),
                ('enabled', models.BooleanField(default=True)),
                ('last_fired_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('created_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('environment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='backup_schedules', to='environments.environment')),
                ('instance', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='backup_schedules', to='environments.importedinstance')),
                ('q_schedule', models.OneToOneField(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='django_q.schedule')),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='portal.tenant')),
            ],
            options={
                'db_table': 'environments_backupschedule',
                'ordering': ['instance_id', 'id'],
            },
        ),
        migrations.CreateModel(
            name='BackupTask',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('step', models.CharField(blank=True, max_length=100)),
                ('status_message', models.CharField(blank=True, max_length=1000)),
                ('error_code', models.CharField(blank=True, max_length=100)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('lease_owner', models.CharField(blank=True, max_length=200)),
                ('lease_epoch', models.PositiveIntegerField(default=0)),
                ('lease_expires_at', models.DateTimeField(blank=True, null=True)),
                ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('wake_at', models.DateTimeField(blank=True, null=True)),
                ('state', models.CharField(choices=[('queued', 'Queued'), ('creating', 'Creating the image'), ('available', 'Available'), ('failed', 'Failed'), ('cancelling', 'Cancelling'), ('cancelled', 'Cancelled'), ('deleting', 'Deleting (retention)'), ('deleted', 'Deleted')], db_index=True, default='queued', max_length=16)),
                ('reboot', models.BooleanField(default=False)),
                ('client_token', models.CharField(max_length=64, unique=True)),
                ('image_name', models.CharField(max_length=128)),
                ('image_id', models.CharField(blank=True, max_length=32)),
                ('image_state', models.CharField(blank=True, max_length=32)),
                ('snapshot_ids', models.JSONField(blank=True, default=list)),
                ('progress', models.PositiveSmallIntegerField(default=0)),
                ('created_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('environment', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='backups', to='environments.environment')),
                ('instance', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='backups', to='environments.importedinstance')),
                ('schedule', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='backups', to='lifecycle.backupschedule')),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='portal.tenant')),
            ],
            options={
                'db_table': 'environments_backuptask',
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['tenant', '-created_at'], name='backup_history_idx'), models.Index(fields=['schedule', 'state'], name='backup_retention_idx')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('state__in', ['cancelling', 'creating', 'queued'])), fields=('instance',), name='one_live_backup_per_instance', violation_error_code='unique', violation_error_message='A backup of this instance is already running.')],
            },
        ),
        migrations.CreateModel(
            name='LaunchTask',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('step', models.CharField(blank=True, max_length=100)),
                ('status_message', models.CharField(blank=True, max_length=1000)),
                ('error_code', models.CharField(blank=True, max_length=100)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('lease_owner', models.CharField(blank=True, max_length=200)),
                ('lease_epoch', models.PositiveIntegerField(default=0)),
                ('lease_expires_at', models.DateTimeField(blank=True, null=True)),
                ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('wake_at', models.DateTimeField(blank=True, null=True)),
                ('template_name', models.CharField(max_length=100)),
                ('state', models.CharField(choices=[('queued', 'Queued'), ('launching', 'Launching'), ('completed', 'Completed'), ('failed', 'Failed')], db_index=True, default='queued', max_length=16)),
                ('image_id', models.CharField(max_length=21)),
                ('instance_type', models.CharField(max_length=32)),
                ('subnet_id', models.CharField(max_length=24)),
                ('security_group_id', models.CharField(max_length=24)),
                ('key_name', models.CharField(blank=True, max_length=255)),
                ('idempotency_key', models.CharField(blank=True, max_length=64)),
                ('client_token', models.CharField(max_length=64, unique=True)),
                ('instance_id', models.CharField(blank=True, max_length=32)),
                ('created_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('environment', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='launches', to='environments.environment')),
                ('launched_instance', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='environments.importedinstance')),
                ('template', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='launches', to='environments.template')),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='portal.tenant')),
            ],
            options={
                'db_table': 'environments_launchtask',
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['tenant', '-created_at'], name='launch_history_idx')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('idempotency_key', ''), _negated=True), fields=('tenant', 'idempotency_key'), name='launch_idempotency_key_unique_in_tenant', violation_error_code='unique', violation_error_message='This idempotency key was already used.')],
            },
        ),
        ], database_operations=[]),
        migrations.AlterModelTable(name="backupschedule", table=None),
        migrations.AlterModelTable(name="backuptask", table=None),
        migrations.AlterModelTable(name="launchtask", table=None),
        migrations.RunPython(follow, migrations.RunPython.noop),
    ]
