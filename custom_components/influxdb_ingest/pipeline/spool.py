"""Durable on-disk spool: append-only segments of CRC-checked records, read oldest first.

Blocking file I/O: every method runs in Home Assistant's executor, never on the loop.

A record is one batch of serialized lines: a header (magic, payload length, CRC-32,
point count, creation time) and the payload: the lines, each length-prefixed (string
fields may hold raw newlines), compressed with zlib.

Durable when it says so: `append` returns only once its records are on the disk (one
fsync for all the records of a spill, and one of the directory when it created a
segment), so a batch leaves memory only when a power cut can no longer take it. What a
crash or power cut can tear is only what was being appended at that moment, at the end of
the last segment: `open` cuts off an incomplete record there, and a last record whose
checksum fails, reporting it, so it never poisons what comes before.

Consumed records are tracked by a cursor, overwritten in place and synced (one sector,
checksummed: a torn cursor only means replaying from the oldest segment kept). A batch
replayed twice after a crash is harmless, because points keep their timestamps and
InfluxDB overwrites identical points. `syncs` and `bytes_written` count the cost to the
disk (SD cards wear): diagnostics show them, docs/reliability.md gives them per hour of
outage.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
import contextlib
from dataclasses import dataclass, field
import itertools
import logging
import os
from pathlib import Path
import struct
import zlib

from .spool_cursor import read_cursor, sync_data, write_cursor

_LOGGER = logging.getLogger(__name__)

_MAGIC = b"IIS2"  # payload compressed with zlib: line protocol shrinks about tenfold
# Fast compression: the spool is about surviving outages, not about the last byte.
_COMPRESS_LEVEL = 1
_HEADER = struct.Struct("<4sIIId")  # magic, payload bytes, crc32, points, created (epoch s)
_LENGTH = struct.Struct("<I")
_SEGMENT_SUFFIX = ".seg"

# What `append` takes per batch: its encoded lines (`encode_lines`), points, creation time.
type SpoolEntry = tuple[bytes, int, float]


@dataclass(slots=True)
class SpoolRecord:
    """Where one batch sits on disk."""

    segment: int
    offset: int
    size: int
    points: int
    created: float


@dataclass(slots=True)
class _Segment:
    number: int
    path: Path
    size: int = 0
    records: deque[SpoolRecord] = field(default_factory=deque)


@dataclass(slots=True)
class _Append:
    """What one `append` adds to one segment, and how to take it back if writing fails."""

    segment: _Segment
    start: int  # the segment's size before
    start_records: int
    data: bytearray = field(default_factory=bytearray)

    def undo(self) -> int:
        """Cut the segment back to where it was; return the points taken back."""
        with contextlib.suppress(FileNotFoundError):
            os.truncate(self.segment.path, self.start)
        points = 0
        while len(self.segment.records) > self.start_records:
            points += self.segment.records.pop().points
        self.segment.size = self.start
        return points


@dataclass
class SpoolDamage:
    """What `open` had to cut off: torn tails left by a crash."""

    torn_records: int = 0
    torn_bytes: int = 0
    messages: list[str] = field(default_factory=list)


def encode_lines(lines: list[str]) -> bytes:
    """A record's payload: each line length-prefixed (string fields may hold newlines)."""
    parts = []
    for line in lines:
        data = line.encode()
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def _decode(payload: bytes) -> list[str]:
    lines = []
    position = 0
    while position < len(payload):
        (length,) = _LENGTH.unpack_from(payload, position)
        position += _LENGTH.size
        lines.append(payload[position : position + length].decode())
        position += length
    return lines


