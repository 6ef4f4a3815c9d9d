"""Streaming a disk into an S3 multipart upload with constant memory: parts are read one at a time into a buffer
of `part_size`, and at most `concurrency` parts are in flight while the next one is read. Parts S3 already holds
(from an attempt that crashed) are read and skipped, not sent again. No Django, no peer imports: the caller passes
the read and upload functions."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Protocol

READ_CHUNK = 1024 * 1024


class Part(Protocol):
    part_number: int
    etag: str
    size: int


class StreamTooLarge(Exception):
    pass


@dataclass
class Progress:
    bytes_read: int = 0
    bytes_uploaded: int = 0
    parts_skipped: int = 0
    parts_sent: int = 0


def part_size_for(file_size: int, minimum: int) -> int:
    """S3 allows 10,000 parts: grow the part size for very large disks, never below `minimum` (>= 5 MiB on AWS)."""
    size = minimum
    while file_size and file_size / size > 9_000:
        size *= 2
    return size


def _read_part(read: Callable[[int], bytes], buffer: bytearray) -> int:
    filled = 0
    view = memoryview(buffer)
    while filled < len(buffer):
        chunk = read(min(READ_CHUNK, len(buffer) - filled))
        if not chunk:
            break
        view[filled:filled + len(chunk)] = chunk
        filled += len(chunk)
    return filled


def stream_to_multipart(
    *, read: Callable[[int], bytes], upload_part: Callable[[int, bytes], Part], part_size: int,
    already: dict[int, Part], concurrency: int, max_bytes: int,
    on_progress: Callable[[Progress], None] = lambda p: None, check: Callable[[], None] = lambda: None,
) -> list[Part]:
    """Read the stream to its end, uploading each part not already in `already`; returns all parts in order.

    `check` is called between parts and may raise to stop (cancel, lost lease); in-flight uploads are then
    waited for, so no thread outlives the call."""
    progress = Progress()
    done: dict[int, Part] = {}
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(concurrency)
    pending: set[Future] = set()

    def send(number: int, body: bytes) -> None:
        try:
            part = upload_part(number, body)
            with lock:
                done[number] = part
                progress.bytes_uploaded += len(body)
                progress.parts_sent += 1
        finally:
            slots.release()

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="part-upload") as pool:
        try:
            number = 0
            while True:
                check()
                for future in [f for f in pending if f.done()]:
                    pending.discard(future)
                    future.result()  # re-raise an upload failure now, not after reading the whole disk
                buffer = bytearray(part_size)
                filled = _read_part(read, buffer)
                if filled == 0:
                    break
                number += 1
                progress.bytes_read += filled
                if progress.bytes_read > max_bytes:
                    raise StreamTooLarge(f"the disk stream passed {max_bytes} bytes")
                previous = already.get(number)
                if previous is not None and previous.size == filled:
                    with lock:
                        done[number] = previous
                        progress.bytes_uploaded += filled
                        progress.parts_skipped += 1
                else:
                    slots.acquire()
                    body = bytes(buffer[:filled]) if filled < part_size else bytes(buffer)
                    pending.add(pool.submit(send, number, body))
                del buffer
                on_progress(progress)
                if filled < part_size:
                    break
        finally:
            wait(pending)
        for future in pending:
            future.result()
    on_progress(progress)
    return [done[n] for n in sorted(done)]
