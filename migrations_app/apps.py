from django.apps import AppConfig


class MigrationsAppConfig(AppConfig):
    name = "migrations_app"
    verbose_name = "VM-to-EC2 migrations"

    def ready(self):
        from core.jobs.kinds import register as register_kind
        from environments.ui.panels import plug_in
        from migrations_app.job import MIGRATION
        from migrations_app.ui import views

        register_kind(MIGRATION)
        plug_in(key=views.PANEL_KEY, order=10, label="VM-to-EC2 Migrations", panel=views.environment_migrations_panel,
                section=views.instance_migration_section)
