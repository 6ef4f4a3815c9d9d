from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.filters import JobFilter
from core.api.permissions import IsTenantMember
from core.api.viewsets import NeedView, QueuedJobViewSet
from core.querysets import Need
from core.roles import Action
from exports import selectors, services
from exports.api.serializers import (
    CancelRequestSerializer,
    DownloadLinkSerializer,
    ExportConfigurationSerializer,
    ExportRequestSerializer,
    ExportSerializer,
    ExportSettingsRequestSerializer,
)
from exports.models import ExportSettings, ExportTask


class ExportFilter(JobFilter):
    class Meta:
        model = ExportTask
        fields = ["environment", "state"]


class ExportViewSet(QueuedJobViewSet):
    """EC2-to-S3 exports (the last seven days unless `since` is given): administrators start and cancel them,
    auditors read them. POST an imported instance and an S3 prefix: the answer is the export, running or with its
    queue position; its AWS export task id appears once a worker has started it."""

    base_queryset = ExportTask.objects.all()
    serializer_class = ExportSerializer
    filterset_class = ExportFilter
    needs = {"create": Need(Action.ADMIN), "cancel": Need(Action.ADMIN), "download": Need(Action.ADMIN)}
    recent = staticmethod(selectors.export_list)
    related = ("environment", "region", "created_by", "instance")


    @extend_schema(request=ExportRequestSerializer, responses={201: ExportSerializer})
    def create(self, request):
        serializer = ExportRequestSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        task = services.export_create(actor=request.user, instance=serializer.validated_data["instance"],
                                      s3_prefix=serializer.validated_data["s3_prefix"])
        return Response(ExportSerializer(task).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CancelRequestSerializer, responses={200: ExportSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel Export Task: send {"confirm": true}. Idempotent; a completed export is left untouched; the answer
        shows `cancelling` until AWS has stopped and the partial output is deleted, then `cancelled`."""
        task = self.get_object()
        serializer = CancelRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = services.export_cancel(actor=request.user, task=task, confirm=serializer.validated_data["confirm"])
        return Response(ExportSerializer(task).data)

    @extend_schema(responses={200: DownloadLinkSerializer})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """A time-limited download link (presigned URL) to the exported OVA, with its bucket, key and size."""
        link = services.export_download_link(actor=request.user, task=self.get_object())
        return Response(DownloadLinkSerializer(link).data)


class ExportSettingsView(NeedView, APIView):
    """Configure instance export. GET shows the export name and, per region the organisation uses, the bucket the
    portal creates and exactly what it sets on it (`?name=` previews another name). PUT {"name", "consent": true}
    creates the buckets; the name is given once. Administrators configure; auditors read (GET)."""

    permission_classes = [IsTenantMember]
    need = Need(Action.ADMIN, of=ExportSettings)
    read_need = Need(Action.VIEW, of=ExportSettings)

    def allowed_roles(self) -> frozenset:
        return (self.read_need if self.request.method in SAFE_METHODS else self.need).roles()

    @extend_schema(parameters=[OpenApiParameter("name", str, required=False)],
                   responses={200: ExportConfigurationSerializer})
    def get(self, request):
        configuration = selectors.export_configuration(tenant=request.user.tenant,
                                                       name=request.query_params.get("name") or None)
        return Response(ExportConfigurationSerializer(configuration).data)

    @extend_schema(request=ExportSettingsRequestSerializer, responses={200: ExportConfigurationSerializer})
    def put(self, request):
        serializer = ExportSettingsRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        stored = services.export_configure(actor=request.user, name=serializer.validated_data["name"],
                                           consent=serializer.validated_data["consent"])
        configuration = selectors.export_configuration(tenant=request.user.tenant, name=stored.name)
        return Response(ExportConfigurationSerializer(configuration).data)
