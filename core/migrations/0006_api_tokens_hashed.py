"""API tokens move from DRF's authtoken (the key in clear) to django-rest-knox (a SHA-512 digest and a 15-character
clear prefix): each existing token keeps working, with the expiry it had (issued + API_TOKEN_LIFETIME_HOURS), and
no clear key is left in the database."""

from datetime import timedelta

from django.conf import settings
from django.db import migrations

KNOX_TOKEN_KEY_LENGTH = 15  # knox.settings.CONSTANTS.TOKEN_KEY_LENGTH


def move_tokens(apps, schema_editor):
    from knox.crypto import hash_token

    Token = apps.get_model("authtoken", "Token")
    AuthToken = apps.get_model("knox", "AuthToken")
    lifetime = timedelta(hours=settings.API_TOKEN_LIFETIME_HOURS)
    for old in Token.objects.all().iterator():
        digest = hash_token(old.key)
        AuthToken(digest=digest, token_key=old.key[:KNOX_TOKEN_KEY_LENGTH], user_id=old.user_id,
                  expiry=old.created + lifetime).save(force_insert=True)
        # `created` is auto_now_add: set the original issue time afterwards.
        AuthToken.objects.filter(digest=digest).update(created=old.created)
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0005_aws_external_id_generated"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    # Not reversible: the clear keys are gone, by design.
    operations = [migrations.RunPython(move_tokens, migrations.RunPython.noop)]
