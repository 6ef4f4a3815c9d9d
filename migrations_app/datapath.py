"""Streaming a disk into an S3 multipart upload with constant memory: parts are read one at a time, and at most
`concurrency` parts are in flight while the next one is read. Parts S3 already holds (from an attempt that crashed) are read and skipped, not sent again. No Django, no peer imports: the caller passes
the read and upload functions."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Protocol


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


def _read_part(read: Callable[[int], bytes], part_size: int) -> bytes:
    """One part as one bytes object, filled straight from the socket (an HTTP response returns the whole request
    unless the stream ends or breaks), so a part is never copied on its way to the upload."""
    first = read(part_size)
    if len(first) == part_size or not first:
        return first
    chunks, filled = [first], len(first)
    while filled < part_size:
        chunk = read(part_size - filled)
        if not chunk:
            break
        chunks.append(chunk)
        filled += len(chunk)
    return b"".join(chunks)


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
                body = _read_part(read, part_size)
                filled = len(body)
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
                    pending.add(pool.submit(send, number, body))
                del body
                on_progress(progress)
                if filled < part_size:
                    break
        finally:
            wait(pending)
        for future in pending:
            future.result()
    on_progress(progress)
    return [done[n] for n in sorted(done)]
