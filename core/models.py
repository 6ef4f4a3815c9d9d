"""Tenancy, users and groups, tenant peer settings, and the append-only audit log."""

import secrets
import ssl

from django.contrib.auth.models import AbstractUser, Group, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from adapters.outbound import OutboundRefused, connector_policy
from core.audit_actions import action_choices
from core.fields import EncryptedTextField
from core.querysets import RestrictedQuerySet, Restriction
from core.roles import Action, TenantRole

# People and peer settings: administrators change them, auditors read them (pages and API alike); plain users
# get nothing. Secrets stay write-only in every form and serializer, whoever reads.
ADMINISTERED = Restriction(auditor_can_view=True)


class TenantRestriction(Restriction):
    """Superusers run the platform and see every tenant; tenant members see only their own tenant."""

    def apply(self, queryset, user, action):
        if user is None or not user.is_authenticated or not user.is_active:
            return queryset.none()
        if user.is_superuser:
            return queryset
        if user.tenant_id is None or (action != Action.VIEW and user.role != TenantRole.ADMIN):
            return queryset.none()
        return queryset.filter(pk=user.tenant_id)


def new_bucket_suffix() -> str:
    return secrets.token_hex(4)


def new_external_id() -> str:
    # 48 random characters: more than the 32 AWS advises, and unguessable by another customer of the platform.
    return secrets.token_urlsafe(36)


def validate_time_zone(value: str) -> None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not a known time zone (an IANA name such as Europe/Berlin).",
                              code="invalid") from exc


class Tenant(models.Model):
    """An organisation. Every tenant-owned row carries its tenant; tenants are deactivated, never deleted."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    is_active = models.BooleanField(default=True)
    # S3 bucket names are global: this random, stored suffix keeps two installations' tenants of the same slug
    # apart, and unlike a hash of a secret it survives key rotation (the vmimport policy names the buckets).
    bucket_suffix = models.CharField(max_length=8, default=new_bucket_suffix, editable=False)
    # Scheduled times (a plan's cutover window) are shown in it, with their offset.
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone],
                                 help_text="An IANA time zone name, such as Europe/Berlin.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RestrictedQuerySet.as_manager()
    restriction = TenantRestriction()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class TenantOwnedModel(models.Model):
    """Base for rows that belong to one tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        abstract = True


class PortalUserManager(UserManager.from_queryset(RestrictedQuerySet)):
    pass


vcenter_principal_validator = RegexValidator(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*\\[^\\@\s]+|[^\\@\s]+@[A-Za-z0-9][A-Za-z0-9.-]*)$",
    "Give the vCenter principal as DOMAIN\\user or user@domain (for example VSPHERE.LOCAL\\alice).",
)


