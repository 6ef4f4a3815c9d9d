"""AMI backups, backup schedules and launches. Backing up, scheduling and launching need the general role on the
environment; making a template from a backup needs the owner role (templates are the owners')."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.filters import JobFilter
from core.api.viewsets import ReadOnlyRestrictedViewSet, RestrictedViewSet
from core.querysets import Need
from core.roles import Action
from environments.api.serializers import TemplateSerializer
from environments.models import Template
from lifecycle.api.serializers import (
    BackupRequestSerializer,
    BackupScheduleSerializer,
    BackupScheduleUpdateSerializer,
    BackupSerializer,
    LaunchRequestSerializer,
    LaunchSerializer,
    TemplateFromBackupSerializer,
)
from lifecycle.backups import services as backup_services
from lifecycle.backups.models import BackupSchedule, BackupTask
from lifecycle.launches import services as launch_services
from lifecycle.launches.models import LaunchTask


class BackupFilter(JobFilter):
    class Meta:
        model = BackupTask
        fields = ["environment", "instance", "schedule", "state"]


class BackupViewSet(ReadOnlyRestrictedViewSet):
    """AMI backups (CreateImage) of instances, newest first. POST to back one up: the answer is the job, which a
    worker drives to `available` (or `failed`); one backup per instance runs at a time (409 names the running
    one)."""

    base_queryset = BackupTask.objects.select_related("instance", "created_by")
    serializer_class = BackupSerializer
    filterset_class = BackupFilter
    needs = {"create": Need(Action.OPERATE), "cancel": Need(Action.OPERATE), "make_template": Need(Action.MANAGE)}

    @extend_schema(request=BackupRequestSerializer, responses={201: BackupSerializer})
    def create(self, request):
        serializer = BackupRequestSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        task = backup_services.backup_start(actor=request.user, **serializer.validated_data)
        return Response(BackupSerializer(task).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: BackupSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a backup that is queued or being created (its image and snapshots are deleted). Idempotent;
        finished backups are left as they are."""
        task = backup_services.backup_cancel(actor=request.user, task=self.get_object())
        return Response(BackupSerializer(task).data)

    @extend_schema(request=TemplateFromBackupSerializer, responses={201: TemplateSerializer})
    @action(detail=True, methods=["post"], url_path="make-template")
    def make_template(self, request, pk=None):
        """Make a launch template of the backup's environment from an available backup's image, in one step
        (owners)."""
        backup = self.get_object()
        serializer = TemplateFromBackupSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        template = backup_services.template_create_from_backup(actor=request.user, backup=backup,
                                                        data=serializer.validated_data)
        return Response(TemplateSerializer(template).data, status=status.HTTP_201_CREATED)


class BackupScheduleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                            mixins.UpdateModelMixin, mixins.DestroyModelMixin, RestrictedViewSet):
    """Cron schedules (five fields, UTC) that back up one instance and keep its last `keep_last` images, deleting
    older ones with their snapshots. A run never starts a backup while one of the instance runs, and runs missed
    while the workers were down run once."""

    base_queryset = BackupSchedule.objects.select_related("q_schedule", "created_by")
    filterset_fields = ["environment", "instance", "enabled"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    needs = {verb: Need(Action.OPERATE) for verb in ("create", "update", "partial_update", "destroy")}

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return BackupScheduleUpdateSerializer
        return BackupScheduleSerializer

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = backup_services.backup_schedule_create(actor=self.request.user,
                                                                     instance=data.pop("instance"), data=data)

    def perform_update(self, serializer):
        serializer.instance = backup_services.backup_schedule_update(
            actor=self.request.user, schedule=serializer.instance, data=serializer.validated_data)

    def perform_destroy(self, instance):
        backup_services.backup_schedule_delete(actor=self.request.user, schedule=instance)


class LaunchFilter(JobFilter):
    class Meta:
        model = LaunchTask
        fields = ["environment", "template", "state"]


class LaunchViewSet(ReadOnlyRestrictedViewSet):
    """Launches from templates (POST /templates/{id}/launch/ starts one), newest first; a completed launch names
    the instance it recorded under the environment."""

    base_queryset = LaunchTask.objects.select_related("created_by")
    serializer_class = LaunchSerializer
    filterset_class = LaunchFilter


class TemplateLaunchViewSet(RestrictedViewSet):
    """Launching from a template is this app's, at the template's own address (templates/<id>/launch/)."""

    base_queryset = Template.objects.all()
    serializer_class = LaunchSerializer
    needs = {"launch": Need(Action.OPERATE)}

    @extend_schema(request=LaunchRequestSerializer, responses={201: LaunchSerializer, 200: LaunchSerializer})
    def launch(self, request, pk=None):
        """Launch one instance from the template (general role). The answer is the launch job (201); a worker
        runs RunInstances with its ClientToken and records the instance under the environment. The same
        `idempotency_key` again answers the first launch (200) instead of launching twice."""
        template = self.get_object()
        serializer = LaunchRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task, created = launch_services.template_launch(actor=request.user, template=template,
                                                        idempotency_key=serializer.validated_data["idempotency_key"])
        return Response(LaunchSerializer(task).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


