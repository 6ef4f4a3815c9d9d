from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.filters import JobFilter
from core.api.permissions import IsTenantMember
from core.api.viewsets import NeedView, QueuedJobViewSet
from core.errors import Forbidden
from core.models import TenantAwsAccount
from core.observability.api import JobLogLineSerializer
from core.observability.selectors import job_log_for
from core.querysets import Need
from core.roles import Action
from environments.models import Environment
from migrations_app import selectors, services
from migrations_app.api.serializers import (
    ImportTokenRequestSerializer,
    ImportTokenSerializer,
    InventoryStatusSerializer,
    MigrationRequestSerializer,
    MigrationSerializer,
    RoleFixRequestSerializer,
    RoleStatusSerializer,
    VmSerializer,
)
from migrations_app.models import MigrationTask

# Migrating into an environment, and so seeing the VMs one could migrate, needs the general role there.
MIGRATE_INTO = Need(Action.OPERATE, of=Environment)


class ImportTokenView(NeedView, APIView):
    """Step 1 of a migration: the portal checks your role on the environment and issues a token, valid for five
    minutes and one use, bound to you, the environment and the VM."""

    permission_classes = [IsTenantMember]
    need = MIGRATE_INTO

    @extend_schema(request=ImportTokenRequestSerializer, responses={201: ImportTokenSerializer})
    def post(self, request):
        serializer = ImportTokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = services.import_token_issue(actor=request.user, environment_id=serializer.validated_data[
            "environment"], vm_moref=serializer.validated_data["vm"])
        return Response(ImportTokenSerializer(issued).data, status=status.HTTP_201_CREATED)


class MigrationFilter(JobFilter):
    class Meta:
        model = MigrationTask
        fields = ["environment", "state", "vm_moref"]


