from django.conf import settings
from rest_framework import serializers

from core.api.serializers import QueuedJobSerializer
from environments.validators import validate_region_code
from migrations_app.admission import queue_position
from migrations_app.choices import SUPPORTED_INSTANCE_TYPES, LicenseType, MigrationState, OperatingSystem
from migrations_app.models import MigrationTask
from migrations_app.requests import MigrationTarget


class ImportTokenRequestSerializer(serializers.Serializer):
    environment = serializers.IntegerField(min_value=1)
    vm = serializers.CharField(max_length=64, help_text="The VM's managed object id, e.g. vm-42")


class ImportTokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()
    environment = serializers.IntegerField(source="environment_id")
    vm = serializers.CharField(source="vm_moref")


class MigrationRequestSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=2000)
    vm = serializers.CharField(max_length=64)
    environment = serializers.IntegerField(min_value=1)
    operating_system = serializers.ChoiceField(choices=OperatingSystem.choices)
    instance_type = serializers.ChoiceField(choices=SUPPORTED_INSTANCE_TYPES)
    subnet = serializers.IntegerField(min_value=1)
    security_group = serializers.IntegerField(min_value=1)
    key_pair = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    private_ip = serializers.IPAddressField(protocol="IPv4", required=False, allow_null=True, allow_blank=True)
    power_off = serializers.BooleanField(default=False, help_text="Power the VM off before exporting it.")
    license_type = serializers.ChoiceField(
        choices=LicenseType.choices, required=False, allow_null=True, allow_blank=True,
        help_text="The imported image's licence: AWS (license included; Windows Server only) or BYOL. Default: AWS "
                  "for Windows, BYOL for Linux.")

    def target(self) -> MigrationTarget:
        data = self.validated_data
        return MigrationTarget(
            vm_moref=data["vm"], environment_id=data["environment"], operating_system=data["operating_system"],
            instance_type=data["instance_type"], subnet_id=data["subnet"], security_group_id=data["security_group"],
            key_pair_id=data.get("key_pair"), private_ip=data.get("private_ip"), power_off=data["power_off"],
            license_type=data.get("license_type"))


class MigrationSerializer(QueuedJobSerializer):
    state = serializers.ChoiceField(choices=MigrationState.choices, read_only=True)
    position_of = staticmethod(queue_position)
    subnet = serializers.CharField(source="subnet.subnet_id", read_only=True)
    security_group = serializers.CharField(source="security_group.group_id", read_only=True)
    key_pair = serializers.CharField(source="key_pair.name", read_only=True, default=None)
    export_percent = serializers.SerializerMethodField()
    upload_percent = serializers.SerializerMethodField()

    class Meta:
        model = MigrationTask
        fields = ["id", "state", "step", "status_message", "error_code", "queue_position", "vm_moref", "vm_name",
                  "environment", "region", "operating_system", "instance_type", "subnet", "security_group",
                  "key_pair", "private_ip", "power_off_requested", "license_type", "bytes_total", "bytes_exported",
                  "bytes_uploaded",
                  "export_percent", "upload_percent", "conversion_progress", "import_task_id", "image_id",
                  "instance_id", "created_by", "created_at", "started_at", "finished_at", "updated_at"]
        read_only_fields = fields

    def get_export_percent(self, task) -> int:
        return int(100 * task.bytes_exported / task.bytes_total) if task.bytes_total else 0

    def get_upload_percent(self, task) -> int:
        return int(100 * task.bytes_uploaded / task.bytes_total) if task.bytes_total else 0


class VmDiskSerializer(serializers.Serializer):
    key = serializers.IntegerField()
    label = serializers.CharField()
    capacity_bytes = serializers.IntegerField()
    is_rdm = serializers.BooleanField()


class VmSerializer(serializers.Serializer):
    moref = serializers.CharField()
    name = serializers.CharField()
    guest_id = serializers.CharField()
    guest_full_name = serializers.CharField()
    power_state = serializers.CharField()
    num_cpu = serializers.IntegerField()
    memory_mb = serializers.IntegerField()
    disks = VmDiskSerializer(many=True)
    host_name = serializers.CharField()
    folder_path = serializers.CharField()


class InventoryStatusSerializer(serializers.Serializer):
    """The VM list's source and age, from a core.connectors.selectors.Inventory."""

    source = serializers.ChoiceField(["connector", "none"], help_text="none: no connector is registered, and only "
                                                                      "a connector reads vCenter.")
    agent = serializers.CharField(help_text="The connector agent that took the inventory.")
    taken_at = serializers.DateTimeField(allow_null=True, help_text="When the agent read vCenter; null: not yet.")
    age_seconds = serializers.IntegerField(allow_null=True)
    stale = serializers.BooleanField(help_text="Not reported for AGENT_INVENTORY_STALE_SECONDS.")
    vm_count = serializers.IntegerField(allow_null=True)
    vcenter_version = serializers.CharField()
    error = serializers.CharField(help_text="The agent's last attempt failed: a category (the VMs stay the last "
                                            "success's).")
    error_detail = serializers.CharField()
    error_at = serializers.DateTimeField(allow_null=True)
    refresh_requested_at = serializers.DateTimeField(allow_null=True,
                                                     help_text="A refresh asked for and not yet reported.")
    refresh_seconds = serializers.IntegerField(allow_null=True, help_text="How often the agent reports unasked.")

    @classmethod
    def of(cls, inventory) -> dict:
        return cls().to_representation(inventory)

    def to_representation(self, instance):
        when = serializers.DateTimeField().to_representation
        return {"source": "connector" if instance.served else "none", "agent": instance.agent,
                "taken_at": when(instance.taken_at) if instance.taken_at else None,
                "age_seconds": instance.age_seconds, "stale": instance.stale,
                "vm_count": instance.vm_count if instance.reported else None,
                "vcenter_version": instance.vcenter_version, "error": instance.error,
                "error_detail": instance.error_text, "error_at": when(instance.error_at) if instance.error_at else None,
                "refresh_requested_at": when(instance.refresh_requested_at) if instance.refresh_requested_at
                else None, "refresh_seconds": settings.AGENT_INVENTORY_SECONDS}


class RoleStatusSerializer(serializers.Serializer):
    exists = serializers.BooleanField()
    trusts_vmie = serializers.BooleanField()
    has_policy = serializers.BooleanField()
    trust_policy = serializers.JSONField()
    permissions_policy = serializers.JSONField()


class RoleFixRequestSerializer(serializers.Serializer):
    # Checked here, not by AWS: the region code names the staging buckets and the endpoint the adapter calls.
    region = serializers.CharField(max_length=32, validators=[validate_region_code])
