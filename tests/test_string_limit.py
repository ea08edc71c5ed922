"""A string value over the server's limit never costs the point: it is cut to fit, counted and kept whole."""

from __future__ import annotations

from collections.abc import Callable
import json
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, State
from homeassistant.helpers.storage import Store
from hypothesis import given, strategies as st
import pytest

from custom_components.influxdb_ingest.const import DOMAIN
from custom_components.influxdb_ingest.lines.line_protocol import fit_string
from custom_components.influxdb_ingest.lines.metadata import EntityMetadata
from custom_components.influxdb_ingest.pipeline.serializer import make_serializer
from custom_components.influxdb_ingest.pipeline.settings import WriterSettings
from custom_components.influxdb_ingest.target.server_info import string_limit_for

from .support.helpers import MEASUREMENT, setup_entry, v3_entry_data, wait_for
from .support.lp3_parser import LIMIT_64K, LineProtocolError, parse_lines, would_store
from .support.standin_influxdb3 import InfluxDB3StandIn


@given(text=st.text(st.characters(exclude_categories=["Cs"])), limit=st.integers(0, 40))
def test_a_cut_string_is_the_longest_head_within_the_limit(text: str, limit: int) -> None:
    cut = fit_string(text, limit)
    assert text.startswith(cut)
    assert len(cut.encode()) <= limit
    if cut != text:  # one more character would not fit
        assert len(text[: len(cut) + 1].encode()) > limit


@pytest.mark.parametrize(
    ("api", "version", "limit"),
    [
        ("3", None, 65_536),  # unknown release: the smaller limit, 3.0 to 3.8
        ("3", "3.8.3", 65_536),
        ("3", "3.9.0", 1_048_576),
        ("3", "v3.10.1", 1_048_576),
        ("3", "main", 65_536),
        ("2", None, 1_048_576),
        ("1", "1.11.9", 1_048_576),
    ],
)
def test_the_string_limit_follows_the_api_and_the_release(api: str, version: str | None, limit: int) -> None:
    assert string_limit_for(api, version) == limit


def test_the_string_limit_setting_overrides_the_default() -> None:
    assert WriterSettings(api_version="3").string_limit() == 65_536
    assert WriterSettings(api_version="1").string_limit() == 1_048_576
    assert WriterSettings.from_options({"string_limit_bytes": 100.0}, "3").string_limit() == 100


def _event(state: str, attributes: dict[str, Any]) -> Event[Any]:
    new_state = State("sensor.calendar", state, attributes)
    data = {"entity_id": new_state.entity_id, "old_state": None, "new_state": new_state}
    return Event(EVENT_STATE_CHANGED, data)


@pytest.mark.parametrize("layout", ["default", "builtin"])
def test_an_attribute_over_the_influxdb3_limit_is_cut_and_the_point_is_stored(layout: str) -> None:
    whole = "é" * 40_000  # 80 000 bytes: over 3.8's 64 KiB
    serializer = make_serializer(WriterSettings(api_version="3", layout=layout), lambda _: EntityMetadata())
    assert parse_lines(f'm big="{whole}" 1', LIMIT_64K)[0].kind == "FieldStringValueTooLarge"  # type: ignore[union-attr]

    line = serializer.line(_event("on", {"events": whole}))

    assert line is not None
    (parsed,) = would_store(line + "\n", LIMIT_64K)
    fields = {key: value.value for key, value in parsed.fields}
    stored = fields["attr_events" if layout == "default" else "events_str"]
    assert stored == "é" * (LIMIT_64K // 2)
    (cut,) = serializer.take_cut_values()
    assert (cut.key, cut.value, cut.line) == (
        "attr_events" if layout == "default" else "events_str",
        whole,
        line,
    )
    assert serializer.take_cut_values() == []


def test_a_state_over_the_limit_is_cut_and_every_other_field_kept() -> None:
    serializer = make_serializer(WriterSettings(api_version="3"), lambda _: EntityMetadata())
    line = serializer.line(_event("x" * (LIMIT_64K + 1), {"friendly_name": "Agenda"}))
    assert line is not None
    (parsed,) = would_store(line + "\n", LIMIT_64K)
    fields = {key: value.value for key, value in parsed.fields}
    assert fields == {"state": "x" * LIMIT_64K, "attr_friendly_name": "Agenda"}
    assert not any(isinstance(result, LineProtocolError) for result in parse_lines(line, LIMIT_64K))


async def test_a_long_attribute_lands_cut_and_whole_in_the_dead_letter_file(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any]
) -> None:
    """Against the real InfluxDB 1.x, with a small limit set: the point is stored, the value cut."""
    entry = await setup_entry(hass, v1_config, {"string_limit_bytes": 10, "flush_interval": 0.1})
    writer = entry.runtime_data.writer
    hass.states.async_set("sensor.queue", "playing", {"queue": "0123456789abcdef"})
    await hass.async_block_till_done()
    await writer.async_flush()

    rows = await wait_for(lambda: query(f'SELECT "state", "attr_queue" FROM {MEASUREMENT}', database))
    assert [(row["state"], row["attr_queue"]) for row in rows] == [("playing", "0123456789")]
    assert writer.stats.string_values_cut == 1
    assert writer.stats.points_dead_lettered == 0
    records = [json.loads(line) for line in writer.dead_letter_path.read_text().splitlines()]
    assert [(record["field"], record["value"]) for record in records] == [("attr_queue", "0123456789abcdef")]
    assert 'attr_queue="0123456789"' in records[0]["line"]
    assert "10 bytes" in records[0]["error"]


