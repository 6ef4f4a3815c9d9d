"""The per-tenant connector clusters are removed (every tick runs on the shared workers): their rows go, the ticks
and wake-ups queued for them are handed to the shared cluster, the heartbeat schedules stop, and the shared
cluster's row stays, to become the platform's capacity pool row in 0005. Data only, apart from 0005's schema
change, so that PostgreSQL never alters a table with pending trigger events (deleted rows' foreign keys)."""

from django.conf import settings
from django.db import migrations

HEARTBEAT_FUNC = "core.connectors.tasks.connector_heartbeat"


def forwards(apps, schema_editor):
    Connector = apps.get_model("connectors", "Connector")
    Schedule = apps.get_model("django_q", "Schedule")
    OrmQ = apps.get_model("django_q", "OrmQ")
    names = list(Connector.objects.filter(tenant__isnull=False).values_list("name", flat=True))
    if names:
        # Ticks queued for a connector cluster (ORM broker) and wake-ups its scheduler would have fired go to the
        # shared workers; with Redis the reconciler restarts those jobs once they have been quiet for a lease.
        OrmQ.objects.filter(key__in=names).update(key=settings.Q_CLUSTER.get("name", "default"))
        Schedule.objects.filter(cluster__in=names).update(cluster=None)
    Schedule.objects.filter(func=HEARTBEAT_FUNC).delete()
    Connector.objects.filter(tenant__isnull=False).delete()
    Connector.objects.get_or_create(tenant=None, name="")


class Migration(migrations.Migration):
    dependencies = [("connectors", "0003_agents"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
