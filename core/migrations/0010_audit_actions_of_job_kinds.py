"""The audit vocabulary reads the job kinds' states from their registry: a callable, so a new kind needs no migration
(no database change)."""

from django.db import migrations, models

import core.audit_actions


class Migration(migrations.Migration):

    dependencies = [
        ('portal', '0009_python_paths_of_core'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditlog',
            name='action',
            field=models.CharField(choices=core.audit_actions.action_choices, db_index=True, max_length=100),
        ),
    ]
