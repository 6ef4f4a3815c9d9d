"""Streaming a disk into an S3 multipart upload with constant memory: parts are read one at a time, and at most
`concurrency` parts are in flight while the next one is read. Every part carries a CRC32 computed once, here; S3
checks it on arrival and lists it back, so a part S3 already holds (from an attempt that crashed) is skipped only
when its bytes equal what was just read. No Django, no peer imports: the caller passes the read and upload
functions."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Protocol

try:  # ISA-L's CRC32 is zlib's (same polynomial, same value) at about four times the speed (PCLMULQDQ)
    from isal.isal_zlib import crc32
except ImportError:  # pragma: no cover - the dependency is declared; zlib is the same checksum, slower
    from zlib import crc32

MIB = 1024 * 1024
S3_MAX_PARTS = 10_000
S3_MIN_PART_SIZE = 5 * MIB  # every part but the last
S3_MAX_PART_SIZE = 5 * 1024 * MIB
# Parts at the base size cover the disk's capacity; the remaining 2,000 absorb a stream that outgrows it.
STEADY_PARTS = 8_000


class Part(Protocol):
    part_number: int
    etag: str
    size: int
    crc32: int | None  # None when S3 did not list a checksum (nothing to compare: the part is sent again)


class StreamTooLarge(Exception):
    pass


class SourceChanged(Exception):
    """A part S3 holds from an earlier attempt differs from the same part read now: the disk changed."""

    def __init__(self, part_number: int, reason: str):
        super().__init__(f"part {part_number}: {reason}")
        self.part_number = part_number
        self.reason = reason


@dataclass
class Progress:
    bytes_read: int = 0
    bytes_uploaded: int = 0
    parts_skipped: int = 0
    parts_sent: int = 0


@dataclass(frozen=True)
class PartPlan:
    """The size of every part of one upload: `base` for the first `steady` parts, then one `base` more every
    `step` parts. A stream longer than the capacity the plan was made for (unknown, or underestimated) therefore
    still ends within S3's 10,000 parts; the growth is paid for (bigger buffers) only by such a stream. The plan is
    saved with the upload id, so that a resumed upload cuts the stream at the same offsets."""

    base: int
    steady: int = S3_MAX_PARTS
    step: int = S3_MAX_PARTS

    def size(self, number: int) -> int:
        if number <= self.steady:
            return self.base
        return self.base * (2 + (number - self.steady - 1) // self.step)

    def reach(self, parts: int = S3_MAX_PARTS) -> int:
        """Bytes that the first `parts` parts hold."""
        steady = min(parts, self.steady)
        grown = parts - steady
        tiers, rest = divmod(grown, self.step)
        # tier i (0-based) has `step` parts of (2 + i) * base
        return self.base * (steady + self.step * (2 * tiers + tiers * (tiers - 1) // 2) + rest * (2 + tiers))

    def as_dict(self) -> dict:
        return {"base": self.base, "steady": self.steady, "step": self.step}

    @classmethod
    def from_dict(cls, data: dict) -> PartPlan:
        return cls(int(data["base"]), int(data["steady"]), int(data["step"]))


def capacity_bounds(capacities: list[int], total: int) -> list[int]:
    """Each disk's capacity, the bound of its stream. A disk whose own capacity is unknown (0) gets what the
    lease's total leaves over, which bounds it too; 0 when nothing is known (the part plan then grows)."""
    rest = max(0, total - sum(capacities))
    return [capacity or rest for capacity in capacities]


def plan_parts(capacity: int, *, minimum: int, limit: int, floor: int = S3_MIN_PART_SIZE) -> PartPlan:
    """The part plan for a disk of `capacity` bytes (0: unknown) whose stream may reach `limit` bytes.

    The base is `minimum` doubled until STEADY_PARTS parts cover the capacity (the capacity bounds a
    streamOptimized export; past `limit` the transfer stops anyway). The growth is the slowest that still lets
    S3_MAX_PARTS parts hold `limit` bytes. `floor` is S3's minimum part size; only tests lower it (the sandbox S3
    then accepts tiny parts), so that a small disk can need more than 10,000 parts at the configured size."""
    base = max(minimum, floor)
    while base * STEADY_PARTS < min(capacity, limit) and base * 2 <= S3_MAX_PART_SIZE:
        base *= 2
    step = S3_MAX_PARTS - STEADY_PARTS
    while step > 1 and PartPlan(base, STEADY_PARTS, step).reach() < limit:
        step -= 1
    return PartPlan(base, STEADY_PARTS, step)


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


