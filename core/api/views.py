from django.contrib.auth import authenticate
from django.db import transaction
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from drf_standardized_errors.openapi_serializers import ErrorResponse403Serializer
from rest_framework import generics, mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied, Throttled, ValidationError
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core import services
from core.api.filters import RestrictedFilterSet
from core.api.permissions import IsPlatformOperator, IsTenantMember
from core.api.serializers import (
    AuditLogSerializer,
    AwsAccountSerializer,
    GroupSerializer,
    MeSerializer,
    TenantSerializer,
    TokenRequestSerializer,
    TokenResponseSerializer,
    UserSerializer,
    UserUpdateSerializer,
    VCenterSerializer,
)
from core.api.viewsets import NeedView, ReadOnlyRestrictedViewSet, RestrictedViewSet
from core.audit_actions import VOCABULARY
from core.auth import LOCKED_OUT, LoginRateThrottle, TenantDeactivated, lockout_seconds
from core.models import AuditLog, Tenant, TenantAwsAccount, TenantGroup, TenantVCenter, User
from core.querysets import Need
from core.roles import Action


class ObtainTokenView(APIView):
    """Exchange a username and password for an API token (for scripts). A token stops working after a configured
    lifetime and when the password changes; then ask for a new one. After repeated failed attempts for one
    username or from one address, attempts are refused for a while (429)."""

    # The lockout is django-axes' (core.auth), shared with the login page and the platform admin, which
    # also audits every failure. The throttle stays as a cap on password-hashing work per client address,
    # successful attempts included.
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]
    throttle_scope = "login"

    @extend_schema(request=TokenRequestSerializer,
                   responses={200: TokenResponseSerializer, 403: ErrorResponse403Serializer})
    @method_decorator(sensitive_variables("serializer"))  # its repr carries the submitted password
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = authenticate(request, **serializer.validated_data)
        except TenantDeactivated as exc:
            raise PermissionDenied(exc.message) from None
        if user is None:
            if getattr(request, "axes_locked_out", False):
                raise Throttled(wait=lockout_seconds(request), detail=LOCKED_OUT)
            raise ValidationError("Unable to log in with the provided credentials.", code="authorization")
        return Response({"token": services.api_token_obtain(user=user)})


class MeView(APIView):
    """The caller: who they are, their tenant and role."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class TenantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                    mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Tenants (platform operators only)."""

    serializer_class = TenantSerializer
    permission_classes = [IsPlatformOperator]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return Tenant.objects.restrict(self.request.user, Action.VIEW if self.action in ("list", "retrieve")
                                       else Action.ADMIN)

    def perform_create(self, serializer):
        serializer.instance = services.tenant_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.tenant_update(actor=self.request.user, tenant=serializer.instance,
                                                     data=serializer.validated_data)


class UserFilter(RestrictedFilterSet):
    class Meta:
        model = User
        fields = ["role", "is_active"]


class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                  mixins.UpdateModelMixin, RestrictedViewSet):
    """The tenant's users (administrators change them, auditors read them). Users are deactivated, never deleted,
    to keep the audit trail whole; passwords are write-only."""

    base_queryset = User.objects.prefetch_related("groups")
    filterset_class = UserFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self):
        return UserUpdateSerializer if self.action in ("update", "partial_update") else UserSerializer

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        is_active = data.pop("is_active", True)
        # An administrator who asks for an inactive account must never get an active one, even for a moment:
        # created and deactivated in one transaction, each step audited by its service.
        with transaction.atomic():
            user = services.user_create(actor=self.request.user, tenant=self.request.user.tenant, **data)
            if not is_active:
                user = services.user_update(actor=self.request.user, user=user, data={"is_active": False})
        serializer.instance = user

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        password = data.pop("password", None)
        serializer.instance = services.user_update(actor=self.request.user, user=serializer.instance, data=data,
                                                   password=password)


class GroupViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                   mixins.UpdateModelMixin, mixins.DestroyModelMixin, RestrictedViewSet):
    """The tenant's groups of users (administrators change them, auditors read them); grants to a group apply to
    its members."""

    base_queryset = TenantGroup.objects.prefetch_related("user_set")
    serializer_class = GroupSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.group_create(actor=self.request.user, name=data["display_name"],
                                                    members=data.get("user_set", []))

    def perform_update(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.group_update(actor=self.request.user, group=serializer.instance,
                                                    name=data.get("display_name"), members=data.get("user_set"))

    def perform_destroy(self, instance):
        services.group_delete(actor=self.request.user, group=instance)


class AuditLogFilter(RestrictedFilterSet):
    # Any member of the caller's own tenant is a valid actor (the users the log names are in the tenant).
    tenant_scoped_choices = ("actor",)
    # Spelled out for the message: the default one does not say where the valid actions are listed.
    action = filters.ChoiceFilter(choices=VOCABULARY, error_messages={
        "invalid_choice": "%(value)s is not an audit action; the API schema lists them (the enum of this parameter)."})
    since = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditLog
        fields = ["action", "outcome", "actor", "object_type", "object_id"]


class AuditLogViewSet(ReadOnlyRestrictedViewSet):
    """The tenant's append-only audit log (administrators and auditors)."""

    base_queryset = AuditLog.objects.all()
    serializer_class = AuditLogSerializer
    filterset_class = AuditLogFilter


class _TenantSettingsView(NeedView, generics.GenericAPIView):
    """Shared by the tenant's AWS account and vCenter connection: one row per tenant; administrators change it,
    auditors read it (GET needs `read_need`, every other method `need`). Secrets are write-only for everyone."""

    permission_classes = [IsTenantMember]
    model = None
    update_service = None
    read_need: Need | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.need = Need(Action.ADMIN, of=cls.model)
        cls.read_need = Need(Action.VIEW, of=cls.model)

    def allowed_roles(self) -> frozenset:
        return self._need().roles()

    def _need(self) -> Need:
        return self.read_need if self.request.method in SAFE_METHODS else self.need

    def get_object(self):
        return self.model.objects.restrict(self.request.user, self._need().action).first() or \
            self.model(tenant=self.request.user.tenant)

    def get(self, request):
        return Response(self.get_serializer(self.get_object()).data)

    def put(self, request):
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        instance = type(self).update_service(actor=request.user, data=serializer.validated_data)
        return Response(self.get_serializer(instance).data, status=status.HTTP_200_OK)


class AwsAccountView(_TenantSettingsView):
    """The tenant's AWS account settings; secrets are write-only."""

    serializer_class = AwsAccountSerializer
    model = TenantAwsAccount
    update_service = staticmethod(services.aws_account_update)

    def get_object(self):
        if self.need.allows(self.request.user):
            return services.aws_account_ensure(actor=self.request.user)
        # An auditor's read writes nothing: before an administrator's first visit there is no row, so no external
        # id either (an unsaved row would show a fresh random one that is nobody's).
        return TenantAwsAccount.objects.restrict(self.request.user, Action.VIEW).first() or \
            TenantAwsAccount(tenant=self.request.user.tenant, external_id="")


class VCenterView(_TenantSettingsView):
    """Where the tenant's connector reaches vCenter and how it trusts it (no account: that is entered on the
    connector)."""

    serializer_class = VCenterSerializer
    model = TenantVCenter
    update_service = staticmethod(services.vcenter_update)
