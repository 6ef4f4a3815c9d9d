from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Webhooks, their delivery log, and each user's e-mail preferences (label "notifications")."""

    name = "core.notifications"
    label = "notifications"
    verbose_name = "Portal: notifications"
