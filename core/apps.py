from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Tenancy, users and groups, the audit log, `restrict()`, errors and validation: the layer every app builds
    on. Its label stays "portal" so that its tables, migrations and AUTH_USER_MODEL keep their names."""

    name = "core"
    label = "portal"
    verbose_name = "Portal: tenancy, users, audit"

    def ready(self):
        # Connects the failed-login audit receiver however the process starts (web, worker, shell).
        from core import auth  # noqa: F401
