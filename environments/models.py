"""Regions, environments (region + VPC with its subnets, security groups and key pairs), templates and the
instances imported into them, plus the per-environment grants (guardian, direct foreign keys)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from core.models import TenantOwnedModel
from core.querysets import Restriction
from core.roles import Action
from environments.choices import PERMISSION_FOR_ACTION, InstanceOrigin, InstanceState
from environments.validators import (
    validate_ami_id,
    validate_instance_id,
    validate_instance_type,
    validate_region_code,
    validate_security_group_id,
    validate_subnet_id,
    validate_vpc_id,
)


def permitted_environment_ids(user, action: str) -> models.QuerySet:
    """Ids of the environments of the user's tenant on which the user (or one of their groups) holds `action`.

    Only object grants count (what guardian's get_objects_for_user answers with accept_global_perms=False and
    with_superuser=False): a model-level permission or superuser status never widens a tenant member's reach. The
    grant tables are read directly, in one lazy subquery, because this runs for every restricted list and guardian's
    query building cost more than the query (bench/scale.py, P5)."""
    from django.contrib.contenttypes.models import ContentType

    codename = PERMISSION_FOR_ACTION.get(action)
    if codename is None or user.tenant_id is None:
        return Environment.objects.none().values("pk")
    permission = {"permission__codename": codename,
                  "permission__content_type_id": ContentType.objects.get_for_model(Environment).pk}  # cached
    direct = EnvironmentUserObjectPermission.objects.filter(user_id=user.pk, **permission)
    via_groups = EnvironmentGroupObjectPermission.objects.filter(group__user=user.pk, **permission)
    return Environment.objects.order_by().filter(
        Q(pk__in=direct.values("content_object_id")) | Q(pk__in=via_groups.values("content_object_id")),
        tenant_id=user.tenant_id,
    ).values("pk")


def through_environment(path: str):
    """restrict()'s user scope for rows that belong to an environment: the user's role there decides."""

    def scope(user, action):
        return Q(**{f"{path}__in": permitted_environment_ids(user, action)})

    return scope


def _region_user_scope(user, action):
    # A user sees a region when they see one of its environments; acting on a region is for admins.
    return Q(pk__in=Environment.objects.filter(pk__in=permitted_environment_ids(user, action)).values("region_id"))


class Region(TenantOwnedModel):
    """An AWS region a tenant works in. Creating one creates its default environment."""

    code = models.CharField(max_length=32, validators=[validate_region_code])
    name = models.CharField(max_length=100, blank=True)

    restriction = Restriction(user_scope=_region_user_scope, user_actions=frozenset({Action.VIEW}))

    class Meta:
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="region_code_unique_in_tenant")]

    def __str__(self):
        return self.code


class Environment(TenantOwnedModel):
    """An AWS region plus a VPC with the subnets, security groups and key pairs users may use there.

    Each region has exactly one default environment (its default VPC) that cannot be deleted."""

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="environments")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=500, blank=True)
    vpc_id = models.CharField(
        max_length=21, blank=True, validators=[validate_vpc_id], help_text="Empty means the region's default VPC."
    )
    vpc_cidr_block = models.CharField(max_length=43, blank=True)
    is_default = models.BooleanField(default=False, editable=False)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    sync_error = models.CharField(max_length=1000, blank=True)

    restriction = Restriction(user_scope=through_environment("pk"))

    class Meta:
        ordering = ["region__code", "name"]
        permissions = [
            ("operate_environment", "General: migrate VMs into it, start and stop its instances, launch templates"),
            ("manage_environment", "Owner: manage its templates and key pairs"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["region", "name"], name="environment_name_unique_in_region"),
            models.UniqueConstraint(fields=["region"], condition=Q(is_default=True), name="one_default_per_region"),
        ]

    def __str__(self):
        return f"{self.region.code}/{self.name}"

    def clean(self):
        if self.region_id and self.tenant_id and self.region.tenant_id != self.tenant_id:
            raise ValidationError({"region": "The region belongs to another tenant."})


# Who holds which role on an environment: administrators manage it, auditors read it, plain users see neither.
GRANTS = Restriction(tenant_path="content_object__tenant", auditor_can_view=True)


class EnvironmentUserObjectPermission(UserObjectPermissionBase):
    """A user's grant on an environment; deleting the environment deletes it (no orphaned grants)."""

    content_object = models.ForeignKey(Environment, on_delete=models.CASCADE)

    restriction = GRANTS


