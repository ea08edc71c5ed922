"""A person sets up InfluxDB Ingest in a real Home Assistant, in a real browser.

Real InfluxDB 1.x, real Home Assistant (a subprocess with its frontend) and Debian's headless
Chromium: the test clicks "Add integration", searches for the integration, picks InfluxDB
1.x, fills in the form, and then opens the device page, where the health sensors must be
visible without any YAML.

Then Configure: the settings in their sections (each opened, none showing a translation
error or a repository path) and the preview of the line an entity's state produces. Then
the database is dropped: the repair names it and gives the command, and its fix creates it.

A second test adds a query sensor (issue 20) on an entry made through the REST config flow:
the entry's "Add query sensor", the mean of an entity's value over the last hour, the answer
the query gave, and the new entity with that number as its state. A third submits the
InfluxDB 1.x form with a misspelt database (issue 21): the error sits on the database field
and lists the databases there. A fourth opens System information: the target's line in
words. A fifth stops InfluxDB: the device page's Connection sensor says Unreachable.

Screenshots of the filled form, the device page, the options and the preview go to the
test's temporary directory; with INFLUXDB_INGEST_SCREENSHOTS=1 they replace
docs/images/config-flow.png, device-page.png, options-sections.png, options-preview.png,
repair-database-missing.png, query-sensor-preview.png, query-sensor-entity.png and
config-flow-database-not-found.png, system-information.png and device-page-outage.png (the
README shows them):

    INFLUXDB_INGEST_SCREENSHOTS=1 scripts/test tests/browser
"""

from __future__ import annotations

import os
from pathlib import Path
import re

from ..support.servers import InfluxDB1Server
from .chromium import Chromium
from .home_assistant import REPO_ROOT, HomeAssistantProcess
from .page import Page

DATABASE = "home_assistant"
# What the integration's sensors are called on the device page (their "Diagnostic" card).
HEALTH_SENSORS = ("Events received", "Points written", "Write errors", "Points in disk spool")
STATE_CHANGES = 5

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
    if os.environ.get("INFLUXDB_INGEST_SCREENSHOTS") == "1":
        return REPO_ROOT / "docs" / "images"
    return tmp_path / "screenshots"


def test_add_integration_and_see_health_sensors(
    tmp_path: Path, chromium: Chromium, influxdb: InfluxDB1Server, home_assistant: HomeAssistantProcess
) -> None:
    shots = screenshot_dir(tmp_path)
    driver = chromium.start()  # first: a missing browser fails before anything else starts
    influxdb.start()
    influxdb.query(f"CREATE DATABASE {DATABASE}", method="POST")
    home_assistant.start()
    tokens = home_assistant.onboard()
    home_assistant.wait_running()

    page = Page(driver, home_assistant.url, tmp_path)
    page.login(tokens, home_assistant.client_id)
    page.goto("/config/integrations/dashboard")
    page.wait_text("Add integration")
    ignore_core_install_repair(page)

    # Settings > Devices & services > Add integration > search > InfluxDB Ingest.
    page.click_text("Add integration")
    search = page.input("/search for a brand/i.test(e.placeholder)", "the brand search field")
    page.type_into(search, "InfluxDB Ingest")
    page.click_text("InfluxDB Ingest")
    # The first step is a menu: which InfluxDB.
    page.wait_text("Which InfluxDB?")
    page.click_text("InfluxDB 1.x (database and retention policy)")
    page.wait_text("InfluxDB 1.x")
    page.type_into(page.input("e.name === 'url'", "the URL field"), influxdb.url)
    page.type_into(page.input("e.name === 'database'", "the database field"), DATABASE)
    page.blur()
    page.settle()
    page.screenshot(shots / "config-flow.png")
    page.click_text("Submit")

    # Created: the last step names the new service (device) and offers to assign an area.
    finish = page.wait_for(
        lambda: page.find_text("Finish") or page.find_text("Skip and finish"), "the flow's finish button"
    )
    page.click(finish)
    page.wait_for(lambda: not page.find_text("Skip and finish"), "the flow dialog to close")

    # The integrations page now has the integration; its page lists the entry.
    page.click_text("InfluxDB Ingest")
    page.wait_for(
        lambda: page.path.startswith("/config/integrations/integration/influxdb_ingest"), "its page"
    )
    title = f"{DATABASE} @ 127.0.0.1:{influxdb.port}"
    page.wait_text(title)

    # Something to write: state changes, as any integration would make them.
    for value in range(STATE_CHANGES):
        status, answer = home_assistant.request(
            "POST",
            "/api/states/sensor.demo_temperature",
            {"state": str(20.5 + value), "attributes": {"unit_of_measurement": "°C"}},
        )
        assert status in {200, 201}, answer

    # The entry's device page, from the link under the integration's name ("1 service": the
    # integration is a service; a device-type integration would say "1 device").
    link = page.wait_for(
        lambda: page.find_text("1 service", "a") or page.find_text("1 device", "a"), "the link to the device"
    )
    page.click(link)
    page.wait_for(lambda: page.path.startswith("/config/devices/device/"), "the device page")
    page.wait_text(title)
    page.wait_text("Diagnostic")
    for name in HEALTH_SENSORS:
        page.wait_text(name)
    # The sensors refresh on their own: wait until they show what was written.
    page.wait_for(
        lambda: sensor_value(page, "Points written") >= STATE_CHANGES,
        f"'Points written' to reach {STATE_CHANGES}",
        timeout=60,
    )
    assert sensor_value(page, "Events received") >= STATE_CHANGES
    assert sensor_value(page, "Write errors") == 0
    page.settle()
    page.screenshot(shots / "device-page.png")

    # What the device page says was written is in InfluxDB.
    assert_written(influxdb, STATE_CHANGES)
    health_in_words(page)
    walk_the_options(page, shots)
    repair_a_missing_database(page, shots, influxdb, home_assistant, title)

    # The one error expected: the write that met the dropped database.
    assert_no_errors_logged(home_assistant, expected="Cannot write to InfluxDB (not_found)")


