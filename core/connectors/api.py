"""The connector agents' API: what administrators do with agents (create one and get its registration code once,
revoke, ask for a new key; auditors read), and the endpoints the agents themselves call, signed with their own
keys. The site mounts `routes` and `urlpatterns` under /api/v1/."""

from __future__ import annotations

from django.conf import settings
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from core.api.viewsets import RestrictedViewSet
from core.connectors import keys, selectors, services
from core.connectors.authentication import AgentSignatureAuthentication, IsAgent
from core.connectors.models import Agent
from core.middleware import client_address
from core.querysets import Need
from core.roles import Action


class AgentSerializer(serializers.ModelSerializer):
    state = serializers.CharField(read_only=True)

    class Meta:
        model = Agent
        fields = ["id", "name", "state", "registered_at", "rotated_at", "rotation_requested", "revoked_at",
                  "last_contact_at", "version", "address", "hostname", "vcenter_version", "vcenter_reachable",
                  "code_expires_at", "created_at"]
        read_only_fields = [f for f in fields if f != "name"]


class AgentCreatedSerializer(AgentSerializer):
    """The answer to a create: the only time the registration code is shown."""

    registration_code = serializers.CharField(read_only=True)

    class Meta(AgentSerializer.Meta):
        fields = [*AgentSerializer.Meta.fields, "registration_code"]
        read_only_fields = fields


class AgentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, RestrictedViewSet):
    """The tenant's connector agents. Creating one answers with its one-time registration code (valid one hour,
    shown only here); `python -m connector register` exchanges it for the agent's own key. Administrators revoke
    an agent or ask it to rotate its key; auditors read."""

    base_queryset = Agent.objects.all()
    serializer_class = AgentSerializer
    needs = {"revoke": Need(Action.ADMIN, find=Action.VIEW), "rotate": Need(Action.ADMIN, find=Action.VIEW)}

    @extend_schema(responses={201: AgentCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = AgentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent, code = services.agent_create(actor=request.user, name=serializer.validated_data["name"])
        agent.registration_code = code
        return Response(AgentCreatedSerializer(agent).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: AgentSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Refuse every request of this agent from now on (it cannot be undone: create a new agent)."""
        return Response(AgentSerializer(services.agent_revoke(actor=request.user, agent=self.get_object())).data)

    @extend_schema(request=None, responses={200: AgentSerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        """Ask the agent to replace its key at its next contact."""
        agent = services.agent_request_rotation(actor=request.user, agent=self.get_object())
        return Response(AgentSerializer(agent).data)


class RegisterSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=100, trim_whitespace=True)
    public_key = serializers.CharField(max_length=64)
    version = serializers.CharField(max_length=40, required=False, default="", allow_blank=True)
    hostname = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)


class RegisteredSerializer(serializers.Serializer):
    agent_id = serializers.CharField()
    name = serializers.CharField()
    tenant = serializers.CharField()
    portal_public_keys = serializers.ListField(child=serializers.CharField())
    heartbeat_seconds = serializers.IntegerField()


class AgentRegisterView(APIView):
    """Exchange a one-time registration code for the agent's credential: the public half of the Ed25519 key the
    agent generated. The answer carries the portal's public keys, which the agent pins to verify import tokens."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "agent-register"

    @extend_schema(request=RegisterSerializer, responses={201: RegisteredSerializer})
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent = services.agent_register(**serializer.validated_data, address=client_address(request))
        return Response({"agent_id": str(agent.pk), "name": agent.name, "tenant": agent.tenant.slug,
                         "portal_public_keys": keys.public_key_texts(),
                         "heartbeat_seconds": settings.AGENT_HEARTBEAT_SECONDS}, status=status.HTTP_201_CREATED)


class HeartbeatSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=40, required=False, default="", allow_blank=True)
    hostname = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)
    vcenter_version = serializers.CharField(max_length=80, required=False, allow_blank=True)
    vcenter_reachable = serializers.BooleanField(required=False, allow_null=True, default=None)
    updating = serializers.BooleanField(required=False, default=False)


class VCenterTrustSerializer(serializers.Serializer):
    """Where the agent's vCenter is and how to trust it, as the tenant's administrator set it in the portal. The
    credentials are not here: they are entered on the agent's host and never leave it."""

    url = serializers.CharField()
    verify_tls = serializers.BooleanField()
    ca_pem = serializers.CharField(allow_blank=True)
    thumbprint = serializers.CharField(allow_blank=True)
    ignore_esx_certificate_errors = serializers.BooleanField()
    dns_suffixes = serializers.ListField(child=serializers.CharField())


class HeartbeatAnswerSerializer(serializers.Serializer):
    server_time = serializers.DateTimeField()
    rotate = serializers.BooleanField()
    portal_public_keys = serializers.ListField(child=serializers.CharField())
    heartbeat_seconds = serializers.IntegerField()
    vcenter = VCenterTrustSerializer(allow_null=True)


class AgentEndpoint(APIView):
    """An endpoint only agents call, each request signed with the agent's key; `request.auth` is the Agent."""

    authentication_classes = [AgentSignatureAuthentication]
    permission_classes = [IsAgent]

    @staticmethod
    def body(request, serializer_class) -> dict:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class AgentHeartbeatView(AgentEndpoint):
    """The agent's sign of life and what it knows of its vCenter; the answer says whether to rotate its key and
    which portal keys to pin (they change when the portal rotates its own)."""

    @extend_schema(request=HeartbeatSerializer, responses={200: HeartbeatAnswerSerializer})
    def post(self, request):
        reported = self.body(request, HeartbeatSerializer)
        agent = services.agent_contact(agent=request.auth, address=client_address(request), **reported)
        return Response({"server_time": timezone.now(), "rotate": agent.rotation_requested,
                         "portal_public_keys": keys.public_key_texts(),
                         "heartbeat_seconds": settings.AGENT_HEARTBEAT_SECONDS,
                         "vcenter": selectors.vcenter_trust_for(agent=agent)})


class RotateSerializer(serializers.Serializer):
    public_key = serializers.CharField(max_length=64)


class AgentRotateView(AgentEndpoint):
    """The agent's new public key, in a request signed with the current one; the current one stops working."""

    @extend_schema(request=RotateSerializer, responses={204: None})
    def post(self, request):
        services.agent_rotate(agent=request.auth, public_key=self.body(request, RotateSerializer)["public_key"])
        return Response(status=status.HTTP_204_NO_CONTENT)


routes = [("agents", AgentViewSet, "agent")]
urlpatterns = [
    path("agent/register/", AgentRegisterView.as_view(), name="agent-registration"),
    path("agent/heartbeat/", AgentHeartbeatView.as_view(), name="agent-heartbeat"),
    path("agent/rotate/", AgentRotateView.as_view(), name="agent-key-rotation"),
]
