from rest_framework import serializers

from core.api.fields import RestrictedPrimaryKeyRelatedField
from core.api.serializers import QueuedJobSerializer
from core.roles import Action
from environments.models import ImportedInstance
from exports.admission import queue_position
from exports.choices import ExportState
from exports.models import ExportTask


class ExportRequestSerializer(serializers.Serializer):
    instance = RestrictedPrimaryKeyRelatedField(model=ImportedInstance, action=Action.ADMIN,
                                                help_text="An instance imported through the portal.")
    s3_prefix = serializers.CharField(max_length=200, required=False, allow_blank=True, default="", help_text=(
        "The start of the object's key: the OVA is written to <s3_prefix><AWS export task id>.ova"))


class ExportSerializer(QueuedJobSerializer):
    state = serializers.ChoiceField(choices=ExportState.choices, read_only=True)
    position_of = staticmethod(queue_position)
    instance_id = serializers.CharField(source="ec2_instance_id", read_only=True)
    s3_location = serializers.CharField(read_only=True)

    class Meta:
        model = ExportTask
        fields = ["id", "export_task_id", "state", "step", "status_message", "error_code", "progress",
                  "queue_position", "environment", "region", "instance", "instance_id", "s3_prefix", "s3_bucket",
                  "s3_key", "s3_location", "size_bytes", "created_by", "created_at", "started_at", "finished_at",
                  "updated_at"]
        read_only_fields = fields


class CancelRequestSerializer(serializers.Serializer):
    confirm = serializers.BooleanField(default=False, help_text="Must be true: cancelling deletes partial output.")


class DownloadLinkSerializer(serializers.Serializer):
    url = serializers.CharField()
    expires_at = serializers.DateTimeField()
    bucket = serializers.CharField()
    key = serializers.CharField()
    size_bytes = serializers.IntegerField(allow_null=True)


class ExportSettingsRequestSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63, help_text="Given once; buckets are named export-to-s3-<name>-<region>.")
    consent = serializers.BooleanField(default=False, help_text=(
        "Must be true: I agree that the portal may create these buckets on my behalf."))


class BucketPlanSerializer(serializers.Serializer):
    region = serializers.CharField()
    bucket = serializers.CharField()
    exists = serializers.BooleanField(help_text="Already created and recorded by the portal.")
    plan = serializers.JSONField(help_text="What the portal sets on the bucket for VM Export.")


class ExportConfigurationSerializer(serializers.Serializer):
    configured = serializers.BooleanField()
    name = serializers.CharField(allow_null=True)
    consent_text = serializers.CharField()
    buckets = BucketPlanSerializer(many=True)
