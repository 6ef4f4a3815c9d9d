"""Reads for migrations."""

from __future__ import annotations

from django.utils import timezone

from migrations_app.models import MigrationTask
from portal.roles import Action

HISTORY_DAYS = 7


def migration_list(*, fetched_by, since=None):
    """The migrations the user may see, newest first; the last seven days unless `since` says otherwise."""
    since = since or timezone.now() - timezone.timedelta(days=HISTORY_DAYS)
    return MigrationTask.objects.restrict(fetched_by, Action.VIEW).filter(created_at__gte=since).select_related(
        "environment", "region", "created_by", "subnet", "security_group", "key_pair")
