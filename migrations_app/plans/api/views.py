from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.viewsets import RestrictedViewSet
from core.querysets import Need
from core.roles import Action
from migrations_app.plans import csvio, services
from migrations_app.plans.api import serializers as s
from migrations_app.plans.models import MigrationPlan, PlanVm

OPERATE = Need(Action.OPERATE)


class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet):
    """Migration plans: many VMs of one environment migrated in ordered waves. Validate, start (now or at a time),
    retry the failed VMs, cancel. The plan's creator (with the general role) or an administrator acts on it."""

    base_queryset = MigrationPlan.objects.select_related("environment", "created_by")
    serializer_class = s.PlanSerializer
    needs = {"create": OPERATE, "partial_update": OPERATE, "destroy": OPERATE, "validate": OPERATE,
             "start": OPERATE, "retry_failed": OPERATE, "cancel": OPERATE, "vms": OPERATE, "waves": OPERATE,
             "import_csv": OPERATE}

    def get_serializer_class(self):
        return s.PlanDetailSerializer if self.action == "retrieve" else s.PlanSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        environment = self.request.query_params.get("environment")
        if self.action == "list" and environment and environment.isdigit():
            queryset = queryset.filter(environment_id=int(environment))
        return queryset

    def _detail(self, plan, code=status.HTTP_200_OK):
        plan = MigrationPlan.objects.get(pk=plan.pk)
        return Response(s.PlanDetailSerializer(plan, context=self.get_serializer_context()).data, status=code)

    def create(self, request):
        serializer = s.PlanSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        plan = services.plan_create(actor=request.user, **serializer.validated_data)
        return self._detail(plan, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        plan = self.get_object()
        serializer = s.PlanSerializer(plan, data=request.data, partial=True, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        changes = {k: v for k, v in serializer.validated_data.items() if k != "environment"}
        return self._detail(services.plan_update(actor=request.user, plan=plan, **changes))

    def destroy(self, request, pk=None):
        services.plan_delete(actor=request.user, plan=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.PlanVmsRequestSerializer, responses={201: s.PlanDetailSerializer})
    @action(detail=True, methods=["post"])
    def vms(self, request, pk=None):
        """Add VMs (all or none); blank OS and instance type are detected and suggested from vCenter."""
        plan = self.get_object()
        serializer = s.PlanVmsRequestSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        specs = [services.PlanVmSpec(**{k: v for k, v in vm.items() if v is not None or k == "power_off"})
                 for vm in serializer.validated_data["vms"]]
        services.plan_vms_add(actor=request.user, plan=plan, specs=specs)
        return self._detail(plan, status.HTTP_201_CREATED)

    @extend_schema(request=s.WaveRequestSerializer, responses={200: s.PlanDetailSerializer})
    @action(detail=True, methods=["post"])
    def waves(self, request, pk=None):
        """Give a wave its own start time (null: it starts when the previous wave has completed)."""
        plan = self.get_object()
        serializer = s.WaveRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.plan_wave_schedule(actor=request.user, plan=plan, **serializer.validated_data)
        return self._detail(plan)

    @extend_schema(request=None, responses={200: s.ValidationResultSerializer})
    @action(detail=True, methods=["post"])
    def validate(self, request, pk=None):
        """Validate the whole plan: per VM, what blocks it."""
        plan = self.get_object()
        validation = services.plan_validate(actor=request.user, plan=plan)
        return Response(s.validation_data(validation, plan))

    def _run(self, request, service):
        plan = self.get_object()
        serializer = s.StartRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            service(actor=request.user, plan=plan, start_at=serializer.validated_data.get("start_at"))
        except services.PlanInvalid as exc:
            return Response({"type": "client_error", "errors": [
                {"code": exc.code, "detail": exc.message, "attr": None}],
                "validation": s.validation_data(exc.validation, plan)}, status=status.HTTP_409_CONFLICT)
        return self._detail(plan, status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.StartRequestSerializer, responses={202: s.PlanDetailSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """Start now, or at `start_at`; the whole plan is validated first (409 with what blocks each VM)."""
        return self._run(request, services.plan_start)

    @extend_schema(request=s.StartRequestSerializer, responses={202: s.PlanDetailSerializer})
    @action(detail=True, methods=["post"], url_path="retry-failed")
    def retry_failed(self, request, pk=None):
        """Migrate again only the VMs that failed or were cancelled, now or at `start_at`."""
        return self._run(request, services.plan_retry_failed)

    @extend_schema(request=None, responses={200: s.PlanDetailSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel the plan: its running and queued migrations are cancelled, completed ones left alone."""
        plan = self.get_object()
        services.plan_cancel(actor=request.user, plan=plan)
        return self._detail(plan)

    @extend_schema(request=s.CsvImportSerializer, responses={201: s.PlanDetailSerializer})
    @action(detail=True, methods=["post"], url_path="import")
    def import_csv(self, request, pk=None):
        """Add VMs from CSV (columns: vm, wave, operating_system, instance_type, subnet, security_group, key_pair,
        private_ip, power_off, license_type). All or nothing: errors name the line and the field."""
        plan = self.get_object()
        serializer = s.CsvImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        csvio.plan_csv_import(actor=request.user, plan=plan, text=serializer.validated_data["csv"])
        return self._detail(plan, status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "text/csv"): str})
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        """The plan's VMs as CSV, in the form import reads."""
        plan = self.get_object()
        response = HttpResponse(csvio.plan_csv_export(plan), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="plan-{plan.pk}.csv"'
        return response


class PlanVmViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet):
    """The VMs of the plans you may see (`?plan=` filters); PATCH and DELETE change a plan that is not running."""

    base_queryset = PlanVm.objects.select_related("wave", "migration")
    serializer_class = s.PlanVmSerializer
    needs = {"partial_update": OPERATE, "destroy": OPERATE}

    def get_queryset(self):
        queryset = super().get_queryset()
        plan = self.request.query_params.get("plan")
        if self.action == "list" and plan and plan.isdigit():
            queryset = queryset.filter(plan_id=int(plan))
        return queryset

    @extend_schema(request=s.PlanVmRequestSerializer, responses={200: s.PlanVmSerializer})
    def partial_update(self, request, pk=None):
        plan_vm = self.get_object()
        if not isinstance(request.data, Mapping):
            raise ValidationError({"non_field_errors": ["Send an object of the settings to change."]})
        serializer = s.PlanVmRequestSerializer(data={**request.data, "vm": plan_vm.vm_moref}, partial=True,
                                               context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        changes = {k: v for k, v in serializer.validated_data.items() if k not in ("vm", "wave")}
        if "private_ip" in changes:
            changes["private_ip"] = changes["private_ip"] or None
        updated = services.plan_vm_update(actor=request.user, plan_vm=plan_vm,
                                          wave=serializer.validated_data.get("wave"), **changes)
        return Response(s.PlanVmSerializer(PlanVm.objects.select_related("wave", "migration").get(
            pk=updated.pk)).data)

    def destroy(self, request, pk=None):
        services.plan_vm_remove(actor=request.user, plan_vm=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