class DiskSpool:
    """Segments `<number>.seg` in one directory per config entry."""

    def __init__(self, directory: Path, *, max_bytes: int, max_age: float) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.max_age = max_age
        # Small segments for small budgets, so the budget is enforced at a fine grain.
        self.segment_bytes = max(64 * 1024, min(8 * 1024 * 1024, max_bytes // 8))
        self._segments: deque[_Segment] = deque()
        # Segment numbers only grow: the cursor names a segment, and everything numbered
        # below it is taken as consumed.
        self._next_number = 1
        self.points = 0
        # The cost to the disk since `open`: fsync calls, and bytes appended or overwritten.
        self.syncs = 0
        self.bytes_written = 0

    @property
    def size_bytes(self) -> int:
        """Bytes on disk, consumed records of the first segment included."""
        return sum(segment.size for segment in self._segments)

    @property
    def oldest_created(self) -> float | None:
        """When the oldest waiting record was spooled."""
        for segment in self._segments:
            if segment.records:
                return segment.records[0].created
        return None

    def __len__(self) -> int:
        return sum(len(segment.records) for segment in self._segments)

    def open(self) -> SpoolDamage:
        """Index the segments left by a previous run, cutting off torn records."""
        self.directory.mkdir(parents=True, exist_ok=True)
        cursor_segment, cursor_offset = read_cursor(self.directory)
        damage = SpoolDamage()
        numbers = sorted(
            int(path.stem) for path in self.directory.glob(f"*{_SEGMENT_SUFFIX}") if path.stem.isdigit()
        )
        self._next_number = max([cursor_segment, *numbers]) + 1
        for number in numbers:
            path = self._path(number)
            if number < cursor_segment:
                path.unlink(missing_ok=True)  # fully consumed before the last stop
                continue
            segment = _Segment(number, path, path.stat().st_size)
            start = cursor_offset if number == cursor_segment else 0
            # Only the last segment can hold an append a crash interrupted.
            for record in self._scan(segment, damage, verify=number == numbers[-1]):
                if record.offset >= start:
                    segment.records.append(record)
                    self.points += record.points
            self._segments.append(segment)
        for message in damage.messages:
            _LOGGER.warning("Spool: %s", message)
        return damage

    def _scan(self, segment: _Segment, damage: SpoolDamage, *, verify: bool) -> Iterator[SpoolRecord]:
        """Walk a segment's headers; cut the file at the first record that is incomplete.

        With `verify`, the last record's payload is checked too: after a power cut the file
        may have its full length while the blocks of an unsynced append hold zeros. (A
        record damaged further back is the disk's doing: `read` reports it, replay drops it.)
        """
        with segment.path.open("r+b") as file:
            offset = 0
            while offset < segment.size:
                header = file.read(_HEADER.size)
                valid = len(header) == _HEADER.size
                if valid:
                    magic, length, crc, points, created = _HEADER.unpack(header)
                    end = offset + _HEADER.size + length
                    valid = magic == _MAGIC and end <= segment.size
                    if valid and verify and end == segment.size:
                        valid = zlib.crc32(file.read(length)) == crc
                if not valid:
                    # Only a crash mid-append leaves this: the end of the last segment.
                    damage.torn_records += 1
                    damage.torn_bytes += segment.size - offset
                    damage.messages.append(
                        f"cut off a torn record at byte {offset} of {segment.path.name}"
                        f" ({segment.size - offset} bytes); the records before it are kept"
                    )
                    file.truncate(offset)
                    segment.size = offset
                    return
                yield SpoolRecord(segment.number, offset, _HEADER.size + length, points, created)
                file.seek(end)
                offset = end

    def append(self, entries: Sequence[SpoolEntry]) -> int:
        """Write batches at the end and sync them to disk; return the points dropped.

        One spill, one call: the data is synced once per segment written (and the
        directory once if a segment was created), however many batches it holds. When
        writing fails (a full disk) nothing of it stays, and the error is raised: the
        batches are still the caller's. Only the size budget drops points, the oldest first.
        """
        appends: dict[int, _Append] = {}
        for data, points, created in entries:
            payload = zlib.compress(data, _COMPRESS_LEVEL)
            record = _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload), points, created) + payload
            segment = self._active_segment(len(record))
            if segment.number not in appends:
                appends[segment.number] = _Append(segment, segment.size, len(segment.records))
            appends[segment.number].data += record
            segment.records.append(SpoolRecord(segment.number, segment.size, len(record), points, created))
            segment.size += len(record)
            self.points += points
        try:
            for append in appends.values():
                self._write_synced(append)
            if any(append.start == 0 for append in appends.values()):
                self._sync_directory()
        except OSError:
            for append in appends.values():
                self.points -= append.undo()
            raise
        return self._enforce_size()

    def _write_synced(self, append: _Append) -> None:
        with append.segment.path.open("ab") as file:
            file.write(append.data)
            file.flush()
            sync_data(file.fileno())
        self.syncs += 1
        self.bytes_written += len(append.data)

    def _active_segment(self, incoming: int) -> _Segment:
        if self._segments:
            last = self._segments[-1]
            if last.size == 0 or last.size + incoming <= self.segment_bytes:
                return last
        segment = _Segment(self._next_number, self._path(self._next_number))
        self._next_number += 1
        self._segments.append(segment)
        return segment

    def _sync_directory(self) -> None:
        """Make the creation of a file durable: its name lives in the directory."""
        descriptor = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        self.syncs += 1

    def _enforce_size(self) -> int:
        """Drop the oldest segments while the spool is over its byte budget."""
        dropped = 0
        while self.size_bytes > self.max_bytes and len(self._segments) > 1:
            dropped += self._drop_segment(self._segments.popleft())
        return dropped

    def drop_expired(self, now: float) -> int:
        """Drop records spooled longer ago than the age limit; return the points dropped."""
        dropped = 0
        limit = now - self.max_age
        while self._segments:
            segment = self._segments[0]
            if not segment.records or segment.records[-1].created < limit:
                if len(self._segments) == 1 and not segment.records:
                    break
                dropped += self._drop_segment(self._segments.popleft())
                continue
            while segment.records and segment.records[0].created < limit:
                record = segment.records.popleft()
                dropped += record.points
                self.points -= record.points
                self._write_cursor(record.segment, record.offset + record.size)
            break
        return dropped

    def _drop_segment(self, segment: _Segment) -> int:
        points = sum(record.points for record in segment.records)
        self.points -= points
        segment.path.unlink(missing_ok=True)
        if self._segments:
            self._write_cursor(self._segments[0].number, self._first_offset(self._segments[0]))
        else:
            self._write_cursor(self._next_number, 0)
        return points

    @staticmethod
    def _first_offset(segment: _Segment) -> int:
        return segment.records[0].offset if segment.records else segment.size

    def oldest(self, count: int) -> list[SpoolRecord]:
        """The `count` oldest waiting records, oldest first (no I/O)."""
        found: list[SpoolRecord] = []
        for segment in self._segments:
            found.extend(itertools.islice(segment.records, count - len(found)))
            if len(found) == count:
                break
        return found

    def read(self, record: SpoolRecord) -> list[str]:
        """The lines of a record. A record whose CRC fails raises SpoolCorrupt."""
        with self._path(record.segment).open("rb") as file:
            file.seek(record.offset)
            data = file.read(record.size)
        _, length, crc, _, _ = _HEADER.unpack_from(data)
        payload = data[_HEADER.size : _HEADER.size + length]
        if zlib.crc32(payload) != crc:
            raise SpoolCorrupt(record)
        try:
            return _decode(zlib.decompress(payload))
        except zlib.error as err:  # damage the checksum happened to miss
            raise SpoolCorrupt(record) from err

    def ack(self, record: SpoolRecord) -> None:
        """Forget the oldest record (written, or given up on) and persist the cursor."""
        while self._segments and not self._segments[0].records:
            if len(self._segments) == 1:
                break
            self._segments.popleft().path.unlink(missing_ok=True)
        segment = self._segments[0]
        if segment.records[0] is not record:
            raise ValueError("spool records are acknowledged oldest first")
        segment.records.popleft()
        self.points -= record.points
        if not segment.records and len(self._segments) > 1:
            self._segments.popleft()
            segment.path.unlink(missing_ok=True)
            self._write_cursor(self._segments[0].number, self._first_offset(self._segments[0]))
        elif not segment.records:
            # Everything is written: no segment is left to read.
            self._segments.clear()
            segment.path.unlink(missing_ok=True)
            self._write_cursor(self._next_number, 0)
        else:
            self._write_cursor(segment.number, record.offset + record.size)

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:012d}{_SEGMENT_SUFFIX}"

    def _write_cursor(self, segment: int, offset: int) -> None:
        written, created = write_cursor(self.directory, segment, offset)
        self.syncs += 1
        self.bytes_written += written
        if created:
            self._sync_directory()


class SpoolCorrupt(Exception):
    """A record's checksum does not match: the disk changed it after it was written."""

    def __init__(self, record: SpoolRecord) -> None:
        super().__init__(f"record at byte {record.offset} of segment {record.segment} fails its checksum")
        self.record = record
