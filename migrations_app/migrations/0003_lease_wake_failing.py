"""The `failing` state (a failed job releases what it held before it is `failed`), and `wake_at` (a waiting job
holds no worker)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('migrations_app', '0002_reconciler_schedule'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='migrationtask',
            name='one_live_migration_per_vm',
        ),
        migrations.AddField(
            model_name='migrationtask',
            name='wake_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='migrationtask',
            name='state',
            field=models.CharField(choices=[('queued', 'Queued'), ('exporting', 'Exporting'), ('uploading', 'Uploading'), ('converting', 'Converting'), ('launching', 'Launching'), ('completed', 'Completed'), ('failing', 'Failing'), ('failed', 'Failed'), ('cancelling', 'Cancelling'), ('cancelled', 'Cancelled')], db_index=True, default='queued', max_length=16),
        ),
        migrations.AddConstraint(
            model_name='migrationtask',
            constraint=models.UniqueConstraint(condition=models.Q(('state__in', ['cancelling', 'converting', 'exporting', 'failing', 'launching', 'queued', 'uploading'])), fields=('tenant', 'vm_moref'), name='one_live_migration_per_vm'),
        ),
    ]
