"""Serializers of backups, backup schedules and launches."""

from rest_framework import serializers

from core.api.fields import RestrictedPrimaryKeyRelatedField
from core.roles import Action
from environments.models import ImportedInstance, KeyPair, SecurityGroup, Subnet
from lifecycle.backups.models import BackupSchedule, BackupTask
from lifecycle.launches.models import LaunchTask


class BackupSerializer(serializers.ModelSerializer):
    instance_id = serializers.CharField(source="instance.instance_id", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = BackupTask
        fields = ["id", "environment", "instance", "instance_id", "schedule", "reboot", "state", "step",
                  "status_message", "error_code", "image_id", "image_state", "progress", "snapshot_ids",
                  "created_by", "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class BackupRequestSerializer(serializers.Serializer):
    """Back up an instance you hold the general role on; `reboot` (default false) reboots it for a consistent
    image."""

    instance = RestrictedPrimaryKeyRelatedField(model=ImportedInstance, action=Action.OPERATE)
    reboot = serializers.BooleanField(default=False)


class TemplateFromBackupSerializer(serializers.Serializer):
    """The template fields besides its image, which is the backup's; resources of the backup's environment."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    instance_type = serializers.CharField(max_length=32)
    subnet = RestrictedPrimaryKeyRelatedField(model=Subnet, action=Action.MANAGE)
    security_group = RestrictedPrimaryKeyRelatedField(model=SecurityGroup, action=Action.MANAGE)
    key_pair = RestrictedPrimaryKeyRelatedField(model=KeyPair, action=Action.MANAGE, required=False, allow_null=True)


class BackupScheduleSerializer(serializers.ModelSerializer):
    instance = RestrictedPrimaryKeyRelatedField(model=ImportedInstance, action=Action.OPERATE)
    next_run = serializers.DateTimeField(source="q_schedule.next_run", read_only=True, allow_null=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = BackupSchedule
        fields = ["id", "environment", "instance", "cron", "keep_last", "reboot", "enabled", "next_run",
                  "last_fired_at", "created_by", "created_at"]
        read_only_fields = ["id", "environment", "next_run", "last_fired_at", "created_by", "created_at"]
        extra_kwargs = {"cron": {"validators": []}}  # the service validates (one message for API, page, command)



class BackupScheduleUpdateSerializer(BackupScheduleSerializer):
    """A schedule stays with its instance."""

    instance = serializers.PrimaryKeyRelatedField(read_only=True)


class LaunchRequestSerializer(serializers.Serializer):
    """`idempotency_key` (optional): send the same key again to get the same launch instead of a second one."""

    idempotency_key = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class LaunchSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = LaunchTask
        fields = ["id", "environment", "template", "template_name", "state", "step", "status_message", "error_code",
                  "image_id", "instance_type", "subnet_id", "security_group_id", "key_name", "idempotency_key",
                  "instance_id", "launched_instance", "created_by", "created_at", "started_at", "finished_at"]
        read_only_fields = fields