def _fill_part(readinto: Callable[[memoryview], int], buffer: bytearray) -> bytearray:
    """Fill `buffer` from the stream (the socket writes into it: no copy on the way to the upload); cut to what
    arrived when the stream ends first."""
    filled, size = 0, len(buffer)
    with memoryview(buffer) as view:
        while filled < size:
            n = readinto(view[filled:])
            if not n:
                break
            filled += n
    if filled < size:
        del buffer[filled:]
    return buffer


def stream_to_multipart(
    *, read: Callable[[int], bytes], upload_part: Callable[[int, bytes, int], Part], plan: PartPlan,
    already: dict[int, Part], concurrency: int, max_bytes: int,
    on_progress: Callable[[Progress], None] = lambda p: None, check: Callable[[], None] = lambda: None,
    readinto: Callable[[memoryview], int] | None = None, on_read: Callable[[int, int], None] | None = None,
) -> list[Part]:
    """Read the stream to its end, uploading each part (number, body, crc32) that S3 does not hold with the same
    bytes already; returns all parts in order.

    With `readinto`, parts are read into bytearrays that are used again once their upload is done, so memory
    stays at `concurrency` + 1 part buffers and the pages are not faulted in anew for every part.

    Raises SourceChanged when a part in `already` has a checksum that differs from the part read now (or S3
    holds parts past the stream's end): the caller starts that disk again. `check` is called between parts and
    may raise to stop (cancel, lost lease); in-flight uploads are then waited for, so no thread outlives the
    call. `on_read(number, crc32)` is told of each part to be sent as soon as it is read, before it waits for an
    upload slot: the connector asks for the part's presigned URL then, so the asking overlaps the uploads in
    flight instead of holding a slot."""
    progress = Progress()
    done: dict[int, Part] = {}
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(concurrency)
    pending: set[Future] = set()
    spare: list[bytearray] = []  # part buffers whose upload is done

    def send(number: int, body: bytes, crc: int) -> None:
        try:
            part = upload_part(number, body, crc)
            with lock:
                done[number] = part
                progress.bytes_uploaded += len(body)
                progress.parts_sent += 1
                if isinstance(body, bytearray):
                    spare.append(body)
        finally:
            slots.release()

    def next_part(size: int):
        if readinto is None:
            return _read_part(read, size)
        with lock:
            buffer = next((b for b in spare if len(b) == size), None)
            if buffer is not None:
                spare.remove(buffer)
            else:
                spare.clear()  # the plan moved to bigger parts: the old buffers are of no more use
        return _fill_part(readinto, buffer if buffer is not None else bytearray(size))

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="part-upload") as pool:
        try:
            number = 0
            while True:
                check()
                for future in [f for f in pending if f.done()]:
                    pending.discard(future)
                    future.result()  # re-raise an upload failure now, not after reading the whole disk
                size = plan.size(number + 1)
                body = next_part(size)
                filled = len(body)
                if filled == 0:
                    break
                number += 1
                progress.bytes_read += filled
                if progress.bytes_read > max_bytes or number > S3_MAX_PARTS:
                    raise StreamTooLarge(f"the disk stream passed {max_bytes} bytes")
                crc = crc32(body)
                previous = already.get(number)
                if previous is not None and previous.crc32 is not None:
                    if previous.size != filled or previous.crc32 != crc:
                        raise SourceChanged(number, f"S3 holds {previous.size} bytes with CRC32 "
                                                    f"{previous.crc32:08x}, the disk now gives {filled} bytes with "
                                                    f"CRC32 {crc:08x}")
                    with lock:
                        done[number] = previous
                        progress.bytes_uploaded += filled
                        progress.parts_skipped += 1
                        if isinstance(body, bytearray):
                            spare.append(body)
                else:
                    if on_read is not None:
                        on_read(number, crc)
                    slots.acquire()
                    pending.add(pool.submit(send, number, body, crc))
                del body
                on_progress(progress)
                if filled < size:
                    break
            beyond = sorted(n for n, p in already.items() if n > number and p.crc32 is not None)
            if beyond:
                raise SourceChanged(beyond[0], f"the disk stream now ends in part {number}")
        finally:
            wait(pending)
        for future in pending:
            future.result()
    on_progress(progress)
    return [done[n] for n in sorted(done)]
