"""Disk image formats for the AWS sandbox: read/validate what VM Import accepts, write what VM Export produces.

Pure Python (struct, zlib, tarfile, xml); no moto import, so tests and the portal can use it freely.

* :func:`inspect_disk` validates an uploaded disk the way the sandbox's ImportImage does and returns a
  :class:`DiskInfo` (capacity, retained data grains) or raises :class:`DiskFormatError` whose ``message`` is
  the exact ``StatusMessage`` the import task ends with (``ClientError: ...``).
* :func:`make_stream_optimized_vmdk` writes a valid streamOptimized VMDK (sparse extent version 3,
  deflate-compressed grains, markers, footer + end-of-stream marker), the format vSphere's OVF export
  produces and the only VMDK flavour ImportImage takes.
* :func:`make_ova` writes an OVA (ustar tar: ``.ovf`` descriptor first, then the disk, then a ``.mf``
  manifest) as CreateInstanceExportTask does.

Layout reference: VMware "Virtual Disk Format 5.0" (hosted sparse extent header, stream-optimized markers).
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import tarfile
import zlib
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

SECTOR = 512
GRAIN_SECTORS = 128  # 64 KiB grains, what VMware and qemu use
GRAIN_BYTES = GRAIN_SECTORS * SECTOR
GTES_PER_GT = 512

VMDK_MAGIC = b"KDMV"  # 0x564d444b little-endian
FLAG_NEWLINE_TEST = 1 << 0
FLAG_COMPRESSED = 1 << 16
FLAG_MARKERS = 1 << 17
COMPRESSION_DEFLATE = 1
GD_AT_END = 0xFFFFFFFFFFFFFFFF
NEWLINE_CHARS = b"\n \r\n"

MARKER_EOS, MARKER_GT, MARKER_GD, MARKER_FOOTER = 0, 1, 2, 3

# magic, version, flags, capacity, grainSize, descriptorOffset, descriptorSize, numGTEsPerGT,
# rgdOffset, gdOffset, overHead, uncleanShutdown, 4 newline-detection chars, compressAlgorithm, pad
_HEADER = struct.Struct("<4sIIQQQQIQQQB4sH433x")
assert _HEADER.size == SECTOR

STREAM_OPTIMIZED_OVF_FORMAT = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"

# StatusMessages an import task ends with (Status=deleted) when its disk is refused.
MSG_UNSUPPORTED_VMDK = "ClientError: Disk validation failed [Unsupported VMDK File Format]"
MSG_FOOTERS = "ClientError: Footers not identical"
MSG_BAD_GRAIN = "ClientError: Uncompressed data has invalid length"
MSG_UNSUPPORTED_OVA = "ClientError: Disk validation failed [Unsupported OVA File Format]"
MSG_UNSUPPORTED_VHDX = "ClientError: Disk validation failed [Unsupported VHDX File Format]"
MSG_EMPTY = "ClientError: Disk validation failed [Unsupported file format: the disk image is empty]"

SUPPORTED_IMPORT_FORMATS = ("OVA", "VMDK", "VHD", "VHDX", "RAW")


class DiskFormatError(Exception):
    """The disk is not importable; ``message`` is the task's final StatusMessage."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class DiskInfo:
    format: str  # OVA | VMDK | VHD | VHDX | RAW (upper case, as ImportImage reports it)
    size: int  # bytes of the uploaded object
    capacity: int  # virtual disk size in bytes
    create_type: str | None = None  # VMDK descriptor createType
    # Non-zero grains of the virtual disk {byte offset: 64 KiB bytes}, or None when not retained (too big /
    # format not decoded). Lets an export of the imported instance carry the imported disk's data.
    grains: dict[int, bytes] | None = None
    ovf_name: str | None = None  # OVA: descriptor member name
    disks: list[DiskInfo] = field(default_factory=list)  # OVA: the contained disks


# --------------------------------------------------------------------------------------------------
# Reading / validation
# --------------------------------------------------------------------------------------------------


