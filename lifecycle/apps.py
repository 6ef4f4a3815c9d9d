from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    """Work on an environment's instances: AMI backups (on demand and by schedule, with retention) and launches
    from templates."""

    name = "lifecycle"
    verbose_name = "Backups and launches"

    def ready(self):
        from core.jobs.kinds import register
        from lifecycle.backups.job import BACKUP
        from lifecycle.launches.job import LAUNCH

        register(BACKUP)
        register(LAUNCH)
