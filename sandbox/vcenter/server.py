"""Start and control the vCenter sandbox (govmomi simulator + sandbox overlay).

    from sandbox.vcenter.server import start_vcenter

    with start_vcenter() as vc:                 # default inventory (inventory.py)
        si = vc.connect()                       # pyVmomi ServiceInstance over HTTP
        vc.set_faults(nfc_bytes_per_second=1_000_000)
        ...

Only the standard library is imported at module level; pyVmomi is imported
lazily by :meth:`VCenterSandbox.connect`.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .inventory import default_inventory

FAULT_SWITCHES = (
    "esx_host_unresolvable",  # bool or host name: device URLs name an unresolvable host instead of "*"
    "nfc_cut_after_bytes",  # int: close the connection after N body bytes of each disk download
    "nfc_bytes_per_second",  # int: cap each disk download at N bytes/s
    "lease_error_after_seconds",  # float: leases go to state "error" N s after creation / after being set (0 = at once)
    "lease_timeout_seconds",  # float: lease timeout for new leases (overrides the start-up value)
    "lease_init_seconds",  # float: how long new leases stay "initializing"
    "nfc_cut_count",  # int: nfc_cut_after_bytes cuts only the next N downloads (None = every download)
    "nfc_cut_reset",  # bool: a cut download ends with a TCP reset (ECONNRESET) instead of a close
    "nfc_content_length",  # bool: disk downloads carry a Content-Length (default: chunked, no length, as ESX)
    "session_expire_after_calls",  # int: after N more authenticated SOAP calls, the next one's session expires
)


class SandboxError(RuntimeError):
    """The sandbox failed to start or answered an error."""


def _terminate(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is not None:
        return
    try:
        if proc.stdin:
            proc.stdin.close()  # the binary runs with -exit-on-stdin-eof
    except OSError:
        pass
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass


def _cleanup(proc: subprocess.Popen, tmpdir: str | None) -> None:
    _terminate(proc)
    if tmpdir:
        shutil.rmtree(tmpdir, ignore_errors=True)


@dataclass
class VCenterSandbox:
    """A running sandbox. ``url`` is the SOAP endpoint (``http://127.0.0.1:<port>/sdk``)."""

    url: str
    host: str
    port: int
    username: str
    password: str
    control_url: str
    https_url: str | None = None
    https_port: int | None = None
    thumbprint: str | None = None
    # {ESX host name: {"https_port", "thumbprint"}}: each host's own NFC listener (with HTTPS)
    esx_hosts: dict = field(default_factory=dict)
    api_version: str = ""
    inventory: dict = field(default_factory=dict, repr=False)
    log_path: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    _finalizer: Any = field(default=None, repr=False)
    _https_pem: str | None = field(default=None, repr=False)

    # -- lifecycle ---------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop the simulator process (idempotent)."""
        if self._finalizer is not None:
            self._finalizer()
        elif self.process is not None:
            _terminate(self.process)

    def __enter__(self) -> "VCenterSandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- control API -------------------------------------------------------
    def _control(self, method: str, path: str, body: dict | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.control_url}/{path}", data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise SandboxError(f"{method} {path}: HTTP {exc.code}: {detail}") from None

    def get_faults(self) -> dict:
        """Current fault switches (None = off)."""
        return self._control("GET", "faults")

    def set_faults(self, faults: dict | None = None, **kw: Any) -> dict:
        """Merge fault switches (see FAULT_SWITCHES); a value of None turns one off. Returns the new state."""
        body = dict(faults or {}, **kw)
        unknown = set(body) - set(FAULT_SWITCHES)
        if unknown:
            raise ValueError(f"unknown fault switch(es): {sorted(unknown)}; known: {FAULT_SWITCHES}")
        return self._control("POST", "faults", body)

    def clear_faults(self) -> dict:
        """Turn every fault switch off."""
        return self._control("DELETE", "faults")

    def leases(self) -> list[dict]:
        """Export leases seen by the simulator: id, ticket, vm, vm_name, state, bytes_served, downloads, disks."""
        return self._control("GET", "leases")

    def abort_leases(self) -> list[dict]:
        """Put every active export lease in error (releasing the VMs) and forget all leases, so that
        :meth:`leases` lists only leases created afterwards. Lease objects stay readable over SOAP."""
        return self._control("DELETE", "leases")

    def sessions(self) -> list[dict]:
        """Live SOAP sessions: [{user, calls}]."""
        return self._control("GET", "sessions")

    def expire_sessions(self, user: str | None = None) -> int:
        """Drop every live session (or those of ``user``), as a vCenter session timeout does: their next SOAP
        call answers NotAuthenticated and NFC downloads with their cookie answer 401. Returns how many."""
        path = "sessions" + (f"?user={urllib.parse.quote(user)}" if user else "")
        return self._control("DELETE", path)["expired"]

    def reset(self) -> None:
        """Clear faults and abort/forget leases (used between tests)."""
        self.clear_faults()
        self.abort_leases()

    # -- client helpers ----------------------------------------------------
    def connect(self, user: str | None = None, pwd: str | None = None, https: bool = False):
        """Log in with pyVmomi (HTTP by default) and return the ServiceInstance."""
        from pyVim.connect import SmartConnect  # lazy: keep module import light

        if https:
            if not self.https_port:
                raise SandboxError("sandbox started without HTTPS")
            return SmartConnect(
                host=self.host,
                port=self.https_port,
                user=user or self.username,
                pwd=pwd if pwd is not None else self.password,
                disableSslCertValidation=True,
            )
        return SmartConnect(
            protocol="http",
            host=self.host,
            port=self.port,
            user=user or self.username,
            pwd=pwd if pwd is not None else self.password,
        )

    def https_certificate_pem(self) -> str:
        """The HTTPS listener's certificate, PEM. It is self-signed (a CA for 127.0.0.1, ::1 and localhost), so it
        is also the CA certificate that verifies it; a new one at every start. Read from the listener itself."""
        import ssl  # lazy, like pyVmomi above

        if not self.https_port:
            raise SandboxError("sandbox started without HTTPS")
        if self._https_pem is None:
            self._https_pem = ssl.get_server_certificate((self.host, self.https_port), timeout=10)
        return self._https_pem

    def https_thumbprint(self, algorithm: str = "sha256") -> str:
        """The HTTPS certificate's fingerprint in vSphere's "AA:BB:..." notation (``thumbprint`` is the SHA-1 one,
        the form leases carry in ``sslThumbprint``)."""
        import hashlib
        import ssl

        digest = hashlib.new(algorithm, ssl.PEM_cert_to_DER_cert(self.https_certificate_pem())).hexdigest()
        return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2)).upper()

    def device_url(self, url: str) -> str:
        """Replace the ``*`` host of a lease device URL with the sandbox host (as real clients do), and an ESX
        host's name with the loopback address its listener is on (what the tests' resolver answers)."""
        import urllib.parse

        parts = urllib.parse.urlsplit(url)
        if parts.hostname == "*" or (parts.hostname or "") in self.esx_hosts:
            return parts._replace(netloc=f"{self.host}:{parts.port}" if parts.port else self.host).geturl()
        return url

    def esx_addresses(self) -> dict[str, str]:
        """{ESX host name: the address its NFC listener is on}: what a test's resolver answers for the hosts that
        lease device URLs name (nothing outside the test resolves them)."""
        return {name: self.host for name in self.esx_hosts}

    def esx_certificate_pem(self, name: str) -> str:
        """The ESX host's own certificate, PEM, read from its listener."""
        import ssl

        return ssl.get_server_certificate((self.host, self.esx_hosts[name]["https_port"]), timeout=10)


