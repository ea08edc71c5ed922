"""An independent reader of the spool's files: what was on disk, without the code under test.

The crash and backup scenarios must learn what a killed Home Assistant left on disk
without asking the production spool (`pipeline/spool.py`), or a spool that forgets what
it synced would vouch for itself. This module reads the format as docs/architecture.md
documents it, and imports nothing from the integration:

- segments `<number>.seg` (digits), read in number order; a record is a 24-byte header
  (little endian: magic `IIS2`, payload length u32, CRC-32 of the payload u32, points
  u32, creation time f64) and a zlib-compressed payload of length-prefixed lines (u32);
- a `cursor` file, one line `<segment> <offset> <crc32 of "<segment> <offset>" in hex>`:
  segments numbered below `segment`, and records of `segment` starting below `offset`,
  were acknowledged (stored by the server); a missing or torn cursor acknowledges nothing.

Only the end of the last segment can be torn (an append a crash interrupted); a record
there that is incomplete or fails its checksum was never synced, and the oracle says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
import re
import struct
import zlib

_HEADER = struct.Struct("<4sIIId")
_MAGIC = b"IIS2"
_LENGTH = struct.Struct("<I")
# The default layout writes a number attribute as a float: `num_seq=123.0`.
SEQ = re.compile(rb"num_seq=(\d+)(?:\.0)?[, ]")
_ENTITY_ID = re.compile(r",entity_id=([^,= ]+)")


@dataclass(frozen=True)
class OracleRecord:
    """One complete, checksummed record, and whether the cursor had passed it."""

    segment: int
    offset: int
    lines: tuple[str, ...]
    acknowledged: bool

    @property
    def numbers(self) -> list[int]:
        """The event numbers (`seq` attribute) of its points."""
        return [int(match) for line in self.lines for match in SEQ.findall(line.encode())]

    @property
    def points(self) -> list[tuple[str, int]]:
        """Every point, numbered or not (Home Assistant's own entities are recorded too), as
        (entity_id tag, timestamp): what InfluxDB keeps one row for."""
        return [point_key(line) for line in self.lines]


def point_key(line: str) -> tuple[str, int]:
    """(entity_id tag, timestamp) of a default-layout line: the timestamp is its last word."""
    found = _ENTITY_ID.search(line)
    assert found, f"no entity_id tag in {line!r}"
    return found[1], int(line.rsplit(" ", 1)[1])


@dataclass
class SpoolOnDisk:
    """What the spool's files held: whole records (acknowledged or pending), and torn bytes."""

    records: list[OracleRecord] = field(default_factory=list)
    torn_tail_bytes: int = 0  # an unfinished append at the end of the last segment
    damaged: list[str] = field(default_factory=list)  # damage anywhere else: never expected
    cursor: tuple[int, int] | None = None

    @property
    def pending(self) -> list[int]:
        """Event numbers on disk that the server had not acknowledged: the replay's to send."""
        return [number for record in self.records if not record.acknowledged for number in record.numbers]

    @property
    def pending_points(self) -> list[tuple[str, int]]:
        """Every point on disk the server had not acknowledged, numbered or not."""
        return [point for record in self.records if not record.acknowledged for point in record.points]

    @property
    def acknowledged(self) -> list[int]:
        """Event numbers on disk behind the cursor: the server stored them before the kill."""
        return [number for record in self.records if record.acknowledged for number in record.numbers]

    @property
    def pending_records(self) -> int:
        return sum(not record.acknowledged for record in self.records)


def read_cursor(directory: Path) -> tuple[int, int] | None:
    """(segment, offset) from the cursor file, or None when it is missing or torn."""
    try:
        fields = (directory / "cursor").read_text().split()
    except OSError, UnicodeDecodeError:
        return None
    if len(fields) != 3 or not all(part.isdigit() for part in fields[:2]):
        return None
    segment, offset = int(fields[0]), int(fields[1])
    if fields[2] != f"{zlib.crc32(f'{segment} {offset}'.encode()):08x}":
        return None
    return segment, offset


def read_spool_on_disk(directory: Path) -> SpoolOnDisk:
    """Every whole record in `directory`'s segments, marked acknowledged or pending."""
    found = SpoolOnDisk(cursor=read_cursor(directory))
    if not directory.exists():
        return found
    cursor_segment, cursor_offset = found.cursor or (0, 0)
    numbers = sorted(int(path.stem) for path in directory.glob("*.seg") if path.stem.isdigit())
    for number in numbers:
        data = (directory / f"{number:012d}.seg").read_bytes()
        last = number == numbers[-1]
        offset = 0
        while offset < len(data):
            problem, record, end = _record_at(data, offset)
            if problem:
                if last and (problem == "incomplete" or end == len(data)):
                    found.torn_tail_bytes = len(data) - offset
                else:
                    found.damaged.append(f"segment {number} byte {offset}: {problem}")
                if problem == "incomplete" or last:
                    break
                offset = end
                continue
            acknowledged = number < cursor_segment or (number == cursor_segment and offset < cursor_offset)
            found.records.append(OracleRecord(number, offset, record, acknowledged))
            offset = end
    return found


def _record_at(data: bytes, offset: int) -> tuple[str, tuple[str, ...], int]:
    """(problem or "", lines, end of the record) for the record starting at `offset`."""
    if offset + _HEADER.size > len(data):
        return "incomplete", (), len(data)
    magic, length, crc, points, _created = _HEADER.unpack_from(data, offset)
    end = offset + _HEADER.size + length
    if magic != _MAGIC:
        return "incomplete", (), len(data)  # no header to go on: nothing after it is readable
    if end > len(data):
        return "incomplete", (), len(data)
    payload = data[offset + _HEADER.size : end]
    if zlib.crc32(payload) != crc:
        return "checksum", (), end
    lines = _lines(zlib.decompress(payload))
    if len(lines) != points:
        return f"{len(lines)} lines where the header says {points}", (), end
    return "", lines, end


def _lines(payload: bytes) -> tuple[str, ...]:
    lines = []
    position = 0
    while position < len(payload):
        (length,) = _LENGTH.unpack_from(payload, position)
        position += _LENGTH.size
        lines.append(payload[position : position + length].decode())
        position += length
    return tuple(lines)
