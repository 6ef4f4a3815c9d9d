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

    def __post_init__(self):
        # An empty private IP from a form or a JSON body means "let AWS choose", the same as none given.
        if not self.private_ip:
            object.__setattr__(self, "private_ip", None)
