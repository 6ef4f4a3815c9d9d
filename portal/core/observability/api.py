"""The connector's health for the caller's tenant (administrators and auditors), and the serializer of a job's
log lines that job detail endpoints use. The site mounts `urlpatterns` under /api/v1/."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.core.api.permissions import IsTenantMember
from portal.core.api.viewsets import NeedView
from portal.core.models import AuditLog
from portal.core.observability.health import connector_health
from portal.core.observability.models import JobLogLine
from portal.core.querysets import Need
from portal.core.roles import Action

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


class ConnectorHealthView(NeedView, APIView):
    """Whether the connector can work for your organisation now: vCenter reachable (and its version), AWS
    reachable with your organisation's own credentials (and their account id), and workers alive. Each check is
    ok, failed (with a category), not_configured or unknown."""

    permission_classes = [IsTenantMember]
    need = READ_CONNECTOR_HEALTH

    @extend_schema(responses={200: ConnectorHealthSerializer})
    def get(self, request):
        checks = connector_health(request.user.tenant)
        return Response({"ok": all(c.ok for c in checks), "checks": [c.as_dict() for c in checks]})


routes = []
urlpatterns = [
    path("health/connector/", ConnectorHealthView.as_view(), name="connector-health"),
]
