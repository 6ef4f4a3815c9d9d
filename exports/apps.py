from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = "EC2-to-S3 exports"

    def ready(self):
        from exports import links  # noqa: F401 -- registers the download-link lifetime check
        from exports.job import EXPORT
        from core.jobs.kinds import register

        register(EXPORT)
        # The environment and instance pages live in `environments`, which may not import this app: plug the
        # EC2-to-S3 Migrations tab and the instance page's export rows in from here.
        from environments.ui.panels import EnvironmentPanel, InstanceSection, register, register_instance_section
        from exports.ui.views import PANEL_KEY, READ, environment_exports_panel, instance_export_section

        register(EnvironmentPanel(key=PANEL_KEY, order=20, render=environment_exports_panel,
                                  label="EC2-to-S3 Migrations", need=READ))
        register_instance_section(InstanceSection(key="export", order=20, render=instance_export_section))
