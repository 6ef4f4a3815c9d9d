"""The connector clusters' schema goes: ConnectorBeat is dropped, and Connector (by now only the shared cluster's row)
becomes CapacityPool, the singleton row admission locks, named "platform"; its row (and id) is kept."""

import django.core.validators
from django.db import migrations, models


def name(apps, schema_editor):
    apps.get_model("connectors", "Connector").objects.update(name="platform")


def unname(apps, schema_editor):
    # Reversed: the row is the shared cluster's again, which the constraint restored above wants unnamed.
    apps.get_model("connectors", "Connector").objects.update(name="")


class Migration(migrations.Migration):

    dependencies = [
        ('connectors', '0004_drop_connector_clusters'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='connector',
            name='connector_named_unless_shared',
        ),
        migrations.RemoveField(
            model_name='connector',
            name='tenant',
        ),
        # After the constraint and the foreign key are gone: no trigger event is pending on the table.
        migrations.RunPython(name, unname),
        migrations.RemoveField(
            model_name='connector',
            name='updated_at',
        ),
        migrations.AlterField(
            model_name='connector',
            name='name',
            field=models.CharField(max_length=63, unique=True),
        ),
        migrations.AlterModelOptions(
            name='connector',
            options={},
        ),
        migrations.RenameModel(
            old_name='Connector',
            new_name='CapacityPool',
        ),
        migrations.DeleteModel(
            name='ConnectorBeat',
        ),
        migrations.AlterField(
            model_name='agent',
            name='name',
            field=models.CharField(max_length=63, validators=[django.core.validators.RegexValidator(
                '^[a-z0-9][a-z0-9-]{0,62}$', 'Lower-case letters, digits and hyphens.')]),
        ),
    ]