class User(AbstractUser):
    """A person. Tenant members carry a tenant and a role; superusers carry neither, so a platform operator is
    never a tenant administrator by accident (a database constraint holds this)."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="users")
    role = models.CharField(max_length=16, choices=TenantRole.choices, blank=True)
    vcenter_principal = models.CharField(
        max_length=255,
        blank=True,
        validators=[vcenter_principal_validator],
        help_text="The user's own vCenter identity, used to check their export privilege on a VM.",
    )

    objects = PortalUserManager()
    restriction = ADMINISTERED

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                name="user_superuser_xor_tenant_member",
                condition=Q(is_superuser=True, tenant__isnull=True, role="")
                | Q(is_superuser=False, tenant__isnull=False, role__in=TenantRole.values),
            )
        ]


class TenantGroup(Group):
    """A tenant's group of users. It is a Django group (so guardian grants work on it) whose global name is
    derived from the tenant, keeping display names unique per tenant only."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="groups")
    display_name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    restriction = ADMINISTERED

    class Meta:
        ordering = ["display_name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "display_name"], name="group_name_unique_in_tenant")]

    @staticmethod
    def global_name(tenant_id: int, display_name: str) -> str:
        return f"tenant-{tenant_id}/{display_name}"

    def __str__(self):
        return self.display_name


class AwsAuthMode(models.TextChoices):
    ACCESS_KEYS = "access_keys", "Access keys"
    ASSUME_ROLE = "assume_role", "Assume a role"


class TenantAwsAccount(TenantOwnedModel):
    """How the portal reaches the tenant's AWS account. Secrets are encrypted at rest and never shown back.

    With access keys the portal acts with the tenant's keys. With a role, the platform's own identity only calls
    sts:AssumeRole on `role_arn` with `external_id`, which the portal generates per tenant (the customer puts it in
    the role's trust policy; no tenant can set it, so none can make the portal assume another customer's role)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.PROTECT, related_name="aws_account")
    account_id = models.CharField(
        max_length=12, blank=True, validators=[RegexValidator(r"^\d{12}$", "An AWS account id has 12 digits.")]
    )
    auth_mode = models.CharField(max_length=16, choices=AwsAuthMode.choices, default=AwsAuthMode.ACCESS_KEYS)
    access_key_id = models.CharField(
        max_length=128, blank=True, validators=[RegexValidator(r"^[A-Z0-9]{16,128}$", "Not an access key id.")]
    )
    secret_access_key = EncryptedTextField(blank=True)
    role_arn = models.CharField(
        max_length=2048,
        blank=True,
        validators=[RegexValidator(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$", "Not an IAM role ARN.")],
    )
    external_id = EncryptedTextField(default=new_external_id, editable=False)

    restriction = ADMINISTERED

    @property
    def is_configured(self) -> bool:
        if self.auth_mode == AwsAuthMode.ASSUME_ROLE:
            return bool(self.role_arn)
        return bool(self.access_key_id and self.secret_access_key)


class TenantVCenter(TenantOwnedModel):
    """Where the tenant's connector agents reach vCenter and how they trust it. No account: it is entered on the
    connector, which alone reads vCenter, and the portal cannot use it."""

    tenant = models.OneToOneField(Tenant, on_delete=models.PROTECT, related_name="vcenter")
    url = models.URLField(max_length=500, help_text="For example https://vcenter.example.com/sdk")
    verify_tls = models.BooleanField(default=True)
    ca_certificate_pem = models.TextField(blank=True, max_length=65536)
    thumbprint = models.CharField(
        max_length=95,
        blank=True,
        validators=[RegexValidator(r"^([0-9A-Fa-f]{2}:){19,31}[0-9A-Fa-f]{2}$", "A SHA-1 or SHA-256 thumbprint.")],
    )
    ignore_esx_certificate_errors = models.BooleanField(
        default=False, help_text="Only for old ESX 4.1 hosts whose certificates cannot be verified. Audited."
    )
    dns_suffixes = models.CharField(
        max_length=500, blank=True, help_text="Comma-separated DNS suffixes tried when an ESX host name fails."
    )
    connector_updating = models.BooleanField(
        default=False, help_text="While on, new migrations are refused; running ones continue."
    )
    max_active_migrations_per_region = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Overrides MIGRATION_MAX_ACTIVE_PER_REGION for this tenant's connector."
    )

    @property
    def dns_suffix_list(self) -> list[str]:
        return [s.strip().strip(".") for s in self.dns_suffixes.split(",") if s.strip()]

    def clean(self):
        """Refuses a URL the connector's outbound policy refuses (a cloud's metadata address, say: the agent would
        refuse it anyway) and a CA certificate that does not load, when saved rather than at the first report."""
        super().clean()
        errors = {}
        try:
            self._meta.get_field("url").run_validators(self.url)
            well_formed = bool(self.url)
        except ValidationError:
            well_formed = False  # clean_fields() reports it
        if well_formed:
            try:
                connector_policy(self.url).check_url(self.url)
            except OutboundRefused as exc:
                errors["url"] = ValidationError(exc.message_for("The vCenter URL"), code=f"outbound_{exc.category}")
            except OSError:
                # A name that resolves only in the customer's network is not refused; the connector checks every
                # address it connects to.
                pass
        if self.ca_certificate_pem.strip():
            try:
                ssl.create_default_context(cadata=self.ca_certificate_pem)
            except (ssl.SSLError, ValueError, UnicodeError, TypeError):  # TypeError: non-ASCII text
                errors["ca_certificate_pem"] = ValidationError(
                    "The CA certificate is not a PEM certificate (-----BEGIN CERTIFICATE----- ...).",
                    code="invalid_certificate")
        if errors:
            raise ValidationError(errors)

    restriction = ADMINISTERED


class AuditOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    DENIED = "denied", "Denied"
    FAILED = "failed", "Failed"


class AppendOnlyError(Exception):
    pass


class AuditLog(models.Model):
    """Who did what to which object, in which tenant, when and from where. Append-only: the model refuses
    updates and deletes, and database triggers refuse them too."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
                               related_name="+")
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
                              related_name="+")
    actor_username = models.CharField(max_length=150, blank=True)
    # `audit_record` enforces the vocabulary; choices are no database constraint, so rows written before it keep
    # their text and still read back (get_action_display() falls back to the stored value).
    action = models.CharField(max_length=100, db_index=True, choices=action_choices)
    outcome = models.CharField(max_length=10, choices=AuditOutcome.choices, default=AuditOutcome.SUCCESS)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = RestrictedQuerySet.as_manager()
    restriction = Restriction(auditor_can_view=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"])]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("audit log rows cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit log rows cannot be deleted")