@dataclass
class SparseHeader:
    magic: bytes
    version: int
    flags: int
    capacity: int  # sectors
    grain_size: int  # sectors
    descriptor_offset: int
    descriptor_size: int
    num_gtes_per_gt: int
    rgd_offset: int
    gd_offset: int
    overhead: int
    unclean_shutdown: int
    newline_chars: bytes
    compress_algorithm: int

    @classmethod
    def parse(cls, raw: bytes) -> SparseHeader:
        return cls(*_HEADER.unpack(raw[:SECTOR]))

    def pack(self) -> bytes:
        return _HEADER.pack(
            self.magic,
            self.version,
            self.flags,
            self.capacity,
            self.grain_size,
            self.descriptor_offset,
            self.descriptor_size,
            self.num_gtes_per_gt,
            self.rgd_offset,
            self.gd_offset,
            self.overhead,
            self.unclean_shutdown,
            self.newline_chars,
            self.compress_algorithm,
        )


_CREATE_TYPE = re.compile(rb'createType\s*=\s*"([^"]*)"')


def read_vmdk_header(data: bytes) -> tuple[SparseHeader, str | None]:
    """Parse the sparse extent header and the embedded descriptor's createType (no validation)."""
    header = SparseHeader.parse(data)
    create_type = None
    if header.descriptor_offset and header.descriptor_size:
        start = header.descriptor_offset * SECTOR
        text = data[start : start + header.descriptor_size * SECTOR]
        m = _CREATE_TYPE.search(text)
        if m:
            create_type = m.group(1).decode("ascii", "replace")
    return header, create_type


def is_stream_optimized(data: bytes) -> bool:
    """Cheap header-only check (magic, version 3, compressed+markers flags, deflate, newline-detection
    characters intact, descriptor createType="streamOptimized")."""
    if len(data) < SECTOR or data[:4] != VMDK_MAGIC:
        return False
    header, create_type = read_vmdk_header(data)
    return (
        header.version == 3
        and bool(header.flags & FLAG_COMPRESSED)
        and bool(header.flags & FLAG_MARKERS)
        and header.compress_algorithm == COMPRESSION_DEFLATE
        and header.newline_chars == NEWLINE_CHARS
        and create_type == "streamOptimized"
    )


