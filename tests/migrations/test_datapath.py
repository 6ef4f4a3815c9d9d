"""The streaming data path on its own: part boundaries, the part plan, resume, the size cap, stopping, constant
buffering."""

import io
import threading
import zlib
from dataclasses import dataclass

import pytest

from migrations_app.choices import MAX_DISK_STREAM_BYTES
from connector.datapath import (
    S3_MAX_PART_SIZE,
    S3_MAX_PARTS,
    S3_MIN_PART_SIZE,
    PartPlan,
    SourceChanged,
    StreamTooLarge,
    capacity_bounds,
    plan_parts,
    stream_to_multipart,
)

MIB = 1024 * 1024
KIB1 = PartPlan(1024)


@dataclass
class Part:
    part_number: int
    etag: str
    size: int
    crc32: int | None = None


def _source(size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    return data, io.BytesIO(data).read


def _uploader(store, in_flight_peak=None):
    lock = threading.Lock()
    state = {"now": 0}

    def upload(number, body, crc):
        assert crc == zlib.crc32(body)
        with lock:
            state["now"] += 1
            if in_flight_peak is not None:
                in_flight_peak.append(state["now"])
        store[number] = bytes(body)
        with lock:
            state["now"] -= 1
        return Part(number, f"etag-{number}", len(body), crc)

    return upload


def test_parts_reassemble_the_stream():
    data, read = _source(10 * 1024 + 17)
    store = {}
    parts = stream_to_multipart(read=read, upload_part=_uploader(store), plan=KIB1, already={},
                                concurrency=3, max_bytes=10**9)
    assert [p.part_number for p in parts] == list(range(1, 12))
    assert b"".join(store[n] for n in sorted(store)) == data
    assert parts[-1].size == 17


def test_parts_read_into_reused_buffers_reassemble_the_stream():
    data = bytes(range(256)) * 40 + b"tail"
    source = io.BytesIO(data)
    store, bodies = {}, []
    upload = _uploader(store)

    def keep(number, body, crc):
        bodies.append(body)
        return upload(number, body, crc)

    parts = stream_to_multipart(read=source.read, readinto=source.readinto, upload_part=keep, plan=KIB1,
                                already={}, concurrency=2, max_bytes=10**9)
    assert b"".join(store[n] for n in sorted(store)) == data and parts[-1].size == 4
    assert all(isinstance(b, bytearray) for b in bodies)
    assert len({id(b) for b in bodies}) <= 3  # concurrency + 1 buffers, used again and again


def test_parts_already_uploaded_with_the_same_bytes_are_read_past_not_sent():
    data, read = _source(8 * 1024)
    store = {}
    crc = [zlib.crc32(data[i:i + 1024]) for i in range(0, len(data), 1024)]
    # part 3: S3 listed no checksum, so nothing proves its bytes: it is sent again
    already = {1: Part(1, "old-1", 1024, crc[0]), 2: Part(2, "old-2", 1024, crc[1]), 3: Part(3, "unchecked", 1024)}
    seen = []
    parts = stream_to_multipart(read=read, upload_part=_uploader(store), plan=KIB1, already=already,
                                concurrency=2, max_bytes=10**9, on_progress=seen.append)
    assert sorted(store) == [3, 4, 5, 6, 7, 8]
    assert [p.etag for p in parts[:2]] == ["old-1", "old-2"]
    assert seen[-1].parts_skipped == 2 and seen[-1].parts_sent == 6 and seen[-1].bytes_uploaded == len(data)


@pytest.mark.parametrize("stale, where", [
    ({2: "other bytes, same size"}, 2),
    ({3: "short"}, 3),
    ({9: "past the end"}, 9),
])
def test_a_part_in_s3_that_differs_from_the_disk_now_is_a_changed_source(stale, where):
    data, read = _source(8 * 1024)
    crc = [zlib.crc32(data[i:i + 1024]) for i in range(0, len(data), 1024)]
    already = {n: Part(n, f"old-{n}", 1024, crc[n - 1]) for n in (1, 2, 3)}
    (number, kind), = stale.items()
    stale_part = {"other bytes, same size": lambda: Part(number, "x", 1024, crc[number - 1] ^ 1),
                  "short": lambda: Part(number, "x", 100, crc[number - 1]),
                  "past the end": lambda: Part(number, "x", 1024, 0)}[kind]
    already[number] = stale_part()
    store = {}
    with pytest.raises(SourceChanged) as raised:
        stream_to_multipart(read=read, upload_part=_uploader(store), plan=KIB1, already=already, concurrency=2,
                            max_bytes=10**9)
    assert raised.value.part_number == where
    # a plain size check would have skipped part 2 of the same length and spliced old bytes into the object
    assert 2 not in store


def test_the_size_cap_stops_the_transfer():
    _, read = _source(5000)
    with pytest.raises(StreamTooLarge):
        stream_to_multipart(read=read, upload_part=_uploader({}), plan=KIB1, already={}, concurrency=2,
                            max_bytes=3000)


def test_a_stop_request_ends_the_loop_after_in_flight_parts():
    _, read = _source(20 * 1024)
    store = {}
    calls = []

    def check():
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        stream_to_multipart(read=read, upload_part=_uploader(store), plan=KIB1, already={}, concurrency=2,
                            max_bytes=10**9, check=check)
    assert len(store) == 3


def test_upload_failure_surfaces():
    _, read = _source(10 * 1024)

    def upload(number, body, crc):
        if number == 2:
            raise OSError("S3 said no")
        return Part(number, "e", len(body), crc)

    with pytest.raises(OSError, match="S3 said no"):
        stream_to_multipart(read=read, upload_part=upload, plan=KIB1, already={}, concurrency=2,
                            max_bytes=10**9)


def test_no_more_than_the_concurrency_in_flight():
    _, read = _source(64 * 1024)
    peaks = []
    stream_to_multipart(read=read, upload_part=_uploader({}, peaks), plan=KIB1, already={}, concurrency=3,
                        max_bytes=10**9)
    assert max(peaks) <= 3


def _parts_needed(plan, stream_bytes):
    number, covered = 0, 0
    while covered < stream_bytes:
        number += 1
        covered += plan.size(number)
    return number


def test_part_plan_for_215_gb_with_the_default_8_mib():
    limit = MAX_DISK_STREAM_BYTES
    # a 2 GiB disk: 8 MiB parts throughout, as configured
    small = plan_parts(2 * 1024 * MIB, minimum=8 * MIB, limit=limit)
    assert {small.size(n) for n in range(1, 257)} == {8 * MIB}
    # a 215 GB disk: the base doubles until the capacity fits well inside 10,000 parts
    big = plan_parts(limit, minimum=8 * MIB, limit=limit)
    assert big.base == 32 * MIB and _parts_needed(big, limit) <= 7000
    # capacity unknown (or far too low): the sizes grow with the part number, so 215 GB still fits in 10,000
    # parts, every part within S3's bounds
    for capacity in (0, 1024 * MIB):
        plan = plan_parts(capacity, minimum=8 * MIB, limit=limit)
        assert plan.base == 8 * MIB
        assert plan.reach(S3_MAX_PARTS) >= limit
        assert _parts_needed(plan, limit) <= S3_MAX_PARTS
        sizes = [plan.size(n) for n in range(1, S3_MAX_PARTS + 1)]
        assert sizes == sorted(sizes) and S3_MIN_PART_SIZE <= sizes[0] and sizes[-1] <= S3_MAX_PART_SIZE
        assert sum(sizes) == plan.reach(S3_MAX_PARTS)
        # the growth costs nothing for streams the capacity covers: 8 MiB parts for the first 64 GiB
        assert plan.size(8000) == 8 * MIB and plan.reach(8000) == 8000 * 8 * MIB


def test_part_plan_keeps_s3s_minimum_unless_told_otherwise():
    assert plan_parts(0, minimum=4096, limit=MAX_DISK_STREAM_BYTES).base == S3_MIN_PART_SIZE
    assert plan_parts(0, minimum=4096, limit=MAX_DISK_STREAM_BYTES, floor=1024).base == 4096
    assert PartPlan.from_dict(plan_parts(0, minimum=8 * MIB, limit=10**9).as_dict()).size(9999) > 8 * MIB


def test_capacity_bounds_fill_unknown_disks_from_the_lease_total():
    assert capacity_bounds([10, 20], 30) == [10, 20]
    assert capacity_bounds([10, 0], 30) == [10, 20]
    assert capacity_bounds([0], 0) == [0]


def test_a_stream_longer_than_10000_parts_at_the_base_size_still_fits():
    """Capacity unknown, parts of 1 KiB: 16,384 parts at the base size; the plan's growth ends it sooner."""
    data, read = _source(16 * MIB)
    plan = plan_parts(0, minimum=1024, limit=len(data), floor=1024)
    store = {}
    parts = stream_to_multipart(read=read, upload_part=_uploader(store), plan=plan, already={}, concurrency=2,
                                max_bytes=10**9)
    assert len(data) / plan.base > S3_MAX_PARTS >= len(parts)
    assert b"".join(store[n] for n in sorted(store)) == data
