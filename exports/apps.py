from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = "EC2-to-S3 exports"

    def ready(self):
        from core.jobs.kinds import register as register_kind
        from environments.ui.panels import plug_in
        from exports import links  # noqa: F401 -- registers the download-link lifetime check
        from exports.job import EXPORT
        from exports.ui import views

        register_kind(EXPORT)
        plug_in(key=views.PANEL_KEY, order=20, label="EC2-to-S3 Migrations", panel=views.environment_exports_panel,
                section=views.instance_export_section, need=views.READ)