def inspect_vmdk(data: bytes, retain_limit: int = 64 * 1024 * 1024) -> DiskInfo:
    """Validate a streamOptimized VMDK completely (header, descriptor, every grain, footer, EOS marker)."""
    if not data:
        raise DiskFormatError(MSG_EMPTY)
    if len(data) < SECTOR or data[:4] != VMDK_MAGIC:
        # Garbage, a descriptor-only file (monolithicFlat / vmfs) or something else entirely.
        raise DiskFormatError(MSG_UNSUPPORTED_VMDK)
    header, create_type = read_vmdk_header(data)
    if (
        header.version != 3
        or not header.flags & FLAG_COMPRESSED
        or not header.flags & FLAG_MARKERS
        or header.compress_algorithm != COMPRESSION_DEFLATE
        or create_type != "streamOptimized"
        or header.grain_size == 0
        or header.grain_size & (header.grain_size - 1)
    ):
        # e.g. monolithicSparse (version 1, uncompressed), hosted sparse without markers.
        raise DiskFormatError(MSG_UNSUPPORTED_VMDK)
    if header.newline_chars != NEWLINE_CHARS:
        # The file went through a text-mode transfer.
        raise DiskFormatError(MSG_UNSUPPORTED_VMDK)

    if header.gd_offset == GD_AT_END:
        # Footer marker, footer (a copy of the header with the real gdOffset), end-of-stream marker.
        if len(data) < 4 * SECTOR or len(data) % SECTOR:
            raise DiskFormatError(MSG_FOOTERS)
        eos = data[-SECTOR:]
        footer_marker = data[-3 * SECTOR : -2 * SECTOR]
        footer_raw = data[-2 * SECTOR : -SECTOR]
        if eos != bytes(SECTOR):
            raise DiskFormatError(MSG_FOOTERS)
        num_sectors, size, mtype = struct.unpack_from("<QII", footer_marker)
        if size != 0 or mtype != MARKER_FOOTER:
            raise DiskFormatError(MSG_FOOTERS)
        footer = SparseHeader.parse(footer_raw)
        if (
            footer.magic != VMDK_MAGIC
            or footer.capacity != header.capacity
            or footer.grain_size != header.grain_size
            or footer.gd_offset in (0, GD_AT_END)
        ):
            raise DiskFormatError(MSG_FOOTERS)

    grain_bytes = header.grain_size * SECTOR
    capacity = header.capacity * SECTOR
    grains: dict[int, bytes] | None = {}
    retained = 0
    pos = header.overhead * SECTOR if header.overhead else SECTOR
    saw_eos = False
    while pos + 12 <= len(data):
        value, size = struct.unpack_from("<QI", data, pos)
        if size:
            lba = value
            payload = data[pos + 12 : pos + 12 + size]
            if len(payload) != size:
                raise DiskFormatError(MSG_FOOTERS)  # truncated in the middle of a grain
            try:
                raw = zlib.decompress(payload)
            except zlib.error:
                raise DiskFormatError(MSG_BAD_GRAIN) from None
            expected = min(grain_bytes, max(capacity - lba * SECTOR, 0))
            if lba % header.grain_size or len(raw) != expected:
                raise DiskFormatError(MSG_BAD_GRAIN)
            if grains is not None and raw.count(0) != len(raw):
                retained += len(raw)
                if retained > retain_limit:
                    grains = None
                else:
                    grains[lba * SECTOR] = raw.ljust(grain_bytes, b"\0")
            pos = _align(pos + 12 + size)
            continue
        (mtype,) = struct.unpack_from("<I", data, pos + 12)
        if mtype == MARKER_EOS and value == 0:
            saw_eos = True
            break
        if mtype not in (MARKER_GT, MARKER_GD, MARKER_FOOTER):
            raise DiskFormatError(MSG_BAD_GRAIN)
        pos += SECTOR + value * SECTOR
    if not saw_eos:
        raise DiskFormatError(MSG_FOOTERS)  # no end-of-stream marker: truncated upload
    return DiskInfo(format="VMDK", size=len(data), capacity=capacity, create_type=create_type, grains=grains)


def inspect_ova(data: bytes, retain_limit: int = 64 * 1024 * 1024) -> DiskInfo:
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
        members = tar.getmembers()
    except (tarfile.TarError, EOFError):
        raise DiskFormatError(MSG_UNSUPPORTED_OVA) from None
    ovfs = [m for m in members if m.isfile() and m.name.lower().endswith(".ovf")]
    if not ovfs:
        raise DiskFormatError(MSG_UNSUPPORTED_OVA)
    try:
        ET.fromstring(tar.extractfile(ovfs[0]).read())  # type: ignore[union-attr]
    except ET.ParseError:
        raise DiskFormatError(MSG_UNSUPPORTED_OVA) from None
    vmdks = [m for m in members if m.isfile() and m.name.lower().endswith(".vmdk")]
    if not vmdks:
        raise DiskFormatError(MSG_UNSUPPORTED_OVA)
    disks = [inspect_vmdk(tar.extractfile(m).read(), retain_limit) for m in vmdks]  # type: ignore[union-attr]
    boot = disks[0]
    return DiskInfo(
        format="OVA",
        size=len(data),
        capacity=boot.capacity,
        create_type=boot.create_type,
        grains=boot.grains,
        ovf_name=ovfs[0].name,
        disks=disks,
    )


