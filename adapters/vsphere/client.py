"""The vSphere adapter: the only module that imports pyVmomi.

It takes connection settings as a plain dataclass, returns plain dataclasses, holds no ORM code, and raises only
VSphereError, whose message is fit for a user and whose `category` says what kind of failure it was. NFC disk
downloads use http.client directly (streaming, constant memory), authenticated with the SOAP session cookie and
verified against the thumbprint the lease vouches for.

Every connection, SOAP and NFC, goes to an address the outbound policy (adapters.outbound) checked: the
vCenter URL and each device URL a lease hands back are tenant-controlled, so the name is resolved once, every
address checked, and the TCP connection opened to that checked address while TLS (SNI, the certificate's name
check) and the Host header keep the real host name.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import logging
import socket
import ssl
import time
import urllib.parse
import xml.parsers.expat
from dataclasses import dataclass, field
from xml.etree import ElementTree

from pyVim.connect import Disconnect
from pyVmomi import SoapStubAdapter, vim, vmodl
from pyVmomi.Security import CertificateMismatchException, ThumbprintMismatchException
from pyVmomi.VmomiSupport import GetServiceVersions, versionIdMap

from adapters import peer_errors
from adapters.outbound import OutboundPolicy, OutboundRefused, Target

logger = logging.getLogger("adapters.vsphere")

UNREACHABLE = "unreachable"
TLS = "tls"
AUTH = "auth"
NOT_FOUND = "not_found"
REFUSED = "refused"  # the outbound address policy refused the address: no connection was attempted
OTHER = "other"

# What exporting a VM takes (the OVF export, which opens the NFC lease): the user's own, checked before every export.
EXPORT_PRIVILEGE = "VApp.Export"


def may_export(privileges: set[str]) -> bool:
    return EXPORT_PRIVILEGE in privileges or "*" in privileges


_SOAP_PATH = "/sdk"
# The version list is a few hundred bytes; the cap keeps a misbehaving server from filling memory.
_VERSIONS_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class VCenterConnection:
    url: str
    username: str
    password: str = field(repr=False)
    verify_tls: bool = True
    ca_pem: str = ""
    thumbprint: str = ""
    ignore_esx_certificate_errors: bool = False
    dns_suffixes: tuple[str, ...] = ()
    connect_timeout: float = 10
    read_timeout: float = 60
    outbound: OutboundPolicy = field(default_factory=OutboundPolicy)


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
    # vSphere's config.firmware ("efi" or "bios"); ImportImage must be told, as it cannot register EFI as BIOS.
    firmware: str = "bios"
    # summary.storage.committed: the bytes the VM's files take on its datastores, the most an export can stream
    # that is known before exporting.
    committed_bytes: int = 0


@dataclass(frozen=True)
class LeaseDevice:
    key: str
    url: str
    target_id: str
    file_size: int  # 0 for disks on a real vCenter: it fills fileSize "only for non-disk file backings"
    ssl_thumbprint: str
    disk: bool
    capacity_bytes: int = 0  # the virtual disk's capacity (an upper bound of its export stream); 0 when unknown


@dataclass(frozen=True)
class ExportLease:
    moref: str
    state: str
    devices: tuple[LeaseDevice, ...] = ()
    timeout_seconds: int = 300
    error: str = ""
    total_capacity_bytes: int = 0  # the lease's totalDiskCapacityInKB, in bytes


class VSphereError(Exception):
    """A vSphere call failed. `code` is stable for callers to match on, `message` is fit to show a user, and
    `category` is one of UNREACHABLE, TLS, AUTH, NOT_FOUND, REFUSED, OTHER. The raw cause is only in the chain."""

    def __init__(self, code: str, message: str, category: str = OTHER):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.category = category


class _SessionEnded(Exception):
    """An NFC download refused with 401: the session its cookie names has ended."""

    def __init__(self, host: str):
        super().__init__(host)
        self.host = host


def esx_unreachable_message(host: str, vm_name: str) -> str:
    return f"Connector is unable to reach ESX host {host} to migrate virtual machine {vm_name}"


# -- the translation boundary -----------------------------------------------------------------------------------

_UNEXPECTED = "vCenter gave an unexpected answer."


def _translate(exc: BaseException) -> VSphereError:
    """The VSphereError a pyVmomi fault, network error or parser error stands for (`exc` may also be a fault
    object that was never raised, such as a task's error)."""
    if isinstance(exc, OutboundRefused):
        return VSphereError("refused", exc.message_for("The vCenter URL"), REFUSED)
    if isinstance(exc, vmodl.fault.ManagedObjectNotFound):
        return VSphereError("not_found", "The object no longer exists in vCenter.", NOT_FOUND)
    if isinstance(exc, vim.fault.InvalidLogin):
        return VSphereError("login_failed", "vCenter refused the service account's login.", AUTH)
    if isinstance(exc, vim.fault.NotAuthenticated):  # before NoPermission, its parent
        return VSphereError("not_authenticated", "vCenter ended the service account's session.", AUTH)
    if isinstance(exc, vim.fault.NoPermission):
        privilege = getattr(exc, "privilegeId", "") or ""
        return VSphereError("no_permission", "vCenter denied the service account the privilege "
                                             f"{privilege or 'this operation needs'}.", AUTH)
    if isinstance(exc, vmodl.MethodFault):
        # A fault vCenter itself raised carries a message written for administrators, unlike socket text.
        msg = getattr(exc, "msg", "") or type(exc).__name__
        return VSphereError("request_failed", f"vCenter refused the request: {msg}", OTHER)
    if isinstance(exc, (ssl.SSLError, ThumbprintMismatchException, CertificateMismatchException)):
        return VSphereError("tls_failed", "vCenter's TLS certificate could not be verified.", TLS)
    if isinstance(exc, (OSError, http.client.IncompleteRead)):
        # Refused, reset, timed out, unresolvable, no route: the same thing to a user.
        return VSphereError(UNREACHABLE, "vCenter could not be reached.", UNREACHABLE)
    return VSphereError("unexpected_answer", _UNEXPECTED, OTHER)


def _describe(exc: BaseException) -> str:
    """One log line; a fault's repr is a multi-line dump of every property."""
    if isinstance(exc, vmodl.MethodFault):
        text = f"{type(exc).__name__}: {getattr(exc, 'msg', '') or ''}"
        return f"{text} (after {exc.__context__!r})" if exc.__context__ is not None else text
    return repr(exc)


def _category_of(exc: BaseException) -> str:
    return _translate(exc).category


@contextlib.contextmanager
def _refused_as(code: str, message: str):
    """vCenter's refusal (a fault) as VSphereError `code`, with vCenter's reason after `message`. An ended session
    passes through untouched: `_session_call` logs in again and retries."""
    try:
        yield
    except vim.fault.NotAuthenticated:
        raise
    except vmodl.MethodFault as exc:
        raise VSphereError(code, f"{message}: {exc.msg}", _category_of(exc)) from exc


# pyVmomi reports a non-SOAP answer as whatever its parser happened to raise (ElementTree's ParseError is a
# SyntaxError), and a few conditions as a bare Exception; these are expected from a misbehaving peer.
_PEER_ERRORS = (vmodl.MethodFault, OSError, http.client.HTTPException, xml.parsers.expat.ExpatError, SyntaxError,
                ValueError, TypeError, AttributeError, LookupError, ThumbprintMismatchException,
                CertificateMismatchException, OutboundRefused)


@contextlib.contextmanager
def _translated(what: str):
    """Turns everything pyVmomi, the socket layer and the XML parsers raise into VSphereError, so no caller sees
    a pyVmomi type and nothing reaches the view layer as a 500."""
    try:
        yield
    except VSphereError:
        raise
    except Exception as exc:
        error = _translate(exc)
        peer_errors.report(peer_errors.VSPHERE, error.category)
        # Anything else may be a bug of ours rather than of the peer: keep its traceback in the log.
        expected = isinstance(exc, _PEER_ERRORS) or type(exc) is Exception
        logger.warning("vSphere call failed while %s (%s/%s): %s", what, error.category, error.code,
                       _describe(exc), exc_info=not expected)
        raise error from exc


def _session_call(what: str):
    """A session method: errors translated as by `_translated`, and a session vCenter ended (its idle timeout, a
    restart, an administrator) logged in again once, then the call repeated. A call vCenter refused as
    NotAuthenticated did nothing, so repeating it is safe; a second refusal is the caller's to handle."""
    def decorate(method):
        @functools.wraps(method)
        def call(self: VCenterSession, *args, **kwargs):
            with _translated(what):
                try:
                    return method(self, *args, **kwargs)
                except vim.fault.NotAuthenticated:
                    self._login_again(what)
                return method(self, *args, **kwargs)
        return call
    return decorate


def _unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _pinned_context(thumbprint: str) -> ssl.SSLContext:
    """A context that accepts exactly the certificate with this thumbprint, on every connection it makes.

    pyVmomi checks its `thumbprint` only when normal verification fails, and then switches the shared context to
    CERT_NONE for good (or never checks at all if validation is disabled), so the pin is enforced here, in the
    handshake of every socket the context wraps."""
    expected = thumbprint.replace(":", "").strip().lower()
    algorithm = {40: "sha1", 64: "sha256", 128: "sha512"}.get(len(expected))
    if algorithm is None:
        raise VSphereError("tls_failed", "The configured vCenter thumbprint is not a SHA-1, SHA-256 or SHA-512 "
                                         "fingerprint.", TLS)

    class PinnedSocket(ssl.SSLSocket):
        def do_handshake(self, *args, **kwargs):
            super().do_handshake(*args, **kwargs)
            der = self.getpeercert(binary_form=True)
            if not der or hashlib.new(algorithm, der).hexdigest() != expected:
                raise ssl.SSLCertVerificationError("the certificate does not match the configured thumbprint")

    context = _unverified_context()
    context.sslsocket_class = PinnedSocket
    return context


def _checked_connection_class(target: Target, context: ssl.SSLContext | None) -> type[http.client.HTTPConnection]:
    """An http.client connection class whose TCP connection goes to the address the outbound policy checked.

    http.client (and pyVmomi's stub, which builds its pooled connections from this class) would resolve the host
    name again on every connect, and a second answer may differ from the checked one. The connection is still
    made out for the real host name, so the Host header, SNI and the certificate's host name check use it."""

    def open_socket(connection: http.client.HTTPConnection) -> socket.socket:
        sock = socket.create_connection((target.ip, target.port), connection.timeout, connection.source_address)
        # As http.client's own connect does: a SOAP request goes out as two sends (headers, then the body), and
        # with Nagle's algorithm on, the body waits for vCenter's delayed ACK of the headers, 40 ms on every call.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    if context is None:
        class CheckedHTTPConnection(http.client.HTTPConnection):
            def connect(self):
                self.sock = open_socket(self)

        return CheckedHTTPConnection

    class CheckedHTTPSConnection(http.client.HTTPSConnection):
        def connect(self):
            sock = open_socket(self)
            try:
                self.sock = context.wrap_socket(sock, server_hostname=target.host)
            except BaseException:
                sock.close()
                raise

    return CheckedHTTPSConnection


class VCenterSession:
    """One logged-in SOAP session. Use `session(connection)`; every method raises VSphereError on failure."""

    def __init__(self, connection: VCenterConnection):
        self.connection = connection
        self.si = None
        self._esx_hosts: frozenset[str] | None = None
        with _translated("connecting to vCenter"):
            self.target = connection.outbound.check_url(connection.url)
            self.protocol, self.host, self.port = self.target.scheme, self.target.host, self.target.port
            self._connect()

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.protocol != "https":
            return None
        if not self.connection.verify_tls:
            return _unverified_context()
        if self.connection.thumbprint:
            return _pinned_context(self.connection.thumbprint)
        return ssl.create_default_context(cadata=self.connection.ca_pem or None)

    def _http_connection(self, context: ssl.SSLContext | None) -> http.client.HTTPConnection:
        connection_class = _checked_connection_class(self.target, context)
        if context is not None:
            return connection_class(self.host, self.port, timeout=self.connection.connect_timeout, context=context)
        return connection_class(self.host, self.port, timeout=self.connection.connect_timeout)

    def _api_version(self, context: ssl.SSLContext | None) -> str:
        """The newest vim25 version both vCenter and pyVmomi speak, read from vimServiceVersions.xml.

        pyVim's SmartConnect does the same, but over a connection without any timeout, so a vCenter that accepts
        and never answers would hang the caller forever; this request runs under our own timeouts."""
        conn = self._http_connection(context)
        try:
            conn.connect()
            conn.sock.settimeout(self.connection.read_timeout)
            conn.request("GET", f"{_SOAP_PATH}/vimServiceVersions.xml")
            response = conn.getresponse()
            status, body = response.status, response.read(_VERSIONS_MAX_BYTES)
        finally:
            conn.close()
        if status != 200:
            logger.warning("vCenter at %s answered HTTP %s for its API versions", self.connection.url, status)
            raise VSphereError("unexpected_answer", _UNEXPECTED, OTHER)
        root = ElementTree.fromstring(body)
        if root.tag != "namespaces" or root.get("version") != "1.0":
            logger.warning("vCenter at %s sent no vimServiceVersions document (root %r)", self.connection.url,
                           root.tag)
            raise VSphereError("unexpected_answer", _UNEXPECTED, OTHER)
        offered = {v.text for ns in root.findall("namespace")
                   for v in (*ns.findall("version"), *ns.findall("priorVersions/version"))}
        for version in GetServiceVersions("vim25"):
            if versionIdMap.get(version) in offered:
                return version
        logger.warning("vCenter at %s offers API versions %s, none known to pyVmomi", self.connection.url,
                       sorted(v for v in offered if v))
        raise VSphereError("unsupported_version", "vCenter offers no API version this portal can use.", OTHER)

    def _connect(self) -> None:
        context = self._tls_context()
        version = self._api_version(context)
        # pyVmomi has a single socket timeout (httpConnectionTimeout) for connecting and reading; the probe above
        # already proved vCenter reachable within connect_timeout, so read_timeout bounds every SOAP call.
        # connectionPoolTimeout is unrelated: it only closes idle pooled connections.
        # The stub is built here rather than by pyVim's Connect so that its connection class can be the checked
        # one before its first connection: the stub opens every pooled connection with `stub.scheme`.
        stub = SoapStubAdapter(host=self.host, port=self.port if self.protocol == "https" else -self.port,
                               path=_SOAP_PATH, version=version, sslContext=context,
                               httpConnectionTimeout=self.connection.read_timeout, connectionPoolTimeout=60)
        stub.scheme = _checked_connection_class(self.target, context)
        self.si = vim.ServiceInstance("ServiceInstance", stub)
        try:
            self.content = self.si.RetrieveContent()
            self._login()
        except Exception:
            # No session to log out of: Disconnect would only open another connection to a failing peer.
            stub.DropConnections()
            self.si = None
            raise

    def _login(self) -> None:
        self.content.sessionManager.Login(self.connection.username, self.connection.password, None)

    def _login_again(self, what: str) -> None:
        logger.info("vCenter ended the session while %s; logging in again", what)
        with _translated("logging in again"):
            self._login()

    def close(self) -> None:
        if self.si is not None:
            with contextlib.suppress(Exception):
                Disconnect(self.si)

    # -- inventory ---------------------------------------------------------

    def _vm(self, moref: str) -> vim.VirtualMachine:
        vm = vim.VirtualMachine(moref, self.si._stub)
        try:
            vm.name  # noqa: B018  (fetch to check it exists)
        except vmodl.fault.ManagedObjectNotFound as exc:
            raise VSphereError("vm_not_found", f"Virtual machine {moref} does not exist in vCenter.",
                               NOT_FOUND) from exc
        return vm

    def _vm_info(self, vm: vim.VirtualMachine) -> VmInfo:
        config = vm.config
        disks = _disks_of(config.hardware.device if config else [])
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
            folder_path="/".join(reversed(path)), firmware=(config.firmware if config else "") or "bios",
            committed_bytes=_committed_bytes(vm),
        )

    # The properties list_vms reads, all in one PropertyCollector call: object by object, a 500-VM inventory would
    # cost thousands of round trips (each property of each VM and each folder above it is one SOAP call).
    _VM_PROPERTIES = ["name", "parent", "config.template", "config.guestId", "config.guestFullName",
                      "config.hardware.numCPU", "config.hardware.memoryMB", "config.hardware.device",
                      "config.firmware", "runtime.powerState", "runtime.host", "summary.storage.committed"]

    def _inventory(self) -> dict:
        """Every VM, folder and host under the root, with the properties list_vms needs: {moref: {property:
        value}} from one RetrievePropertiesEx (and its continuations)."""
        content = self.content
        view = content.viewManager.CreateContainerView(content.rootFolder,
                                                       [vim.VirtualMachine, vim.Folder, vim.HostSystem], True)
        try:
            traversal = vmodl.query.PropertyCollector.TraversalSpec(name="view", path="view", skip=False,
                                                                     type=vim.view.ContainerView)
            spec = vmodl.query.PropertyCollector.FilterSpec(
                objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=view, skip=True, selectSet=[traversal])],
                propSet=[vmodl.query.PropertyCollector.PropertySpec(type=vim.VirtualMachine,
                                                                     pathSet=self._VM_PROPERTIES),
                         vmodl.query.PropertyCollector.PropertySpec(type=vim.Folder, pathSet=["name", "parent"]),
                         vmodl.query.PropertyCollector.PropertySpec(type=vim.HostSystem, pathSet=["name"])])
            collector = content.propertyCollector
            found: dict = {}
            result = collector.RetrievePropertiesEx([spec], vmodl.query.PropertyCollector.RetrieveOptions())
            while result is not None:
                for item in result.objects:
                    found[item.obj._moId] = {"_obj": item.obj, **{p.name: p.val for p in item.propSet}}
                if not result.token:
                    break
                result = collector.ContinueRetrievePropertiesEx(result.token)
            return found
        finally:
            view.Destroy()

    @staticmethod
    def _vm_info_of(moref: str, props: dict, inventory: dict) -> VmInfo:
        disks = _disks_of(props.get("config.hardware.device") or [])
        path, parent = [], props.get("parent")
        while parent is not None and isinstance(parent, vim.Folder):
            folder = inventory.get(parent._moId, {})
            if folder.get("name") in (None, "vm"):
                break
            path.append(folder["name"])
            parent = folder.get("parent")
        host = props.get("runtime.host")
        return VmInfo(
            moref=moref, name=props.get("name", ""), guest_id=props.get("config.guestId") or "",
            guest_full_name=props.get("config.guestFullName") or "",
            power_state=str(props.get("runtime.powerState", "")), num_cpu=props.get("config.hardware.numCPU") or 0,
            memory_mb=props.get("config.hardware.memoryMB") or 0, disks=tuple(disks),
            host_name=inventory.get(host._moId, {}).get("name", "") if host is not None else "",
            folder_path="/".join(reversed(path)), firmware=props.get("config.firmware") or "bios",
            committed_bytes=int(props.get("summary.storage.committed") or 0),
        )

    @_session_call("listing virtual machines")
    def list_vms(self) -> list[VmInfo]:
        inventory = self._inventory()
        return sorted((self._vm_info_of(moref, props, inventory) for moref, props in inventory.items()
                       if isinstance(props["_obj"], vim.VirtualMachine) and not props.get("config.template")),
                      key=lambda v: v.name)

    @_session_call("reading the vCenter version")
    def product(self) -> str:
        """What vCenter calls itself ("VMware vCenter Server 8.0.2 build-…"), as its AboutInfo says."""
        about = self.content.about
        return about.fullName or f"{about.name} {about.version}"

    @_session_call("reading a virtual machine")
    def get_vm(self, moref: str) -> VmInfo:
        return self._vm_info(self._vm(moref))

    # -- privileges --------------------------------------------------------

    @_session_call("reading privileges")
    def privileges_of(self, moref: str, principal: str) -> set[str]:
        """The privileges `principal` (DOMAIN\\user) effectively holds on the VM.

        Asked of vCenter (FetchUserPrivilegeOnEntities, which needs System.View only) rather than computed from
        the permissions: most permissions are granted to SSO or Active Directory groups, whose memberships only
        vCenter knows, and it applies the rules (the permission closest to the VM wins, a user's own permission
        beats its groups' on the same entity, ancestors count only when they propagate)."""
        vm = self._vm(moref)
        results = self.content.authorizationManager.FetchUserPrivilegeOnEntities(entities=[vm], userName=principal)
        return {privilege for result in results or [] if result.entity == vm for privilege in result.privileges or []}

    @_session_call("reading privileges")
    def privileges_on_vms(self, morefs: list[str], principal: str) -> dict[str, set[str]]:
        """privileges_of for many VMs in one call (the VM list asks it of every VM shown); a VM that has gone
        since it was listed is left out rather than failing the others."""
        vms = [vim.VirtualMachine(moref, self.si._stub) for moref in morefs]
        if not vms:
            return {}
        results = self.content.authorizationManager.FetchUserPrivilegeOnEntities(entities=vms, userName=principal)
        return {result.entity._moId: set(result.privileges or []) for result in results or []}

    # -- power -------------------------------------------------------------

    @_session_call("powering off a virtual machine")
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
            error = task.info.error
            raise VSphereError("power_off_failed", f"Powering off {vm.name} failed: {getattr(error, 'msg', '')}",
                               _category_of(error) if error is not None else OTHER)

    # -- export (NFC lease) ------------------------------------------------

    def _lease(self, lease_moref: str) -> vim.HttpNfcLease:
        return vim.HttpNfcLease(lease_moref, self.si._stub)

    @_session_call("starting an export")
    def export_start(self, moref: str) -> str:
        vm = self._vm(moref)
        with _refused_as("export_failed", f"vCenter refused to export {vm.name}"):
            try:
                return vm.ExportVm()._moId
            except vim.fault.InvalidPowerState as exc:
                raise VSphereError("powered_on", f"{vm.name} is powered on; power it off to export it.") from exc
            except (vim.fault.TaskInProgress, vim.fault.InvalidState) as exc:
                raise VSphereError("vm_busy", f"{vm.name} is busy (another export or task holds it).") from exc

    @_session_call("waiting for an export lease")
    def lease_wait_ready(self, lease_moref: str, timeout: float = 300) -> ExportLease:
        lease = self._lease(lease_moref)
        deadline = time.monotonic() + timeout
        while True:
            try:
                state = str(lease.state)
            except vmodl.fault.ManagedObjectNotFound as exc:
                raise VSphereError("lease_gone", "The export lease no longer exists.", NOT_FOUND) from exc
            if state == "ready":
                return self.lease_describe(lease_moref)
            if state == "error":
                error = lease.error
                raise VSphereError("lease_error", f"The export lease failed: {getattr(error, 'msg', error)}")
            if time.monotonic() > deadline:
                raise VSphereError("lease_timeout", "The export lease did not become ready in time.")
            time.sleep(0.2)

    @_session_call("reading an export lease")
    def lease_describe(self, lease_moref: str) -> ExportLease:
        lease = self._lease(lease_moref)
        try:
            state, info, error = str(lease.state), lease.info, lease.error
        except vmodl.fault.ManagedObjectNotFound:
            return ExportLease(lease_moref, "gone")
        capacities = _disk_capacities(info.entity) if info and info.deviceUrl else {}
        devices = tuple(LeaseDevice(
            key=str(d.key), url=d.url, target_id=d.targetId or "", file_size=int(d.fileSize or 0),
            ssl_thumbprint=d.sslThumbprint or "", disk=bool(d.disk),
            capacity_bytes=capacities.get(str(d.key).rsplit("/", 1)[-1], 0),
        ) for d in (info.deviceUrl if info else []))
        return ExportLease(lease_moref, state, devices, int(info.leaseTimeout) if info else 300,
                           getattr(error, "msg", "") if error else "",
                           int(info.totalDiskCapacityInKB or 0) * 1024 if info else 0)

    @_session_call("renewing an export lease")
    def lease_progress(self, lease_moref: str, percent: int) -> None:
        with _refused_as("lease_lost", "The export lease could not be renewed"):
            self._lease(lease_moref).HttpNfcLeaseProgress(percent=max(0, min(100, int(percent))))

    @_session_call("completing an export lease")
    def lease_complete(self, lease_moref: str) -> None:
        with _refused_as("lease_lost", "The export lease could not be completed"):
            self._lease(lease_moref).HttpNfcLeaseComplete()

    @_session_call("releasing an export lease")
    def lease_abort(self, lease_moref: str, message: str = "") -> None:
        """Release the lease; one that is already finished or gone is not an error (one whose session ended is
        released after logging in again)."""
        fault = vmodl.fault.SystemError(reason=message[:200]) if message else None
        try:
            self._lease(lease_moref).HttpNfcLeaseAbort(fault=fault)
        except vim.fault.NotAuthenticated:
            raise
        except vmodl.MethodFault:
            pass

    # -- disk download -----------------------------------------------------

    @_translated("reading the session cookie")
    def session_cookie(self) -> str:
        return self.si._stub.cookie.split(";", 1)[0] if self.si._stub.cookie else ""

    @_session_call("listing the ESX hosts")
    def esx_host_names(self) -> frozenset[str]:
        """The names of the ESX hosts in vCenter's inventory (lower case), read once per session."""
        if self._esx_hosts is None:
            collector = vmodl.query.PropertyCollector
            view = self.content.viewManager.CreateContainerView(self.content.rootFolder, [vim.HostSystem], True)
            try:
                spec = collector.FilterSpec(
                    objectSet=[collector.ObjectSpec(obj=view, skip=True, selectSet=[collector.TraversalSpec(
                        name="hosts", path="view", skip=False, type=vim.view.ContainerView)])],
                    propSet=[collector.PropertySpec(type=vim.HostSystem, pathSet=["name"])])
                names: set[str] = set()
                result = self.content.propertyCollector.RetrievePropertiesEx([spec], collector.RetrieveOptions())
                while result is not None:
                    names.update(_host_key(p.val) for o in result.objects for p in o.propSet if p.name == "name")
                    if not result.token:
                        break
                    result = self.content.propertyCollector.ContinueRetrievePropertiesEx(result.token)
            finally:
                view.Destroy()
            self._esx_hosts = frozenset(names)
        return self._esx_hosts

    def _device_target(self, device_url: str, vm_name: str) -> tuple[str, Target]:
        """The host a device URL names (`*` is vCenter's) and the checked address to download it from.

        The URL comes from the tenant's vCenter, so it may only lead to vCenter itself (the address its session
        already uses, not looked up again) or to an ESX host of vCenter's own inventory, resolved (with the DNS
        suffixes) and checked by the same outbound policy as the vCenter URL."""
        policy = self.connection.outbound
        try:
            parsed = urllib.parse.urlsplit(device_url)
            scheme, host, port = parsed.scheme.lower(), parsed.hostname or "", parsed.port
        except ValueError:
            scheme, host, port = "", "", None
        if not host or scheme not in ("https", "http"):
            raise VSphereError("esx_refused", f"vCenter handed back a download address for {vm_name} that is not "
                                              "an http(s) URL.", REFUSED)
        host = self.host if host == "*" else _host_key(host)
        port = port or (443 if scheme == "https" else 80)
        try:
            policy.check_scheme(scheme)
        except OutboundRefused as exc:
            raise VSphereError("esx_refused", exc.message_for(f"The download address of ESX host {host}"),
                               REFUSED) from exc
        if host in (_host_key(self.host), self.target.ip):
            return host, Target(self.host, port, scheme, self.target.ip)
        checked: dict[str, Target] = {}

        def check(name: str) -> None:
            checked[name] = policy.check_host(name, port, scheme)

        try:
            name = _resolve(host, self.connection.dns_suffixes, check)
        except OutboundRefused as exc:
            raise VSphereError("esx_refused", exc.message_for(f"The download address of ESX host {host}"),
                               REFUSED) from exc
        if name is None:
            raise VSphereError("esx_unreachable", esx_unreachable_message(host, vm_name), UNREACHABLE)
        inventory = self.esx_host_names()
        if not {host, _host_key(name)} & inventory:
            logger.warning("vCenter %s handed back a download URL on %s, which is not one of its %d ESX hosts",
                           self.host, host, len(inventory))
            raise VSphereError("esx_refused", f"vCenter handed back a download address for {vm_name} on {host}, "
                                              "which is neither vCenter nor one of its ESX hosts.", REFUSED)
        return host, checked[name]

    @_translated("opening a disk download")
    def open_disk(self, device: LeaseDevice, vm_name: str, timeout: float | None = None) -> DiskStream:
        """Start the download of one disk. `*` in the device URL means "the host you connected to".

        The TCP and TLS handshake run under the connection's connect_timeout, every read after it under
        read_timeout (or `timeout`, when given). A download refused with 401 (the session behind the cookie
        ended) is tried once more after logging in again."""
        try:
            return self._open_disk(device, vm_name, timeout)
        except _SessionEnded:
            self._login_again("opening a disk download")
        try:
            return self._open_disk(device, vm_name, timeout)
        except _SessionEnded as exc:
            raise VSphereError("download_failed", f"ESX host {exc.host} refused the disk download of {vm_name} "
                                                  "(HTTP 401).", AUTH) from None

    def _open_disk(self, device: LeaseDevice, vm_name: str, timeout: float | None) -> DiskStream:
        read_timeout = self.connection.read_timeout if timeout is None else timeout
        host, target = self._device_target(device.url, vm_name)
        parsed = urllib.parse.urlsplit(device.url)
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        connect_timeout = self.connection.connect_timeout
        if target.scheme == "https":
            # Trust comes from the thumbprint the lease vouches for (checked below, before the cookie is sent),
            # not from a CA: ESX certificates are usually signed by vCenter's own VMCA.
            context = _unverified_context()
            connection = _checked_connection_class(target, context)(target.host, target.port,
                                                                    timeout=connect_timeout, context=context)
        else:
            connection = _checked_connection_class(target, None)(target.host, target.port, timeout=connect_timeout)
        try:
            connection.connect()
            connection.sock.settimeout(read_timeout)
            if target.scheme == "https" and not self.connection.ignore_esx_certificate_errors:
                _check_thumbprint(connection.sock, device.ssl_thumbprint, host)
            connection.putrequest("GET", path, skip_host=True)
            named = f"[{host}]" if ":" in host else host
            connection.putheader("Host", named if target.port in (80, 443) else f"{named}:{target.port}")
            connection.putheader("Cookie", self.session_cookie())
            connection.endheaders()
            response = connection.getresponse()
        except VSphereError:
            connection.close()
            raise
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            category = TLS if isinstance(exc, ssl.SSLError) else UNREACHABLE
            logger.warning("NFC download of %s from %s failed to start (%s): %r", vm_name, host, category, exc)
            raise VSphereError("esx_unreachable", esx_unreachable_message(host, vm_name), category) from exc
        if response.status == 401:
            connection.close()
            raise _SessionEnded(host)
        if response.status != 200:
            connection.close()
            category = {401: AUTH, 403: AUTH, 404: NOT_FOUND}.get(response.status, OTHER)
            raise VSphereError("download_failed", f"ESX host {host} refused the disk download of {vm_name} "
                                                  f"(HTTP {response.status}).", category)
        length = response.getheader("Content-Length")
        return DiskStream(connection, response, int(length) if length else device.file_size, host, vm_name)


