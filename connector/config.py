"""The agent's one file: where the portal is, who the agent is, its private key and the portal keys it pinned.
Written with mode 0600 and refused when others can read it, since it holds the agent's only credential."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_PATH = Path(os.environ.get("CONNECTOR_CONFIG", "~/.config/vm-migration-connector/config.json")).expanduser()


class ConfigError(Exception):
    pass


@dataclass
class Config:
    portal_url: str
    agent_id: str
    private_key: str = field(repr=False)
    portal_public_keys: list[str]
    name: str = ""
    tenant: str = ""
    # A CA bundle for the portal's certificate (a private CA); empty uses the system's.
    ca_bundle: str = ""
    heartbeat_seconds: int = 20
    # A CA bundle for the S3 endpoint the presigned URLs point at (a private S3-compatible endpoint); empty uses the
    # system's.
    s3_ca_bundle: str = ""
    # This host's vCenter, entered here (`python -m connector vcenter`) and never sent to the portal: url, username,
    # password, thumbprint, verify_tls.
    vcenter: dict = field(default_factory=dict, repr=False)
    # Where vCenter is and how to trust it, as the portal's administrator set it (url, verify_tls, ca_pem,
    # thumbprint, ignore_esx_certificate_errors, dns_suffixes); kept from the last heartbeat. The credentials are
    # only ever the ones entered here, sent only to the url entered here (connector.vcenter.connection).
    portal_vcenter: dict = field(default_factory=dict)
    # Being updated (`python -m connector updating on`): reported to the portal, which starts no new migrations;
    # the agent takes no new work and finishes what it runs.
    updating: bool = False


def save(config: Config, path: Path = DEFAULT_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    # Created 0600 from the start (not chmod-ed after), then renamed over the old file in one step.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(asdict(config), out, indent=2)
    os.replace(temporary, path)


def load(path: Path = DEFAULT_PATH) -> Config:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist: register first (python -m connector register --help)") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
    try:
        data = json.loads(path.read_text())
        return Config(**data)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not a connector configuration: {exc}") from None
