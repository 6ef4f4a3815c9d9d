"""Run the vCenter sandbox in the foreground (for demos and manual testing).

    python -m sandbox.vcenter [--inventory inv.json] [--port 8989] [--lease-timeout 300]
                              [--faults '{"nfc_bytes_per_second": 5000000}'] [--no-https]
    python -m sandbox.vcenter --print-inventory > inv.json   # dump the default inventory

Prints the connection details (and the one-line JSON) and runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .inventory import (ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD, CAROL, CAROL_PASSWORD, DAVE, DAVE_PASSWORD,
                        default_inventory)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sandbox.vcenter", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inventory", help="inventory JSON file (default: the built-in default inventory)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="HTTP port (default: a free port)")
    p.add_argument("--lease-timeout", type=float, help="export lease timeout in seconds (default 300)")
    p.add_argument("--lease-init", type=float, help="seconds a lease stays 'initializing'")
    p.add_argument("--faults", help="initial fault switches as JSON")
    p.add_argument("--no-https", action="store_true", help="serve plain HTTP only")
    p.add_argument("--trace", action="store_true", help="log SOAP traffic to stderr")
    p.add_argument("--print-inventory", action="store_true", help="print the default inventory JSON and exit")
    args = p.parse_args(argv)

    if args.print_inventory:
        json.dump(default_inventory(), sys.stdout, indent=2)
        print()
        return 0

    from .server import start_vcenter

    inventory = None
    if args.inventory:
        with open(args.inventory) as f:
            inventory = json.load(f)
    options = {"host": args.host, "port": args.port, "https": not args.no_https, "log_path": "-",
               "trace": args.trace}
    if args.lease_timeout is not None:
        options["lease_timeout"] = args.lease_timeout
    if args.lease_init is not None:
        options["lease_init"] = args.lease_init
    if args.faults:
        options["faults"] = json.loads(args.faults)

    # Installed before anything is announced: whoever reads the ready line may signal at once.
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    vc = start_vcenter(inventory, **options)
    info = {
        "url": vc.url, "host": vc.host, "port": vc.port, "username": vc.username, "password": vc.password,
        "https_url": vc.https_url, "thumbprint": vc.thumbprint, "control_url": vc.control_url,
        "esx_hosts": vc.esx_hosts,
    }
    print(json.dumps(info), flush=True)
    esx = ", ".join(f"{name}:{h['https_port']}" for name, h in vc.esx_hosts.items())
    print(f"""
vCenter sandbox ready
  SOAP (HTTP):   {vc.url}
  SOAP (HTTPS):  {vc.https_url or '-'}   thumbprint {vc.thumbprint or '-'}
  ESX NFC:       {esx or '-'}   (HTTPS leases name these hosts: resolve them to {vc.host})
  login:         {vc.username} / {vc.password}
  users:         {ALICE} / {ALICE_PASSWORD} (VApp.Export on /DC0/vm/Production)
                 {BOB} / {BOB_PASSWORD} (ReadOnly, no VApp.Export)
                 {CAROL} / {CAROL_PASSWORD}, {DAVE} / {DAVE_PASSWORD} (VApp.Export on Lab through a group;
                 dave not on lab-big01)   [default inventory]
  faults:        curl -X POST {vc.control_url}/faults -d '{{"nfc_bytes_per_second": 5000000}}'
                 curl -X DELETE {vc.control_url}/faults
  leases:        curl {vc.control_url}/leases
  pyvmomi:       SmartConnect(protocol="http", host="{vc.host}", port={vc.port}, user=..., pwd=...)
Ctrl-C to stop.""", file=sys.stderr, flush=True)

    try:
        while not done.is_set() and vc.alive:
            done.wait(0.5)
    finally:
        vc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
