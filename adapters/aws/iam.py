"""The vmimport service role that VM Import/Export acts as in a tenant's account: its policies, whether it is
there as needed, and putting it right."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass

import botocore.exceptions

from adapters.aws import session
from adapters.aws.session import AwsCredentials

__all__ = ["VMIMPORT_POLICY_NAME", "VMIMPORT_ROLE", "VMIMPORT_TRUST_POLICY", "RoleStatus", "vmimport_role_policy",
           "vmimport_role_repair", "vmimport_role_status"]

VMIMPORT_ROLE = "vmimport"
VMIMPORT_POLICY_NAME = "vmimport"
VMIMPORT_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "vmie.amazonaws.com"}, "Action": "sts:AssumeRole",
                   "Condition": {"StringEquals": {"sts:Externalid": "vmimport"}}}],
}


def vmimport_role_policy(buckets: list[str]) -> dict:
    """The permissions VM Import/Export needs: read the staged disks, register the image."""
    resources = [f"arn:aws:s3:::{b}" for b in buckets] + [f"arn:aws:s3:::{b}/*" for b in buckets]
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"],
         "Resource": resources or ["arn:aws:s3:::*"]},
        {"Effect": "Allow", "Action": ["ec2:ModifySnapshotAttribute", "ec2:CopySnapshot", "ec2:RegisterImage",
                                       "ec2:Describe*"], "Resource": "*"},
    ]}


@dataclass(frozen=True)
class RoleStatus:
    exists: bool
    trusts_vmie: bool
    has_policy: bool


def vmimport_role_status(credentials: AwsCredentials, region: str) -> RoleStatus:
    with session.calling("iam", credentials, region) as iam:
        try:
            role = iam.get_role(RoleName=VMIMPORT_ROLE)["Role"]
        except botocore.exceptions.ClientError as exc:
            if session.has_code(exc, "NoSuchEntity"):
                return RoleStatus(False, False, False)
            raise
        trust = role.get("AssumeRolePolicyDocument") or {}
        if isinstance(trust, str):
            trust = json.loads(urllib.parse.unquote(trust))
        trusts = any("vmie.amazonaws.com" in str(st.get("Principal", {})) for st in trust.get("Statement", []))
        inline = iam.list_role_policies(RoleName=VMIMPORT_ROLE).get("PolicyNames", [])
        attached = iam.list_attached_role_policies(RoleName=VMIMPORT_ROLE).get("AttachedPolicies", [])
        return RoleStatus(True, trusts, bool(inline or attached))


def vmimport_role_repair(credentials: AwsCredentials, region: str, buckets: list[str]) -> RoleStatus:
    """Create the role or put back its trust and policy (idempotent)."""
    status = vmimport_role_status(credentials, region)
    with session.calling("iam", credentials, region) as iam:
        if not status.exists:
            iam.create_role(RoleName=VMIMPORT_ROLE, AssumeRolePolicyDocument=json.dumps(VMIMPORT_TRUST_POLICY),
                            Description="VM Import/Export service role (managed by the migration portal)")
        elif not status.trusts_vmie:
            iam.update_assume_role_policy(RoleName=VMIMPORT_ROLE, PolicyDocument=json.dumps(VMIMPORT_TRUST_POLICY))
        iam.put_role_policy(RoleName=VMIMPORT_ROLE, PolicyName=VMIMPORT_POLICY_NAME,
                            PolicyDocument=json.dumps(vmimport_role_policy(buckets)))
    return vmimport_role_status(credentials, region)
