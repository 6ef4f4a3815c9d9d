from rest_framework import serializers

from core.api.fields import RestrictedPrimaryKeyRelatedField
from core.models import TenantGroup, User
from core.roles import Action
from environments.choices import EnvironmentRole
from environments.models import Environment, ImportedInstance, KeyPair, Region, SecurityGroup, Subnet, Template


class RegionSerializer(serializers.ModelSerializer):
    default_environment = serializers.SerializerMethodField()

    class Meta:
        model = Region
        fields = ["id", "code", "name", "default_environment", "created_at"]
        read_only_fields = ["id", "default_environment", "created_at"]

    def get_default_environment(self, region) -> int | None:
        return next((e.pk for e in region.environments.all() if e.is_default), None)


class SubnetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Subnet
        fields = ["id", "subnet_id", "cidr_block", "availability_zone", "name"]


class SecurityGroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = SecurityGroup
        fields = ["id", "group_id", "name", "description"]


class KeyPairSerializer(serializers.ModelSerializer):
    class Meta:
        model = KeyPair
        fields = ["id", "name", "key_pair_id", "fingerprint"]


class EnvironmentSerializer(serializers.ModelSerializer):
    region = RestrictedPrimaryKeyRelatedField(model=Region, action=Action.ADMIN)
    region_code = serializers.CharField(source="region.code", read_only=True)
    subnets = SubnetSerializer(many=True, read_only=True)
    security_groups = SecurityGroupSerializer(many=True, read_only=True)
    key_pairs = KeyPairSerializer(many=True, read_only=True)

    class Meta:
        model = Environment
        fields = ["id", "name", "description", "region", "region_code", "vpc_id", "vpc_cidr_block", "is_default",
                  "subnets", "security_groups", "key_pairs", "last_synced_at", "sync_error", "created_at"]
        read_only_fields = ["id", "region_code", "vpc_cidr_block", "is_default", "subnets", "security_groups",
                            "key_pairs", "last_synced_at", "sync_error", "created_at"]
        extra_kwargs = {"vpc_id": {"required": True, "allow_blank": False}}
        # Uniqueness is the service's to decide (409 Conflict), not a serializer validator's (400).
        validators = []


class EnvironmentUpdateSerializer(EnvironmentSerializer):
    class Meta(EnvironmentSerializer.Meta):
        read_only_fields = EnvironmentSerializer.Meta.read_only_fields + ["region"]
        extra_kwargs = {"vpc_id": {"required": False, "allow_blank": False}}


class GrantSerializer(serializers.Serializer):
    principal_type = serializers.ChoiceField(choices=["user", "group"], read_only=True)
    principal_id = serializers.IntegerField(read_only=True)
    principal_name = serializers.CharField(read_only=True)
    role = serializers.ChoiceField(choices=EnvironmentRole.choices, read_only=True)


class GrantRequestSerializer(serializers.Serializer):
    """Give exactly one of `user` or `group`. Role `no_access` revokes."""

    user = RestrictedPrimaryKeyRelatedField(model=User, action=Action.ADMIN, required=False)
    group = RestrictedPrimaryKeyRelatedField(model=TenantGroup, action=Action.ADMIN, required=False)
    role = serializers.ChoiceField(choices=EnvironmentRole.choices)

    def validate(self, attrs):
        if ("user" in attrs) == ("group" in attrs):
            raise serializers.ValidationError("Give exactly one of user or group.", code="one_principal")
        return attrs


class TemplateSerializer(serializers.ModelSerializer):
    environment = RestrictedPrimaryKeyRelatedField(model=Environment, action=Action.MANAGE)
    subnet = RestrictedPrimaryKeyRelatedField(model=Subnet, action=Action.MANAGE)
    security_group = RestrictedPrimaryKeyRelatedField(model=SecurityGroup, action=Action.MANAGE)
    key_pair = RestrictedPrimaryKeyRelatedField(model=KeyPair, action=Action.MANAGE, required=False, allow_null=True)

    class Meta:
        model = Template
        fields = ["id", "name", "description", "environment", "ami_id", "instance_type", "subnet", "security_group",
                  "key_pair", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators = []


class TemplateUpdateSerializer(TemplateSerializer):
    class Meta(TemplateSerializer.Meta):
        read_only_fields = TemplateSerializer.Meta.read_only_fields + ["environment"]


class ImportedInstanceSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportedInstance
        fields = ["id", "instance_id", "environment", "origin", "source_vm_moref", "source_vm_name", "instance_type",
                  "private_ip", "image_id", "state", "state_refreshed_at", "created_at"]
        read_only_fields = fields
