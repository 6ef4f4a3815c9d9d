"""The streaming data path on its own: part boundaries, resume, the size cap, stopping, constant buffering."""

import io
import threading
from dataclasses import dataclass

import pytest

from migrations_app.datapath import StreamTooLarge, part_size_for, stream_to_multipart


@dataclass
class Part:
    part_number: int
    etag: str
    size: int


def _source(size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    return data, io.BytesIO(data).read


def _uploader(store, in_flight_peak=None):
    lock = threading.Lock()
    state = {"now": 0}

    def upload(number, body):
        with lock:
            state["now"] += 1
            if in_flight_peak is not None:
                in_flight_peak.append(state["now"])
        store[number] = bytes(body)
        with lock:
            state["now"] -= 1
        return Part(number, f"etag-{number}", len(body))

    return upload


def test_parts_reassemble_the_stream():
    data, read = _source(10 * 1024 + 17)
    store = {}
    parts = stream_to_multipart(read=read, upload_part=_uploader(store), part_size=1024, already={},
                                concurrency=3, max_bytes=10**9)
    assert [p.part_number for p in parts] == list(range(1, 12))
    assert b"".join(store[n] for n in sorted(store)) == data
    assert parts[-1].size == 17


def test_parts_already_uploaded_are_read_past_not_sent():
    data, read = _source(8 * 1024)
    store = {}
    already = {1: Part(1, "old-1", 1024), 2: Part(2, "old-2", 1024), 3: Part(3, "short", 100)}
    seen = []
    parts = stream_to_multipart(read=read, upload_part=_uploader(store), part_size=1024, already=already,
                                concurrency=2, max_bytes=10**9, on_progress=seen.append)
    assert sorted(store) == [3, 4, 5, 6, 7, 8]  # part 3 had the wrong size, so it is sent again
    assert [p.etag for p in parts[:2]] == ["old-1", "old-2"]
    assert seen[-1].parts_skipped == 2 and seen[-1].parts_sent == 6 and seen[-1].bytes_uploaded == len(data)


def test_the_size_cap_stops_the_transfer():
    _, read = _source(5000)
    with pytest.raises(StreamTooLarge):
        stream_to_multipart(read=read, upload_part=_uploader({}), part_size=1024, already={}, concurrency=2,
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
        stream_to_multipart(read=read, upload_part=_uploader(store), part_size=1024, already={}, concurrency=2,
                            max_bytes=10**9, check=check)
    assert len(store) == 3


def test_upload_failure_surfaces():
    _, read = _source(10 * 1024)

    def upload(number, body):
        if number == 2:
            raise OSError("S3 said no")
        return Part(number, "e", len(body))

    with pytest.raises(OSError, match="S3 said no"):
        stream_to_multipart(read=read, upload_part=upload, part_size=1024, already={}, concurrency=2,
                            max_bytes=10**9)


def test_no_more_than_the_concurrency_in_flight():
    _, read = _source(64 * 1024)
    peaks = []
    stream_to_multipart(read=read, upload_part=_uploader({}, peaks), part_size=1024, already={}, concurrency=3,
                        max_bytes=10**9)
    assert max(peaks) <= 3


def test_part_size_grows_only_for_huge_disks():
    mib = 1024 * 1024
    assert part_size_for(2 * 1024 * mib, 8 * mib) == 8 * mib
    big = part_size_for(215 * 10**9, 8 * mib)
    assert big > 8 * mib and 215 * 10**9 / big <= 9000