def _wait_ready(proc: subprocess.Popen, timeout: float, log_path: Path | None) -> dict:
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if sel.select(timeout=min(left, 0.5)):
                line = proc.stdout.readline()
                if line:
                    return json.loads(line)
            if proc.poll() is not None:
                break
    finally:
        sel.close()
    _terminate(proc)
    tail = ""
    if log_path and log_path.exists():
        tail = log_path.read_text(errors="replace")[-4000:]
    raise SandboxError(f"vcsim-sandbox did not become ready (exit code {proc.poll()}):\n{tail}")


def start_vcenter(inventory: dict | None = None, **options: Any) -> VCenterSandbox:
    """Build if needed, start the simulator on a free port and wait until it is ready.

    ``inventory``: dict following the schema in README.md (default: ``inventory.default_inventory()``).

    Options:
      lease_timeout (float s, default from inventory / 300), lease_init (float s),
      faults (dict of initial fault switches), https (bool, default True: also serve HTTPS on a
      second port and report ``thumbprint``), host (default "127.0.0.1"), port (default 0 = free port),
      binary (path; default: $VCSIM_SANDBOX_BINARY or build.build()), startup_timeout (default 60 s),
      log_path (file for the simulator's stderr, appended to; default $VCSIM_SANDBOX_LOG or a temp
      file removed by stop(); "-" = inherit stderr),
      trace (bool: log SOAP traffic), work_dir (datastore backing directory).
    """
    known = {"lease_timeout", "lease_init", "faults", "https", "host", "port", "binary",
             "startup_timeout", "log_path", "trace", "work_dir"}
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"start_vcenter() got unknown option(s) {sorted(unknown)}")

    inv = default_inventory() if inventory is None else inventory
    binary = options.get("binary") or os.environ.get("VCSIM_SANDBOX_BINARY")
    if not binary:
        from .build import build

        binary = build()
    host = options.get("host", "127.0.0.1")
    port = int(options.get("port", 0))

    tmpdir = tempfile.mkdtemp(prefix="vcsim-sandbox-py-")
    inv_path = Path(tmpdir) / "inventory.json"
    inv_path.write_text(json.dumps(inv))

    cmd = [str(binary), "-inventory", str(inv_path), "-listen", f"{host}:{port}", "-exit-on-stdin-eof"]
    if options.get("https", True):
        cmd += ["-https-listen", f"{host}:0"]
    if options.get("lease_timeout") is not None:
        cmd += ["-lease-timeout", str(float(options["lease_timeout"]))]
    if options.get("lease_init") is not None:
        cmd += ["-lease-init", str(float(options["lease_init"]))]
    if options.get("faults"):
        cmd += ["-faults", json.dumps(options["faults"])]
    if options.get("trace"):
        cmd += ["-trace"]
    # datastore directories live in our temp dir, removed by stop() even if the process had to be killed
    cmd += ["-work-dir", str(options.get("work_dir") or Path(tmpdir) / "datastores")]

    log_opt = options.get("log_path") or os.environ.get("VCSIM_SANDBOX_LOG") or None
    if log_opt == "-":
        log_path, stderr = None, None
    else:
        log_path = Path(log_opt) if log_opt else Path(tmpdir) / "vcsim-sandbox.log"
        stderr = open(log_path, "ab")
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                text=True, start_new_session=True)
    finally:
        if stderr is not None:
            stderr.close()

    try:
        ready = _wait_ready(proc, float(options.get("startup_timeout", 60)), log_path)
    except BaseException:
        _terminate(proc)
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise

    sandbox = VCenterSandbox(
        url=ready["url"],
        host=ready["host"],
        port=int(ready["port"]),
        username=ready["username"],
        password=ready["password"],
        control_url=ready["control_url"],
        https_url=ready.get("https_url"),
        https_port=ready.get("https_port"),
        thumbprint=ready.get("thumbprint"),
        esx_hosts=ready.get("esx_hosts") or {},
        api_version=ready.get("api_version", ""),
        inventory=inv,
        log_path=log_path,
        process=proc,
    )
    # tmpdir (inventory, default log, datastores) is removed by stop() / at garbage collection
    sandbox._finalizer = weakref.finalize(sandbox, _cleanup, proc, tmpdir)
    return sandbox

