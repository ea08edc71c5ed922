"""The spool's cursor: where reading resumes, in one small file overwritten in place.

One fixed-width line, "<segment> <offset> <crc32 of both>", written with one pwrite and
one sync (no rename: one sector, one sync). A torn cursor fails its checksum and reads as
"from the oldest segment kept": stored points are sent again, which InfluxDB overwrites.
Blocking file I/O, for the executor, like the spool itself.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
import zlib

_LOGGER = logging.getLogger(__name__)

_CURSOR = "cursor"
_CURSOR_FORMAT = "{:012d} {:012d} {:08x}\n"

# Data (and the file size) to the disk; the inode's times need not be.
sync_data = getattr(os, "fdatasync", os.fsync)


def read_cursor(directory: Path) -> tuple[int, int]:
    """Where reading resumes; (0, 0), the oldest segment kept, when there is no valid cursor."""
    try:
        text = (directory / _CURSOR).read_text()
    except OSError:
        return 0, 0
    if (cursor := _parse_cursor(text)) is None:
        _LOGGER.warning("Spool: the cursor is unreadable (%r); replaying from the oldest record", text)
        return 0, 0
    return cursor


def write_cursor(directory: Path, segment: int, offset: int) -> tuple[int, bool]:
    """Overwrite the cursor in place and sync it; the bytes written, and whether it was created.

    A created cursor needs its directory synced too, which the caller does.
    """
    data = _CURSOR_FORMAT.format(segment, offset, _cursor_crc(segment, offset)).encode()
    path = directory / _CURSOR
    created = not path.exists()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(descriptor, data, 0)  # longer than any cursor an older version wrote
        sync_data(descriptor)
    finally:
        os.close(descriptor)
    return len(data), created


def _cursor_crc(segment: int, offset: int) -> int:
    return zlib.crc32(f"{segment} {offset}".encode())


def _parse_cursor(text: str) -> tuple[int, int] | None:
    """(segment, offset) from a cursor file, or None when it is torn."""
    fields = text.split()
    if not 2 <= len(fields) <= 3:
        return None
    try:
        segment, offset = int(fields[0]), int(fields[1])
        # Older versions renamed "<segment> <offset>\n" into place: never torn, and shorter.
        if len(fields) == 2:
            return (segment, offset) if len(text) < len(_CURSOR_FORMAT.format(0, 0, 0)) else None
        return (segment, offset) if int(fields[2], 16) == _cursor_crc(segment, offset) else None
    except ValueError:
        return None