def assert_written(influxdb: InfluxDB1Server, expected: int) -> None:
    """InfluxDB holds the demo temperature's points."""
    result = influxdb.query(
        """SELECT count("value") FROM /.*/ WHERE "entity_id" = 'sensor.demo_temperature'""", DATABASE
    )
    counts = [row[1] for series in result["results"][0].get("series", []) for row in series["values"]]
    assert sum(counts) == expected, result


def assert_no_errors_logged(home_assistant: HomeAssistantProcess, expected: str) -> None:
    """Nothing of the integration went wrong behind the page, but what the test provoked."""
    errors = [
        line
        for line in home_assistant.log.read_text(errors="replace").splitlines()
        if " ERROR " in line and "influxdb_ingest" in line and expected not in line
    ]
    assert not errors, "\n".join(errors)


SECTIONS = (
    "Record by area, floor, device or label",
    "Attributes",
    "Layout of the data",
    "Built-in compatible layout only",
    "Delivery and disk spool",
    "Advanced",
)


def health_in_words(page: Page) -> None:
    """The device page says what a person can act on: connected; no import yet is Idle, not Unknown."""
    page.wait_text("Connected")
    page.wait_text("Idle")
    assert "Unknown" not in page.text()


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


def walk_the_options(page: Page, shots: Path) -> None:
    """Configure: the menu, the settings in sections (each opened), the preview of a line."""
    page.goto("/config/integrations/integration/influxdb_ingest")
    click_labelled(page, "Configure")
    page.wait_text("Preview")
    page.click_text("Settings: what to record and how")
    page.wait_text("What to record")
    page.wait_text("Only these domains")
    page.settle()
    page.screenshot(shots / "options-sections.png")  # as it opens: what to record first
    for name in SECTIONS:
        open_section(page, name)
        page.settle()  # the section opens: what lies below moves
    page.wait_text("Per entity, domain or pattern")
    page.wait_text("Measurement for everything")
    page.settle()
    shown = page.text()
    assert "Translation error" not in shown, shown
    assert "docs/" not in shown
    assert "](http" not in shown  # a link shown as Markdown source
    page.click_text("Submit")
    page.click_text("Finish")  # "Options successfully saved"
    page.wait_for(lambda: not page.find_text("Finish"), "the options dialog to close")

    click_labelled(page, "Configure")
    page.click_text("Preview")
    picker = page.wait_for(
        lambda: page.js(
            "return deep.all().find((e) => e.tagName === 'HA-ENTITY-PICKER' && deep.visible(e)) || null"
        ),
        "the entity picker",
    )
    page.click(picker)
    # The picker lists the entities by name (the demo temperature has no friendly name).
    page.click_text("demo temperature")
    page.settle()
    page.click_text("Submit")
    # The line, a part per row: the measurement first, then tags, fields and the timestamp.
    page.wait_text("home_assistant_events")
    page.wait_text("entity_id=sensor.demo_temperature")
    page.settle()
    page.screenshot(shots / "options-preview.png")


