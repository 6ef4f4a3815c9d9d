from django.apps import AppConfig


class MigrationsAppConfig(AppConfig):
    name = "migrations_app"
    verbose_name = "VM-to-EC2 migrations"

    def ready(self):
        # The environment page lives in `environments`, which may not import this app: plug the migrations
        # panel in from here.
        from environments.ui.panels import EnvironmentPanel, register
        from migrations_app.ui.views import environment_migrations_panel

        register(EnvironmentPanel(key="vm-to-ec2-migrations", order=10, render=environment_migrations_panel))
