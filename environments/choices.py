"""Per-environment roles, as in the original AWS Management Portal for vCenter."""

from django.db import models

from core.roles import Action


class EnvironmentRole(models.TextChoices):
    NO_ACCESS = "no_access", "No access"
    READ_ONLY = "read_only", "Read-only"
    GENERAL = "general", "General"
    OWNER = "owner", "Owner"


# Each role is the set of guardian permissions it is stored as; a higher role includes the lower ones.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    EnvironmentRole.NO_ACCESS: (),
    EnvironmentRole.READ_ONLY: ("view_environment",),
    EnvironmentRole.GENERAL: ("view_environment", "operate_environment"),
    EnvironmentRole.OWNER: ("view_environment", "operate_environment", "manage_environment"),
}
ENVIRONMENT_PERMISSION_CODENAMES = ROLE_PERMISSIONS[EnvironmentRole.OWNER]


def role_from_permissions(codenames: set[str]) -> str:
    """The highest role whose permissions are all held."""
    for role in (EnvironmentRole.OWNER, EnvironmentRole.GENERAL, EnvironmentRole.READ_ONLY):
        if set(ROLE_PERMISSIONS[role]) <= codenames:
            return role
    return EnvironmentRole.NO_ACCESS


# The guardian permission on an environment that lets a plain user do each action there (restrict()'s user scope).
PERMISSION_FOR_ACTION = {
    Action.VIEW: "view_environment",
    Action.OPERATE: "operate_environment",
    Action.MANAGE: "manage_environment",
}


class InstanceOrigin(models.TextChoices):
    """How the portal came to hold an instance. Only imported ones may be exported to S3 (AWS's rule)."""

    IMPORTED = "imported", "Imported from vCenter"
    LAUNCHED = "launched", "Launched from a template"


class InstanceState(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    SHUTTING_DOWN = "shutting-down"
    TERMINATED = "terminated"
    UNKNOWN = "unknown"
