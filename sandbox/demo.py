"""Sandbox peers for `make run`: the AWS sandbox (in this process) with a demo VPC, and the vCenter sandbox
(when it can be built here). Returns what the portal needs to be pointed at them, including the settings it must run
with to reach them (`portal_settings`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DemoPeers:
    aws_endpoint: str
    vpc_id: str
    # The demo tenant's AWS keys, registered with the AWS sandbox so that the presigned part URLs its connector agent
    # is given are accepted (S3 refuses a presigned URL signed with a key it does not know).
    aws_access_key_id: str = "AKIASANDBOXDEMO00000"
    aws_secret_access_key: str = "sandbox"
    vcenter_url: str = ""
    vcenter_username: str = ""
    vcenter_password: str = ""
    notes: list[str] = field(default_factory=list)
    handles: list = field(default_factory=list)
    # Environment variables (and settings) the portal's processes need to reach these peers.
    portal_settings: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        for handle in reversed(self.handles):
            try:
                handle.stop()
            except Exception:  # noqa: BLE001  (best effort at shutdown)
                pass


def start_demo_peers(*, aws_speed: float = 1.0) -> DemoPeers:
    from sandbox.aws import start_aws

    aws = start_aws(port=0, speed=aws_speed, vmimport_role=True, load_default_amis=False)
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    for i, zone in enumerate(("us-east-1a", "us-east-1b")):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i + 1}.0/24", AvailabilityZone=zone)["Subnet"]
        ec2.create_tags(Resources=[subnet["SubnetId"]], Tags=[{"Key": "Name", "Value": f"app-{zone[-1]}"}])
    ec2.create_security_group(GroupName="web", Description="Web tier", VpcId=vpc)
    ec2.create_key_pair(KeyName="demo-key")
    peers = DemoPeers(aws_endpoint=aws.endpoint_url, vpc_id=vpc, handles=[aws])
    aws.register_credentials(peers.aws_access_key_id, peers.aws_secret_access_key)
    peers.notes.append(f"AWS sandbox (moto + VM Import/Export) on {aws.endpoint_url}")
    try:
        from sandbox.vcenter.server import start_vcenter

        vcenter = start_vcenter(https=False)
        peers.handles.append(vcenter)
        peers.vcenter_url, peers.vcenter_username, peers.vcenter_password = (
            vcenter.url, vcenter.username, vcenter.password)
        peers.notes.append(f"vCenter sandbox (govmomi simulator) on {vcenter.url}")
        # The simulator listens on plain HTTP on loopback, which the outbound address policy refuses by default.
        peers.portal_settings.update(OUTBOUND_ALLOW_HTTP="true", OUTBOUND_ALLOWED_CIDRS="127.0.0.0/8")
        peers.notes.append("The portal runs with OUTBOUND_ALLOW_HTTP=true OUTBOUND_ALLOWED_CIDRS=127.0.0.0/8 to reach "
                           "it: a demo allowance, never for production (it lets tenants' vCenter URLs reach "
                           "loopback over plain HTTP)")
    except Exception as exc:  # noqa: BLE001  (the portal still runs without it)
        peers.notes.append(f"vCenter sandbox not started ({exc}); run `sudo bash sandbox/vcenter/build.sh` to "
                           "install Go and build it")
    return peers
