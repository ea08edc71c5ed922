"""A real Home Assistant in the benchmark's process, shared by its parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
from pathlib import Path
from unittest.mock import patch

from aiohttp import ThreadedResolver
from homeassistant import loader
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_test_home_assistant


@contextlib.asynccontextmanager
async def home_assistant(config_dir: Path) -> AsyncIterator[HomeAssistant]:
    """A real Home Assistant in this process (the test harness's, with real I/O)."""
    # No zeroconf here: the HTTP session resolves names the plain way (only loopback is used).
    resolver = ThreadedResolver()
    resolver.real_close = resolver.close  # type: ignore[attr-defined]  # what the harness closes
    with patch("homeassistant.helpers.aiohttp_client._async_make_resolver", return_value=resolver):
        async with async_test_home_assistant(config_dir=str(config_dir)) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            try:
                yield hass
            finally:
                await hass.async_stop(force=True)
