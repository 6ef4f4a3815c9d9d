"""The sandbox's disk format code: streamOptimized VMDK writer/validator and OVA builder (no server needed)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from xml.etree import ElementTree as ET

import pytest

from sandbox.aws import diskfmt

pytestmark = pytest.mark.aws



def test_writer_produces_a_stream_optimized_vmdk_that_round_trips():
    data = diskfmt.sample_disk_data("round trip", 200 * 1024)
    vmdk = diskfmt.make_stream_optimized_vmdk(1 << 30, {0: data, (40 << 20) + 3: b"tail"})
    header, create_type = diskfmt.read_vmdk_header(vmdk)
    assert vmdk[:4] == b"KDMV" and header.version == 3 and create_type == "streamOptimized"
    assert header.flags & diskfmt.FLAG_COMPRESSED and header.flags & diskfmt.FLAG_MARKERS
    assert header.gd_offset == diskfmt.GD_AT_END and header.capacity * 512 == 1 << 30
    assert diskfmt.is_stream_optimized(vmdk)
    assert len(vmdk) < 300 * 1024  # sparse: a 1 GiB disk with 200 KiB of data stays small
    info = diskfmt.inspect_vmdk(vmdk)
    assert info.capacity == 1 << 30
    flat = diskfmt.read_vmdk_data(vmdk, (40 << 20) + 7)
    assert flat[: len(data)] == data and flat[-4:] == b"tail"
    assert sorted(info.grains) == [0, 65536, 131072, 131072 + 65536, 40 << 20]


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"", diskfmt.MSG_EMPTY),
        (b"\x00" * 4096, diskfmt.MSG_UNSUPPORTED_VMDK),
        (diskfmt.make_monolithic_sparse_vmdk(1 << 20), diskfmt.MSG_UNSUPPORTED_VMDK),
        (diskfmt.make_stream_optimized_vmdk(1 << 20, b"x" * 1000)[:-512], diskfmt.MSG_FOOTERS),
        (diskfmt.make_stream_optimized_vmdk(1 << 20, b"x" * 1000).replace(b"\n \r\n", b"\n \n\n", 1),
         diskfmt.MSG_UNSUPPORTED_VMDK),
        (diskfmt.make_stream_optimized_vmdk(1 << 20, b"x").replace(b'"streamOptimized"', b'"monolithicSparse"'),
         diskfmt.MSG_UNSUPPORTED_VMDK),
    ],
    ids=["empty", "zeros", "monolithicSparse", "no-eos", "text-mode-transfer", "wrong-createType"],
)
def test_validator_rejects(blob, message):
    assert not diskfmt.is_stream_optimized(blob) or message == diskfmt.MSG_FOOTERS
    with pytest.raises(diskfmt.DiskFormatError) as exc:
        diskfmt.inspect_vmdk(blob)
    assert exc.value.message == message


def test_other_formats():
    raw = diskfmt.sample_disk_data("raw", 100 * 1024)
    assert diskfmt.inspect_disk(raw, "raw").capacity == 100 * 1024
    fixed_vhd = raw + b"conectix" + bytes(40) + (len(raw)).to_bytes(8, "big") + bytes(4) + (2).to_bytes(4, "big")
    fixed_vhd += bytes(512 - (len(fixed_vhd) - len(raw)))
    assert diskfmt.inspect_disk(fixed_vhd, "VHD").capacity == len(raw)
    with pytest.raises(diskfmt.DiskFormatError) as exc:
        diskfmt.inspect_disk(raw, "VHD")
    assert exc.value.message == "ClientError: Footers not identical"
    with pytest.raises(diskfmt.DiskFormatError):
        diskfmt.inspect_disk(raw, "VHDX")


def test_ova_layout():
    vmdk = diskfmt.make_stream_optimized_vmdk(4 << 20, b"boot")
    ova = diskfmt.make_ova("vm-1", vmdk, 4 << 20, vcpus=2, memory_mib=2048)
    with tarfile.open(fileobj=io.BytesIO(ova)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["vm-1.ovf", "vm-1-disk1.vmdk", "vm-1.mf"]
        assert tar.extractfile("vm-1-disk1.vmdk").read() == vmdk
        ovf = ET.fromstring(tar.extractfile("vm-1.ovf").read())
    ns = "{http://schemas.dmtf.org/ovf/envelope/1}"
    rasd = "{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData}"
    quantities = {
        item.findtext(f"{rasd}ResourceType"): item.findtext(f"{rasd}VirtualQuantity")
        for item in ovf.iter(f"{ns}Item")
    }
    assert quantities["3"] == "2" and quantities["4"] == "2048"
    assert diskfmt.inspect_ova(ova).capacity == 4 << 20


def test_qemu_img_stream_optimized_output_is_accepted(tmp_path):
    raw = tmp_path / "disk.raw"
    data = diskfmt.sample_disk_data("qemu made", 300 * 1024)
    raw.write_bytes(data + bytes((4 << 20) - len(data)))
    out = tmp_path / "disk.vmdk"
    subprocess.run(["qemu-img", "convert", "-O", "vmdk", "-o", "subformat=streamOptimized", str(raw), str(out)],
                   check=True)
    blob = out.read_bytes()
    assert diskfmt.is_stream_optimized(blob)
    assert diskfmt.read_vmdk_data(blob) == raw.read_bytes()
    sparse = tmp_path / "sparse.vmdk"
    subprocess.run(["qemu-img", "convert", "-O", "vmdk", str(raw), str(sparse)], check=True)  # monolithicSparse
    with pytest.raises(diskfmt.DiskFormatError):
        diskfmt.inspect_vmdk(sparse.read_bytes())


def test_qemu_img_reads_our_vmdk(tmp_path):
    data = diskfmt.sample_disk_data("ours", 150 * 1024)
    path = tmp_path / "ours.vmdk"
    path.write_bytes(diskfmt.make_stream_optimized_vmdk(16 << 20, data))
    subprocess.run(["qemu-img", "check", str(path)], check=True, capture_output=True)
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(path), str(tmp_path / "out.raw")], check=True)
    out = (tmp_path / "out.raw").read_bytes()
    assert len(out) == 16 << 20 and out[: len(data)] == data
