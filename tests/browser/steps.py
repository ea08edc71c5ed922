"""The steps the browser tests are made of, in a person's terms: log in, open a form, fill it in.

Each test in test_ui.py is a story told with these; what is checked on every page (no raw
translation key, no "Translation error", no "Unknown" where the state is known) is here too.
"""

from __future__ import annotations

import os
from pathlib import Path
import re

from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from ..support.servers import InfluxDB1Server
from .chromium import Chromium
from .home_assistant import REPO_ROOT, HomeAssistantProcess
from .page import Page

DATABASE = "home_assistant"
# The integration's card on the integrations page, and its setup's first step (a menu).
INTEGRATION = "InfluxDB Ingest"
INFLUXDB1 = "InfluxDB 1.x (database and retention policy)"
INFLUXDB2 = "InfluxDB 2.x (organization, bucket and token)"
INFLUXDB3 = "InfluxDB 3.x (database and token)"
# What a page shows when a translation is missing or broken.
TRANSLATION_FAULTS = ("Translation error", "component.influxdb_ingest.", "ui.panel.", "ui.dialogs.")

IGNORE_CORE_INSTALL_REPAIR = """
return (async () => {
  const hass = document.querySelector('home-assistant').hass;
  const {issues} = await hass.callWS({type: 'repairs/list_issues'});
  for (const issue of issues) {
    if (issue.domain === 'homeassistant' && issue.issue_id === 'deprecated_method') {
      await hass.callWS(
        {type: 'repairs/ignore_issue', domain: issue.domain, issue_id: issue.issue_id, ignore: true});
    }
  }
})();
"""


def screenshot_dir(tmp_path: Path) -> Path:
    """docs/images with INFLUXDB_INGEST_SCREENSHOTS=1 (the README's pictures), else the test's tmp."""
    if os.environ.get("INFLUXDB_INGEST_SCREENSHOTS") == "1":
        return REPO_ROOT / "docs" / "images"
    return tmp_path / "screenshots"


def start_influxdb1(influxdb: InfluxDB1Server, *databases: str) -> None:
    influxdb.start()
    for name in databases:
        influxdb.query(f"CREATE DATABASE {name}", method="POST")


def log_in(tmp_path: Path, driver: WebDriver, home_assistant: HomeAssistantProcess) -> Page:
    """Start Home Assistant, onboard its owner, and open the integrations page as that owner."""
    home_assistant.start()
    tokens = home_assistant.onboard()
    home_assistant.wait_running()
    page = Page(driver, home_assistant.url, tmp_path)
    page.login(tokens, home_assistant.client_id)
    page.goto("/config/integrations/dashboard")
    ignore_core_install_repair(page)
    return page


def log_in_with_an_entry(
    tmp_path: Path,
    chromium: Chromium,
    influxdb: InfluxDB1Server,
    home_assistant: HomeAssistantProcess,
    *databases: str,
) -> tuple[Page, str]:
    """Chromium, InfluxDB 1.x with DATABASE (and `databases`), Home Assistant with an entry
    writing there (made through the flow's REST API), its owner logged in; the entry's title."""
    driver = chromium.start()  # first: a missing browser fails before anything else starts
    start_influxdb1(influxdb, DATABASE, *databases)
    page = log_in(tmp_path, driver, home_assistant)
    return page, create_entry_through_api(home_assistant, influxdb)


def ignore_core_install_repair(page: Page) -> None:
    """Ignore Home Assistant's "Unsupported installation method" repair, as a person can.

    A Python-venv ("Core") install raises it at every start; it has nothing to do with the
    integration and would put a badge on Settings in the screenshots. Only that one issue
    is ignored: the integration's own repairs stay visible.
    """
    page.wait_for(
        lambda: page.js("return Boolean(document.querySelector('home-assistant')?.hass?.connection)"),
        "the frontend's connection to Home Assistant",
    )
    page.js(IGNORE_CORE_INSTALL_REPAIR)


def send_states(home_assistant: HomeAssistantProcess, *values: float, unit: str | None = "°C") -> None:
    """State changes of sensor.demo_temperature, as any integration would make them."""
    attributes = {"unit_of_measurement": unit} if unit else {}
    for value in values:
        status, answer = home_assistant.request(
            "POST", "/api/states/sensor.demo_temperature", {"state": str(value), "attributes": attributes}
        )
        assert status in {200, 201}, answer


