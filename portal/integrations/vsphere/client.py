"""The vSphere adapter: the only module that imports pyVmomi.

It takes connection settings as a plain dataclass, returns plain dataclasses, holds no ORM code, and raises
VSphereError with a message fit for a user. NFC disk downloads use http.client directly (streaming, constant
memory), authenticated with the SOAP session cookie and verified against the thumbprint the lease vouches for.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl


@dataclass(frozen=True)
class VCenterConnection:
    url: str
    username: str
    password: str
    verify_tls: bool = True
    ca_pem: str = ""
    thumbprint: str = ""
    ignore_esx_certificate_errors: bool = False
    dns_suffixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DiskInfo:
    key: int
    label: str
    capacity_bytes: int
    is_rdm: bool


@dataclass(frozen=True)
class VmInfo:
    moref: str
    name: str
    guest_id: str
    guest_full_name: str
    power_state: str  # poweredOn | poweredOff | suspended
    num_cpu: int
    memory_mb: int
    disks: tuple[DiskInfo, ...]
    host_name: str
    folder_path: str


@dataclass(frozen=True)
class LeaseDevice:
    key: str
    url: str
    target_id: str
    file_size: int
    ssl_thumbprint: str
    disk: bool


@dataclass(frozen=True)
class ExportLease:
    moref: str
    state: str
    devices: tuple[LeaseDevice, ...] = ()
    timeout_seconds: int = 300
    error: str = ""


class VSphereError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def esx_unreachable_message(host: str, vm_name: str) -> str:
    return f"Connector is unable to reach ESX host {host} to migrate virtual machine {vm_name}"


def _principal_keys(principal: str) -> set[str]:
    """DOMAIN\\user and user@domain name the same account; vCenter compares case-insensitively."""
    principal = principal.strip().lower()
    keys = {principal}
    if "\\" in principal:
        domain, user = principal.split("\\", 1)
        keys.add(f"{user}@{domain}")
    elif "@" in principal:
        user, domain = principal.split("@", 1)
        keys.add(f"{domain}\\{user}")
    return keys


class VCenterSession:
    """One logged-in SOAP session. Use `session(connection)`; every method raises VSphereError on failure."""

    def __init__(self, connection: VCenterConnection):
        self.connection = connection
        parsed = urllib.parse.urlsplit(connection.url)
        self.protocol = parsed.scheme or "https"
        self.host = parsed.hostname or ""
        self.port = parsed.port or (443 if self.protocol == "https" else 80)
        kwargs = {"protocol": self.protocol, "host": self.host, "port": self.port, "user": connection.username,
                  "pwd": connection.password, "connectionPoolTimeout": 60}
        if self.protocol == "https":
            if not connection.verify_tls:
                kwargs["disableSslCertValidation"] = True
            elif connection.thumbprint:
                kwargs["thumbprint"] = connection.thumbprint.replace(":", "").lower()
                kwargs["disableSslCertValidation"] = True
            else:
                kwargs["sslContext"] = ssl.create_default_context(cadata=connection.ca_pem or None)
        try:
            self.si = SmartConnect(**kwargs)
        except vim.fault.InvalidLogin as exc:
            raise VSphereError("login_failed", "vCenter refused the service account's login.") from exc
        except (OSError, ssl.SSLError, vmodl.MethodFault, http.client.HTTPException) as exc:
            raise VSphereError("unreachable", f"vCenter at {connection.url} could not be reached: {exc}") from exc
        self.content = self.si.RetrieveContent()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            Disconnect(self.si)

    # -- inventory ---------------------------------------------------------

    def _vm(self, moref: str) -> vim.VirtualMachine:
        vm = vim.VirtualMachine(moref, self.si._stub)
        try:
            vm.name  # noqa: B018  (fetch to check it exists)
        except vmodl.fault.ManagedObjectNotFound as exc:
            raise VSphereError("vm_not_found", f"Virtual machine {moref} does not exist in vCenter.") from exc
        return vm

    def _vm_info(self, vm: vim.VirtualMachine) -> VmInfo:
        config = vm.config
        disks = []
        for device in (config.hardware.device if config else []):
            if isinstance(device, vim.vm.device.VirtualDisk):
                backing = device.backing
                is_rdm = isinstance(backing, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo)
                capacity = getattr(device, "capacityInBytes", None) or (device.capacityInKB or 0) * 1024
                disks.append(DiskInfo(device.key, device.deviceInfo.label if device.deviceInfo else "",
                                      int(capacity), is_rdm))
        path, parent = [], vm.parent
        while isinstance(parent, vim.Folder) and parent.name not in ("vm",):
            path.append(parent.name)
            parent = parent.parent
        runtime = vm.runtime
        return VmInfo(
            moref=vm._moId, name=vm.name, guest_id=config.guestId if config else "",
            guest_full_name=config.guestFullName if config else "", power_state=str(runtime.powerState),
            num_cpu=config.hardware.numCPU if config else 0, memory_mb=config.hardware.memoryMB if config else 0,
            disks=tuple(disks), host_name=runtime.host.name if runtime.host else "",
            folder_path="/".join(reversed(path)),
        )

    def list_vms(self) -> list[VmInfo]:
        view = self.content.viewManager.CreateContainerView(self.content.rootFolder, [vim.VirtualMachine], True)
        try:
            return sorted((self._vm_info(vm) for vm in view.view if not (vm.config and vm.config.template)),
                          key=lambda v: v.name)
        finally:
            view.Destroy()

    def get_vm(self, moref: str) -> VmInfo:
        return self._vm_info(self._vm(moref))

    # -- privileges --------------------------------------------------------

    def privileges_of(self, moref: str, principal: str) -> set[str]:
        """The privileges `principal` (DOMAIN\\user) effectively holds on the VM.

        vSphere semantics: the permission defined closest to the VM wins; permissions on ancestors count only
        when they propagate. Computed from RetrieveEntityPermissions(inherited=True) and the role list, not from
        HasUserPrivilegeOnEntities (which some simulators answer wrongly)."""
        vm = self._vm(moref)
        auth = self.content.authorizationManager
        roles = {role.roleId: set(role.privilege or []) for role in auth.roleList}
        keys = _principal_keys(principal)
        permissions = [p for p in auth.RetrieveEntityPermissions(entity=vm, inherited=True)
                       if not p.group and p.principal.lower() in keys]
        by_entity: dict[str, list] = {}
        for p in permissions:
            by_entity.setdefault(p.entity._moId, []).append(p)
        entity = vm
        while entity is not None:
            found = by_entity.get(entity._moId)
            if found:
                applicable = [p for p in found if entity is vm or p.propagate]
                if applicable:
                    privileges: set[str] = set()
                    for p in applicable:
                        if p.roleId == -1:  # Admin
                            privileges |= set().union(*roles.values()) | {"*"}
                        privileges |= roles.get(p.roleId, set())
                    return privileges
            entity = getattr(entity, "parent", None)
        return set()

    # -- power -------------------------------------------------------------

    def power_off(self, moref: str, timeout: float = 300) -> None:
        vm = self._vm(moref)
        if vm.runtime.powerState == vim.VirtualMachinePowerState.poweredOff:
            return
        task = vm.PowerOffVM_Task()
        deadline = time.monotonic() + timeout
        while task.info.state in (vim.TaskInfo.State.queued, vim.TaskInfo.State.running):
            if time.monotonic() > deadline:
                raise VSphereError("power_off_timeout", f"{vm.name} did not power off in {timeout:.0f} s.")
            time.sleep(0.2)
        if task.info.state != vim.TaskInfo.State.success:
            raise VSphereError("power_off_failed", f"Powering off {vm.name} failed: {task.info.error.msg}")

    # -- export (NFC lease) ------------------------------------------------

    def _lease(self, lease_moref: str) -> vim.HttpNfcLease:
        return vim.HttpNfcLease(lease_moref, self.si._stub)

    def export_start(self, moref: str) -> str:
        vm = self._vm(moref)
        try:
            return vm.ExportVm()._moId
        except vim.fault.InvalidPowerState as exc:
            raise VSphereError("powered_on", f"{vm.name} is powered on; power it off to export it.") from exc
        except (vim.fault.TaskInProgress, vim.fault.InvalidState) as exc:
            raise VSphereError("vm_busy", f"{vm.name} is busy (another export or task holds it).") from exc
        except vmodl.MethodFault as exc:
            raise VSphereError("export_failed", f"vCenter refused to export {vm.name}: {exc.msg}") from exc

    def lease_wait_ready(self, lease_moref: str, timeout: float = 300) -> ExportLease:
        lease = self._lease(lease_moref)
        deadline = time.monotonic() + timeout
        while True:
            try:
                state = str(lease.state)
            except vmodl.fault.ManagedObjectNotFound as exc:
                raise VSphereError("lease_gone", "The export lease no longer exists.") from exc
            if state == "ready":
                return self.lease_describe(lease_moref)
            if state == "error":
                error = lease.error
                raise VSphereError("lease_error", f"The export lease failed: {getattr(error, 'msg', error)}")
            if time.monotonic() > deadline:
                raise VSphereError("lease_timeout", "The export lease did not become ready in time.")
            time.sleep(0.2)

    def lease_describe(self, lease_moref: str) -> ExportLease:
        lease = self._lease(lease_moref)
        try:
            state, info, error = str(lease.state), lease.info, lease.error
        except vmodl.fault.ManagedObjectNotFound:
            return ExportLease(lease_moref, "gone")
        devices = tuple(LeaseDevice(
            key=str(d.key), url=d.url, target_id=d.targetId or "", file_size=int(d.fileSize or 0),
            ssl_thumbprint=d.sslThumbprint or "", disk=bool(d.disk),
        ) for d in (info.deviceUrl if info else []))
        return ExportLease(lease_moref, state, devices, int(info.leaseTimeout) if info else 300,
                           getattr(error, "msg", "") if error else "")

    def lease_progress(self, lease_moref: str, percent: int) -> None:
        try:
            self._lease(lease_moref).HttpNfcLeaseProgress(percent=max(0, min(100, int(percent))))
        except vmodl.MethodFault as exc:
            raise VSphereError("lease_lost", f"The export lease could not be renewed: {exc.msg}") from exc

    def lease_complete(self, lease_moref: str) -> None:
        try:
            self._lease(lease_moref).HttpNfcLeaseComplete()
        except vmodl.MethodFault as exc:
            raise VSphereError("lease_lost", f"The export lease could not be completed: {exc.msg}") from exc

    def lease_abort(self, lease_moref: str, message: str = "") -> None:
        """Release the lease; one that is already finished or gone is not an error."""
        with contextlib.suppress(vmodl.MethodFault, vmodl.fault.ManagedObjectNotFound):
            fault = vmodl.fault.SystemError(reason=message[:200]) if message else None
            self._lease(lease_moref).HttpNfcLeaseAbort(fault=fault)

    # -- disk download -----------------------------------------------------

    def session_cookie(self) -> str:
        return self.si._stub.cookie.split(";", 1)[0] if self.si._stub.cookie else ""

    def open_disk(self, device: LeaseDevice, vm_name: str, timeout: float = 60) -> "DiskStream":
        """Start the download of one disk. `*` in the device URL means "the host you connected to"."""
        parsed = urllib.parse.urlsplit(device.url)
        host = parsed.hostname or ""
        host = self.host if host == "*" else host
        resolved = _resolve(host, self.connection.dns_suffixes)
        if resolved is None:
            raise VSphereError("esx_unreachable", esx_unreachable_message(host, vm_name))
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if parsed.scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            connection = http.client.HTTPSConnection(resolved, port, timeout=timeout, context=context)
        else:
            connection = http.client.HTTPConnection(resolved, port, timeout=timeout)
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        try:
            connection.connect()
            if parsed.scheme == "https" and not self.connection.ignore_esx_certificate_errors:
                _check_thumbprint(connection.sock, device.ssl_thumbprint, host)
            connection.putrequest("GET", path, skip_host=True)
            connection.putheader("Host", host if port in (80, 443) else f"{host}:{port}")
            connection.putheader("Cookie", self.session_cookie())
            connection.endheaders()
            response = connection.getresponse()
        except VSphereError:
            connection.close()
            raise
        except OSError as exc:
            connection.close()
            raise VSphereError("esx_unreachable", esx_unreachable_message(host, vm_name)) from exc
        if response.status != 200:
            connection.close()
            raise VSphereError("download_failed", f"ESX host {host} refused the disk download of {vm_name} "
                                                  f"(HTTP {response.status}).")
        length = response.getheader("Content-Length")
        return DiskStream(connection, response, int(length) if length else device.file_size, host, vm_name)


@dataclass
class DiskStream:
    """A disk being downloaded. read(n) returns up to n bytes (b"" at the end) and raises VSphereError when the
    connection breaks before Content-Length bytes arrived."""

    connection: http.client.HTTPConnection
    response: http.client.HTTPResponse
    content_length: int
    host: str
    vm_name: str
    received: int = field(default=0)

    def read(self, size: int) -> bytes:
        try:
            chunk = self.response.read(size)
        except (OSError, http.client.IncompleteRead) as exc:
            raise VSphereError("stream_broken", f"The disk stream from {self.host} broke after {self.received} "
                                                f"bytes: {exc}") from exc
        if not chunk and self.content_length and self.received < self.content_length:
            raise VSphereError("stream_broken", f"The disk stream from {self.host} ended after {self.received} of "
                                                f"{self.content_length} bytes.")
        self.received += len(chunk)
        return chunk

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.close()


def _resolve(host: str, suffixes: tuple[str, ...]) -> str | None:
    """The host itself if it resolves, else the first `host.suffix` that does (the connector's search list)."""
    candidates = [host] + ([f"{host}.{s}" for s in suffixes] if "." not in host.rstrip(".") or suffixes else [])
    for name in dict.fromkeys(candidates):
        try:
            socket.getaddrinfo(name, None)
            return name
        except (socket.gaierror, UnicodeError):
            continue
    return None


def _check_thumbprint(sock, expected: str, host: str) -> None:
    der = sock.getpeercert(binary_form=True)
    expected = expected.replace(":", "").lower()
    actual = {hashlib.sha1(der).hexdigest(), hashlib.sha256(der).hexdigest()}
    if not expected or expected not in actual:
        raise VSphereError("esx_certificate", f"ESX host {host} presented a certificate vCenter does not vouch for.")


@contextlib.contextmanager
def session(connection: VCenterConnection):
    s = VCenterSession(connection)
    try:
        yield s
    finally:
        s.close()
