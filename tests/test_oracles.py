"""The reliability scenarios' own judges: the independent spool reader and the send counter.

The crash and backup scenarios trust tests/support/spool_oracle.py to say what was on disk,
and every scenario trusts `count_sends` to say what the server accepted twice; each is held
here to what it must see (the spool under test writes the files it reads, nothing more).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from custom_components.influxdb_ingest.pipeline.spool import DiskSpool, encode_lines

from .support.fault_proxy import Write
from .support.reliability import ANSWER_LOST, CRASH_BEFORE_CURSOR, count_sends
from .support.spool_oracle import read_spool_on_disk


def _batch(numbers: range) -> tuple[bytes, int, float]:
    lines = [f'm,entity_id=sensor.x state="{n}",num_seq={n}.0 {n}\n' for n in numbers]
    return encode_lines(lines), len(lines), 1.0


def test_the_oracle_reads_pending_and_acknowledged_records_as_the_cursor_says(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, max_bytes=2**30, max_age=10**9)
    spool.open()
    spool.append([_batch(range(0, 10)), _batch(range(10, 20))])
    spool.append([_batch(range(20, 30))])
    assert read_spool_on_disk(tmp_path).pending == list(range(30))

    spool.ack(spool.oldest(1)[0])
    on_disk = read_spool_on_disk(tmp_path)
    assert on_disk.acknowledged == list(range(10))
    assert on_disk.pending == list(range(10, 30))
    assert (on_disk.pending_records, on_disk.torn_tail_bytes, on_disk.damaged) == (2, 0, [])


def test_the_oracle_tells_a_torn_tail_from_damage_further_back(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, max_bytes=2**30, max_age=10**9)
    spool.open()
    spool.append([_batch(range(0, 10)), _batch(range(10, 20))])
    (segment,) = tmp_path.glob("*.seg")
    data = segment.read_bytes()
    segment.write_bytes(data[:-5])  # an append a crash interrupted
    torn = read_spool_on_disk(tmp_path)
    assert torn.pending == list(range(10))
    assert torn.torn_tail_bytes > 0
    assert torn.damaged == []

    damaged = bytearray(data)
    damaged[30] ^= 0xFF  # inside the first record's payload: not a crash's doing
    segment.write_bytes(bytes(damaged))
    assert read_spool_on_disk(tmp_path).damaged != []


def _write(arrived: float, outcome: str, numbers: range) -> Write:
    body = "".join(f"m num_seq={n}.0 {n}\n" for n in numbers).encode()
    return Write(arrived, outcome, body)


def test_count_sends_explains_a_resend_only_by_a_lost_answer_or_a_crash_before_the_cursor() -> None:
    writes = [
        _write(1, "forwarded 204", range(0, 10)),
        _write(2, "status 503", range(10, 20)),  # refused: not a send that stored anything
        _write(3, "forwarded 204", range(10, 20)),
        _write(4, "delay 1.0 forwarded 204 (client gone)", range(20, 30)),
        _write(5, "forwarded 204", range(20, 30)),  # the answer was lost: explained
        _write(6, "forwarded 204", range(0, 5)),  # acknowledged, then sent again
        _write(7, "forwarded 204", range(5, 10)),
    ]
    sends = count_sends(writes, crashed_before_cursor=set(range(5, 10)))
    assert set(sends.accepted) == set(range(30))
    assert sends.resends == {ANSWER_LOST: 10, CRASH_BEFORE_CURSOR: 5}
    assert sends.unexplained == list(range(5))
    assert sends.total_resends == 20


def test_a_partial_write_counts_as_accepted_only_the_lines_the_server_did_not_name() -> None:
    answer = b'{"error":"partial write of line protocol occurred","data":[{"line_number":2}]}'
    partial = Write(1, "forwarded 400", b"m num_seq=0.0 0\nm num_seq=1.0 1\nm num_seq=2.0 2\n", answer)
    assert count_sends([partial]).accepted == {0: 1, 2: 1}
    # 1.x and 2.x name no line (`dropped=N`): nothing is counted as stored.
    assert count_sends([Write(1, "forwarded 400", partial.body, b'{"error":"partial write"}')]).accepted == {}


def test_a_timeout_the_writer_alone_saw_explains_one_resend_and_no_more() -> None:
    """The proxy answered before the writer gave up, so it saw no lost answer; the writer did."""
    first, again = (_write(arrived, "forwarded 204", range(10)) for arrived in (1, 2))
    heard_once = Counter({first.body: 1})  # the second send's answer was read, not the first's
    sends = count_sends([first, again], heard=heard_once)
    assert (sends.resends, sends.unexplained) == ({ANSWER_LOST: 10}, [])
    # Both answers read: the second send is unexplained.
    assert count_sends([first, again], heard=Counter({first.body: 2})).unexplained == list(range(10))
