"""Tenant roles and the actions the permission layer understands."""

from django.db import models


class TenantRole(models.TextChoices):
    ADMIN = "admin", "Administrator"
    USER = "user", "User"
    AUDITOR = "auditor", "Auditor"


class Action:
    """What a caller wants to do with the rows it asks for; `restrict()` maps each to a rule."""

    VIEW = "view"  # read
    OPERATE = "operate"  # migrate into / start / stop / launch (environment role "general")
    MANAGE = "manage"  # templates and key pairs (environment role "owner")
    ADMIN = "admin"  # tenant administration: regions, environments, grants, users, exports

    ALL = (VIEW, OPERATE, MANAGE, ADMIN)
