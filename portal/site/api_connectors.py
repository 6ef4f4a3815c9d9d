"""GET /api/v1/connector/: the status of the caller's tenant's connector (administrators and auditors). Mounted by
`portal.site.api_urls` like an app's `api/urls.py`."""

from __future__ import annotations

from dataclasses import asdict

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.permissions import IsTenantMember
from core.api.viewsets import NeedView
from portal.site.connectors import READ_CONNECTORS, connector_status


class ConnectorStatusSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The django-q2 cluster name (Q_CLUSTER_NAME) that runs the tenant's "
                                           "vCenter work; the shared cluster's when `shared`.")
    shared = serializers.BooleanField(help_text="True when the tenant has no connector of its own.")
    last_heartbeat = serializers.DateTimeField(allow_null=True)
    alive = serializers.BooleanField(help_text="A heartbeat in the last three minutes.")
    version = serializers.CharField(help_text="The portal version the cluster runs.")
    host = serializers.CharField(help_text="The connector's host (blank for the shared cluster).")
    limit = serializers.IntegerField(help_text="Migrations the connector runs at once (per region when shared).")
    jobs_running = serializers.IntegerField(help_text="The tenant's active migrations and exports.")
    queue_depth = serializers.IntegerField(help_text="The tenant's migrations and exports waiting for a slot.")
    oldest_queued_at = serializers.DateTimeField(allow_null=True, help_text="When the oldest of them was queued.")
    ticks_waiting = serializers.IntegerField(allow_null=True,
                                             help_text="Ticks queued on the connector's broker (own connector only).")


class ConnectorStatusView(NeedView, APIView):
    permission_classes = [IsTenantMember]
    need = READ_CONNECTORS

    @extend_schema(responses=ConnectorStatusSerializer)
    def get(self, request):
        return Response(ConnectorStatusSerializer(asdict(connector_status(fetched_by=request.user))).data)


routes = []
urlpatterns = [path("connector/", ConnectorStatusView.as_view(), name="connector")]
