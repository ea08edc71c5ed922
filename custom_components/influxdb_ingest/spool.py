"""Durable on-disk spool: append-only segments of CRC-checked records, read oldest first.

Blocking file I/O: every method runs in Home Assistant's executor, never on the loop.

A record is one batch of serialized lines: a header (magic, payload length, CRC-32,
point count, creation time) and the payload: the lines, each length-prefixed (string
fields may hold raw newlines), compressed with zlib. A crash can only tear the last
record of the last segment: `open` finds it, reports it and cuts it off, so it never
poisons what comes before or after. Consumed records are tracked by a cursor file; a
batch replayed twice after a crash is harmless, because points keep their timestamps and
InfluxDB overwrites identical points.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
import itertools
import logging
import os
from pathlib import Path
import struct
import zlib

_LOGGER = logging.getLogger(__name__)

_MAGIC = b"IIS2"  # payload compressed with zlib: line protocol shrinks about tenfold
# Fast compression: the spool is about surviving outages, not about the last byte.
_COMPRESS_LEVEL = 1
_HEADER = struct.Struct("<4sIIId")  # magic, payload bytes, crc32, points, created (epoch s)
_LENGTH = struct.Struct("<I")
_SEGMENT_SUFFIX = ".seg"
_CURSOR = "cursor"


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
        cursor_segment, cursor_offset = self._read_cursor()
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
            for record in self._scan(segment, damage):
                if record.offset >= start:
                    segment.records.append(record)
                    self.points += record.points
            self._segments.append(segment)
        for message in damage.messages:
            _LOGGER.warning("Spool: %s", message)
        return damage

    def _scan(self, segment: _Segment, damage: SpoolDamage) -> Iterator[SpoolRecord]:
        """Walk a segment's headers; cut the file at the first record that is incomplete."""
        with segment.path.open("r+b") as file:
            offset = 0
            while offset < segment.size:
                header = file.read(_HEADER.size)
                valid = len(header) == _HEADER.size
                if valid:
                    magic, length, _crc, points, created = _HEADER.unpack(header)
                    end = offset + _HEADER.size + length
                    valid = magic == _MAGIC and end <= segment.size
                if not valid:
                    # Only a crash mid-append leaves this: the last record of a segment.
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

    def append(self, payload: bytes, points: int, created: float) -> int:
        """Write one batch (`encode_lines` of its lines) at the end; return points dropped.

        Only the size budget drops points, the oldest first.
        """
        payload = zlib.compress(payload, _COMPRESS_LEVEL)
        header = _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload), points, created)
        segment = self._active_segment(len(header) + len(payload))
        with segment.path.open("ab") as file:
            file.write(header)
            file.write(payload)
        segment.records.append(
            SpoolRecord(segment.number, segment.size, len(header) + len(payload), points, created)
        )
        segment.size += len(header) + len(payload)
        self.points += points
        return self._enforce_size()

    def _active_segment(self, incoming: int) -> _Segment:
        if self._segments:
            last = self._segments[-1]
            if last.size == 0 or last.size + incoming <= self.segment_bytes:
                return last
        segment = _Segment(self._next_number, self._path(self._next_number))
        self._next_number += 1
        self._segments.append(segment)
        return segment

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

    def _read_cursor(self) -> tuple[int, int]:
        try:
            segment, offset = (self.directory / _CURSOR).read_text().split()
            return int(segment), int(offset)
        except OSError, ValueError:
            return 0, 0

    def _write_cursor(self, segment: int, offset: int) -> None:
        temporary = self.directory / f"{_CURSOR}.tmp"
        temporary.write_text(f"{segment} {offset}\n")
        os.replace(temporary, self.directory / _CURSOR)


class SpoolCorrupt(Exception):
    """A record's checksum does not match: the disk changed it after it was written."""

    def __init__(self, record: SpoolRecord) -> None:
        super().__init__(f"record at byte {record.offset} of segment {record.segment} fails its checksum")
        self.record = record