def repair_a_missing_database(
    page: Page, shots: Path, influxdb: InfluxDB1Server, home_assistant: HomeAssistantProcess, title: str
) -> None:
    """The database goes away: the repair names it, gives the command, and its fix creates it."""
    influxdb.query(f"DROP DATABASE {DATABASE}", method="POST")
    status, answer = home_assistant.request("POST", "/api/states/sensor.demo_temperature", {"state": "30"})
    assert status in {200, 201}, answer
    page.goto("/config/repairs")
    issue = f"InfluxDB has no database {DATABASE} for {title}"
    page.click_text(issue, timeout=90)
    page.wait_text(f"Create {DATABASE} now")
    page.wait_for(lambda: f'CREATE DATABASE "{DATABASE}"' in page.text(), "the command that creates it")
    page.settle()
    page.screenshot(shots / "repair-database-missing.png")
    page.click_text(f"Create {DATABASE} now")
    page.click_text("Submit")
    page.wait_for(lambda: not page.find_text(f"Create {DATABASE}"), "the repair dialog to move on")
    close = page.wait_for(
        lambda: page.find_text("Close") or page.find_text("Finish"), "the dialog's close button"
    )
    page.click(close)
    # Writing resumes with the next retry; the issue clears on its first success.
    page.wait_for(lambda: not page.find_text(issue), "the repair to clear itself", timeout=120)
    assert DATABASE in str(influxdb.query("SHOW DATABASES"))


def sensor_value(page: Page, name: str) -> int:
    """The number a sensor row on the device page shows next to `name` (-1: none yet)."""
    text = page.text()
    match = re.search(rf"{re.escape(name)} (-?[\d,.]+)\b", text)
    if match is None:
        return -1
    return int(float(match.group(1).replace(",", "")))


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


QUERY_SENSOR = "Mean demo temperature"
TRANSLATION_FAULTS = ("Translation error", "component.influxdb_ingest.", "ui.panel.", "ui.dialogs.")


def assert_translated(page: Page) -> None:
    """What the page shows has no raw translation key and no "Translation error"."""
    shown = page.text()
    for fault in TRANSLATION_FAULTS:
        assert fault not in shown, f"{fault!r} on the page: {shown[:3000]}"


def create_entry_through_api(home_assistant: HomeAssistantProcess, influxdb: InfluxDB1Server) -> str:
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
        "POST", flow, {"url": influxdb.url, "database": DATABASE, "verify_ssl": True}
    )
    if answer.get("type") == "form" and answer.get("step_id") == "history":
        status, answer = home_assistant.request(
            "POST", flow, {"history_days": 0, "history_statistics": False}
        )
    assert status == 200, answer
    assert answer.get("type") == "create_entry", answer
    return str(answer["title"])


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


