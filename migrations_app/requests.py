"""What a user asks for when they migrate a VM: one value, built by the API serializer, the page's form and the
`vm_migration` command alike, and taken whole by the services."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MigrationTarget:
    vm_moref: str
    environment_id: int
    operating_system: str
    instance_type: str
    subnet_id: int
    security_group_id: int
    key_pair_id: int | None = None
    private_ip: str | None = None
    power_off: bool = False
    license_type: str | None = None  # None: the operating system's default (AWS for Windows, BYOL for Linux)

    def __post_init__(self):
        # An empty private IP from a form or a JSON body means "let AWS choose", the same as none given.
        if not self.private_ip:
            object.__setattr__(self, "private_ip", None)
        if not self.license_type:
            object.__setattr__(self, "license_type", None)
