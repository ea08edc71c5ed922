"""The disk spool: order, persistence across reopen, torn tails, budgets, checksums."""

from __future__ import annotations

from pathlib import Path
import random
import string
import struct
import zlib

import pytest

from custom_components.influxdb_ingest.spool import DiskSpool, SpoolCorrupt, encode_lines

DAY = 86_400.0


def _spool(directory: Path, max_bytes: int = 10**9, max_age: float = 30 * DAY) -> DiskSpool:
    spool = DiskSpool(directory, max_bytes=max_bytes, max_age=max_age)
    spool.open()
    return spool


def _append(spool: DiskSpool, lines: list[str], created: float) -> int:
    return spool.append(encode_lines(lines), len(lines), created)


def _drain(spool: DiskSpool) -> list[list[str]]:
    batches = []
    while records := spool.oldest(1):
        batches.append(spool.read(records[0]))
        spool.ack(records[0])
    return batches


def test_batches_come_back_oldest_first_with_raw_newlines_intact(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    _append(spool, ['m s="multi\nline" 1\n', "m v=2 2\n"], created=1.0)
    _append(spool, ["m v=3 3\n"], created=2.0)
    assert spool.points == 3
    assert len(spool) == 2
    assert _drain(spool) == [['m s="multi\nline" 1\n', "m v=2 2\n"], ["m v=3 3\n"]]
    assert spool.points == 0
    assert list(tmp_path.glob("*.seg")) == []


def test_reopen_resumes_after_the_last_acknowledged_batch(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    for number in range(5):
        _append(spool, [f"m v={number} {number}\n"], created=float(number))
    spool.ack(spool.oldest(1)[0])

    reopened = _spool(tmp_path)
    assert reopened.points == 4
    assert _drain(reopened) == [[f"m v={number} {number}\n"] for number in range(1, 5)]
    _append(reopened, ["m v=9 9\n"], created=9.0)
    assert _drain(_spool(tmp_path)) == [["m v=9 9\n"]]


def test_torn_last_record_is_cut_off_and_reported(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    _append(spool, ["m v=1 1\n"], created=1.0)
    _append(spool, ["m v=2 2\n"], created=2.0)
    (segment,) = tmp_path.glob("*.seg")
    segment.write_bytes(segment.read_bytes()[:-3])  # a crash in the middle of the append

    reopened = DiskSpool(tmp_path, max_bytes=10**9, max_age=30 * DAY)
    damage = reopened.open()
    assert damage.torn_records == 1
    assert "torn record" in damage.messages[0]
    assert reopened.points == 1
    _append(reopened, ["m v=3 3\n"], created=3.0)  # appends continue after the cut
    assert _drain(reopened) == [["m v=1 1\n"], ["m v=3 3\n"]]


def _incompressible(length: int, seed: int) -> str:
    return "".join(random.Random(seed).choices(string.ascii_letters + string.digits, k=length))


def test_size_budget_drops_oldest_segments_with_exact_count(tmp_path: Path) -> None:
    spool = _spool(tmp_path, max_bytes=256 * 1024)  # 64 KiB segments
    dropped = sum(
        _append(spool, [f"m {_incompressible(1000, i * 10 + n)}=1 1\n" for n in range(10)], created=float(i))
        for i in range(100)
    )  # ~1 MB, compressed ~750 KB
    assert spool.size_bytes <= 256 * 1024
    assert dropped + spool.points == 1000
    assert dropped > 0
    assert dropped % 10 == 0  # whole batches


def test_records_are_compressed(tmp_path: Path) -> None:
    """Line protocol repeats itself (names, attributes): the spool holds it compressed."""
    spool = _spool(tmp_path)
    lines = [
        f'home_assistant,entity_id=sensor.power_{n % 20} state="{n}",attr_unit="W" {n}\n' for n in range(5000)
    ]
    _append(spool, lines, created=1.0)
    assert spool.size_bytes * 5 < len("".join(lines))
    assert _drain(spool) == [lines]


def test_age_limit_drops_old_records(tmp_path: Path) -> None:
    spool = _spool(tmp_path, max_age=DAY)
    _append(spool, ["m v=1 1\n", "m v=2 2\n"], created=0.0)
    _append(spool, ["m v=3 3\n"], created=DAY * 1.5)
    assert spool.drop_expired(now=DAY * 2) == 2
    assert _drain(spool) == [["m v=3 3\n"]]


def test_checksum_mismatch_is_detected(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    _append(spool, ["m v=1 1\n"], created=1.0)
    (segment,) = tmp_path.glob("*.seg")
    data = bytearray(segment.read_bytes())
    data[-2] ^= 0xFF
    segment.write_bytes(bytes(data))
    with pytest.raises(SpoolCorrupt):
        spool.read(spool.oldest(1)[0])


def test_a_payload_that_does_not_decompress_is_corrupt_too(tmp_path: Path) -> None:
    """Damage the checksum cannot see (it matches) must not stop replay with another error."""
    spool = _spool(tmp_path)
    _append(spool, ["m v=1 1\n"], created=1.0)
    (segment,) = tmp_path.glob("*.seg")
    garbage = b"not zlib at all"
    header = struct.pack("<4sIIId", b"IIS2", len(garbage), zlib.crc32(garbage), 1, 1.0)
    segment.write_bytes(header + garbage)
    reopened = _spool(tmp_path)
    with pytest.raises(SpoolCorrupt):
        reopened.read(reopened.oldest(1)[0])