def test_add_query_sensor_and_see_its_state(
    tmp_path: Path, chromium: Chromium, influxdb: InfluxDB1Server, home_assistant: HomeAssistantProcess
) -> None:
    """Issue 20: ⋮ > Add query sensor, the mean of an entity's value over 1h, its answer, its entity."""
    shots = screenshot_dir(tmp_path)
    driver = chromium.start()
    influxdb.start()
    influxdb.query(f"CREATE DATABASE {DATABASE}", method="POST")
    home_assistant.start()
    tokens = home_assistant.onboard()
    home_assistant.wait_running()
    title = create_entry_through_api(home_assistant, influxdb)
    for value in (20.0, 22.0, 24.0):
        status, answer = home_assistant.request(
            "POST",
            "/api/states/sensor.demo_temperature",
            {"state": str(value), "attributes": {"unit_of_measurement": "°C"}},
        )
        assert status in {200, 201}, answer

    page = Page(driver, home_assistant.url, tmp_path)
    page.wait_for(lambda: points_written(influxdb) >= 3, "the state changes in InfluxDB", timeout=60)
    page.login(tokens, home_assistant.client_id)
    page.goto("/config/integrations/integration/influxdb_ingest")
    ignore_core_install_repair(page)
    page.wait_text(title)
    open_entry_menu(page)
    page.click_text("Add query sensor")
    page.wait_text("Query sensor: the query")
    assert_translated(page)
    page.type_into(page.input("e.name === 'name'", "the name field"), QUERY_SENSOR)
    picker = page.wait_for(
        lambda: page.js(
            "return deep.all().find((e) => e.tagName === 'HA-ENTITY-PICKER' && deep.visible(e)) || null"
        ),
        "the entity picker",
    )
    page.click(picker)
    page.click_text("demo temperature")
    page.settle()
    page.click_text("Submit")

    # The query ran once: its answer (the mean of 20, 22 and 24) and the statement.
    page.wait_text(f"Query sensor: {QUERY_SENSOR}")
    page.wait_for(lambda: re.search(r"The query answered: 22(\.0)? \(", page.text()), "the answer 22")
    assert "SELECT mean" in page.text()
    assert_translated(page)
    page.blur()
    page.settle()
    page.screenshot(shots / "query-sensor-preview.png")
    page.click_text("Submit")
    close = page.wait_for(
        lambda: page.find_text("Finish") or page.find_text("Close"), "the flow's close button"
    )
    page.click(close)
    page.wait_for(lambda: not page.find_text(f"Query sensor: {QUERY_SENSOR}"), "the dialog to close")

    # Its entity, on its own device (a service: the query sensor), with the number as its state.
    device_id = page.wait_for(
        lambda: page.js(
            """
            return (async () => {
              const hass = document.querySelector('home-assistant').hass;
              const devices = await hass.callWS({type: 'config/device_registry/list'});
              const found = devices.find((d) => d.name === arguments[0]);
              return found ? found.id : null;
            })();
            """,
            QUERY_SENSOR,
        ),
        "the query sensor's device",
    )
    page.goto(f"/config/devices/device/{device_id}")
    page.wait_text(QUERY_SENSOR)
    page.wait_for(
        lambda: re.search(rf"{re.escape(QUERY_SENSOR)} 22(\.0)?\b", page.text()),
        "the query sensor's state 22",
        timeout=60,
    )
    shown = page.text()
    assert "Unknown" not in shown, shown
    assert "Unavailable" not in shown, shown
    assert_translated(page)
    page.settle()
    page.screenshot(shots / "query-sensor-entity.png")
    assert_no_errors_logged(home_assistant, expected="no error expected here")


def points_written(influxdb: InfluxDB1Server) -> int:
    result = influxdb.query(
        """SELECT count("value") FROM /.*/ WHERE "entity_id" = 'sensor.demo_temperature'""", DATABASE
    )
    return sum(row[1] for series in result["results"][0].get("series", []) for row in series["values"])


def open_the_influxdb1_form(page: Page) -> None:
    """Settings > Devices & services > Add integration > InfluxDB Ingest > InfluxDB 1.x."""
    page.goto("/config/integrations/dashboard")
    page.wait_text("Add integration")
    ignore_core_install_repair(page)
    page.click_text("Add integration")
    search = page.input("/search for a brand/i.test(e.placeholder)", "the brand search field")
    page.type_into(search, "InfluxDB Ingest")
    page.click_text("InfluxDB Ingest")
    page.wait_text("Which InfluxDB?")
    page.click_text("InfluxDB 1.x (database and retention policy)")
    page.wait_text("InfluxDB 1.x")


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


