"""Self-check of both sandbox peers, for a newcomer: ``python -m sandbox.selfcheck [--vm web01] [--keep-files]``.

Starts the vCenter sandbox (govmomi simulator + our NFC overlay, default inventory) and the AWS sandbox (moto
with our VM Import/Export extension, in-process, clock frozen and driven forward), then checks, over the real
protocols:

1. pyVmomi over HTTP logs in and lists the VMs;
2. a powered-off VM's disk is exported through an NFC lease (ExportVm), its bytes are downloaded and counted,
   and the lease is completed;
3. those VMDK bytes are uploaded to S3 and imported with ImportImage until ``completed``, an instance is
   launched from the AMI and exported to an OVA object (``sandbox.aws.selfcheck.run``, fast mode).

Every line starts with ``OK`` or ``FAIL``; the exit code is 0 only when every check passed. Both sandboxes are
stopped at the end. Takes about 10 s once the simulator binary is built (the first run builds it, see
``sandbox/vcenter/build.sh``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
import urllib.request
from typing import Any, Callable


class Report:
    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.ok_count = 0
        self.failures = 0

    def ok(self, message: str) -> None:
        self.ok_count += 1
        print(f"OK   {message}", file=self.out, flush=True)

    def fail(self, message: str) -> None:
        self.failures += 1
        print(f"FAIL {message}", file=self.out, flush=True)

    def lines(self, lines: list[str]) -> None:
        """Relay lines that already start with OK / FAIL (sandbox.aws.selfcheck's)."""
        for line in lines:
            if line.startswith("FAIL"):
                self.failures += 1
            else:
                self.ok_count += 1
            print(line, file=self.out, flush=True)


def _error(exc: BaseException) -> str:
    detail = getattr(exc, "msg", None) or str(exc)  # pyVmomi faults: `msg`, not their multi-line repr
    text = f"{type(exc).__name__}: {detail}".strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:300]


def _step(report: Report, what: str, fn: Callable[[], Any]) -> Any:
    """Run one check; an exception becomes a FAIL line (with the traceback on stderr), returning None."""
    try:
        return fn()
    except Exception as exc:  # a self-check reports, it does not crash
        report.fail(f"{what}: {_error(exc)}")
        traceback.print_exc(file=sys.stderr)
        return None


