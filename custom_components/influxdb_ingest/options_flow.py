"""Options flow: what to record and how to write it, and a preview of the line it gives."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigFlowResult, OptionsFlowWithReload
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    AreaSelector,
    AreaSelectorConfig,
    DeviceSelector,
    DeviceSelectorConfig,
    EntitySelector,
    EntitySelectorConfig,
    FloorSelector,
    FloorSelectorConfig,
    LabelSelector,
    LabelSelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    ObjectSelector,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
)
import voluptuous as vol

from .lines.normalize_builtin import MEASUREMENT_ATTRS
from .pipeline.filters import (
    CONF_EXCLUDE_AREAS,
    CONF_EXCLUDE_DEVICES,
    CONF_EXCLUDE_DOMAINS,
    CONF_EXCLUDE_ENTITIES,
    CONF_EXCLUDE_FLOORS,
    CONF_EXCLUDE_GLOBS,
    CONF_EXCLUDE_LABELS,
    CONF_INCLUDE_AREAS,
    CONF_INCLUDE_DEVICES,
    CONF_INCLUDE_DOMAINS,
    CONF_INCLUDE_ENTITIES,
    CONF_INCLUDE_FLOORS,
    CONF_INCLUDE_GLOBS,
    CONF_INCLUDE_LABELS,
    CONF_INCLUDE_OWN,
)
from .pipeline.preview import LinePreview, NoLine, as_field_list
from .pipeline.settings import WriterSettings

_TEXT = TextSelector()
_MULTIPLE_TEXT = TextSelector(TextSelectorConfig(multiple=True))
# Extra tags from the registries (docs/schema.md), and device_info: manufacturer, model, firmware fields.
ENRICHMENTS = ("area_id", "device_id", "area", "floor", "device", "labels", "platform", "unit", "device_info")
_ENTITIES = EntitySelector(EntitySelectorConfig(multiple=True))
_AREAS = AreaSelector(AreaSelectorConfig(multiple=True))
_FLOORS = FloorSelector(FloorSelectorConfig(multiple=True))
_DEVICES = DeviceSelector(DeviceSelectorConfig(multiple=True))
_LABELS = LabelSelector(LabelSelectorConfig(multiple=True))


def _domains() -> SelectSelector:
    """Any domain, typed in: loaded integrations change, so no list is offered."""
    return SelectSelector(SelectSelectorConfig(options=[], multiple=True, custom_value=True, sort=True))


def number_box(minimum: float, maximum: float, step: float, unit: str) -> NumberSelector:
    """A number typed into a box (sliders cannot hit an exact batch size or day count)."""
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum, max=maximum, step=step, unit_of_measurement=unit, mode=NumberSelectorMode.BOX
        )
    )


class IngestOptionsFlow(OptionsFlowWithReload):
    """What to record and how to write it; applied by reloading the entry (no restart)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Change the options, or see the line an entity produces with them."""
        return self.async_show_menu(step_id="init", menu_options=["settings", "preview"])

    async def async_step_preview(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick an entity, see the exact line its current state produces with the saved options."""
        errors: dict[str, str] = {}
        line = ""
        if user_input is not None:
            result = LinePreview(self.hass, self.config_entry.options).line(user_input["entity_id"])
            if isinstance(result, NoLine):
                errors["entity_id"] = result.value
            else:
                line = as_field_list(result)
        schema: Any = vol.Schema({vol.Required("entity_id"): EntitySelector()})
        return self.async_show_form(
            step_id="preview",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
            description_placeholders={"line": line},
        )

    async def async_step_settings(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Every option, in sections; stored flat, as entries always stored them."""
        if user_input is not None:
            return self.async_create_entry(data=flatten_sections(user_input))
        return self.async_show_form(
            step_id="settings",
            data_schema=self.add_suggested_values_to_schema(
                settings_schema(), options_by_section(self.config_entry.options)
            ),
        )


def _section_schemas() -> dict[str, dict[Any, Any]]:
    """Each section's fields, in the order a user reads them: what is recorded first."""
    defaults = WriterSettings()
    return {
        "record": {
            vol.Optional(CONF_INCLUDE_DOMAINS, default=[]): _domains(),
            vol.Optional(CONF_INCLUDE_ENTITIES, default=[]): _ENTITIES,
            vol.Optional(CONF_INCLUDE_GLOBS, default=[]): _MULTIPLE_TEXT,
            vol.Optional(CONF_EXCLUDE_DOMAINS, default=[]): _domains(),
            vol.Optional(CONF_EXCLUDE_ENTITIES, default=[]): _ENTITIES,
            vol.Optional(CONF_EXCLUDE_GLOBS, default=[]): _MULTIPLE_TEXT,
            vol.Optional("record_unavailable", default=defaults.record_unavailable): bool,
            vol.Optional("event_types", default=[]): _MULTIPLE_TEXT,
        },
        "places": {
            vol.Optional(CONF_INCLUDE_AREAS, default=[]): _AREAS,
            vol.Optional(CONF_INCLUDE_FLOORS, default=[]): _FLOORS,
            vol.Optional(CONF_INCLUDE_DEVICES, default=[]): _DEVICES,
            vol.Optional(CONF_INCLUDE_LABELS, default=[]): _LABELS,
            vol.Optional(CONF_EXCLUDE_AREAS, default=[]): _AREAS,
            vol.Optional(CONF_EXCLUDE_FLOORS, default=[]): _FLOORS,
            vol.Optional(CONF_EXCLUDE_DEVICES, default=[]): _DEVICES,
            vol.Optional(CONF_EXCLUDE_LABELS, default=[]): _LABELS,
        },
        "attributes": {
            vol.Optional("include_attributes", default=[]): _MULTIPLE_TEXT,
            vol.Optional("ignore_attributes", default=[]): _MULTIPLE_TEXT,
            vol.Optional("tags_attributes", default=[]): _MULTIPLE_TEXT,
            vol.Optional("attributes_json", default=defaults.attributes_json): bool,
            vol.Optional("overrides", default={}): ObjectSelector(),
        },
        "data_layout": {
            vol.Optional("layout", default=defaults.layout): SelectSelector(
                SelectSelectorConfig(options=["default", "builtin"], translation_key="layout")
            ),
            vol.Optional("enrich", default=[]): SelectSelector(
                SelectSelectorConfig(options=list(ENRICHMENTS), multiple=True, translation_key="enrich")
            ),
            vol.Optional("tags", default=[]): _MULTIPLE_TEXT,
            vol.Optional("context_id", default=defaults.context_id): bool,
            vol.Optional("max_columns", default=defaults.max_columns): number_box(0, 499, 1, "columns"),
        },
        "builtin_layout": {
            vol.Optional("measurement_attr", default=defaults.measurement_attr): SelectSelector(
                SelectSelectorConfig(options=list(MEASUREMENT_ATTRS), translation_key="measurement_attr")
            ),
            vol.Optional("default_measurement"): _TEXT,
            vol.Optional("override_measurement"): _TEXT,
        },
        "delivery": {
            vol.Optional("batch_size", default=defaults.batch_size): number_box(1, 50_000, 1, "points"),
            vol.Optional("flush_interval", default=defaults.flush_interval): number_box(0.1, 300, 0.1, "s"),
            vol.Optional("compression", default=defaults.compression): SelectSelector(
                SelectSelectorConfig(options=["auto", "gzip", "none"], translation_key="compression")
            ),
            vol.Optional("retry_max_delay", default=defaults.retry_max_delay): number_box(5, 86_400, 1, "s"),
            vol.Optional("max_queue_size", default=defaults.max_queue_size): number_box(
                1_000, 10_000_000, 1_000, "points"
            ),
            vol.Optional("loss_window", default=defaults.loss_window): number_box(1, 300, 1, "s"),
            vol.Optional("spool_max_mb", default=defaults.spool_max_bytes // 2**20): number_box(
                1, 1_000_000, 1, "MB"
            ),
            vol.Optional("spool_max_days", default=defaults.spool_max_age / 86_400): number_box(
                1, 3650, 1, "d"
            ),
        },
        "advanced": {
            vol.Optional("snapshot_minutes", default=defaults.snapshot_minutes): number_box(
                0, 1440, 1, "min"
            ),
            vol.Optional(CONF_INCLUDE_OWN, default=False): bool,
        },
    }


# What a user chooses first is open; the rest is a click away.
_OPEN_SECTIONS = frozenset({"record"})
SECTION_FIELDS: dict[str, tuple[str, ...]] = {
    name: tuple(str(key) for key in fields) for name, fields in _section_schemas().items()
}


def settings_schema() -> Any:
    """The settings form: one collapsible section per subject.

    Typed as Any: Home Assistant swaps voluptuous for probatio at run time.
    """
    inner: dict[str, Any] = {name: vol.Schema(fields) for name, fields in _section_schemas().items()}
    return vol.Schema(
        {
            vol.Required(name): section(schema, {"collapsed": name not in _OPEN_SECTIONS})
            for name, schema in inner.items()
        }
    )


def options_by_section(options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Stored (flat) options as the form's sections; keys the form does not show are left out."""
    return {
        name: {key: options[key] for key in fields if key in options}
        for name, fields in SECTION_FIELDS.items()
    }


def flatten_sections(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The form's sections as stored options: one flat mapping, as before sections."""
    flat: dict[str, Any] = {}
    for name in SECTION_FIELDS:
        flat.update(user_input.get(name, {}))
    return flat