def test_setup_error_lists_the_databases(
    tmp_path: Path, chromium: Chromium, influxdb: InfluxDB1Server, home_assistant: HomeAssistantProcess
) -> None:
    """Issue 21: InfluxDB 1.x with a misspelt database: the error, on that field, lists the databases."""
    shots = screenshot_dir(tmp_path)
    driver = chromium.start()
    influxdb.start()
    for name in (DATABASE, "energy"):
        influxdb.query(f"CREATE DATABASE {name}", method="POST")
    home_assistant.start()
    tokens = home_assistant.onboard()
    home_assistant.wait_running()

    page = Page(driver, home_assistant.url, tmp_path)
    page.login(tokens, home_assistant.client_id)
    open_the_influxdb1_form(page)
    page.type_into(page.input("e.name === 'url'", "the URL field"), influxdb.url)
    page.type_into(page.input("e.name === 'database'", "the database field"), "home_asistant")
    page.blur()
    page.click_text("Submit")

    said = "has no database named home_asistant"
    page.wait_for(lambda: said in page.text(), "the database error")
    match = re.search(r"Databases there: ([^.]*)\.", page.text())
    assert match is not None, page.text()
    assert DATABASE in match.group(1), match.group(1)
    assert "energy" in match.group(1), match.group(1)
    # On the database field (Home Assistant shows a field's error right above it), not at the
    # top of the form where an error about the whole form goes.
    page.settle()
    error, url, database = page.wait_for(
        lambda: page.js(ERROR_AND_FIELDS_JS, said, "url", "database"), "the error and the fields"
    )
    if not url[1] < error[0] < error[1] <= database[0]:
        page.fail(f"the error {error} is not between the URL {url} and the database {database} fields")
    assert_translated(page)
    page.settle()
    page.screenshot(shots / "config-flow-database-not-found.png")


def test_system_information_in_words(
    tmp_path: Path, chromium: Chromium, influxdb: InfluxDB1Server, home_assistant: HomeAssistantProcess
) -> None:
    """Repairs > ⋮ > System information: the target's line, translated, not codes."""
    shots = screenshot_dir(tmp_path)
    driver = chromium.start()
    influxdb.start()
    influxdb.query(f"CREATE DATABASE {DATABASE}", method="POST")
    home_assistant.start()
    tokens = home_assistant.onboard()
    home_assistant.wait_running()
    title = create_entry_through_api(home_assistant, influxdb)

    page = Page(driver, home_assistant.url, tmp_path)
    page.login(tokens, home_assistant.client_id)
    page.goto("/config/repairs")
    ignore_core_install_repair(page)
    click_labelled(page, "Menu")
    page.click_text("System information")
    page.wait_text("InfluxDB Ingest")
    line = re.compile(
        rf"{re.escape(title)} Connected; writing: (\w[\w ]*); \d+ points waiting, \d+ of them on disk"
    )
    found = page.wait_for(lambda: line.search(page.text()), f"the line of {title}")
    assert found.group(1) != "closed", found.group(0)  # the state's code, not its word
    shown = page.text()
    assert "target_state" not in shown, shown
    assert_translated(page)
    page.settle()
    page.screenshot(shots / "system-information.png")


def test_outage_on_the_device_page(
    tmp_path: Path, chromium: Chromium, influxdb: InfluxDB1Server, home_assistant: HomeAssistantProcess
) -> None:
    """InfluxDB stops: the device page's Connection sensor says Unreachable, in words."""
    shots = screenshot_dir(tmp_path)
    driver = chromium.start()
    influxdb.start()
    influxdb.query(f"CREATE DATABASE {DATABASE}", method="POST")
    home_assistant.start()
    tokens = home_assistant.onboard()
    home_assistant.wait_running()
    title = create_entry_through_api(home_assistant, influxdb)

    page = Page(driver, home_assistant.url, tmp_path)
    page.login(tokens, home_assistant.client_id)
    page.goto("/config/integrations/integration/influxdb_ingest")
    ignore_core_install_repair(page)
    page.wait_text(title)
    influxdb.stop()
    status, answer = home_assistant.request("POST", "/api/states/sensor.demo_temperature", {"state": "21"})
    assert status in {200, 201}, answer
    link = page.wait_for(
        lambda: page.find_text("1 service", "a") or page.find_text("1 device", "a"), "the link to the device"
    )
    page.click(link)
    page.wait_for(lambda: page.path.startswith("/config/devices/device/"), "the device page")
    page.wait_text("Diagnostic")
    page.wait_for(lambda: re.search(r"Connection Unreachable", page.text()), "Connection: Unreachable", 90)
    assert_translated(page)
    page.settle()
    page.screenshot(shots / "device-page-outage.png")
