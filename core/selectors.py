"""Reads of the core beyond a restricted queryset."""


def vcenter_warnings(vcenter) -> list[str]:
    warnings = []
    if vcenter.ignore_esx_certificate_errors:
        warnings.append("ESX certificate errors are ignored: disk downloads are not protected against "
                        "interception. Turn this off once no ESX 4.1 host remains.")
    if not vcenter.verify_tls:
        warnings.append("vCenter's certificate is not verified. Give its CA certificate or thumbprint instead.")
    return warnings
