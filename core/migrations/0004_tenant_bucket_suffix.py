import hashlib

from django.conf import settings
from django.db import migrations, models

import core.models


def keep_existing_bucket_names(apps, schema_editor):
    """Existing tenants keep the suffix their buckets were named with (a hash of the key in force until now), so
    no staging bucket and no vmimport policy changes name; new tenants get a random one."""
    Tenant = apps.get_model("portal", "Tenant")
    for tenant in Tenant.objects.all():
        digest = hashlib.sha1(f"{settings.SECRET_KEY[:8]}:{tenant.pk}:{tenant.slug}".encode()).hexdigest()[:8]
        Tenant.objects.filter(pk=tenant.pk).update(bucket_suffix=digest)


class Migration(migrations.Migration):
    dependencies = [("portal", "0003_tenantvcenter_connector_updating_and_more")]

    operations = [
        migrations.AddField(
            model_name="tenant",
            name="bucket_suffix",
            field=models.CharField(default=core.models.new_bucket_suffix, editable=False, max_length=8),
        ),
        migrations.RunPython(keep_existing_bucket_names, migrations.RunPython.noop),
    ]
