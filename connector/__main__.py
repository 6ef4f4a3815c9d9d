"""`python -m connector register --portal URL --code CODE`, then `python -m connector run`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from connector import __version__, agent, config, logs, protocol, vcenter
from connector.transport import PortalError

logger = logging.getLogger("connector")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m connector",
        description="The VM migration portal's connector agent: it runs beside your vCenter and makes outbound "
                    "HTTPS requests to the portal only.")
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--config", type=Path, default=config.DEFAULT_PATH,
                        help=f"the agent's configuration file, mode 0600 (default {config.DEFAULT_PATH})")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True)
    register = commands.add_parser("register", help="exchange a one-time registration code for this agent's key")
    register.add_argument("--portal", required=True, help="the portal's URL, e.g. https://portal.example.com")
    register.add_argument("--code", required=True, help="the registration code the portal showed (valid 1 hour)")
    register.add_argument("--ca-bundle", default="", help="a CA bundle for the portal's certificate")
    where = commands.add_parser(
        "vcenter", help="this host's vCenter: the agent logs in with these credentials, which stay on this host "
                        "(password from CONNECTOR_VCENTER_PASSWORD, else asked)")
    where.add_argument("--url", required=True, help="e.g. https://vcenter.example.local/sdk; the credentials go to "
                                                    "this URL only (a different one set in the portal is refused)")
    where.add_argument("--user", required=True, help="a vCenter account, e.g. svc-migration@vsphere.local")
    where.add_argument("--thumbprint", default="", help="the vCenter certificate's SHA-256 thumbprint to pin")
    where.add_argument("--no-verify-tls", action="store_true", help="accept any certificate (not recommended)")
    updating = commands.add_parser(
        "updating", help="say that this connector is being updated (on: the portal starts no new migrations and "
                         "the agent takes no new work, running ones finish; off: back to work)")
    updating.add_argument("state", choices=["on", "off"])
    commands.add_parser("run", help="report to the portal until stopped")
    commands.add_parser("inventory", help="read this host's vCenter (VMs, and the portal's users' export "
                                          "privileges) and report it to the portal now, once")
    commands.add_parser("keygen", help="print a new Ed25519 private key (for the portal's CONNECTOR_SIGNING_KEY)")
    args = parser.parse_args(argv)
    logs.configure(args.log_level)

    if args.command == "keygen":
        print(protocol.private_key_text(protocol.new_private_key()))
        return 0
    try:
        if args.command == "register":
            agent.register(portal_url=args.portal, code=args.code, ca_bundle=args.ca_bundle, path=args.config)
            return 0
        if args.command == "vcenter":
            return _set_vcenter(args)
        if args.command == "updating":
            import dataclasses

            config.save(dataclasses.replace(config.load(args.config), updating=args.state == "on"), args.config)
            logger.info("updating %s (the running agent reports it within a second)", args.state)
            return 0
        runner = agent.Agent(config.load(args.config), path=args.config)
        if args.command == "inventory":
            return _report_inventory(runner)
    except (config.ConfigError, PortalError, agent.Refused) as exc:
        logger.error("%s", getattr(exc, "message", str(exc)))
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logger.info("running", extra={"fields": {"agent_id": runner.settings.agent_id, "version": __version__}})
    return runner.run(stop)


def _report_inventory(runner: agent.Agent) -> int:
    """One heartbeat (what to read: whose privileges, the limits), then the inventory, taken and sent now."""
    instructions = runner.beat().get("inventory") or {}
    answer = runner.inventory.report(instructions)
    if answer.get("stored"):
        logger.info("inventory stored", extra={"fields": {"vms": answer.get("vms")}})
        return 0
    logger.error("inventory not stored (see the warning above)")
    return 4


def _set_vcenter(args) -> int:
    import dataclasses
    import getpass
    import os

    settings = config.load(args.config)
    password = os.environ.get("CONNECTOR_VCENTER_PASSWORD") or getpass.getpass("vCenter password: ")
    vcenter_settings = {"url": args.url, "username": args.user, "password": password,
                        "thumbprint": args.thumbprint, "verify_tls": not args.no_verify_tls}
    config.save(dataclasses.replace(settings, vcenter=vcenter_settings), args.config)
    report = vcenter.probe(vcenter_settings)
    if report.reachable:
        logger.info("vCenter reached", extra={"fields": {"version": report.version}})
        return 0
    logger.error("vCenter not reached (saved anyway; the agent reports it until it is)",
                 extra={"fields": {"category": report.category}})
    return 4


if __name__ == "__main__":
    sys.exit(main())