def _disks_of(devices) -> list[DiskInfo]:
    disks = []
    for device in devices:
        if isinstance(device, vim.vm.device.VirtualDisk):
            is_rdm = isinstance(device.backing, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo)
            capacity = getattr(device, "capacityInBytes", None) or (device.capacityInKB or 0) * 1024
            disks.append(DiskInfo(device.key, device.deviceInfo.label if device.deviceInfo else "", int(capacity),
                                  is_rdm))
    return disks


def _committed_bytes(vm) -> int:
    storage = vm.summary.storage if vm.summary else None
    return int(storage.committed or 0) if storage is not None else 0


def _disk_capacities(vm) -> dict[str, int]:
    """Capacity of each virtual disk of `vm`, by the name a lease device key ends with: "/vm-42/<controller
    type><bus>:<unit>" (e.g. VirtualLsiLogicController0:0, ParaVirtualSCSIController1:2)."""
    if not isinstance(vm, vim.VirtualMachine) or vm.config is None:
        return {}
    devices = vm.config.hardware.device
    controllers = {d.key: d for d in devices if isinstance(d, vim.vm.device.VirtualController)}
    capacities = {}
    for disk in devices:
        controller = controllers.get(disk.controllerKey) if isinstance(disk, vim.vm.device.VirtualDisk) else None
        if controller is None:
            continue
        name = f"{type(controller).__name__.rsplit('.', 1)[-1]}{controller.busNumber}:{disk.unitNumber or 0}"
        capacities[name] = int(getattr(disk, "capacityInBytes", None) or (disk.capacityInKB or 0) * 1024)
    return capacities


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
        except (OSError, http.client.HTTPException, ValueError) as exc:
            logger.warning("NFC stream of %s from %s broke after %d bytes: %r", self.vm_name, self.host,
                           self.received, exc)
            raise VSphereError("stream_broken", f"The disk stream from {self.host} broke after {self.received} "
                                                f"bytes.", UNREACHABLE) from exc
        if not chunk and self.content_length and self.received < self.content_length:
            raise VSphereError("stream_broken", f"The disk stream from {self.host} ended after {self.received} of "
                                                f"{self.content_length} bytes.", UNREACHABLE)
        self.received += len(chunk)
        return chunk

    def readinto(self, buffer) -> int:
        """read(), but into the caller's buffer: the bytes go from the socket straight where they are used."""
        try:
            n = self.response.readinto(buffer) or 0
        except (OSError, http.client.HTTPException, ValueError) as exc:
            logger.warning("NFC stream of %s from %s broke after %d bytes: %r", self.vm_name, self.host,
                           self.received, exc)
            raise VSphereError("stream_broken", f"The disk stream from {self.host} broke after {self.received} "
                                                f"bytes.", UNREACHABLE) from exc
        if not n and len(buffer) and self.content_length and self.received < self.content_length:
            raise VSphereError("stream_broken", f"The disk stream from {self.host} ended after {self.received} of "
                                                f"{self.content_length} bytes.", UNREACHABLE)
        self.received += n
        return n

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.close()


