from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    """Which django-q2 cluster runs a tenant's vCenter work, and each cluster's last sign of life."""

    name = "core.connectors"
    label = "connectors"
    verbose_name = "Connectors"
