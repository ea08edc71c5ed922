"""The preview: the exact line an entity's current state produces, in the options flow and diagnostics.

Proven on Home Assistant's `demo` entities against what the writer really sent to the
InfluxDB 3 stand-in: for every entity whose only change so far was its first state, the
preview is one of the lines written.
"""

from __future__ import annotations

from collections import Counter
import json
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_config_entry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.influxdb_ingest.data import InfluxDBIngestConfigEntry
from custom_components.influxdb_ingest.pipeline.preview import (
    SAMPLE_DOMAINS,
    LinePreview,
    NoLine,
    as_field_list,
)

from .support.helpers import setup_entry, v3_entry_data
from .support.standin_influxdb3 import InfluxDB3StandIn

# The demo's image_processing platform (set up from YAML, not from its config entry) polls
# and cannot be unloaded: its timer outlives each test, as Home Assistant's own demo does.
pytestmark = pytest.mark.parametrize("expected_lingering_timers", [True])


async def _demo_written(
    hass: HomeAssistant, server: InfluxDB3StandIn, options: dict[str, Any]
) -> tuple[InfluxDBIngestConfigEntry, set[str], set[str]]:
    """Load the entry, then the demo; return the entry, the lines written and the entities
    whose one and only state change was their first state."""
    entry = await setup_entry(hass, v3_entry_data(server.url), options)
    changes: Counter[str] = Counter()
    first: set[str] = set()

    @callback
    def _count(event: Event[Any]) -> None:
        changes[event.data["entity_id"]] += 1
        if event.data["old_state"] is None:
            first.add(event.data["entity_id"])

    hass.bus.async_listen(EVENT_STATE_CHANGED, _count)
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "demo", {"demo": {}})
    await hass.async_block_till_done()
    await entry.runtime_data.writer.async_flush()
    written = {line for body in server.bodies for line in body.decode().splitlines()}
    once = {entity_id for entity_id in first if changes[entity_id] == 1}
    return entry, written, once


@pytest.mark.parametrize("layout", ["default", "builtin"])
async def test_the_preview_is_the_line_the_writer_wrote(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn, layout: str
) -> None:
    entry, written, once = await _demo_written(hass, influxdb3, {"layout": layout})
    preview = LinePreview(hass, entry.options)
    lines = {entity_id: preview.line(entity_id) for entity_id in once}
    shown = {entity_id: line for entity_id, line in lines.items() if not isinstance(line, NoLine)}
    assert len(shown) > 50  # the demo's entities, not a handful
    assert {entity_id for entity_id, line in shown.items() if line not in written} == set()
    # What the built-in layout does not write (unknown, unavailable) is said, not shown.
    assert {line for line in lines.values() if isinstance(line, NoLine)} <= {NoLine.NO_POINT}


async def test_the_options_flow_shows_the_line_or_why_there_is_none(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    entry, written, once = await _demo_written(hass, influxdb3, {"exclude_domains": ["light"]})
    entity_id = sorted(entity for entity in once if entity.startswith("sensor."))[0]

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"next_step_id": "preview"})
    assert result["step_id"] == "preview"
    assert result["description_placeholders"] == {"line": ""}
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"entity_id": entity_id})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {}
    rows = _rows(result["description_placeholders"]["line"])
    assert len(rows) > 3  # measurement, tags, fields, timestamp: a row each
    assert any(_join(rows, fields) in written for fields in range(1, len(rows)))

    # Excluded, missing: said as a form error, the flow stays open for another pick.
    for picked, error in (("light.kitchen_lights", "not_recorded"), ("sensor.nothing_here", "no_state")):
        result = await hass.config_entries.options.async_configure(result["flow_id"], {"entity_id": picked})
        assert result["errors"] == {"entity_id": error}
        assert result["description_placeholders"] == {"line": ""}
    assert entry.options == {"exclude_domains": ["light"]}  # previewing changes nothing


async def test_the_builtin_layout_writes_nothing_for_unavailable(
    hass: HomeAssistant, influxdb3: InfluxDB3StandIn
) -> None:
    entry, _written, _once = await _demo_written(hass, influxdb3, {"layout": "builtin"})
    hass.states.async_set("sensor.gone", "unavailable")
    assert LinePreview(hass, entry.options).line("sensor.gone") is NoLine.NO_POINT


def _rows(markdown: str) -> list[str]:
    """The parts a field list shows, as written (the inline code of each row)."""
    rows = []
    for row in markdown.split("\n"):
        assert row.startswith("- ")
        code = row[2:]
        fence = code[: len(code) - len(code.lstrip("`"))]
        assert code.endswith(f" {fence}")
        rows.append(code[len(fence) + 1 : -len(fence) - 1])
    return rows


def _join(rows: list[str], fields: int) -> str:
    """A line from its rows: head parts joined by commas, then the fields, then the time."""
    head, body, time = rows[:-1][: len(rows) - 1 - fields], rows[-1 - fields : -1], rows[-1]
    return f"{','.join(head)} {','.join(body)} {time}"


@pytest.mark.parametrize(
    ("line", "rows"),
    [
        (
            'homeassistant,domain=sensor,entity_id=power value=1.5,state="1.5" 1700000000000000000',
            [
                "homeassistant",
                "domain=sensor",
                "entity_id=power",
                "value=1.5",
                'state="1.5"',
                "1700000000000000000",
            ],
        ),
        # Escaped commas and spaces stay inside their part; a quoted field keeps its commas.
        (
            r'm\,x,t\,g=v\ x s="a``b, c=d",n=1 1',
            [r"m\,x", r"t\,g=v\ x", 's="a``b, c=d"', "n=1", "1"],
        ),
        ('m s="a```b" 2', ["m", 's="a```b"', "2"]),
    ],
)
def test_the_preview_shows_a_line_a_part_per_row(line: str, rows: list[str]) -> None:
    shown = as_field_list(line)
    assert _rows(shown) == rows
    # Backticks in a part get a longer fence, so Markdown never ends the code early.
    assert '```` s="a```b" ````' in shown or "```" not in line


async def test_diagnostics_show_a_line_per_domain_and_never_a_token_or_a_location(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, influxdb3: InfluxDB3StandIn
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    entry, written, once = await _demo_written(hass, influxdb3, {})
    samples = (await get_diagnostics_for_config_entry(hass, hass_client, entry))["sample_lines"]

    domains = [entity_id.partition(".")[0] for entity_id in samples]
    assert len(domains) == len(set(domains)) == SAMPLE_DOMAINS
    assert not {"camera", "image", "person", "device_tracker", "zone"} & set(domains)
    # A sample is the line the writer wrote, as the server received it (for the entities
    # whose one state is the one written: a later change has another old state).
    comparable = {entity_id: line for entity_id, line in samples.items() if entity_id in once}
    assert comparable, "no sample to compare with what was written"
    assert {entity_id for entity_id, line in comparable.items() if line not in written} == set()
    # The demo's cameras carry an access token in their attributes; none of it is shown.
    tokens = [state.attributes["access_token"] for state in hass.states.async_all("camera")]
    assert tokens
    text = json.dumps(samples)
    assert not any(token in text for token in tokens)
    assert "latitude" not in text
