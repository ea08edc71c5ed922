"""Getting one batch of lines stored, whatever InfluxDB answers, and counting only what it proved.

What counts as written: a line in a request answered 2xx (the server stored the whole
request), or a line InfluxDB 3 did not name in its partial write (it names every line it
refused), or a line of a 1.x/2.x partial write whose only drops were points older than the
retention period (then no shard failed). Nothing else: a 1.x/2.x partial write names one
shard's error and that shard's drop count, so the lines it does not name are unknown.

Those are settled by sending again (a point sent twice keeps its timestamp, so InfluxDB
overwrites it): a field type conflict is learnt for the shard window of the request and
the batch, healed, goes again until the server answers 204; a batch over several windows
is first split by time, so each answer is about one window. Lines known to fail (an
unconvertible value, a string over the server's limit) go to the dead-letter file with the
server's words; points older than the retention period are counted as dropped for it.
Anything else is narrowed down by halves to the single refused line. 413 splits a batch.
A connection closed without an answer while `/ping` still answers is narrowed down the same
way, to the line the server dies on (InfluxDB 3.6.0 to 3.9.3 crash on some refused lines);
when `/ping` does not answer either, it is an outage.
The work for one batch is bounded (`_MAX_REQUESTS`, `_MAX_SECONDS`): what is still
unsettled then is dead-lettered with the server's last words, so no answer can hold the
writer's lock for long. Retryable failures (unreachable, 5xx, 429, auth) are raised to the
writer, which keeps the batch and waits; what was settled before is not done twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
import logging
from pathlib import Path
import time
from typing import Any

from ..target.answers import longest_string, only_retention_drops, too_long_limit
from ..target.heal import TypeHealer
from ..target.influx_api import (
    LIMIT_MESSAGES,
    REJECTED_LISTED_AT_MOST,
    ConnectionDropped,
    InfluxClient,
    PayloadTooLarge,
    RejectedLine,
    WriteRejected,
)
from ..target.server_info import unanswered_line_reason
from ..target.shards import shard_duration
from .backlog import RunInExecutor
from .dead_letter import append_dead_letters
from .log_throttle import LogThrottle
from .stats import DropReason, WriterStats

_LOGGER = logging.getLogger(__name__)

# Dead letters are logged at most this often (seconds), with the running total.
_LOG_INTERVAL = 60.0
# The most requests and time one batch may cost before what is unsettled is dead-lettered.
# Narrowing one refused line down in a batch of 5 000 costs 27 requests, each conflict
# learnt one more, a split by shard window two per level.
_MAX_REQUESTS = 64
_MAX_SECONDS = 120.0
# After a `/ping` that got no answer, a dropped connection is taken for the same outage for
# this long (seconds) without asking again: an outage behind a proxy costs no extra requests.
_PING_QUIET = 60.0
# At most this many lines of batches cut short by a retryable failure are remembered as settled.
_SETTLED_KEPT = 100_000


@dataclass
class _Settling:
    """One batch's budget and what the server proved stored so far."""

    requests_left: int
    deadline: float
    written: int = 0
    last_answer: str = ""
    # Lines whose fate is known (stored, dead-lettered, dropped for retention).
    settled: list[str] = field(default_factory=list)
    # Lines that, sent alone, closed the connection without an answer once already.
    unanswered_alone: set[str] = field(default_factory=set)

    def may_send(self) -> bool:
        return self.requests_left > 0 and time.monotonic() < self.deadline


