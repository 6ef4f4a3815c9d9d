from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    """Connector agents and the platform's capacity pool row."""

    name = "core.connectors"
    label = "connectors"
    verbose_name = "Connectors"
