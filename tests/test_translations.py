"""Translations pass hassfest; the `domain__device_class` option value moved to `domain_device_class`.

Hassfest (home-assistant/core, script/hassfest/translations.py) validates translation keys,
selector option keys among them, with

    RE_TRANSLATION_KEY = re.compile(r"^(?!.+[_-]{2})(?![_-])[a-z0-9-_]+(?<![_-])$")

    def translation_key_validator(value: str) -> str:
        if RE_TRANSLATION_KEY.match(value) is None:
            raise vol.Invalid(
                f"Invalid translation key '{value}', need to be [a-z0-9-_]+ and"
                " cannot start or end with a hyphen or underscore."
            )

so `[a-z0-9-_]+`, no leading or trailing `-`/`_`, and no two `-`/`_` in a row: the
built-in integration's `domain__device_class` cannot be a selector option key. Stored
entries (config entry version 1) are migrated to version 2, and moving over from the
built-in integration still takes its YAML spelling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import json
from pathlib import Path
import re
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.influxdb_ingest import async_migrate_entry
from custom_components.influxdb_ingest.config_flow import InfluxDBIngestConfigFlow
from custom_components.influxdb_ingest.const import DOMAIN
from custom_components.influxdb_ingest.lines.normalize_builtin import MEASUREMENT_ATTRS
from custom_components.influxdb_ingest.migrate import options_from_builtin_yaml

from .support.helpers import wait_for
from .support.icu import MessageFormatError, parse, render_literal

INTEGRATION = Path(__file__).parent.parent / "custom_components" / DOMAIN
STRINGS = INTEGRATION / "strings.json"
EN = INTEGRATION / "translations" / "en.json"

# Hassfest's RE_TRANSLATION_KEY (script/hassfest/translations.py in home-assistant/core).
TRANSLATION_KEY = re.compile(r"^(?!.+[_-]{2})(?![_-])[a-z0-9-_]+(?<![_-])$")


def _keys(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, key) for every dict key at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key
            yield from _keys(value, f"{path}/{key}")


def test_the_rule_is_hassfests() -> None:
    for good in ("domain_device_class", "unit_of_measurement", "v1", "a-b", "x"):
        assert TRANSLATION_KEY.match(good), good
    for bad in ("domain__device_class", "a--b", "a_-b", "_a", "a_", "-a", "a-", "A", "a b", "a.b", ""):
        assert not TRANSLATION_KEY.match(bad), bad


@pytest.mark.parametrize("file", [STRINGS, EN], ids=["strings.json", "translations/en.json"])
def test_every_translation_key_passes_hassfest(file: Path) -> None:
    strings = json.loads(file.read_text(encoding="utf-8"))
    bad = [f"{path}/{key}" for path, key in _keys(strings) if not TRANSLATION_KEY.match(key)]
    assert bad == []
    # Selector option keys are among the keys walked, and are the ones that failed before.
    for selector, spec in strings["selector"].items():
        for option in spec["options"]:
            assert TRANSLATION_KEY.match(option), f"selector/{selector}/options/{option}"
    assert set(strings["selector"]["measurement_attr"]["options"]) == set(MEASUREMENT_ATTRS)


def test_strings_and_english_translation_are_identical() -> None:
    assert json.loads(STRINGS.read_text(encoding="utf-8")) == json.loads(EN.read_text(encoding="utf-8"))


def _strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) for every string at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}/{key}")
    elif isinstance(node, str):
        yield path, node


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        ("plain text, the server's answer", []),
        ("{title} at {url}", ["title", "url"]),
        ("`{ measurement }` and '{literal}' and it''s", ["measurement"]),
        ("{count, plural, one {# point} other {# points}}", ["count"]),
        ("{kind, select, a {A {title}} other {B}}", ["kind", "title"]),
        ("{n, number} a } alone", ["n"]),
    ],
)
def test_the_checker_accepts_what_the_frontend_formats(text: str, arguments: list[str]) -> None:
    assert parse(text) == arguments


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Example: sensor.*_power: {override_measurement: power}", "MALFORMED_ARGUMENT"),
        ("a {} b", "EMPTY_ARGUMENT"),
        ("a {title", "EXPECT_ARGUMENT_CLOSING_BRACE"),
        ("{a, list}", "INVALID_ARGUMENT_TYPE"),
        ("{count, plural, one {# point}}", "MISSING_OTHER_CLAUSE"),
        ("{count, plural, one {x} one {y} other {z}}", "DUPLICATE_PLURAL_ARGUMENT_SELECTOR"),
        ("Press <b>here</b>", "INVALID_TAG"),
    ],
)
def test_the_checker_refuses_what_the_frontend_shows_as_a_translation_error(text: str, code: str) -> None:
    with pytest.raises(MessageFormatError) as error:
        parse(text)
    assert error.value.code == code


def test_quoted_braces_show_as_braces() -> None:
    assert (
        render_literal("x: '{override_measurement: power}', it''s")
        == "x: {override_measurement: power}, it's"
    )


@pytest.mark.parametrize("file", [STRINGS, EN], ids=["strings.json", "translations/en.json"])
def test_every_string_parses_as_the_frontend_parses_it(file: Path) -> None:
    strings = json.loads(file.read_text(encoding="utf-8"))
    broken = {}
    for path, text in _strings(strings):
        try:
            parse(text)
        except MessageFormatError as error:
            broken[path] = error.code
    assert broken == {}


def test_the_overrides_help_shows_its_example_in_braces() -> None:
    strings = json.loads(STRINGS.read_text(encoding="utf-8"))
    help_texts = dict(_strings(strings))
    overrides = [text for path, text in help_texts.items() if path.endswith("data_description/overrides")]
    assert overrides
    for text in overrides:
        assert "{override_measurement: power}" in render_literal(text)


def test_moving_over_takes_the_builtin_yaml_spelling() -> None:
    options = options_from_builtin_yaml({"measurement_attr": "domain__device_class"})
    assert options["measurement_attr"] == "domain_device_class"
    assert options["measurement_attr"] in MEASUREMENT_ATTRS
    for value in ("unit_of_measurement", "entity_id"):
        assert options_from_builtin_yaml({"measurement_attr": value})["measurement_attr"] == value
    assert options_from_builtin_yaml({})["measurement_attr"] == "unit_of_measurement"


async def test_stored_v1_entry_is_migrated_and_keeps_writing_domain__device_class(
    hass: HomeAssistant, v1_config: dict[str, Any], database: str, query: Callable[..., Any]
) -> None:
    assert InfluxDBIngestConfigFlow.VERSION == 2
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=1,
        title="test",
        data=v1_config,
        options={
            "layout": "builtin",
            "measurement_attr": "domain__device_class",
            "default_measurement": "state",
            "include_entities": ["sensor.temperature", "sensor.no_class"],
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.version == 2
    assert entry.options["measurement_attr"] == "domain_device_class"
    assert entry.options["include_entities"] == ["sensor.temperature", "sensor.no_class"]
    assert entry.data == v1_config

    hass.states.async_set(
        "sensor.temperature", "21.5", {"unit_of_measurement": "°C", "device_class": "temperature"}
    )
    hass.states.async_set("sensor.no_class", "3", {"unit_of_measurement": "W"})

    # The measurement name is the built-in integration's: `<domain>__<device_class>`, and
    # the domain alone without a device class.
    rows = await wait_for(lambda: query('SELECT * FROM "sensor__temperature"', database), timeout=30)
    assert len(rows) == 1
    assert rows[0]["entity_id"] == "temperature"
    assert rows[0]["domain"] == "sensor"
    assert rows[0]["value"] == 21.5
    assert rows[0]["unit_of_measurement_str"] == "°C"
    assert "device_class_str" not in rows[0]  # it names the measurement
    rows = await wait_for(lambda: query('SELECT * FROM "sensor"', database), timeout=30)
    assert [(row["entity_id"], row["value"]) for row in rows] == [("no_class", 3.0)]
    measurements = await query("SHOW MEASUREMENTS", database)
    assert {row["name"] for row in measurements} == {"sensor__temperature", "sensor"}


async def test_v1_entry_with_other_options_only_gets_the_new_version(
    hass: HomeAssistant, v1_config: dict[str, Any]
) -> None:
    options = {"layout": "builtin", "measurement_attr": "entity_id"}
    entry = MockConfigEntry(domain=DOMAIN, version=1, title="test", data=v1_config, options=options)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.version == 2
    assert dict(entry.options) == options


async def test_entry_from_a_future_version_is_refused(hass: HomeAssistant, v1_config: dict[str, Any]) -> None:
    entry = MockConfigEntry(domain=DOMAIN, version=3, title="test", data=v1_config, options={})
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    assert entry.version == 3
    # Home Assistant refuses it before asking us; asked anyway, we refuse too.
    assert not await async_migrate_entry(hass, entry)
    assert entry.version == 3