class Delivery:
    """Sends batches to one target; counts what was written and what was refused."""

    def __init__(
        self,
        client: InfluxClient,
        stats: WriterStats,
        *,
        dead_letter_path: Path,
        write_timeout: float,
        run_in_executor: RunInExecutor,
        while_sending: Callable[[], bool],
    ) -> None:
        self.client = client
        self.healer = TypeHealer()
        self.dead_letter_path = dead_letter_path
        self._stats = stats
        self._write_timeout = write_timeout
        self._run = run_in_executor
        # Work to do while a request is on its way (serializing the next batch); returns
        # False when there is nothing left to do.
        self._while_sending = while_sending
        self._dead_letter_log = LogThrottle(_LOG_INTERVAL)
        self._retention_log = LogThrottle(_LOG_INTERVAL)
        self._shards_asked = False
        self._settled: set[str] = set()
        self._ping_unanswered_at = -_PING_QUIET

    async def deliver(self, lines: list[str]) -> None:
        """Write lines until each is stored or dead-lettered; raise on retryable failures.

        Only what the server proved stored is counted. A retryable failure half way leaves
        the batch to be sent again; what this attempt settled is remembered, so that it is
        neither counted nor dead-lettered twice.
        """
        if self._settled:
            known = self._settled.intersection(lines)
            self._settled -= known
            lines = [line for line in lines if line not in known]
        started = time.monotonic()
        settling = _Settling(_MAX_REQUESTS, started + _MAX_SECONDS)
        try:
            await self._deliver(lines, settling)
        except BaseException:
            if len(self._settled) < _SETTLED_KEPT:
                self._settled.update(settling.settled)
            raise
        finally:
            if settling.written:
                self._count_written(settling.written)
        if settling.written:
            self._stats.last_write_latency = time.monotonic() - started

    async def _deliver(self, lines: list[str], settling: _Settling) -> None:
        # Lines stay as they came (a refused one is dead-lettered as it was, and a guess from
        # another shard is not carried into the next request); what is sent is healed.
        sent, kept = lines, lines
        if self.healer.has_learnt:
            sent, kept = [], []
            for line in lines:
                converted, reason = self.healer.heal(line)
                if reason is not None:  # known to fail: no need to narrow it down
                    await self._dead_letter([line], reason, settling)
                else:
                    kept.append(line)
                    sent.append(converted)
        lines = kept
        if not lines:
            return
        if not settling.may_send():
            await self._dead_letter(
                lines,
                f"not settled within {_MAX_REQUESTS} requests or {_MAX_SECONDS:.0f} s;"
                f" InfluxDB's last answer: {settling.last_answer}",
                settling,
            )
            return
        settling.requests_left -= 1
        try:
            await self._send("".join(sent).encode())
        except PayloadTooLarge as err:
            await self._narrow_down(lines, str(err), settling)
            return
        except WriteRejected as err:
            settling.last_answer = str(err)
            await self._settle(lines, sent, err, settling)
            return
        except ConnectionDropped as err:
            await self._settle_unanswered(lines, err, settling)
            return
        settling.written += len(lines)
        settling.settled.extend(lines)

    async def _settle(
        self, lines: list[str], sent: list[str], err: WriteRejected, settling: _Settling
    ) -> None:
        """Deal with a refusal using what the server said about it."""
        message = str(err)
        single_lines = all(line.count("\n") == 1 for line in lines)
        if err.rejected and single_lines:
            # Line numbers count lines of the body: only usable while no string field
            # holds a raw newline.
            await self._settle_named(lines, sent, err.rejected, settling)
        elif err.first_refused and single_lines:
            await self._settle_first_refused(lines, sent, err.first_refused, message, settling)
        elif only_retention_drops(message, err.dropped):
            self._settle_retention(lines, message, err.dropped or 0, settling)
        elif (limit := too_long_limit(message)) is not None and (
            over := [line for line in lines if longest_string(line) > limit]
        ):
            await self._dead_letter(over, message, settling)
            await self._deliver([line for line in lines if longest_string(line) <= limit], settling)
        elif TypeHealer.is_conflict(message):
            await self._learn_shard_duration()
            await self._settle_conflict(lines, message, settling)
        elif len(lines) == 1 and self.healer.learn(message, lines[0]):
            # 3.x's compatibility APIs name no line, but a line alone is the one refused.
            self._learnt(message)
            await self._deliver(lines, settling)
        else:
            await self._narrow_down(lines, message, settling)

    async def _settle_unanswered(self, lines: list[str], err: ConnectionDropped, settling: _Settling) -> None:
        """No answer, yet `/ping` answers right after: the batch may hold a line the server dies on.

        Narrowed down by halves like a refusal; a line that alone closes the connection twice
        is dead-lettered, naming the server's fault. A request that died may have stored its
        good lines (`/api/v3/write_lp` takes partial writes): sent again, each overwrites itself.
        """
        if not await self._server_answers():
            raise err  # an outage: the writer keeps the batch and waits, as for any unreachable server
        settling.last_answer = str(err)
        if len(lines) > 1:
            await self._narrow_down(lines, str(err), settling)
        elif lines[0] in settling.unanswered_alone:
            await self._dead_letter(lines, unanswered_line_reason(self.client.server), settling)
        else:  # once more: one dropped connection alone may be the network's
            settling.unanswered_alone.add(lines[0])
            await self._deliver(lines, settling)

    async def _server_answers(self) -> bool:
        """Whether `/ping` answers now; not asked again soon after it did not."""
        if time.monotonic() - self._ping_unanswered_at < _PING_QUIET:
            return False
        if await self._meanwhile(self.client.answers_ping(self._write_timeout)):
            return True
        self._ping_unanswered_at = time.monotonic()
        return False

    async def _settle_conflict(self, lines: list[str], message: str, settling: _Settling) -> None:
        """A field type conflict in one shard: learn it for the window the request was in."""
        if len(windows := self._by_window(lines)) > 1:
            # The answer is one shard's: split by time until each request is in one window.
            middle = len(windows) // 2
            await self._deliver([line for group in windows[:middle] for line in group], settling)
            await self._deliver([line for group in windows[middle:] for line in group], settling)
        elif self.healer.learn(message, window=self.healer.window_of(lines[0])):
            self._learnt(message)
            await self._deliver(lines, settling)  # healed now; stored again where it was
        else:
            await self._narrow_down(lines, message, settling)

    async def _learn_shard_duration(self) -> None:
        """Ask the server once how long its shards are (1.x, 2.x), for the healer's windows."""
        if self._shards_asked:
            return
        self._shards_asked = True
        if (duration := await shard_duration(self.client, self._write_timeout)) is not None:
            _LOGGER.debug("%s: shards of %d s", self.client.target.title, duration // 1_000_000_000)
            self.healer.set_window(duration)

    def _by_window(self, lines: list[str]) -> list[list[str]]:
        """Lines grouped by shard window, oldest window first."""
        groups: dict[int, list[str]] = {}
        for line in lines:
            groups.setdefault(self.healer.window_of(line), []).append(line)
        return [groups[window] for window in sorted(groups)]

    def _settle_retention(self, lines: list[str], message: str, dropped: int, settling: _Settling) -> None:
        """Every point dropped was older than the retention period; the server keeps none of them.

        No shard failed (its error would have been the answer), so the others were stored.
        A whole batch older than the retention period is settled by its first answer.
        """
        settling.written += len(lines) - dropped
        settling.settled.extend(lines)
        self._stats.drop(DropReason.RETENTION, dropped)
        self._stats.remember_error(message)
        if self._retention_log.due():
            _LOGGER.warning(
                "InfluxDB dropped %d points older than its retention period (%d so far): %s",
                dropped,
                self._stats.dropped[DropReason.RETENTION],
                message,
            )

    async def _settle_named(
        self, lines: list[str], sent: list[str], rejected: tuple[RejectedLine, ...], settling: _Settling
    ) -> None:
        """InfluxDB 3 stored every line but those it names: heal or dead-letter those.

        A list as long as the documented cap may have been cut: the lines after the last
        one named are sent again (where they were stored, an overwrite), so no line is
        counted as written that the server may have refused without naming it.
        """
        refused = {refusal.line_number - 1: refusal.message for refusal in rejected}
        if not all(0 <= index < len(lines) for index in refused):
            await self._narrow_down(lines, rejected[0].message, settling)
            return
        unknown = lines[max(refused) + 1 :] if len(refused) >= REJECTED_LISTED_AT_MOST else []
        settling.written += len(lines) - len(refused) - len(unknown)
        unsettled = set(refused) | set(range(len(lines) - len(unknown), len(lines)))
        settling.settled.extend(line for index, line in enumerate(lines) if index not in unsettled)
        again: list[str] = []
        for index, message in sorted(refused.items()):
            line = lines[index]
            if self.healer.learn(message, line):
                self._learnt(message)
            if self.healer.heal(line) != (sent[index], None):  # healed otherwise now: send it again
                again.append(line)
                continue
            if message.startswith(LIMIT_MESSAGES):
                self._stats.limit_refusal = message
            await self._dead_letter([line], message, settling)
        if again or unknown:
            await self._deliver(again + unknown, settling)

    async def _settle_first_refused(
        self, lines: list[str], sent: list[str], refused: RejectedLine, reason: str, settling: _Settling
    ) -> None:
        """InfluxDB 3 stored nothing and named the first line it refused.

        That line is healed or dead-lettered, the others are sent again (those before it
        were valid; those after it were not looked at).
        """
        index = refused.line_number - 1
        if not 0 <= index < len(lines):
            await self._narrow_down(lines, reason, settling)
            return
        line = lines[index]
        if self.healer.learn(refused.message, line):
            self._learnt(refused.message)
        if self.healer.heal(line) != (sent[index], None):  # healed otherwise now: send all again
            await self._deliver(lines, settling)
            return
        if refused.message.startswith(LIMIT_MESSAGES):
            self._stats.limit_refusal = refused.message
        await self._dead_letter([line], reason, settling)
        if rest := lines[:index] + lines[index + 1 :]:
            await self._deliver(rest, settling)

    def _learnt(self, message: str) -> None:
        _LOGGER.warning("Converting to the type InfluxDB already holds: %s", message)
        self._stats.points_healed_batches += 1

    def _count_written(self, points: int) -> None:
        self._stats.points_written += points
        self._stats.last_write_time = time.time()

    async def _send(self, body: bytes) -> None:
        """Write one request."""
        await self._meanwhile(self.client.write(body, self._write_timeout))

    async def _meanwhile[T](self, request: Coroutine[Any, Any, T]) -> T:
        """Await a request; while it is on its way, do the `while_sending` work.

        Events keep being serialized meanwhile, so a slow answer (or `/ping` after a dropped
        connection) does not leave them to fill the queue.
        """
        sending = asyncio.ensure_future(request)
        try:
            while not sending.done() and self._while_sending():  # noqa: ASYNC110  # the work is the condition
                await asyncio.sleep(0)
            return await sending
        finally:
            sending.cancel()  # only has an effect when we are cancelled ourselves

    async def _narrow_down(self, lines: list[str], message: str, settling: _Settling) -> None:
        """Deliver each half on its own, until a single refused line is dead-lettered."""
        if len(lines) == 1:
            if any(limit in message for limit in LIMIT_MESSAGES):  # 3.x compatibility APIs name no line
                self._stats.limit_refusal = message
            await self._dead_letter(lines, message, settling)
            return
        middle = len(lines) // 2
        await self._deliver(lines[:middle], settling)
        await self._deliver(lines[middle:], settling)

    async def _dead_letter(self, lines: list[str], message: str, settling: _Settling) -> None:
        await self._run(append_dead_letters, self.dead_letter_path, lines, message)
        settling.settled.extend(lines)
        self._stats.points_dead_lettered += len(lines)
        self._stats.remember_error(message)
        if self._dead_letter_log.due():
            _LOGGER.warning(
                "InfluxDB refused points; %d so far are kept in %s. Latest reason: %s",
                self._stats.points_dead_lettered,
                self.dead_letter_path,
                message,
            )