def create_entry_through_api(
    home_assistant: HomeAssistantProcess, influxdb: InfluxDB1Server, database: str = DATABASE
) -> str:
    """The InfluxDB 1.x entry, through the same config flow the UI walks (REST API); its title."""
    status, answer = home_assistant.request(
        "POST", "/api/config/config_entries/flow", {"handler": "influxdb_ingest"}
    )
    assert status == 200, answer
    flow = f"/api/config/config_entries/flow/{answer['flow_id']}"
    status, answer = home_assistant.request("POST", flow, {"next_step_id": "v1"})
    assert status == 200, answer
    assert answer.get("step_id") == "v1", answer
    status, answer = home_assistant.request(
        "POST", flow, {"url": influxdb.url, "database": database, "verify_ssl": True}
    )
    if answer.get("type") == "form" and answer.get("step_id") == "history":
        status, answer = home_assistant.request(
            "POST", flow, {"history_days": 0, "history_statistics": False}
        )
    assert status == 200, answer
    assert answer.get("type") == "create_entry", answer
    return str(answer["title"])


def open_setup_form(page: Page, flavour: str) -> None:
    """Settings > Devices & services > Add integration > InfluxDB Ingest > which InfluxDB."""
    page.goto("/config/integrations/dashboard")
    page.click_text("Add integration")
    search = page.input("/search for a brand/i.test(e.placeholder)", "the brand search field")
    page.type_into(search, INTEGRATION)
    page.click_text(INTEGRATION)
    page.wait_text("Which InfluxDB?")
    page.click_text(flavour)
    page.wait_text(flavour.partition(" (")[0])  # the form's title


def fill_in(page: Page, **fields: str) -> None:
    """Type each value into the form's field of that name, in order; then leave the last field."""
    for name, value in fields.items():
        page.type_into(page.input(f"e.name === {name!r}", f"the {name} field"), value)
    page.blur()


def submit(page: Page) -> None:
    page.settle()
    page.click_text("Submit")


def finish_the_flow(page: Page) -> None:
    """The last step of a setup (the new service, an area to assign): Finish, and the dialog closes."""
    finish = page.wait_for(
        lambda: page.find_text("Finish") or page.find_text("Skip and finish"), "the flow's finish button"
    )
    page.click(finish)
    page.wait_for(lambda: not page.find_text("Skip and finish"), "the flow dialog to close")


def close_the_dialog(page: Page) -> None:
    close = page.wait_for(
        lambda: page.find_text("Close") or page.find_text("Finish"), "the dialog's close button"
    )
    page.click(close)
    page.wait_for(lambda: not (page.find_text("Close") or page.find_text("Finish")), "the dialog to close")


def entry_title(home_assistant: HomeAssistantProcess) -> str:
    """The title of the one InfluxDB Ingest entry (it names the server's release, from /ping)."""
    status, entries = home_assistant.request("GET", "/api/config/config_entries/entry?domain=influxdb_ingest")
    assert status == 200, entries
    assert len(entries) == 1, entries
    return str(entries[0]["title"])


def open_device_page(page: Page, title: str) -> None:
    """The integration page, then the entry's device page (the link "1 service" under its name).

    The device is named by the title without its server part (`target.check.TITLE_SEPARATOR`).
    """
    page.goto("/config/integrations/integration/influxdb_ingest")
    page.wait_text(title)
    link = page.wait_for(
        lambda: page.find_text("1 service", "a") or page.find_text("1 device", "a"), "the link to the device"
    )
    page.click(link)
    page.wait_for(lambda: page.path.startswith("/config/devices/device/"), "the device page")
    page.wait_text(title.partition(" · ")[0])
    page.wait_text("Diagnostic")


def click_labelled(page: Page, label: str) -> None:
    """Click the visible icon button whose label (as a screen reader reads it) is `label`."""
    button = page.wait_for(
        lambda: page.js(
            "return deep.all().find((e) => deep.visible(e) && (e.label === arguments[0]"
            " || e.getAttribute('aria-label') === arguments[0])) || null",
            label,
        ),
        f"the {label!r} button",
    )
    page.click(button)


def open_entry_menu(page: Page) -> None:
    """The ⋮ (icon-only "Menu") button of the entry's row on the integration page."""
    button = page.wait_for(
        lambda: page.js(
            """
            const inRow = (e) => {
              for (let n = e; n; n = n.parentNode || n.host) {
                if (n.tagName === 'HA-CONFIG-ENTRY-ROW') return true;
              }
              return false;
            };
            return deep.all().find((e) => deep.visible(e) && e.tagName === 'HA-ICON-BUTTON'
              && (e.label === 'Menu' || e.getAttribute('aria-label') === 'Menu') && inRow(e)) || null;
            """
        ),
        "the entry's ⋮ menu button",
    )
    page.click(button)


