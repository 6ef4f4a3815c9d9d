from django.db.models import Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.filters import RestrictedFilterSet
from core.api.viewsets import RestrictedViewSet
from core.errors import NotFound
from core.models import TenantGroup, User
from core.querysets import Need
from core.roles import Action
from environments import selectors, services
from environments.api.serializers import (
    EnvironmentSerializer,
    EnvironmentUpdateSerializer,
    GrantRequestSerializer,
    GrantSerializer,
    ImportedInstanceSerializer,
    RegionSerializer,
    TemplateSerializer,
    TemplateUpdateSerializer,
)
from environments.models import Environment, EnvironmentUserObjectPermission, ImportedInstance, Region, Template


class RegionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                    mixins.DestroyModelMixin, RestrictedViewSet):
    """AWS regions of the tenant. Creating one creates its default environment; deleting one deletes its
    environments and their grants."""

    base_queryset = Region.objects.prefetch_related(
        Prefetch("environments", queryset=Environment.objects.filter(is_default=True)))
    serializer_class = RegionSerializer
    filterset_fields = ["code"]

    def perform_create(self, serializer):
        serializer.instance = services.region_create(actor=self.request.user, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.region_delete(actor=self.request.user, region=instance)


class EnvironmentFilter(RestrictedFilterSet):
    region_code = filters.CharFilter(field_name="region__code")

    class Meta:
        model = Environment
        fields = ["region", "is_default", "vpc_id"]


class EnvironmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                         mixins.UpdateModelMixin, mixins.DestroyModelMixin, RestrictedViewSet):
    """Environments: an AWS region plus a VPC with its subnets, security groups and key pairs. Users see the
    environments they hold a role on; administrators manage them all."""

    base_queryset = Environment.objects.select_related("region").prefetch_related(
        "subnets", "security_groups", "key_pairs")
    filterset_class = EnvironmentFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    needs = {
        "sync": Need(Action.ADMIN),
        ("permissions", "GET"): Need(Action.VIEW, of=EnvironmentUserObjectPermission),
        ("permissions", "POST"): Need(Action.ADMIN),
        "revoke": Need(Action.ADMIN),
    }

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return EnvironmentUpdateSerializer
        if self.action == "permissions":
            return GrantRequestSerializer if self.request.method == "POST" else GrantSerializer
        return EnvironmentSerializer

    def perform_create(self, serializer):
        serializer.instance = services.environment_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.environment_update(actor=self.request.user, environment=serializer.instance,
                                                          data=serializer.validated_data)

    def perform_destroy(self, instance):
        services.environment_delete(actor=self.request.user, environment=instance)

    @extend_schema(request=None, responses={200: EnvironmentSerializer})
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        """Refresh the environment's subnets, security groups and key pairs from AWS."""
        environment = services.environment_sync(actor=request.user, environment=self.get_object())
        return Response(EnvironmentSerializer(self.get_queryset().get(pk=environment.pk)).data)

    @extend_schema(methods=["GET"], responses={200: GrantSerializer(many=True)})
    @extend_schema(methods=["POST"], request=GrantRequestSerializer, responses={200: GrantSerializer(many=True)})
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def permissions(self, request, pk=None):
        """Who holds which role on the environment (GET); grant a user or group a role (POST, administrators;
        role `no_access` revokes)."""
        environment = self.get_object()
        if request.method == "POST":
            serializer = GrantRequestSerializer(data=request.data, context=self.get_serializer_context())
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
            services.environment_grant(actor=request.user, environment=environment,
                                       principal=data.get("user") or data.get("group"), role=data["role"])
        grants = selectors.environment_grants(environment=environment)
        return Response(GrantSerializer(grants, many=True).data)

    @extend_schema(request=None, responses={204: None}, parameters=[
        OpenApiParameter("principal_type", str, OpenApiParameter.PATH, enum=["user", "group"]),
        OpenApiParameter("principal_id", int, OpenApiParameter.PATH)])
    @action(detail=True, methods=["delete"],
            url_path=r"permissions/(?P<principal_type>user|group)/(?P<principal_id>\d+)")
    def revoke(self, request, pk=None, principal_type=None, principal_id=None):
        """Revoke a user's or group's role on the environment."""
        environment = self.get_object()
        model = User if principal_type == "user" else TenantGroup
        principal = model.objects.restrict(request.user, Action.ADMIN).filter(pk=principal_id).first()
        if principal is None:
            raise NotFound()
        services.environment_revoke(actor=request.user, environment=environment, principal=principal)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TemplateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                      mixins.UpdateModelMixin, mixins.DestroyModelMixin, RestrictedViewSet):
    """Launch templates. Owners of an environment (and administrators) manage its templates."""

    base_queryset = Template.objects.all()
    filterset_fields = ["environment"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    needs = {verb: Need(Action.MANAGE) for verb in ("create", "update", "partial_update", "destroy")}

    def get_serializer_class(self):
        return TemplateUpdateSerializer if self.action in ("update", "partial_update") else TemplateSerializer

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        environment = data.pop("environment")
        serializer.instance = services.template_create(actor=self.request.user, environment=environment, data=data)

    def perform_update(self, serializer):
        serializer.instance = services.template_update(actor=self.request.user, template=serializer.instance,
                                                       data=serializer.validated_data)

    def perform_destroy(self, instance):
        services.template_delete(actor=self.request.user, template=instance)


class ImportedInstanceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet):
    """EC2 instances the portal imported from vCenter; start, stop or reboot one with the general role on its
    environment."""

    base_queryset = ImportedInstance.objects.select_related("environment__region", "tenant")
    serializer_class = ImportedInstanceSerializer
    filterset_fields = ["environment", "state"]
    needs = {verb: Need(Action.OPERATE) for verb in services.POWER_ACTIONS}

    def _power(self, request, verb):
        instance = services.instance_power(actor=request.user, instance=self.get_object(), action=verb)
        return Response(ImportedInstanceSerializer(instance).data)

    @extend_schema(request=None, responses={200: ImportedInstanceSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._power(request, "start")

    @extend_schema(request=None, responses={200: ImportedInstanceSerializer})
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        return self._power(request, "stop")

    @extend_schema(request=None, responses={200: ImportedInstanceSerializer})
    @action(detail=True, methods=["post"])
    def reboot(self, request, pk=None):
        return self._power(request, "reboot")
