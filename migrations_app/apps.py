from django.apps import AppConfig


class MigrationsAppConfig(AppConfig):
    name = "migrations_app"
    verbose_name = "VM-to-EC2 migrations"

    def ready(self):
        from migrations_app.job import MIGRATION
        from core.jobs.kinds import register

        register(MIGRATION)
        # The environment page lives in `environments`, which may not import this app: plug the migrations
        # tab (and the instance page's migration rows) in from here.
        from environments.ui.panels import EnvironmentPanel, InstanceSection, register, register_instance_section
        from migrations_app.ui.views import PANEL_KEY, environment_migrations_panel, instance_migration_section

        register(EnvironmentPanel(key=PANEL_KEY, order=10, render=environment_migrations_panel,
                                  label="VM-to-EC2 Migrations"))
        register_instance_section(InstanceSection(key="migration", order=10, render=instance_migration_section))
