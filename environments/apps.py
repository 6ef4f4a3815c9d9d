from django.apps import AppConfig


class EnvironmentsConfig(AppConfig):
    name = "environments"
    verbose_name = "Regions and environments"

    def ready(self):
        from environments.backups.job import BACKUP
        from environments.launches.job import LAUNCH
        from portal.core.jobs.kinds import register

        register(BACKUP)
        register(LAUNCH)