class MigrationViewSet(QueuedJobViewSet):
    """VM-to-EC2 migrations (the last seven days unless `since` is given). POST with a token from
    /import-tokens/ to start one: the answer is the task, running or with its queue position."""

    base_queryset = MigrationTask.objects.all()
    serializer_class = MigrationSerializer
    filterset_class = MigrationFilter
    # Cancelling needs the migration's OPERATE (its starter or an administrator); anyone who can see it may
    # address it and is told why not (403), everyone else gets 404.
    needs = {"create": Need(Action.OPERATE), "cancel": Need(Action.OPERATE, find=Action.VIEW)}

    recent = staticmethod(selectors.migration_list)
    related = ("environment", "region", "created_by", "subnet", "security_group", "key_pair")

    def list_page(self) -> list:
        # The page's ids first, then those rows with their related ones: joined before the slice, PostgreSQL would
        # join every row of the user's seven days to five tables to keep fifty.
        queryset = self.filter_queryset(self.get_queryset())
        ids = list(self.paginate_queryset(queryset.values_list("pk", flat=True)))
        by_id = {t.pk: t for t in queryset.filter(pk__in=ids)}
        return [by_id[pk] for pk in ids if pk in by_id]

    @extend_schema(request=MigrationRequestSerializer, responses={201: MigrationSerializer})
    def create(self, request):
        serializer = MigrationRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = services.migration_create(actor=request.user, token=serializer.validated_data["token"],
                                         target=serializer.target())
        return Response(MigrationSerializer(task).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: MigrationSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel (the user who started it, or an administrator). Idempotent; completed migrations are left
        untouched; the answer shows `cancelling` until the worker has released everything, then `cancelled`."""
        task = services.migration_cancel(actor=request.user, task=self.get_object())
        return Response(MigrationSerializer(task).data)

    @extend_schema(responses={200: JobLogLineSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def log(self, request, pk=None):
        """The migration's own log: its workers' INFO and WARNING+ lines, oldest first (the newest 200 kept)."""
        return Response(JobLogLineSerializer(job_log_for(kind="migration", job=self.get_object()), many=True).data)


_INVENTORY_HEADERS = [
    OpenApiParameter("X-Inventory-Source", str, OpenApiParameter.HEADER, response=[200],
                     description="`connector`: the inventory the tenant's connector agent reported (the headers "
                                 "below say how old)."),
    OpenApiParameter("X-Inventory-Taken-At", str, OpenApiParameter.HEADER, response=[200],
                     description="When the connector read vCenter (ISO 8601)."),
    OpenApiParameter("X-Inventory-Age-Seconds", int, OpenApiParameter.HEADER, response=[200]),
    OpenApiParameter("X-Inventory-Stale", str, OpenApiParameter.HEADER, response=[200],
                     description="`true` when the connector has not reported for AGENT_INVENTORY_STALE_SECONDS."),
]


def _operable_somewhere(user) -> None:
    if not Environment.objects.restrict(user, Action.OPERATE).exists():
        raise Forbidden(services.NO_GRANT_MESSAGE, code="no_environment_grant")


class VCenterVmListView(NeedView, APIView):
    """The tenant's vCenter VMs as its connector agent last reported them (the X-Inventory-* headers say how old;
    `POST /vcenter/inventory/` asks for a fresh one). None reported yet is a 409 `inventory_missing`, no connector
    registered a 409 `no_connector`: only a connector reads vCenter. Whether you may export one is checked against
    your own vCenter account when you start its migration."""

    permission_classes = [IsTenantMember]
    need = MIGRATE_INTO

    @extend_schema(responses={200: VmSerializer(many=True)}, parameters=_INVENTORY_HEADERS)
    def get(self, request):
        _operable_somewhere(request.user)
        listing = selectors.vm_listing(tenant=request.user.tenant)
        response = Response(VmSerializer(listing.vms, many=True).data)
        inventory = listing.inventory
        response["X-Inventory-Source"] = "connector"
        response["X-Inventory-Taken-At"] = inventory.taken_at.isoformat()
        response["X-Inventory-Age-Seconds"] = str(inventory.age_seconds)
        response["X-Inventory-Stale"] = "true" if inventory.stale else "false"
        return response


class InventoryView(NeedView, APIView):
    """How fresh the VM list is. For a tenant served by a connector agent: when the agent last read vCenter, how
    many VMs, whether that is stale or its last attempt failed, and a refresh asked for and not yet answered. POST
    asks the agent for a fresh inventory: it starts one within seconds (the request rings its held request for
    work), and the VM list shows it once reported. A tenant without a registered connector has no VM list
    (`source: none`)."""

    permission_classes = [IsTenantMember]
    need = MIGRATE_INTO

    @extend_schema(responses={200: InventoryStatusSerializer})
    def get(self, request):
        _operable_somewhere(request.user)
        return Response(InventoryStatusSerializer.of(selectors.inventory_status(tenant=request.user.tenant)))

    @extend_schema(request=None, responses={202: InventoryStatusSerializer})
    def post(self, request):
        inventory = services.vm_inventory_refresh(actor=request.user)
        return Response(InventoryStatusSerializer.of(inventory), status=status.HTTP_202_ACCEPTED)


class VmImportRoleView(NeedView, APIView):
    """The vmimport service role VM Import needs: GET shows its state and the policies Fix Error would apply;
    POST (Fix Error) creates or repairs it. Administrators only."""

    permission_classes = [IsTenantMember]
    need = Need(Action.ADMIN, of=TenantAwsAccount)

    @extend_schema(parameters=[OpenApiParameter("region", str, required=False)],
                   responses={200: RoleStatusSerializer})
    def get(self, request):
        serializer = RoleFixRequestSerializer(data={"region": request.query_params.get("region", "us-east-1")})
        serializer.is_valid(raise_exception=True)
        role = selectors.vmimport_role_describe(tenant=request.user.tenant,
                                                region_code=serializer.validated_data["region"])
        return Response(RoleStatusSerializer(role).data)

    @extend_schema(request=RoleFixRequestSerializer, responses={200: RoleStatusSerializer})
    def post(self, request):
        serializer = RoleFixRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = services.vmimport_role_fix(actor=request.user, region_code=serializer.validated_data["region"])
        return Response(RoleStatusSerializer(role).data)