def _host_key(name: str) -> str:
    return name.strip().lower().rstrip(".")


def _resolvable(name: str) -> None:
    socket.getaddrinfo(name, None)


def _resolve(host: str, suffixes: tuple[str, ...], check=_resolvable) -> str | None:
    """The host itself if it resolves, else the first `host.suffix` that does (the connector's search list).

    `check(name)` resolves a name, raising socket.gaierror when it does not; the adapter passes the outbound
    policy's check, which also raises OutboundRefused for a name whose addresses it refuses (not skipped: the
    search stops there)."""
    candidates = [host] + ([f"{host}.{s}" for s in suffixes] if "." not in host.rstrip(".") or suffixes else [])
    for name in dict.fromkeys(candidates):
        try:
            check(name)
            return name
        except (socket.gaierror, UnicodeError):
            continue
    return None


def _check_thumbprint(sock, expected: str, host: str) -> None:
    der = sock.getpeercert(binary_form=True)
    expected = expected.replace(":", "").lower()
    actual = {hashlib.sha1(der).hexdigest(), hashlib.sha256(der).hexdigest()}
    if not expected or expected not in actual:
        raise VSphereError("esx_certificate", f"ESX host {host} presented a certificate vCenter does not vouch for.",
                           TLS)


@contextlib.contextmanager
def session(connection: VCenterConnection):
    s = VCenterSession(connection)
    try:
        yield s
    finally:
        s.close()
