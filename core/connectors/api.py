"""The connector agents' API: what administrators do with agents (create one and get its registration code once,
revoke, ask for a new key; auditors read), and the endpoints the agents themselves call, signed with their own
keys. The site mounts `routes` and `urlpatterns` under /api/v1/."""

from __future__ import annotations

import io

from django.conf import settings
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from core.api.exceptions import PayloadTooLarge
from core.api.viewsets import RestrictedViewSet
from core.connectors import keys, selectors, services
from core.connectors.authentication import NOT_RECOGNISED, AgentSignatureAuthentication, IsAgent, claimed_agent
from core.connectors.models import Agent
from core.errors import Forbidden
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


class InventoryInstructionsSerializer(serializers.Serializer):
    every_seconds = serializers.IntegerField(help_text="Take the inventory this often.")
    refresh = serializers.BooleanField(help_text="A user asked for a fresh inventory: take one now.")
    requested_at = serializers.DateTimeField(allow_null=True,
                                             help_text="The refresh asked for; a report names it in `answers`.")
    principals = serializers.ListField(child=serializers.CharField(),
                                       help_text="The vCenter principals whose privileges to read on every VM.")
    privileges = serializers.ListField(child=serializers.CharField(), help_text="The privileges to report.")
    max_vms = serializers.IntegerField()
    max_bytes = serializers.IntegerField()


class HeartbeatAnswerSerializer(serializers.Serializer):
    server_time = serializers.DateTimeField()
    rotate = serializers.BooleanField()
    portal_public_keys = serializers.ListField(child=serializers.CharField())
    heartbeat_seconds = serializers.IntegerField()
    polling_heartbeat_seconds = serializers.IntegerField(
        help_text="How often to send a heartbeat while a request for work is held (it keeps the agent's contact, and "
                  "its answer says when to send one sooner).")
    work_wait_seconds = serializers.FloatField(
        help_text="How long the portal holds a request for work while there is none: the `wait` to ask for.")
    vcenter = VCenterTrustSerializer(allow_null=True)
    inventory = InventoryInstructionsSerializer()


class AgentEndpoint(APIView):
    """An endpoint only agents call, each request signed with the agent's key; `request.auth` is the Agent."""

    authentication_classes = [AgentSignatureAuthentication]
    permission_classes = [IsAgent]
    # Agents speak JSON only: nothing to negotiate, and no browsable page or form parsing to offer them.
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    @staticmethod
    def body(request, serializer_class) -> dict:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class AgentHeartbeatView(AgentEndpoint):
    """The agent's sign of life and what it knows of its vCenter; the answer says whether to rotate its key, which
    portal keys to pin (they change when the portal rotates its own), and what to read of its vCenter for the
    inventory (how often, whose privileges, and whether a user asked for a fresh one)."""

    @extend_schema(request=HeartbeatSerializer, responses={200: HeartbeatAnswerSerializer})
    def post(self, request):
        reported = self.body(request, HeartbeatSerializer)
        agent = services.agent_contact(agent=request.auth, address=client_address(request), **reported)
        return Response(HeartbeatAnswerSerializer({
            "server_time": timezone.now(), "rotate": agent.rotation_requested,
            "portal_public_keys": keys.public_key_texts(), "heartbeat_seconds": settings.AGENT_HEARTBEAT_SECONDS,
            "polling_heartbeat_seconds": settings.AGENT_POLLING_HEARTBEAT_SECONDS,
            "work_wait_seconds": settings.AGENT_WORK_WAIT_SECONDS,
            "vcenter": selectors.vcenter_trust_for(agent=agent),
            "inventory": selectors.inventory_instructions(agent.tenant_id)}).data)


class RotateSerializer(serializers.Serializer):
    public_key = serializers.CharField(max_length=64)


class AgentRotateView(AgentEndpoint):
    """The agent's new public key, in a request signed with the current one; the current one stops working."""

    @extend_schema(request=RotateSerializer, responses={204: None})
    def post(self, request):
        services.agent_rotate(agent=request.auth, public_key=self.body(request, RotateSerializer)["public_key"])
        return Response(status=status.HTTP_204_NO_CONTENT)


