"""Texts a user reads outside a form (notifications, system information), in their language.

Home Assistant translates forms, entities, issues and exceptions itself; a notification or
a system information value is a plain string, so it is taken from strings.json here (the
translations Home Assistant loaded when the integration was set up).
"""

from __future__ import annotations

from contextlib import suppress

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.translation import async_get_cached_translations

from ..const import DOMAIN


@callback
def translated(hass: HomeAssistant, category: str, key: str, **placeholders: object) -> str:
    """The text at `component.<domain>.<category>.<key>`, placeholders filled in.

    In the user's language, else English, else the key itself (never an exception: a
    missing translation must not stop a job's end from being told).
    """
    path = f"component.{DOMAIN}.{category}.{key}"
    template = key
    for language in (hass.config.language, "en"):
        if found := async_get_cached_translations(hass, language, category, DOMAIN).get(path):
            template = found
            break
    with suppress(KeyError, IndexError, ValueError):
        return template.format(**placeholders)
    return template


def grouped(number: int) -> str:
    """An integer with its thousands grouped (40,569), as Home Assistant shows counts."""
    return f"{number:,}"


def duration(seconds: float) -> str:
    """A job's duration in the unit that reads best: 42 s, 3.5 min, 2.1 h."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
