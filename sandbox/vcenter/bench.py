"""Measure NFC download throughput of the vCenter sandbox over loopback.

    python -m sandbox.vcenter.bench [--size-gb 1] [--reader urllib|requests] [--chunk-mib 1]

Starts a sandbox with one extra VM holding a fully used disk of the given size,
exports it with pyVmomi and reads the disk with a plain Python HTTP client,
discarding the bytes. Prints bytes, seconds, MB/s and peak RSS of both processes.
"""

from __future__ import annotations

import argparse
import resource
import threading
import time


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sandbox.vcenter.bench")
    p.add_argument("--size-gb", type=float, default=1.0)
    p.add_argument("--reader", choices=("urllib", "requests"), default="urllib")
    p.add_argument("--chunk-mib", type=float, default=1.0)
    args = p.parse_args(argv)

    from .inventory import default_inventory
    from .server import start_vcenter

    inv = default_inventory()
    inv["datacenters"][0]["vms"].append(
        {"name": "bench01", "folder": "Lab", "disks": [{"size_gb": args.size_gb, "used_fraction": 1.0}]})
    chunk = int(args.chunk_mib * 1024 * 1024)
    with start_vcenter(inv, https=False) as vc:
        si = vc.connect()
        vm = si.content.searchIndex.FindByInventoryPath("DC0/vm/Lab/bench01")
        lease = vm.ExportVm()
        while lease.state == "initializing":
            time.sleep(0.02)
        du = lease.info.deviceUrl[0]
        url, cookie = vc.device_url(du.url), si._stub.cookie

        peak = {"go": 0}
        done = threading.Event()

        def watch():
            while not done.is_set():
                peak["go"] = max(peak["go"], _rss_kib(vc.pid))
                time.sleep(0.05)

        threading.Thread(target=watch, daemon=True).start()
        n = 0
        t0 = time.perf_counter()
        if args.reader == "requests":
            import requests

            with requests.get(url, headers={"Cookie": cookie}, stream=True, timeout=60) as r:
                r.raise_for_status()
                for b in r.iter_content(chunk):
                    n += len(b)
        else:
            import urllib.request

            req = urllib.request.Request(url, headers={"Cookie": cookie})
            with urllib.request.urlopen(req, timeout=60) as resp:
                while b := resp.read(chunk):
                    n += len(b)
        dt = time.perf_counter() - t0
        done.set()
        lease.HttpNfcLeaseComplete()
        py_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # disk device URLs carry no fileSize (as on vCenter): compare with the sandbox's own stream length
        expected = next(x for x in vc.leases() if x["id"] == lease._moId)["disks"][0]["stream_bytes"]
        ok = "OK" if n == expected else f"MISMATCH (stream is {expected} bytes)"
        print(f"{args.reader}: {n} bytes in {dt:.2f} s = {n / dt / 1e6:.0f} MB/s ({n / dt / 2**20:.0f} MiB/s) "
              f"{ok}; peak RSS python {py_rss:.0f} MiB, simulator {peak['go'] / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
