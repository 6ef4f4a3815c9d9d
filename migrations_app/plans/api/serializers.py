from rest_framework import serializers

from core.api.fields import RestrictedPrimaryKeyRelatedField
from core.roles import Action
from environments.models import Environment, KeyPair, SecurityGroup, Subnet
from migrations_app.choices import SUPPORTED_INSTANCE_TYPES, LicenseType, OperatingSystem
from migrations_app.plans import selectors
from migrations_app.plans.models import MigrationPlan, PlanRun, PlanVm


class PlanVmSerializer(serializers.ModelSerializer):
    wave = serializers.IntegerField(source="wave.number", read_only=True)
    state = serializers.SerializerMethodField()
    progress_percent = serializers.SerializerMethodField()
    migration_status = serializers.CharField(source="migration.status_message", read_only=True, default="")

    class Meta:
        model = PlanVm
        fields = ["id", "vm_moref", "vm_name", "wave", "operating_system", "instance_type", "subnet",
                  "security_group", "key_pair", "private_ip", "power_off", "license_type", "migration", "state",
                  "progress_percent", "migration_status", "start_error"]
        read_only_fields = fields

    def get_state(self, plan_vm) -> str:
        return selectors.vm_state(plan_vm)

    def get_progress_percent(self, plan_vm) -> int:
        return selectors._vm_percent(plan_vm)


class PlanRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlanRun
        fields = ["id", "mode", "state", "start_at", "waves_started", "status_message", "created_at", "finished_at"]
        read_only_fields = fields


class WaveSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    start_at = serializers.DateTimeField(allow_null=True)
    percent = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField())
    vms = PlanVmSerializer(many=True)


class PlanSerializer(serializers.ModelSerializer):
    environment = RestrictedPrimaryKeyRelatedField(model=Environment, action=Action.OPERATE)
    subnet = RestrictedPrimaryKeyRelatedField(model=Subnet, required=False, allow_null=True)
    security_group = RestrictedPrimaryKeyRelatedField(model=SecurityGroup, required=False, allow_null=True)
    key_pair = RestrictedPrimaryKeyRelatedField(model=KeyPair, required=False, allow_null=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    state = serializers.SerializerMethodField()

    class Meta:
        model = MigrationPlan
        fields = ["id", "name", "description", "environment", "subnet", "security_group", "key_pair", "power_off",
                  "license_type", "created_by", "created_at", "state"]
        read_only_fields = ["id", "created_by", "created_at", "state"]
        validators = []  # the service checks the name's uniqueness (409)

    def get_state(self, plan) -> str:
        return selectors.plan_state(plan)


class PlanDetailSerializer(PlanSerializer):
    waves = serializers.SerializerMethodField()
    live_run = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()

    class Meta(PlanSerializer.Meta):
        fields = [*PlanSerializer.Meta.fields, "waves", "live_run", "counts"]

    def _progress(self, plan):
        if getattr(self, "_cached", None) is None or self._cached.plan.pk != plan.pk:
            self._cached = selectors.plan_progress(plan)
        return self._cached

    def get_state(self, plan) -> str:
        return self._progress(plan).state

    def get_waves(self, plan) -> list:
        return WaveSerializer(self._progress(plan).waves, many=True).data

    def get_live_run(self, plan) -> dict | None:
        run = self._progress(plan).live_run
        return PlanRunSerializer(run).data if run else None

    def get_counts(self, plan) -> dict:
        return self._progress(plan).counts


class PlanVmRequestSerializer(serializers.Serializer):
    vm = serializers.CharField(max_length=255, help_text="The VM's moref (vm-42) or its name in vCenter.")
    wave = serializers.IntegerField(min_value=1, max_value=99, default=1)
    operating_system = serializers.ChoiceField(choices=OperatingSystem.choices, required=False, allow_blank=True,
                                               help_text="Blank: detected from the VM's guest id.")
    instance_type = serializers.ChoiceField(choices=SUPPORTED_INSTANCE_TYPES, required=False, allow_blank=True,
                                            help_text="Blank: suggested from the VM's vCPUs and memory.")
    subnet = RestrictedPrimaryKeyRelatedField(model=Subnet, required=False, allow_null=True)
    security_group = RestrictedPrimaryKeyRelatedField(model=SecurityGroup, required=False, allow_null=True)
    key_pair = RestrictedPrimaryKeyRelatedField(model=KeyPair, required=False, allow_null=True)
    private_ip = serializers.IPAddressField(protocol="IPv4", required=False, allow_null=True, allow_blank=True)
    power_off = serializers.BooleanField(required=False, allow_null=True, default=None)
    license_type = serializers.ChoiceField(choices=LicenseType.choices, required=False, allow_blank=True)


class PlanVmsRequestSerializer(serializers.Serializer):
    vms = PlanVmRequestSerializer(many=True, allow_empty=False, max_length=5000)


class WaveRequestSerializer(serializers.Serializer):
    number = serializers.IntegerField(min_value=1, max_value=99)
    start_at = serializers.DateTimeField(allow_null=True)


class StartRequestSerializer(serializers.Serializer):
    start_at = serializers.DateTimeField(required=False, allow_null=True,
                                         help_text="When to start; absent or null: now.")


class CsvImportSerializer(serializers.Serializer):
    csv = serializers.CharField(max_length=2_000_000, trim_whitespace=False)


class ProblemSerializer(serializers.Serializer):
    field = serializers.CharField()
    message = serializers.CharField()
    code = serializers.CharField()


class ValidationResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    summary = serializers.CharField()
    plan_problems = ProblemSerializer(many=True)
    vms = serializers.ListField(child=serializers.DictField())


def validation_data(validation, plan) -> dict:
    names = dict(plan.vms.values_list("pk", "vm_name"))
    return {
        "ok": validation.ok, "summary": validation.summary(),
        "plan_problems": ProblemSerializer(validation.plan_problems, many=True).data,
        "vms": [{"id": pk, "vm_name": names.get(pk, ""), "problems": ProblemSerializer(problems, many=True).data}
                for pk, problems in validation.vm_problems.items()],
    }
