from rest_framework import serializers

from portal.core.api.fields import RestrictedPrimaryKeyRelatedField
from portal.core.models import AuditLog, AwsAuthMode, Tenant, TenantAwsAccount, TenantGroup, TenantVCenter, User
from portal.core.roles import Action, TenantRole
from portal.core.selectors import vcenter_warnings


class TenantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "is_active", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"slug": {"required": False}}


class UserSerializer(serializers.ModelSerializer):
    password = serializers.CharField(write_only=True, required=False, allow_blank=False, max_length=128,
                                     style={"input_type": "password"})
    role = serializers.ChoiceField(choices=TenantRole.choices)
    groups = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "password", "email", "first_name", "last_name", "role", "vcenter_principal",
                  "is_active", "groups", "date_joined", "last_login"]
        read_only_fields = ["id", "groups", "date_joined", "last_login"]
        # Uniqueness is the service's to decide (409), not a serializer validator's (400).
        extra_kwargs = {"username": {"validators": []}}

    def get_groups(self, user) -> list[int]:
        return [g.pk for g in user.groups.all()]


class UserUpdateSerializer(UserSerializer):
    class Meta(UserSerializer.Meta):
        read_only_fields = UserSerializer.Meta.read_only_fields + ["username"]


class MeSerializer(serializers.ModelSerializer):
    tenant = serializers.CharField(source="tenant.name", default=None)

    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "role", "tenant", "vcenter_principal",
                  "is_superuser"]
        read_only_fields = fields


class GroupSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", max_length=100)
    members = RestrictedPrimaryKeyRelatedField(model=User, action=Action.ADMIN, many=True, required=False,
                                               source="user_set")

    class Meta:
        model = TenantGroup
        fields = ["id", "name", "members", "created_at"]
        read_only_fields = ["id", "created_at"]


class AuditLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditLog
        fields = ["id", "created_at", "actor", "actor_username", "action", "outcome", "object_type", "object_id",
                  "object_repr", "detail", "remote_addr"]
        read_only_fields = fields


class AwsAccountSerializer(serializers.ModelSerializer):
    """Secrets are write-only: the API says whether one is set, never what it is."""

    auth_mode = serializers.ChoiceField(choices=AwsAuthMode.choices, required=False)
    secret_access_key = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=256)
    external_id = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=1224)
    secret_access_key_set = serializers.SerializerMethodField()

    class Meta:
        model = TenantAwsAccount
        fields = ["account_id", "auth_mode", "access_key_id", "secret_access_key", "secret_access_key_set",
                  "role_arn", "external_id", "updated_at"]
        read_only_fields = ["updated_at"]

    def get_secret_access_key_set(self, account) -> bool:
        return bool(account.secret_access_key)


class VCenterSerializer(serializers.ModelSerializer):
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=256)
    password_set = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField()

    class Meta:
        model = TenantVCenter
        fields = ["url", "username", "password", "password_set", "verify_tls", "ca_certificate_pem", "thumbprint",
                  "ignore_esx_certificate_errors", "dns_suffixes", "connector_updating",
                  "max_active_migrations_per_region", "warnings", "updated_at"]
        read_only_fields = ["updated_at"]

    def get_password_set(self, vcenter) -> bool:
        return bool(vcenter.password)

    def get_warnings(self, vcenter) -> list[str]:
        return vcenter_warnings(vcenter)


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, style={"input_type": "password"}, trim_whitespace=False)


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