class EnvironmentGroupObjectPermission(GroupObjectPermissionBase):
    """A group's grant on an environment."""

    content_object = models.ForeignKey(Environment, on_delete=models.CASCADE)

    restriction = GRANTS


class EnvironmentResource(TenantOwnedModel):
    """Something that lives in one environment; the user's role on that environment decides access."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")

    restriction = Restriction(user_scope=through_environment("environment"))

    class Meta:
        abstract = True

    # Related rows (by field) that must belong to this row's own environment, and how their error names this row.
    same_environment: tuple[str, ...] = ()
    noun = ""

    def clean(self):
        if self.environment_id and self.tenant_id and self.environment.tenant_id != self.tenant_id:
            raise ValidationError({"environment": "The environment belongs to another tenant."})
        errors = {}
        for field in self.same_environment if self.environment_id else ():
            related = getattr(self, field, None) if getattr(self, f"{field}_id") else None
            if related is not None and related.environment_id != self.environment_id:
                errors[field] = f"It must belong to the {self.noun}'s environment."
        if errors:
            raise ValidationError(errors)


class Subnet(EnvironmentResource):
    """A subnet of the environment's VPC, as last synced from AWS."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="subnets")
    subnet_id = models.CharField(max_length=24, validators=[validate_subnet_id])
    cidr_block = models.CharField(max_length=43)
    availability_zone = models.CharField(max_length=32)
    name = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["subnet_id"]
        constraints = [models.UniqueConstraint(fields=["environment", "subnet_id"], name="subnet_unique_in_env")]

    def __str__(self):
        return self.subnet_id


class SecurityGroup(EnvironmentResource):
    """A security group of the environment's VPC, as last synced from AWS."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="security_groups")
    group_id = models.CharField(max_length=24, validators=[validate_security_group_id])
    name = models.CharField(max_length=255)
    description = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["environment", "group_id"], name="sg_unique_in_env")]

    def __str__(self):
        return f"{self.name} ({self.group_id})"


class KeyPair(EnvironmentResource):
    """An EC2 key pair usable in the environment."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="key_pairs")
    name = models.CharField(max_length=255)
    key_pair_id = models.CharField(max_length=32, blank=True)
    fingerprint = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["environment", "name"], name="keypair_unique_in_env")]

    def __str__(self):
        return self.name


class Template(EnvironmentResource):
    """A launch template: AMI, instance type, subnet, security group and key pair in one environment."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    ami_id = models.CharField(max_length=21, validators=[validate_ami_id])
    instance_type = models.CharField(max_length=32, validators=[validate_instance_type])
    subnet = models.ForeignKey(Subnet, on_delete=models.PROTECT, related_name="+")
    security_group = models.ForeignKey(SecurityGroup, on_delete=models.PROTECT, related_name="+")
    key_pair = models.ForeignKey(KeyPair, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    same_environment = ("subnet", "security_group", "key_pair")
    noun = "template"

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["environment", "name"], name="template_unique_in_env")]

    def __str__(self):
        return self.name


class ImportedInstance(EnvironmentResource):
    """An EC2 instance the portal created by migrating a vCenter VM. Written only by the instance services in
    `environments.services` (the migration worker records its result through `instance_record_imported`)."""

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="instances")
    instance_id = models.CharField(max_length=19, validators=[validate_instance_id])
    origin = models.CharField(max_length=16, choices=InstanceOrigin.choices, default=InstanceOrigin.IMPORTED)
    source_vm_moref = models.CharField(max_length=64, blank=True)
    source_vm_name = models.CharField(max_length=255, blank=True)
    instance_type = models.CharField(max_length=32, blank=True)
    private_ip = models.GenericIPAddressField(protocol="IPv4", null=True, blank=True)
    image_id = models.CharField(max_length=21, blank=True)
    state = models.CharField(max_length=16, choices=InstanceState.choices, default=InstanceState.UNKNOWN)
    state_refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "instance_id"], name="instance_unique_in_tenant")]

    def __str__(self):
        return self.instance_id
