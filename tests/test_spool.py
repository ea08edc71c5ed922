"""The disk spool: order, persistence across reopen, torn tails, budgets, checksums."""

from __future__ import annotations

import os
from pathlib import Path
import random
import string
import struct
import zlib

import pytest

from custom_components.influxdb_ingest.pipeline import spool as spool_module, spool_cursor
from custom_components.influxdb_ingest.pipeline.spool import DiskSpool, SpoolCorrupt, encode_lines

DAY = 86_400.0


def _spool(directory: Path, max_bytes: int = 10**9, max_age: float = 30 * DAY) -> DiskSpool:
    spool = DiskSpool(directory, max_bytes=max_bytes, max_age=max_age)
    spool.open()
    return spool


def _append(spool: DiskSpool, lines: list[str], created: float) -> int:
    return spool.append([(encode_lines(lines), len(lines), created)])


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


def test_one_spill_is_one_sync_of_the_data_and_the_new_segment_is_synced_in_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_sync = spool_module.sync_data
    real_fsync = os.fsync

    def sync_data(descriptor: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}").rsplit("/", 1)[-1])
        real_sync(descriptor)

    def fsync(descriptor: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}").rsplit("/", 1)[-1])
        real_fsync(descriptor)

    monkeypatch.setattr(spool_module, "sync_data", sync_data)  # the segments'
    monkeypatch.setattr(spool_cursor, "sync_data", sync_data)  # the cursor's
    monkeypatch.setattr(spool_module.os, "fsync", fsync)
    spool = _spool(tmp_path)
    spool.append([(encode_lines([f"m v={n} {n}\n"]), 1, float(n)) for n in range(10)])
    segment = next(tmp_path.glob("*.seg")).name
    # The ten batches in one sync; the segment's name made durable in its directory.
    assert synced == [segment, tmp_path.name]
    spool.append([(encode_lines(["m v=10 10\n"]), 1, 10.0)])
    assert synced[2:] == [segment]
    assert spool.syncs == 3
    assert spool.bytes_written == spool.size_bytes

    synced.clear()
    spool.ack(spool.oldest(1)[0])
    assert synced == ["cursor", tmp_path.name]  # created: its name synced too
    spool.ack(spool.oldest(1)[0])
    assert synced[2:] == ["cursor"]  # then overwritten in place: one sync


def test_an_append_the_disk_refuses_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = _spool(tmp_path)
    _append(spool, ["m v=1 1\n"], created=1.0)
    size = spool.size_bytes

    def disk_full(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(spool_module, "sync_data", disk_full)
        with pytest.raises(OSError, match="No space"):
            _append(spool, ["m v=2 2\n", "m v=3 3\n"], created=2.0)
    assert spool.points == 1
    assert spool.size_bytes == size
    assert sum(path.stat().st_size for path in tmp_path.glob("*.seg")) == size
    _append(spool, ["m v=4 4\n"], created=4.0)
    assert _drain(_spool(tmp_path)) == [["m v=1 1\n"], ["m v=4 4\n"]]


def test_after_a_power_cut_an_unsynced_tail_of_zeros_is_cut_off(tmp_path: Path) -> None:
    """The file kept its length but the last append's blocks never reached the disk."""
    spool = _spool(tmp_path)
    _append(spool, ["m v=1 1\n"], created=1.0)
    _append(spool, ["m v=2 2\n"], created=2.0)
    second = spool.oldest(2)[1]
    (segment,) = tmp_path.glob("*.seg")
    data = bytearray(segment.read_bytes())
    payload_start = second.offset + spool_module._HEADER.size
    data[payload_start:] = bytes(len(data) - payload_start)  # header there, payload zeros
    segment.write_bytes(bytes(data))

    reopened = DiskSpool(tmp_path, max_bytes=10**9, max_age=30 * DAY)
    damage = reopened.open()
    assert damage.torn_records == 1
    assert reopened.points == 1
    assert segment.stat().st_size == second.offset
    assert _drain(reopened) == [["m v=1 1\n"]]


def test_a_torn_cursor_replays_from_the_oldest_record_kept(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    for number in range(3):
        _append(spool, [f"m v={number} {number}\n"], created=float(number))
    spool.ack(spool.oldest(1)[0])
    cursor = tmp_path / "cursor"
    cursor.write_bytes(cursor.read_bytes()[:20] + b"9" * 15)  # half old, half new

    reopened = _spool(tmp_path)
    # The acknowledged batch comes again (InfluxDB overwrites it); none is lost.
    assert _drain(reopened) == [[f"m v={number} {number}\n"] for number in range(3)]


def test_a_cursor_written_by_an_older_version_is_still_read(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    for number in range(3):
        _append(spool, [f"m v={number} {number}\n"], created=float(number))
    second = spool.oldest(2)[1]
    (tmp_path / "cursor").write_text(f"{second.segment} {second.offset}\n")
    assert _drain(_spool(tmp_path)) == [[f"m v={number} {number}\n"] for number in (1, 2)]
