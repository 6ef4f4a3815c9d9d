"""The connector's health for the caller's tenant (administrators and auditors), and the serializer of a job's
log lines that job detail endpoints use. The site mounts `urlpatterns` under /api/v1/."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.permissions import IsTenantMember
from core.api.viewsets import NeedView
from core.models import AuditLog
from core.observability.health import RefreshTooSoon, connector_health
from core.observability.models import JobLogLine
from core.querysets import Need
from core.roles import Action

# Who reads the audit log reads the connector's health: administrators and auditors.
READ_CONNECTOR_HEALTH = Need(Action.VIEW, of=AuditLog)


class JobLogLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobLogLine
        fields = ["at", "level", "logger", "message"]
        read_only_fields = fields


class HealthCheckSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["ok", "failed", "not_configured", "unknown"])
    detail = serializers.DictField()


class ConnectorHealthSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    checks = HealthCheckSerializer(many=True)
    checked_at = serializers.DateTimeField()


class ConnectorHealthView(NeedView, APIView):
    """Whether the connector can work for your organisation now: vCenter reachable (and its version), AWS
    reachable with your organisation's own credentials (and their account id), and workers alive. Each check is
    ok, failed (with a category), not_configured or unknown. The answer is kept per organisation for
    HEALTH_CACHE_SECONDS (`checked_at` says when it was probed); `?refresh=1` probes at once, at most once every
    HEALTH_REFRESH_MIN_SECONDS per organisation (429 with Retry-After otherwise)."""

    permission_classes = [IsTenantMember]
    need = READ_CONNECTOR_HEALTH

    @extend_schema(parameters=[OpenApiParameter("refresh", bool, required=False)],
                   responses={200: ConnectorHealthSerializer})
    def get(self, request):
        refresh = request.query_params.get("refresh", "").lower() in ("1", "true", "yes")
        try:
            answer = connector_health(fetched_by=request.user, refresh=refresh)
        except RefreshTooSoon as exc:
            raise Throttled(wait=exc.retry_after, detail="The connector's health was refreshed moments ago; "
                                                          "try again later.") from None
        return Response({"ok": answer.ok, "checks": [c.as_dict() for c in answer.checks],
                         "checked_at": answer.checked_at})


routes = []
urlpatterns = [
    path("health/connector/", ConnectorHealthView.as_view(), name="connector-health"),
]
