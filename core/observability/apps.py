from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    """Request ids, JSON logs, job log lines, metrics and health checks (label "observability")."""

    name = "core.observability"
    label = "observability"
    verbose_name = "Portal: observability"

    def ready(self):
        # The adapters report failed peer calls to a listener list (they may not import the core); count them.
        from adapters import peer_errors
        from core.observability.metrics import peer_error

        if peer_error not in peer_errors.listeners:
            peer_errors.listeners.append(peer_error)
