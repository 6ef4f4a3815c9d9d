from django.db import migrations

import core.fields
import core.models


def generate_external_ids(apps, schema_editor):
    """External ids were the tenant's to type; from now on the portal generates them. Every existing account gets
    a fresh one, which its administrator copies into the role's trust policy (GET /api/v1/settings/aws/)."""
    TenantAwsAccount = apps.get_model("portal", "TenantAwsAccount")
    for account in TenantAwsAccount.objects.all():
        account.external_id = core.models.new_external_id()
        account.save(update_fields=["external_id"])


class Migration(migrations.Migration):
    dependencies = [("portal", "0004_tenant_bucket_suffix")]

    operations = [
        migrations.AlterField(
            model_name="tenantawsaccount",
            name="external_id",
            field=core.fields.EncryptedTextField(default=core.models.new_external_id, editable=False),
        ),
        migrations.RunPython(generate_external_ids, migrations.RunPython.noop),
    ]