def entity_picker(page: Page) -> WebElement:
    found: WebElement = page.wait_for(
        lambda: page.js(
            "return deep.all().find((e) => e.tagName === 'HA-ENTITY-PICKER' && deep.visible(e)) || null"
        ),
        "the entity picker",
    )
    return found


def pick_entity(page: Page, name: str) -> None:
    """Open the form's entity picker and choose the entity listed as `name`."""
    page.click(entity_picker(page))
    page.click_text(name)
    page.settle()


# Whether the expansion panel around the element arguments[0] is open.
PANEL_EXPANDED_JS = """
for (let n = arguments[0]; n; n = n.parentNode || n.host) {
  if (n.tagName === 'HA-EXPANSION-PANEL') return Boolean(n.expanded);
}
return null;
"""


def open_section(page: Page, name: str) -> None:
    """Click a section's header until its panel is open (a click during a layout shift can miss)."""

    def opened() -> bool:
        header = page.wait_text(name)
        if page.js(PANEL_EXPANDED_JS, header):
            return True
        page.click(header)
        return bool(page.wait_for_or_none(lambda: page.js(PANEL_EXPANDED_JS, page.find_text(name)), 3))

    page.wait_for(opened, f"the section {name!r} to open")


def sensor_value(page: Page, name: str) -> int:
    """The number a sensor row on the device page shows next to `name` (-1: none yet)."""
    match = re.search(rf"{re.escape(name)} (-?[\d,.]+)\b", page.text())
    if match is None:
        return -1
    return int(float(match.group(1).replace(",", "")))


# The smallest visible element whose text contains arguments[0], and the visible inputs named
# arguments[1] and arguments[2] (the field before and the field with the error): [top, bottom]
# of each.
ERROR_AND_FIELDS_JS = """
const area = (e) => { const r = e.getBoundingClientRect(); return r.width * r.height; };
const hits = deep.all().filter((e) => deep.visible(e) && deep.text(e).includes(arguments[0]));
hits.sort((a, b) => area(a) - area(b));
const input = (name) => deep.all().find((e) => e.tagName === 'INPUT' && deep.visible(e) && e.name === name);
const boxes = [hits[0], input(arguments[1]), input(arguments[2])];
if (boxes.some((e) => !e)) return null;
return boxes.map((e) => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; });
"""


def assert_error_on_field(page: Page, said: str, field: str, field_before: str) -> None:
    """The error `said` stands on `field` (Home Assistant shows a field's error right above it),
    below `field_before`: not at the top of the form, where an error about the whole form goes."""
    page.settle()
    error, before, on = page.wait_for(
        lambda: page.js(ERROR_AND_FIELDS_JS, said, field_before, field), "the error and the fields"
    )
    if not before[1] < error[0] < error[1] <= on[0]:
        page.fail(f"the error {error} is not between the {field_before} {before} and {field} {on} fields")


def assert_error_on_top(page: Page, said: str, first_field: str) -> None:
    """The error `said` stands above the form's first field: it is about the whole form."""
    page.settle()
    found = page.wait_for(
        lambda: page.js(ERROR_AND_FIELDS_JS, said, first_field, first_field), "the error and the form"
    )
    error, first = found[0], found[1]
    if not error[1] <= first[0]:
        page.fail(f"the error {error} is not above the {first_field} field {first}")


def assert_in_words(page: Page, *, state_known: bool = True) -> None:
    """No raw translation key and no "Translation error"; no "Unknown" where every state is known."""
    shown = page.text()
    for fault in TRANSLATION_FAULTS:
        assert fault not in shown, f"{fault!r} on the page: {shown[:3000]}"
    if state_known:
        assert "Unknown" not in shown, shown[:3000]


def assert_no_errors_logged(home_assistant: HomeAssistantProcess, expected: str = "") -> None:
    """Nothing of the integration went wrong behind the page, but what the test provoked."""
    errors = [
        line
        for line in home_assistant.log.read_text(errors="replace").splitlines()
        if " ERROR " in line and "influxdb_ingest" in line and not (expected and expected in line)
    ]
    assert not errors, "\n".join(errors)


def points_of(influxdb: InfluxDB1Server, database: str, where: str = "") -> int:
    """How many values InfluxDB 1.x holds in `database` (for entities matching `where`)."""
    result = influxdb.query(f'SELECT count("value") FROM /.*/ {where}', database)
    return sum(row[1] for series in result["results"][0].get("series", []) for row in series["values"])


def take(page: Page, path: Path) -> None:
    """A screenshot once nothing moves any more and no field has the caret."""
    page.blur()
    page.settle()
    page.screenshot(path)
