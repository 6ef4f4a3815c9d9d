"""Every action the audit log records, as one vocabulary: `audit_record` refuses anything else, so filters can offer
the whole list and a typo cannot create an action nobody will ever filter on.

The services' actions are the enumeration below. The job transitions write `<kind>.<state>` for every state of
every job kind: those come from the kinds' registry (core.jobs.kinds), so a new kind or state is in the vocabulary
with its registration, and everything that offers the vocabulary (the model field, the filters, the API schema)
reads `action_choices()`."""

from __future__ import annotations

from django.db import models


class AuditAction(models.TextChoices):
    # Tenancy, users and sign-in
    TENANT_CREATE = "tenant.create", "Organisation created"
    TENANT_UPDATE = "tenant.update", "Organisation changed"
    USER_CREATE = "user.create", "User created"
    USER_UPDATE = "user.update", "User changed"
    GROUP_CREATE = "group.create", "Group created"
    GROUP_UPDATE = "group.update", "Group changed"
    GROUP_DELETE = "group.delete", "Group deleted"
    AUTH_TOKEN = "auth.token", "API token issued"
    AUTH_FAILED = "auth.failed", "Sign-in failed"
    AUTH_FAILED_SUPPRESSED = "auth.failed.suppressed", "Sign-in failures counted, not recorded one by one"
    API_DENIED = "api.denied", "API request refused"
    # Connections to the peers
    AWS_ACCOUNT_CREATE = "aws_account.create", "AWS account set"
    AWS_ACCOUNT_UPDATE = "aws_account.update", "AWS account changed"
    VCENTER_UPDATE = "vcenter.update", "vCenter connection changed"
    # The removed per-tenant connector clusters': nothing records them any more; kept so that their rows read.
    CONNECTOR_CREATE = "connector.create", "Connector registered"
    CONNECTOR_DELETE = "connector.delete", "Connector removed"
    AGENT_CREATE = "agent.create", "Connector agent created (registration code issued)"
    AGENT_REGISTER = "agent.register", "Connector agent registered its key"
    AGENT_ROTATION_REQUEST = "agent.rotation_request", "Connector agent asked to rotate its key"
    AGENT_ROTATE = "agent.rotate", "Connector agent rotated its key"
    AGENT_REVOKE = "agent.revoke", "Connector agent revoked"
    VMIMPORT_ROLE_FIX = "vmimport_role.fix", "vmimport role repaired"
    # Notifications
    WEBHOOK_CREATE = "webhook.create", "Webhook created"
    WEBHOOK_UPDATE = "webhook.update", "Webhook changed"
    WEBHOOK_DELETE = "webhook.delete", "Webhook deleted"
    WEBHOOK_RESEND = "webhook.resend", "Webhook delivery resent"
    NOTIFICATIONS_PREFERENCES = "notifications.preferences", "Notification preferences changed"
    # Housekeeping
    SWEEP_REMOVED = "sweep.removed", "Orphaned resource removed"
    HISTORY_CLEANUP = "history.cleanup", "Old task history removed"
    # Regions, environments, templates, instances
    REGION_CREATE = "region.create", "Region added"
    REGION_DELETE = "region.delete", "Region removed"
    ENVIRONMENT_CREATE = "environment.create", "Environment created"
    ENVIRONMENT_UPDATE = "environment.update", "Environment changed"
    ENVIRONMENT_DELETE = "environment.delete", "Environment deleted"
    ENVIRONMENT_SYNC = "environment.sync", "Environment synchronised"
    ENVIRONMENT_GRANT = "environment.grant", "Environment role granted"
    ENVIRONMENT_REVOKE = "environment.revoke", "Environment role revoked"
    TEMPLATE_CREATE = "template.create", "Template created"
    TEMPLATE_UPDATE = "template.update", "Template changed"
    TEMPLATE_DELETE = "template.delete", "Template deleted"
    TEMPLATE_FROM_BACKUP = "template.from_backup", "Template made from a backup"
    INSTANCE_IMPORT = "instance.import", "Instance imported"
    INSTANCE_FORGET = "instance.forget", "Instance forgotten"
    INSTANCE_START = "instance.start", "Instance started"
    INSTANCE_STOP = "instance.stop", "Instance stopped"
    INSTANCE_REBOOT = "instance.reboot", "Instance rebooted"
    INSTANCE_LAUNCH = "instance.launch", "Instance launched from a template"
    # Migrations
    MIGRATION_AUTHORIZE = "migration.authorize", "Migration authorised"
    MIGRATION_TOKEN = "migration.token", "Migration token checked"
    MIGRATION_CREATE = "migration.create", "Migration asked for"
    MIGRATION_CANCEL = "migration.cancel", "Migration cancel asked for"
    # Migration plans
    PLAN_CREATE = "plan.create", "Migration plan created"
    PLAN_UPDATE = "plan.update", "Migration plan changed"
    PLAN_DELETE = "plan.delete", "Migration plan deleted"
    PLAN_IMPORT = "plan.import", "Migration plan VMs imported from CSV"
    PLAN_START = "plan.start", "Migration plan start asked for"
    PLAN_RETRY = "plan.retry", "Migration plan retry of failed VMs asked for"
    PLAN_CANCEL = "plan.cancel", "Migration plan cancel asked for"
    # Exports
    EXPORT_CONFIGURE = "export.configure", "Instance export configured"
    EXPORT_BUCKET = "export.bucket", "Export bucket prepared"
    EXPORT_CREATE = "export.create", "Export asked for"
    EXPORT_CANCEL = "export.cancel", "Export cancel asked for"
    EXPORT_DOWNLOAD = "export.download", "Export downloaded"
    # Backups and their schedules
    BACKUP_CREATE = "backup.create", "Backup asked for"
    BACKUP_SCHEDULE_CREATE = "backup_schedule.create", "Backup schedule created"
    BACKUP_SCHEDULE_UPDATE = "backup_schedule.update", "Backup schedule changed"
    BACKUP_SCHEDULE_DELETE = "backup_schedule.delete", "Backup schedule deleted"
    BACKUP_SCHEDULE_SKIPPED = "backup_schedule.skipped", "Scheduled backup skipped"
    # Launches from templates
    LAUNCH_CREATE = "launch.create", "Launch asked for"