def inspect_vhd(data: bytes) -> DiskInfo:
    if len(data) < SECTOR or data[-SECTOR:][:8] != b"conectix":
        raise DiskFormatError(MSG_FOOTERS)
    footer = data[-SECTOR:]
    (current_size,) = struct.unpack_from(">Q", footer, 48)
    (disk_type,) = struct.unpack_from(">I", footer, 60)
    if disk_type in (3, 4) and data[:SECTOR] != footer:  # dynamic/differencing: header copy must match
        raise DiskFormatError(MSG_FOOTERS)
    if disk_type == 4:  # differencing VHD
        raise DiskFormatError(MSG_FOOTERS)
    return DiskInfo(format="VHD", size=len(data), capacity=current_size or len(data) - SECTOR)


def inspect_raw(data: bytes, retain_limit: int = 64 * 1024 * 1024) -> DiskInfo:
    if not data:
        raise DiskFormatError(MSG_EMPTY)
    grains: dict[int, bytes] | None = None
    if len(data) <= retain_limit:
        grains = {}
        for off in range(0, len(data), GRAIN_BYTES):
            chunk = data[off : off + GRAIN_BYTES]
            if chunk.count(0) != len(chunk):
                grains[off] = chunk.ljust(GRAIN_BYTES, b"\0")
    return DiskInfo(format="RAW", size=len(data), capacity=_align(len(data)), grains=grains)


def inspect_disk(data: bytes, fmt: str, retain_limit: int = 64 * 1024 * 1024) -> DiskInfo:
    """Validate ``data`` as an ImportImage disk container of format ``fmt`` (case-insensitive)."""
    fmt = fmt.upper()
    if fmt == "VMDK":
        return inspect_vmdk(data, retain_limit)
    if fmt == "OVA":
        return inspect_ova(data, retain_limit)
    if fmt == "VHD":
        return inspect_vhd(data)
    if fmt == "VHDX":
        if data[:8] != b"vhdxfile":
            raise DiskFormatError(MSG_UNSUPPORTED_VHDX)
        return DiskInfo(format="VHDX", size=len(data), capacity=len(data))
    if fmt == "RAW":
        return inspect_raw(data, retain_limit)
    raise DiskFormatError(f"ClientError: Disk validation failed [Unsupported disk format {fmt}]")


def read_vmdk_data(data: bytes, length: int | None = None) -> bytes:
    """Decode a streamOptimized VMDK into its flat contents (first ``length`` bytes, default whole capacity).

    For tests: checks that what the sandbox exports carries the imported data.
    """
    info = inspect_vmdk(data, retain_limit=1 << 62)
    size = info.capacity if length is None else min(length, info.capacity)
    out = bytearray(size)
    for off, grain in (info.grains or {}).items():
        if off < size:
            chunk = grain[: size - off]
            out[off : off + len(chunk)] = chunk
    return bytes(out)


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def _align(n: int, to: int = SECTOR) -> int:
    return (n + to - 1) // to * to