def _wait_lease(lease, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        state = str(lease.state)
        if state != "initializing" or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def check_vcenter(report: Report, vm_name: str, workdir: str) -> str | None:
    """Start the vCenter sandbox, list VMs, export one disk over NFC. Returns the VMDK path or None."""
    from .vcenter.server import start_vcenter

    t0 = time.monotonic()
    vc = _step(report, "vCenter sandbox did not start", lambda: start_vcenter(https=False))
    if vc is None:
        return None
    try:
        report.ok(f"vCenter sandbox started at {vc.url} (pid {vc.pid}, API {vc.api_version or '?'}) in "
                  f"{time.monotonic() - t0:.1f} s")

        si = _step(report, f"pyVmomi login as {vc.username}", vc.connect)
        if si is None:
            return None
        from pyVmomi import vim

        def list_vms():
            content = si.RetrieveContent()
            view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
            try:
                return {vm.name: vm for vm in view.view}
            finally:
                view.Destroy()

        vms = _step(report, "listing VMs", list_vms)
        if vms is None:
            return None
        if not vms:
            report.fail("the vCenter sandbox lists no VMs")
            return None
        report.ok(f"pyVmomi over HTTP: {len(vms)} VMs listed: {', '.join(sorted(vms))}")

        vm = vms.get(vm_name)
        if vm is None:
            report.fail(f"VM {vm_name!r} not in the inventory")
            return None
        return _export_disk(report, vc, si, vm, workdir)
    finally:
        vc.stop()


def _export_disk(report: Report, vc, si, vm, workdir: str) -> str | None:
    name = vm.name
    lease = _step(report, f"ExportVm({name})", vm.ExportVm)
    if lease is None:
        return None
    completed = False
    try:
        state = _wait_lease(lease)
        if state != "ready":
            error = getattr(lease.error, "msg", lease.error)
            report.fail(f"NFC lease {lease._moId} for {name} is {state!r}, not 'ready' ({error})")
            return None
        disks = [d for d in lease.info.deviceUrl if d.disk]
        if not disks:
            report.fail(f"NFC lease {lease._moId} offers no disk for {name}")
            return None
        device = disks[0]
        path = os.path.join(workdir, f"{name}-disk1.vmdk")

        def download() -> tuple[int, int | None, float]:
            req = urllib.request.Request(vc.device_url(device.url), headers={"Cookie": si._stub.cookie})
            t = time.monotonic()
            count = 0
            with urllib.request.urlopen(req, timeout=60) as resp, open(path, "wb") as fh:
                length = resp.headers.get("Content-Length")
                while chunk := resp.read(1024 * 1024):
                    fh.write(chunk)
                    count += len(chunk)
            return count, int(length) if length else None, time.monotonic() - t

        got = _step(report, f"NFC download of {name}'s disk", download)
        if got is None:
            return None
        count, length, seconds = got
        expected = int(device.fileSize or 0) or length
        if not count or (expected and count != expected):
            report.fail(f"NFC download of {name}'s disk: {count} bytes, expected {expected}")
            return None
        report.ok(f"disk of {name} exported through NFC lease {lease._moId}: {count} bytes counted "
                  f"(= fileSize) in {seconds:.2f} s")

        def complete() -> str:
            lease.HttpNfcLeaseProgress(percent=100)
            lease.HttpNfcLeaseComplete()
            return str(lease.state)

        final = _step(report, f"completing NFC lease {lease._moId}", complete)
        if final is None:
            return None
        completed = True
        if final != "done":
            report.fail(f"NFC lease {lease._moId} is {final!r} after HttpNfcLeaseComplete, not 'done'")
            return None
        report.ok(f"NFC lease {lease._moId} completed (state {final}); {name} is released")
        return path
    finally:
        if not completed:
            try:
                lease.HttpNfcLeaseAbort()
            except Exception:  # noqa: BLE001 - best effort
                pass


def check_aws(report: Report, vmdk_path: str | None, workdir: str) -> None:
    """Start the AWS sandbox and run sandbox.aws.selfcheck (S3 upload, ImportImage, RunInstances, export)."""
    from .aws.server import start_aws

    t0 = time.monotonic()
    aws = _step(report, "AWS sandbox did not start",
                lambda: start_aws(port=0, speed=0, load_default_amis=False))
    if aws is None:
        return
    try:
        report.ok(f"AWS sandbox started at {aws.endpoint_url} (in-process, clock frozen) in "
                  f"{time.monotonic() - t0:.1f} s")
        if vmdk_path is None:
            # Still tell the newcomer whether the AWS side works, with a generated disk (the run already failed).
            from .aws import diskfmt

            vmdk_path = os.path.join(workdir, "generated.vmdk")
            with open(vmdk_path, "wb") as fh:
                fh.write(diskfmt.make_stream_optimized_vmdk(16 << 20, diskfmt.sample_disk_data("selfcheck")))
            report.fail("no disk exported from vCenter: checking AWS with a generated VMDK instead")

        from .aws import selfcheck as aws_selfcheck

        try:
            report.lines(aws_selfcheck.run(aws, vmdk_path, fast=True, keep=False))
        except aws_selfcheck.SelfCheckError as exc:
            report.lines(exc.lines)
        except Exception as exc:  # boto3 / moto errors
            report.fail(f"AWS round trip: {_error(exc)}")
            traceback.print_exc(file=sys.stderr)
    finally:
        aws.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.selfcheck", description=__doc__.splitlines()[0])
    parser.add_argument("--vm", default="web01", help="powered-off VM of the default inventory to export (web01)")
    parser.add_argument("--keep-files", action="store_true", help="keep the exported VMDK (path is printed)")
    args = parser.parse_args(argv)

    started = time.monotonic()
    report = Report()
    workdir = tempfile.mkdtemp(prefix="sandbox-selfcheck-")
    try:
        vmdk = check_vcenter(report, args.vm, workdir)
        check_aws(report, vmdk, workdir)
    finally:
        if args.keep_files:
            print(f"OK   files kept in {workdir}", flush=True)
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    total = report.ok_count + report.failures
    seconds = time.monotonic() - started
    if report.failures:
        report.fail(f"{report.failures} of {total} checks failed ({seconds:.1f} s); sandboxes stopped")
        return 1
    report.ok(f"all {total} checks passed in {seconds:.1f} s; sandboxes stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
