"""The shared cluster's row (the pool lock of every tenant without a connector) and its heartbeat, which runs on
the default cluster (a schedule without `cluster`)."""

from django.db import migrations


def create(apps, schema_editor):
    apps.get_model("connectors", "Connector").objects.get_or_create(tenant=None, name="")
    apps.get_model("django_q", "Schedule").objects.update_or_create(name="connector-heartbeat-shared", defaults={
        "func": "core.connectors.tasks.connector_heartbeat", "schedule_type": "I", "minutes": 1,
        "repeats": -1})


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="connector-heartbeat-shared").delete()
    apps.get_model("connectors", "Connector").objects.filter(tenant=None).delete()


class Migration(migrations.Migration):
    dependencies = [("connectors", "0001_initial"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create, remove)]