def _descriptor(capacity_sectors: int, extent_name: str, adapter: str = "lsilogic") -> bytes:
    cylinders = max(1, min(capacity_sectors // (255 * 63), 65535))
    text = (
        "# Disk DescriptorFile\n"
        "version=1\n"
        "CID=fffffffe\n"
        "parentCID=ffffffff\n"
        'createType="streamOptimized"\n'
        "\n"
        "# Extent description\n"
        f'RDONLY {capacity_sectors} SPARSE "{extent_name}"\n'
        "\n"
        "# The Disk Data Base\n"
        "#DDB\n"
        "\n"
        'ddb.virtualHWVersion = "4"\n'
        f'ddb.geometry.cylinders = "{cylinders}"\n'
        'ddb.geometry.heads = "255"\n'
        'ddb.geometry.sectors = "63"\n'
        f'ddb.adapterType = "{adapter}"\n'
        'ddb.toolsVersion = "2147483647"\n'
    )
    return text.encode("ascii")


def make_stream_optimized_vmdk(
    capacity: int,
    data: bytes | dict[int, bytes] = b"",
    extent_name: str = "disk.vmdk",
) -> bytes:
    """Build a streamOptimized VMDK of ``capacity`` bytes.

    ``data`` is either flat bytes written from offset 0, or ``{byte offset: bytes}`` chunks (offsets need
    not be grain aligned). All-zero grains are not stored, so a large capacity with little data stays small.
    """
    capacity_sectors = _align(max(capacity, SECTOR)) // SECTOR
    capacity_bytes = capacity_sectors * SECTOR
    chunks = {0: data} if isinstance(data, bytes | bytearray) else dict(data)
    grains: dict[int, bytearray] = {}
    for off, blob in chunks.items():
        blob = bytes(blob)[: max(capacity_bytes - off, 0)]
        pos = 0
        while pos < len(blob):
            g = (off + pos) // GRAIN_BYTES
            within = (off + pos) % GRAIN_BYTES
            take = min(GRAIN_BYTES - within, len(blob) - pos)
            buf = grains.setdefault(g, bytearray(GRAIN_BYTES))
            buf[within : within + take] = blob[pos : pos + take]
            pos += take

    descriptor = _descriptor(capacity_sectors, extent_name)
    desc_sectors = _align(len(descriptor)) // SECTOR
    overhead = 1 + desc_sectors
    header = SparseHeader(
        magic=VMDK_MAGIC,
        version=3,
        flags=FLAG_NEWLINE_TEST | FLAG_COMPRESSED | FLAG_MARKERS,
        capacity=capacity_sectors,
        grain_size=GRAIN_SECTORS,
        descriptor_offset=1,
        descriptor_size=desc_sectors,
        num_gtes_per_gt=GTES_PER_GT,
        rgd_offset=0,
        gd_offset=GD_AT_END,
        overhead=overhead,
        unclean_shutdown=0,
        newline_chars=NEWLINE_CHARS,
        compress_algorithm=COMPRESSION_DEFLATE,
    )
    out = bytearray(header.pack())
    out += descriptor.ljust(desc_sectors * SECTOR, b"\0")

    num_grains = (capacity_sectors + GRAIN_SECTORS - 1) // GRAIN_SECTORS
    num_gts = (num_grains + GTES_PER_GT - 1) // GTES_PER_GT
    grain_tables: dict[int, list[int]] = {}
    for g in sorted(grains):
        raw = bytes(grains[g])
        if raw.count(0) == len(raw):
            continue
        lba = g * GRAIN_SECTORS
        raw = raw[: min(GRAIN_BYTES, capacity_bytes - lba * SECTOR)]
        compressed = zlib.compress(raw, 6)
        sector = len(out) // SECTOR
        block = struct.pack("<QI", lba, len(compressed)) + compressed
        out += block.ljust(_align(len(block)), b"\0")
        grain_tables.setdefault(g // GTES_PER_GT, [0] * GTES_PER_GT)[g % GTES_PER_GT] = sector

    gt_sectors = GTES_PER_GT * 4 // SECTOR
    directory = [0] * num_gts
    for t in sorted(grain_tables):
        out += struct.pack("<QII", gt_sectors, 0, MARKER_GT).ljust(SECTOR, b"\0")
        directory[t] = len(out) // SECTOR
        out += struct.pack(f"<{GTES_PER_GT}I", *grain_tables[t])

    gd_bytes = struct.pack(f"<{num_gts}I", *directory)
    gd_sectors = _align(len(gd_bytes)) // SECTOR
    out += struct.pack("<QII", gd_sectors, 0, MARKER_GD).ljust(SECTOR, b"\0")
    gd_offset = len(out) // SECTOR
    out += gd_bytes.ljust(gd_sectors * SECTOR, b"\0")

    out += struct.pack("<QII", 1, 0, MARKER_FOOTER).ljust(SECTOR, b"\0")
    header.gd_offset = gd_offset
    out += header.pack()
    out += bytes(SECTOR)  # end-of-stream marker
    return bytes(out)


def make_monolithic_sparse_vmdk(capacity: int) -> bytes:
    """A (non-importable) monolithicSparse VMDK header + descriptor: the classic wrong-format upload."""
    capacity_sectors = _align(capacity) // SECTOR
    descriptor = _descriptor(capacity_sectors, "disk.vmdk").replace(b"streamOptimized", b"monolithicSparse")
    header = SparseHeader(
        VMDK_MAGIC, 1, FLAG_NEWLINE_TEST | 2, capacity_sectors, GRAIN_SECTORS, 1, 20, GTES_PER_GT,
        21, 30, 128, 0, NEWLINE_CHARS, 0,
    )
    return (header.pack() + descriptor.ljust(20 * SECTOR, b"\0")).ljust(128 * SECTOR, b"\0")


def sample_disk_data(label: str = "vmigrate sandbox disk", size: int = 256 * 1024) -> bytes:
    """Deterministic, recognisable disk content: an MBR-like sector 0 plus pseudo-random blocks."""
    sector0 = bytearray(SECTOR)
    banner = f"{label}\n".encode()[:440]
    sector0[: len(banner)] = banner
    sector0[510:512] = b"\x55\xaa"
    body = bytearray()
    seed = hashlib.sha256(label.encode()).digest()
    while len(body) < size - SECTOR:
        seed = hashlib.sha256(seed).digest()
        body += seed
    return bytes(sector0) + bytes(body[: size - SECTOR])


# ---- OVF / OVA ----------------------------------------------------------------------------------

_NS = {
    "ovf": "http://schemas.dmtf.org/ovf/envelope/1",
    "rasd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData",
    "vssd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData",
    "vmw": "http://www.vmware.com/schema/ovf",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}


def make_ovf(
    name: str,
    disk_href: str,
    disk_size: int,
    capacity: int,
    populated: int,
    vcpus: int = 1,
    memory_mib: int = 1024,
    guest_os: str = "Linux",
) -> bytes:
    """A VMware-style OVF 1.0 descriptor for one VM with one streamOptimized disk and one NIC."""
    for prefix, uri in _NS.items():
        ET.register_namespace(prefix, uri)
    ovf, rasd, vssd, vmw = (f"{{{_NS[p]}}}" for p in ("ovf", "rasd", "vssd", "vmw"))

    env = ET.Element(f"{ovf}Envelope", {f"{vmw}buildId": "vmigrate-sandbox"})
    refs = ET.SubElement(env, f"{ovf}References")
    ET.SubElement(refs, f"{ovf}File", {f"{ovf}href": disk_href, f"{ovf}id": "file1", f"{ovf}size": str(disk_size)})

    disks = ET.SubElement(env, f"{ovf}DiskSection")
    ET.SubElement(disks, f"{ovf}Info").text = "Virtual disk information"
    ET.SubElement(
        disks,
        f"{ovf}Disk",
        {
            f"{ovf}capacity": str(capacity),
            f"{ovf}capacityAllocationUnits": "byte",
            f"{ovf}diskId": "vmdisk1",
            f"{ovf}fileRef": "file1",
            f"{ovf}format": STREAM_OPTIMIZED_OVF_FORMAT,
            f"{ovf}populatedSize": str(populated),
        },
    )
    nets = ET.SubElement(env, f"{ovf}NetworkSection")
    ET.SubElement(nets, f"{ovf}Info").text = "The list of logical networks"
    net = ET.SubElement(nets, f"{ovf}Network", {f"{ovf}name": "VM Network"})
    ET.SubElement(net, f"{ovf}Description").text = "The VM Network network"

    vs = ET.SubElement(env, f"{ovf}VirtualSystem", {f"{ovf}id": name})
    ET.SubElement(vs, f"{ovf}Info").text = "A virtual machine"
    ET.SubElement(vs, f"{ovf}Name").text = name
    windows = guest_os.lower().startswith("windows")
    os_sec = ET.SubElement(
        vs,
        f"{ovf}OperatingSystemSection",
        {
            f"{ovf}id": "1" if windows else "101",
            f"{vmw}osType": "windows9Server64Guest" if windows else "otherLinux64Guest",
        },
    )
    ET.SubElement(os_sec, f"{ovf}Info").text = "The kind of installed guest operating system"

    hw = ET.SubElement(vs, f"{ovf}VirtualHardwareSection")
    ET.SubElement(hw, f"{ovf}Info").text = "Virtual hardware requirements"
    system = ET.SubElement(hw, f"{ovf}System")
    for tag, text in (
        ("ElementName", "Virtual Hardware Family"),
        ("InstanceID", "0"),
        ("VirtualSystemIdentifier", name),
        ("VirtualSystemType", "vmx-10"),
    ):
        ET.SubElement(system, f"{vssd}{tag}").text = text

    def item(fields: list[tuple[str, str]]) -> None:
        el = ET.SubElement(hw, f"{ovf}Item")
        for tag, text in sorted(fields):  # rasd elements are alphabetical in the schema
            ET.SubElement(el, f"{rasd}{tag}").text = text

    item([
        ("AllocationUnits", "hertz * 10^6"),
        ("Description", "Number of Virtual CPUs"),
        ("ElementName", f"{vcpus} virtual CPU(s)"),
        ("InstanceID", "1"),
        ("ResourceType", "3"),
        ("VirtualQuantity", str(vcpus)),
    ])
    item([
        ("AllocationUnits", "byte * 2^20"),
        ("Description", "Memory Size"),
        ("ElementName", f"{memory_mib}MB of memory"),
        ("InstanceID", "2"),
        ("ResourceType", "4"),
        ("VirtualQuantity", str(memory_mib)),
    ])
    item([
        ("Address", "0"),
        ("Description", "SCSI Controller"),
        ("ElementName", "SCSI controller 0"),
        ("InstanceID", "3"),
        ("ResourceSubType", "lsilogic"),
        ("ResourceType", "6"),
    ])
    item([
        ("AddressOnParent", "0"),
        ("ElementName", "Hard disk 1"),
        ("HostResource", "ovf:/disk/vmdisk1"),
        ("InstanceID", "4"),
        ("Parent", "3"),
        ("ResourceType", "17"),
    ])
    item([
        ("AddressOnParent", "7"),
        ("AutomaticAllocation", "true"),
        ("Connection", "VM Network"),
        ("Description", "E1000 ethernet adapter on \"VM Network\""),
        ("ElementName", "Network adapter 1"),
        ("InstanceID", "5"),
        ("ResourceSubType", "E1000"),
        ("ResourceType", "10"),
    ])
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(env)


def make_ova(name: str, vmdk: bytes, capacity: int, vcpus: int = 1, memory_mib: int = 1024,
             guest_os: str = "Linux") -> bytes:
    """OVA = ustar tar with ``<name>.ovf`` first, then ``<name>-disk1.vmdk``, then ``<name>.mf`` (SHA256)."""
    disk_name = f"{name}-disk1.vmdk"
    info = inspect_vmdk(vmdk, retain_limit=0)
    populated = len(vmdk)
    ovf = make_ovf(name, disk_name, len(vmdk), info.capacity, populated, vcpus, memory_mib, guest_os)
    manifest = "".join(
        f"SHA256({n})= {hashlib.sha256(b).hexdigest()}\n" for n, b in ((f"{name}.ovf", ovf), (disk_name, vmdk))
    ).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member, blob in ((f"{name}.ovf", ovf), (disk_name, vmdk), (f"{name}.mf", manifest)):
            ti = tarfile.TarInfo(member)
            ti.size = len(blob)
            ti.mode = 0o644
            ti.mtime = 0
            tar.addfile(ti, io.BytesIO(blob))
    return buf.getvalue()
