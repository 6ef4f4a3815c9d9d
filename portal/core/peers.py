"""Builds the adapters' connection settings from a tenant's stored settings (the one place that reads them)."""

from portal.core.errors import Conflict
from portal.core.models import Tenant, TenantVCenter
from portal.integrations.aws.client import AwsCredentials
from portal.integrations.vsphere.client import VCenterConnection


def aws_credentials(tenant: Tenant) -> AwsCredentials:
    account = getattr(tenant, "aws_account", None)
    if account is None:
        return AwsCredentials()
    return AwsCredentials(
        access_key_id=account.access_key_id,
        secret_access_key=account.secret_access_key,
        role_arn=account.role_arn if account.auth_mode == "assume_role" else "",
        external_id=account.external_id,
    )


def vcenter_settings(tenant: Tenant) -> TenantVCenter:
    vcenter = TenantVCenter.objects.filter(tenant=tenant).first()
    if vcenter is None:
        raise Conflict("This organisation has no vCenter connection yet; an administrator sets it up under "
                       "settings.", code="vcenter_not_configured")
    return vcenter


def vcenter_connection(tenant: Tenant) -> VCenterConnection:
    vcenter = vcenter_settings(tenant)
    return VCenterConnection(
        url=vcenter.url, username=vcenter.username, password=vcenter.password, verify_tls=vcenter.verify_tls,
        ca_pem=vcenter.ca_certificate_pem, thumbprint=vcenter.thumbprint,
        ignore_esx_certificate_errors=vcenter.ignore_esx_certificate_errors,
        dns_suffixes=tuple(vcenter.dns_suffix_list),
    )