def read_body_within(request, limit: int) -> None:
    """Read the request's body now, up to `limit` bytes rather than Django's DATA_UPLOAD_MAX_MEMORY_SIZE, so that its
    signature can be checked (authentication reads `request.body`, which then holds it). A body beyond Django's own
    limit is read only for a request whose headers name a serving agent: anyone else is refused unread, as
    authentication would refuse them."""
    raw = request._request
    try:
        length = int(raw.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise exceptions.ParseError("The Content-Length header is not a number.") from None
    if length > limit:
        raise PayloadTooLarge(f"The request is {length} bytes; this endpoint accepts at most {limit}.")
    if length <= (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) or hasattr(raw, "_body") or raw._read_started:
        return  # Django's own reading applies
    if claimed_agent(raw.headers) is None:
        raise exceptions.AuthenticationFailed(NOT_RECOGNISED)
    # What HttpRequest.body does, without its global size check (this endpoint's own limit applied above).
    raw._body = raw.read()
    raw._stream = io.BytesIO(raw._body)


class DiskReportSerializer(serializers.Serializer):
    key = serializers.IntegerField(min_value=-(2 ** 31), max_value=2 ** 31 - 1)
    label = serializers.CharField(max_length=255, allow_blank=True, trim_whitespace=False)
    capacity_bytes = serializers.IntegerField(min_value=0, max_value=2 ** 63 - 1)
    is_rdm = serializers.BooleanField()


class VmReportSerializer(serializers.Serializer):
    """One VM as the vSphere adapter's VmInfo describes it."""

    moref = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$")
    name = serializers.CharField(max_length=255, trim_whitespace=False)
    guest_id = serializers.CharField(max_length=100, allow_blank=True)
    guest_full_name = serializers.CharField(max_length=255, allow_blank=True, trim_whitespace=False)
    power_state = serializers.ChoiceField(["poweredOn", "poweredOff", "suspended", ""])
    num_cpu = serializers.IntegerField(min_value=0, max_value=4096)
    memory_mb = serializers.IntegerField(min_value=0, max_value=2 ** 40)
    disks = DiskReportSerializer(many=True, max_length=256)
    host_name = serializers.CharField(max_length=255, allow_blank=True)
    folder_path = serializers.CharField(max_length=2048, allow_blank=True, trim_whitespace=False)
    firmware = serializers.CharField(max_length=20, allow_blank=True, required=False, default="bios")
    committed_bytes = serializers.IntegerField(min_value=0, max_value=2 ** 63 - 1, required=False, default=0)


_PRIVILEGE_NAME = serializers.CharField(max_length=255)


class InventoryReportSerializer(serializers.Serializer):
    taken_at = serializers.DateTimeField(help_text="When the agent began reading vCenter.")
    answers = serializers.DateTimeField(required=False, allow_null=True, default=None,
                                        help_text="The refresh request (`requested_at` of a heartbeat) it answers.")
    tenant = serializers.CharField(max_length=63, required=False, allow_blank=True, default="",
                                   help_text="The tenant the agent believes it serves: another one is refused.")
    vcenter_version = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
    error = serializers.RegexField(r"^[a-z_]{0,40}$", required=False, allow_blank=True, default="",
                                   help_text="Why the inventory could not be taken (a category); VMs are then "
                                             "not sent and the last inventory stays.")
    privileges = serializers.DictField(
        child=serializers.DictField(child=serializers.ListField(child=_PRIVILEGE_NAME, max_length=64)),
        required=False, default=dict, help_text="{principal: {vm moref: [privilege, ...]}}")
    principal_errors = serializers.DictField(child=serializers.CharField(max_length=40), required=False,
                                             default=dict, help_text="{principal: why vCenter did not tell}")

    def get_fields(self):
        # The VMs, at most AGENT_INVENTORY_MAX_VMS of them (read when the request is, not when this module loads).
        found = super().get_fields()
        found["vms"] = VmReportSerializer(many=True, required=False, default=list,
                                          max_length=settings.AGENT_INVENTORY_MAX_VMS)
        return found

    def validate(self, attrs):
        morefs = [vm["moref"] for vm in attrs["vms"]]
        if len(set(morefs)) != len(morefs):
            raise serializers.ValidationError({"vms": "A VM is listed twice."})
        for name in ("privileges", "principal_errors"):
            if len(attrs[name]) > selectors.INVENTORY_MAX_PRINCIPALS or any(len(p) > 255 for p in attrs[name]):
                raise serializers.ValidationError({name: "Too many principals, or a principal's name too long."})
        if any(len(held) > settings.AGENT_INVENTORY_MAX_VMS for held in attrs["privileges"].values()):
            raise serializers.ValidationError({"privileges": "Privileges on more VMs than an inventory may hold."})
        return attrs


class InventoryStoredSerializer(serializers.Serializer):
    stored = serializers.BooleanField(help_text="False: an older report than the one held, or a failed attempt.")
    vms = serializers.IntegerField()


class AgentInventoryView(AgentEndpoint):
    """The agent's inventory of its vCenter: its VMs and what the tenant's mapped principals may do on them, read
    with the agent's own credentials. It is kept for the agent's own tenant, the only one it can write; the VM
    list, a migration's vCenter checks and plan validation read it from then on, instead of vCenter."""

    def initial(self, request, *args, **kwargs):
        read_body_within(request, settings.AGENT_INVENTORY_MAX_BYTES)
        super().initial(request, *args, **kwargs)

    @extend_schema(request=InventoryReportSerializer, responses={200: InventoryStoredSerializer})
    def post(self, request):
        report = self.body(request, InventoryReportSerializer)
        agent = request.auth
        if report.pop("tenant") not in ("", agent.tenant.slug):
            raise Forbidden("This agent reports for its own tenant only.", code="wrong_tenant")
        stored = services.inventory_store(agent=agent, **report)
        return Response({"stored": stored, "vms": len(report["vms"])})


routes = [("agents", AgentViewSet, "agent")]
urlpatterns = [
    path("agent/register/", AgentRegisterView.as_view(), name="agent-registration"),
    path("agent/heartbeat/", AgentHeartbeatView.as_view(), name="agent-heartbeat"),
    path("agent/rotate/", AgentRotateView.as_view(), name="agent-key-rotation"),
    path("agent/inventory/", AgentInventoryView.as_view(), name="agent-inventory"),
]
