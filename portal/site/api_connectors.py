"""GET /api/v1/connector/: the status of the caller's tenant's connector agents and work (administrators and
auditors). Mounted by `portal.site.api_urls` like an app's `api/urls.py`."""

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
    agents = serializers.IntegerField(help_text="The tenant's connector agents that may work (registered, not "
                                                "revoked).")
    last_contact = serializers.DateTimeField(allow_null=True, help_text="When one of them last called the portal.")
    alive = serializers.BooleanField(help_text="One of them called within three report intervals "
                                               "(AGENT_HEARTBEAT_SECONDS).")
    limit = serializers.IntegerField(help_text="The tenant's migrations at once per region.")
    jobs_running = serializers.IntegerField(help_text="The tenant's active migrations and exports.")
    queue_depth = serializers.IntegerField(help_text="The tenant's migrations and exports waiting for a slot.")
    oldest_queued_at = serializers.DateTimeField(allow_null=True, help_text="When the oldest of them was queued.")


class ConnectorStatusView(NeedView, APIView):
    permission_classes = [IsTenantMember]
    need = READ_CONNECTORS

    @extend_schema(responses=ConnectorStatusSerializer)
    def get(self, request):
        return Response(ConnectorStatusSerializer(asdict(connector_status(fetched_by=request.user))).data)


routes = []
urlpatterns = [path("connector/", ConnectorStatusView.as_view(), name="connector")]