# What a filter calls each family of actions (the part before the first dot).
_FAMILY_LABELS = {
    "tenant": "Organisation", "user": "Users", "group": "Groups", "auth": "Sign-in", "api": "API",
    "aws_account": "AWS account", "vcenter": "vCenter", "connector": "Connectors", "agent": "Connector agents",
    "vmimport_role": "vmimport role",
    "webhook": "Webhooks", "notifications": "Notifications", "sweep": "Orphan sweep", "history": "Task history",
    "region": "Regions", "environment": "Environments", "template": "Templates", "instance": "Instances",
    "migration": "Migrations", "plan": "Migration plans", "export": "Exports", "backup": "Backups", "backup_schedule": "Backup schedules",
    "launch": "Launches",
}


def job_actions() -> list[tuple[str, str]]:
    """`<kind>.<state>` for every state of every registered job kind, labelled "Migration: exporting"."""
    from core.jobs.kinds import kinds

    return [(f"{kind.name}.{state}", f"{kind.name.capitalize()}: {str(label).lower()}")
            for kind in kinds() for state, label in kind.model._meta.get_field("state").choices]


def action_choices() -> list[tuple[str, str]]:
    # A callable, not a list, wherever choices are declared: the kinds register once the apps are ready, and a new
    # kind's transitions then need no migration.
    return [*AuditAction.choices, *job_actions()]


def is_action(value: str) -> bool:
    return value in AuditAction.values or value in dict(job_actions())


def family_of(action: str) -> str:
    return action.split(".", 1)[0]


def families() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(family, its label, its (action, label) pairs) in vocabulary order, for grouped filter choices."""
    members: dict[str, list[tuple[str, str]]] = {}
    for action, label in action_choices():
        members.setdefault(family_of(action), []).append((action, label))
    return [(family, _FAMILY_LABELS.get(family, family), actions) for family, actions in members.items()]


class Vocabulary:
    """`action_choices()` read afresh each time it is iterated: for declarations that take an iterable rather than
    a callable (a filter whose choices the API schema lists as its enum)."""

    def __iter__(self):
        return iter(action_choices())


VOCABULARY = Vocabulary()