@pytest.mark.parametrize(("release", "stored_whole"), [("3.5", False), ("3.11", True)])
async def test_the_limit_follows_the_release_the_server_names_at_start(
    hass: HomeAssistant, release: str, stored_whole: bool
) -> None:
    """A 100 KiB attribute: cut to 64 KiB on 3.5, stored whole on 3.11 once `/ping` named it."""
    server = InfluxDB3StandIn(release=release)
    server.store.databases["home"] = {}
    await server.start()
    try:
        entry = await setup_entry(hass, v3_entry_data(server.url))
        writer = entry.runtime_data.writer
        await wait_for(lambda: writer.delivery.client.server is not None)
        value = "x" * 100_000
        hass.states.async_set("calendar.agenda", "on", {"description": value})
        await hass.async_block_till_done()
        await writer.async_flush()
        rows = server.rows("home", MEASUREMENT)
        assert len(rows) == 1
        assert rows[0]["attr_description"] == (value if stored_whole else value[:LIMIT_64K])
        assert writer.stats.string_values_cut == (0 if stored_whole else 1)
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.stop()


@pytest.mark.parametrize(("release_after", "stored_whole"), [(None, True), ("3.5", False)])
async def test_a_restart_writes_to_the_release_last_seen_until_ping_answers(
    hass: HomeAssistant, release_after: str | None, stored_whole: bool
) -> None:
    """3.11 seen once: after a restart with the server down, a 100 KiB value is not cut to the
    64 KiB of an unknown 3.x; a server that answers as another release (3.5) is read again."""
    server = InfluxDB3StandIn(release="3.11")
    server.store.databases["home"] = {}
    await server.start()
    entry = await setup_entry(hass, v3_entry_data(server.url))
    await wait_for(lambda: entry.runtime_data.writer.delivery.client.server is not None)
    await hass.config_entries.async_unload(entry.entry_id)
    await server.stop()
    if release_after is not None:
        server = InfluxDB3StandIn(release=release_after, port=server.port)
        server.store.databases["home"] = {}
        await server.start()

    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        writer = entry.runtime_data.writer
        client = writer.delivery.client
        if release_after is not None:
            await wait_for(lambda: client.server is not None and client.server.version == server.version)
        assert client.server is not None
        assert client.server.version == server.version  # the remembered one while nothing answers
        value = "x" * 100_000
        hass.states.async_set("calendar.agenda", "on", {"description": value})
        await hass.async_block_till_done()
        if release_after is None:
            await writer.backlog.batch_all()  # serialized while the server is down
            server = InfluxDB3StandIn(release="3.11", port=server.port)
            server.store.databases["home"] = {}
            await server.start()
        await writer.async_flush()

        (row,) = server.rows("home", MEASUREMENT)
        assert row["attr_description"] == (value if stored_whole else value[:LIMIT_64K])
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.stop()
    saved = await Store[dict[str, str]](hass, 1, f"{DOMAIN}.{entry.entry_id}.server").async_load()
    assert saved is not None
    assert saved["version"] == server.version  # the release that answered last
