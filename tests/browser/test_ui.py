"""What a newcomer sees: InfluxDB Ingest set up and used in a real Home Assistant, in a real browser.

Real InfluxDB 1.x, the 2.x and 3.x stand-ins (tests/support/), a real Home Assistant (a
subprocess with its frontend) and Debian's headless Chromium. Each test is one story, told
with the steps of steps.py: what a person clicks and types, and what the page must say back.
Every page is checked for raw translation keys, "Translation error" and, where the state is
known, "Unknown".

Screenshots go to the test's temporary directory; with INFLUXDB_INGEST_SCREENSHOTS=1 they
replace the ones in docs/images (the README shows them):

    INFLUXDB_INGEST_SCREENSHOTS=1 scripts/test tests/browser
"""

from __future__ import annotations

from pathlib import Path
import re

from ..support.servers import InfluxDB1Server
from ..support.standin_core import StandIn
from ..support.standin_influxdb2 import InfluxDB2StandIn
from ..support.standin_influxdb3 import InfluxDB3StandIn
from .chromium import Chromium
from .home_assistant import HomeAssistantProcess
from .page import Page
from .standin_thread import StandInThread
from .steps import (
    DATABASE,
    INFLUXDB1,
    INFLUXDB2,
    INFLUXDB3,
    assert_error_on_field,
    assert_error_on_top,
    assert_in_words,
    assert_no_errors_logged,
    click_labelled,
    close_the_dialog,
    entry_title,
    fill_in,
    finish_the_flow,
    log_in,
    log_in_with_an_entry,
    open_device_page,
    open_entry_menu,
    open_section,
    open_setup_form,
    pick_entity,
    points_of,
    screenshot_dir,
    send_states,
    sensor_value,
    start_influxdb1,
    submit,
    take,
)

# What the integration's sensors are called on the device page (their "Diagnostic" card).
HEALTH_SENSORS = ("Events received", "Points written", "Write errors", "Points in disk spool")
DEMO = """WHERE "entity_id" = 'sensor.demo_temperature'"""
STATE_CHANGES = 5


def test_add_integration_and_see_health_sensors(
    tmp_path: Path, chromium: Chromium, influxdb: InfluxDB1Server, home_assistant: HomeAssistantProcess
) -> None:
    """InfluxDB 1.x set up through the UI; the health sensors on the device page, without YAML.

    Then Configure: the settings in their sections and the preview of a line. Then the
    database is dropped: the repair names it, gives the command, and its fix creates it.
    """
    shots = screenshot_dir(tmp_path)
    driver = chromium.start()  # first: a missing browser fails before anything else starts
    start_influxdb1(influxdb, DATABASE)
    page = log_in(tmp_path, driver, home_assistant)

    open_setup_form(page, INFLUXDB1)
    fill_in(page, url=influxdb.url, database=DATABASE)
    take(page, shots / "config-flow.png")
    submit(page)
    finish_the_flow(page)

    # The integrations page now has the integration; its page lists the entry.
    title = entry_title(home_assistant)
    page.click_text("InfluxDB Ingest")
    page.wait_for(
        lambda: page.path.startswith("/config/integrations/integration/influxdb_ingest"), "its page"
    )
    page.wait_text(title)
    send_states(home_assistant, *(20.5 + value for value in range(STATE_CHANGES)))
    open_device_page(page, title)
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
    # Connected, and no import yet is Idle, not Unknown.
    page.wait_text("Connected")
    page.wait_text("Idle")
    assert_in_words(page)
    take(page, shots / "device-page.png")
    # What the device page says was written is in InfluxDB.
    assert points_of(influxdb, DATABASE, DEMO) == STATE_CHANGES

    walk_the_options(page, shots)
    repair_a_missing_database(page, shots, influxdb, home_assistant, title)
    # The one error expected: the write that met the dropped database.
    assert_no_errors_logged(home_assistant, expected="Cannot write to InfluxDB (not_found)")


SECTIONS = (
    "Record by area, floor, device or label",
    "Attributes",
    "Layout of the data",
    "Built-in compatible layout only",
    "Delivery and disk spool",
    "Advanced",
)


def walk_the_options(page: Page, shots: Path) -> None:
    """Configure: the menu, the settings in sections (each opened), the preview of a line."""
    page.goto("/config/integrations/integration/influxdb_ingest")
    click_labelled(page, "Configure")
    page.wait_text("Preview")
    page.click_text("Settings: what to record and how")
    page.wait_text("What to record")
    page.wait_text("Only these domains")
    take(page, shots / "options-sections.png")  # as it opens: what to record first
    for name in SECTIONS:
        open_section(page, name)
        page.settle()  # the section opens: what lies below moves
    page.wait_text("Per entity, domain or pattern")
    page.wait_text("Measurement for everything")
    page.settle()
    assert_in_words(page)
    shown = page.text()
    assert "docs/" not in shown
    assert "](http" not in shown  # a link shown as Markdown source
    page.click_text("Submit")
    page.click_text("Finish")  # "Options successfully saved"
    page.wait_for(lambda: not page.find_text("Finish"), "the options dialog to close")

    click_labelled(page, "Configure")
    page.click_text("Preview")
    # The picker lists the entities by name (the demo temperature has no friendly name).
    pick_entity(page, "demo temperature")
    page.click_text("Submit")
    # The line, a part per row: the measurement first, then tags, fields and the timestamp.
    page.wait_text("home_assistant_events")
    page.wait_text("entity_id=sensor.demo_temperature")
    assert_in_words(page)
    take(page, shots / "options-preview.png")


def repair_a_missing_database(
    page: Page, shots: Path, influxdb: InfluxDB1Server, home_assistant: HomeAssistantProcess, title: str
) -> None:
    """The database goes away: the repair names it, gives the command, and its fix creates it."""
    influxdb.query(f"DROP DATABASE {DATABASE}", method="POST")
    send_states(home_assistant, 30, unit=None)
    page.goto("/config/repairs")
    issue = f"InfluxDB has no database {DATABASE} for {title}"
    page.click_text(issue, timeout=90)
    page.wait_text(f"Create {DATABASE} now")
    page.wait_for(lambda: f'CREATE DATABASE "{DATABASE}"' in page.text(), "the command that creates it")
    assert_in_words(page)
    take(page, shots / "repair-database-missing.png")
    page.click_text(f"Create {DATABASE} now")
    page.click_text("Submit")
    page.wait_for(lambda: not page.find_text(f"Create {DATABASE}"), "the repair dialog to move on")
    close_the_dialog(page)
    # Writing resumes with the next retry; the issue clears on its first success.
    page.wait_for(lambda: not page.find_text(issue), "the repair to clear itself", timeout=120)
    assert DATABASE in str(influxdb.query("SHOW DATABASES"))


def test_setup_error_lists_the_databases(
    tmp_path: Path, chromium: Chromium, influxdb: InfluxDB1Server, home_assistant: HomeAssistantProcess
) -> None:
    """InfluxDB 1.x with a misspelt database: the error, on that field, lists the databases."""
    shots = screenshot_dir(tmp_path)
    driver = chromium.start()
    start_influxdb1(influxdb, DATABASE, "energy")
    page = log_in(tmp_path, driver, home_assistant)

    open_setup_form(page, INFLUXDB1)
    fill_in(page, url=influxdb.url, database="home_asistant")
    submit(page)
    said = "has no database named home_asistant"
    page.wait_for(lambda: said in page.text(), "the database error")
    match = re.search(r"Databases there: ([^.]*)\.", page.text())
    assert match is not None, page.text()
    assert DATABASE in match.group(1), match.group(1)
    assert "energy" in match.group(1), match.group(1)
    assert_error_on_field(page, said, "database", field_before="url")
    assert_in_words(page)
    take(page, shots / "config-flow-database-not-found.png")


def a_state_change_arrives[S: StandIn](
    page: Page, home_assistant: HomeAssistantProcess, server: StandInThread[S], database: str
) -> None:
    """The new entry writes: a state change is in the stand-in's `database`, nothing logged as an error."""

    def demo_points(standin: S) -> int:
        return sum(
            str(row.get("entity_id")) == "sensor.demo_temperature"
            for table in standin.store.databases.get(database, {})
            for row in standin.rows(database, table)
        )

    send_states(home_assistant, 21.5)
    page.wait_for(lambda: server.read(demo_points), f"the state change in {database}", timeout=60)
    assert_no_errors_logged(home_assistant)


def test_influxdb2_setup_with_a_wrong_token(
    tmp_path: Path,
    chromium: Chromium,
    influxdb2: StandInThread[InfluxDB2StandIn],
    home_assistant: HomeAssistantProcess,
) -> None:
    """InfluxDB 2.x, a token pasted wrong: the error on the token field; the right one sets it up."""
    shots = screenshot_dir(tmp_path)
    driver = chromium.start()
    influxdb2.start()
    page = log_in(tmp_path, driver, home_assistant)

    open_setup_form(page, INFLUXDB2)
    fill_in(page, url=influxdb2.url, organization="test-org", bucket="test-bucket", token="test-tokn")
    submit(page)
    said = "The server rejected the credentials."
    page.wait_text(said)
    assert_error_on_field(page, said, "token", field_before="bucket")
    assert_in_words(page)
    take(page, shots / "config-flow-v2-wrong-token.png")

    fill_in(page, token="test-token")  # the rest of the form kept what was typed
    submit(page)
    finish_the_flow(page)
    a_state_change_arrives(page, home_assistant, influxdb2, "test-bucket")


def test_influxdb3_setup_wrong_server_then_missing_database(
    tmp_path: Path,
    chromium: Chromium,
    influxdb: InfluxDB1Server,
    influxdb3: StandInThread[InfluxDB3StandIn],
    home_assistant: HomeAssistantProcess,
) -> None:
    """InfluxDB 3 pointed at a 1.x server: the form says which answered. Then a database 3.x
    does not have: the setup asks before creating it, creates it, and the entry writes there."""
    shots = screenshot_dir(tmp_path)
    driver = chromium.start()
    start_influxdb1(influxdb, DATABASE)
    influxdb3.start()
    page = log_in(tmp_path, driver, home_assistant)

    open_setup_form(page, INFLUXDB3)
    fill_in(page, url=influxdb.url, database="home", token="test-token")
    submit(page)
    said = f"{influxdb.url} answers as InfluxDB 1 OSS 1."  # the release /ping names follows
    page.wait_for(lambda: said in page.text(), "the error naming the server that answered")
    assert "not InfluxDB 3. Start again and choose InfluxDB 1.x." in page.text()
    assert_error_on_top(page, said, first_field="url")
    assert_in_words(page)
    take(page, shots / "config-flow-v3-wrong-server.png")

    fill_in(page, url=influxdb3.url)
    submit(page)
    page.wait_text("Create the database?")
    page.wait_for(lambda: "has no database named home" in page.text(), "the database named")
    assert_in_words(page)
    take(page, shots / "config-flow-v3-create-database.png")
    assert influxdb3.read(lambda server: server.databases) == ["_internal"]  # asked, not created
    submit(page)
    finish_the_flow(page)
    assert influxdb3.read(lambda server: server.databases) == ["_internal", "home"]
    a_state_change_arrives(page, home_assistant, influxdb3, "home")


def see_the_import_written(page: Page, points: int) -> None:
    """The health sensors, refreshed on their own, count the imported points; every one in words
    (Last successful write is Unknown only until the refresh after the first write)."""
    page.wait_for(lambda: sensor_value(page, "Points written") >= points, f"{points} points written", 60)
    page.wait_for(lambda: "Unknown" not in page.text(), "the last successful write's time")
    assert_in_words(page)


OLD_DATABASE = "addon"
OLD_POINTS = "temperature,entity_id=outside value={} {}\n"


def test_copy_an_influxdb1_database(
    tmp_path: Path, chromium: Chromium, influxdb: InfluxDB1Server, home_assistant: HomeAssistantProcess
) -> None:
    """⋮ > Copy from InfluxDB 1.x: a misspelt name lists the databases; the copy runs to its end
    on the Backfill progress sensor, and the old points are in the target."""
    shots = screenshot_dir(tmp_path)
    page, title = log_in_with_an_entry(tmp_path, chromium, influxdb, home_assistant, OLD_DATABASE)
    influxdb.write(OLD_DATABASE, "".join(OLD_POINTS.format(v, (1_700_000_000 + v) * 10**9) for v in range(3)))

    page.goto("/config/integrations/integration/influxdb_ingest")
    page.wait_text(title)
    open_entry_menu(page)
    page.click_text("Copy from InfluxDB 1.x")
    page.wait_text("Copy an InfluxDB 1.x database")
    fill_in(page, url=influxdb.url, database="adon")
    submit(page)
    said = "The old server has no database named adon"
    page.wait_for(lambda: said in page.text(), "the database error")
    assert re.search(rf"Databases there: [^.]*\b{OLD_DATABASE}\b", page.text()), page.text()
    assert_error_on_field(page, said, "database", field_before="url")
    assert_in_words(page)
    take(page, shots / "copy-flow-database-not-found.png")

    fill_in(page, database=OLD_DATABASE)
    submit(page)
    said = f"The copy of {OLD_DATABASE} has started. Follow it on the Backfill progress sensor"
    page.wait_for(lambda: said in page.text(), "the copy's start")
    assert_in_words(page)
    take(page, shots / "copy-flow-started.png")
    close_the_dialog(page)

    open_device_page(page, title)
    page.wait_for(lambda: "Backfill progress Finished" in page.text(), "the copy to finish", timeout=90)
    see_the_import_written(page, 3)
    # The notification the copy left when it ended: what was copied where, how many points.
    page.click_text("Notifications")
    page.wait_text("InfluxDB Ingest: history import")
    ended = f"Copy of the InfluxDB 1.x database {OLD_DATABASE} into {title}: finished, 3 points written in"
    page.wait_for(lambda: ended in page.text(), "the copy's notification")
    assert_in_words(page)
    take(page, shots / "copy-flow-finished.png")
    assert points_of(influxdb, DATABASE, """WHERE "entity_id" = 'outside'""") == 3
    assert_no_errors_logged(home_assistant)


def test_backfill_offer_accepted(
    tmp_path: Path, chromium: Chromium, influxdb: InfluxDB1Server, home_assistant: HomeAssistantProcess
) -> None:
    """With a recorder, the setup offers its history: a day accepted, the Backfill progress sensor
    tells the import to its end, and the states recorded before the setup are in InfluxDB."""
    shots = screenshot_dir(tmp_path)
    driver = chromium.start()
    start_influxdb1(influxdb, DATABASE)
    home_assistant.recorder = True
    page = log_in(tmp_path, driver, home_assistant)
    send_states(home_assistant, 18.0, 18.5, 19.0)  # before the integration: only the recorder has them

    open_setup_form(page, INFLUXDB1)
    fill_in(page, url=influxdb.url, database=DATABASE)
    submit(page)
    page.wait_text("Import the history Home Assistant already has?")
    page.wait_for(lambda: "keeps every state change for 10 days" in page.text(), "the recorder's days")
    page.type_into(page.input("e.type === 'number'", "the days field"), "1")  # a number box has no name
    assert_in_words(page)
    take(page, shots / "backfill-offer.png")
    submit(page)
    finish_the_flow(page)

    title = entry_title(home_assistant)
    open_device_page(page, title)
    page.wait_for(lambda: "Backfill progress Finished" in page.text(), "the import to finish", timeout=90)
    see_the_import_written(page, 3)
    take(page, shots / "backfill-progress.png")
    assert points_of(influxdb, DATABASE, DEMO) >= 3
    assert_no_errors_logged(home_assistant)


QUERY_SENSOR = "Mean demo temperature"


def test_add_query_sensor_and_see_its_state(
    tmp_path: Path, chromium: Chromium, influxdb: InfluxDB1Server, home_assistant: HomeAssistantProcess
) -> None:
    """⋮ > Add query sensor: the mean of an entity's value over 1h, its answer, its entity."""
    shots = screenshot_dir(tmp_path)
    page, title = log_in_with_an_entry(tmp_path, chromium, influxdb, home_assistant)
    send_states(home_assistant, 20.0, 22.0, 24.0)
    page.wait_for(lambda: points_of(influxdb, DATABASE, DEMO) >= 3, "the state changes in InfluxDB", 60)

    page.goto("/config/integrations/integration/influxdb_ingest")
    page.wait_text(title)
    open_entry_menu(page)
    page.click_text("Add query sensor")
    page.wait_text("Query sensor: the query")
    assert_in_words(page)
    fill_in(page, name=QUERY_SENSOR)
    pick_entity(page, "demo temperature")
    page.click_text("Submit")

    # The query ran once: its answer (the mean of 20, 22 and 24) and the statement.
    page.wait_text(f"Query sensor: {QUERY_SENSOR}")
    page.wait_for(lambda: re.search(r"The query answered: 22(\.0)? \(", page.text()), "the answer 22")
    assert "SELECT mean" in page.text()
    assert_in_words(page)
    take(page, shots / "query-sensor-preview.png")
    page.click_text("Submit")
    close_the_dialog(page)

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
    page.wait_for(
        lambda: re.search(rf"{re.escape(QUERY_SENSOR)} 22(\.0)?\b", page.text()),
        "the query sensor's state 22",
        timeout=60,
    )
    assert "Unavailable" not in page.text()
    assert_in_words(page)
    take(page, shots / "query-sensor-entity.png")
    assert_no_errors_logged(home_assistant)


def test_system_information_in_words(
    tmp_path: Path, chromium: Chromium, influxdb: InfluxDB1Server, home_assistant: HomeAssistantProcess
) -> None:
    """Repairs > ⋮ > System information: the target's line, translated, not codes."""
    shots = screenshot_dir(tmp_path)
    page, title = log_in_with_an_entry(tmp_path, chromium, influxdb, home_assistant)
    send_states(home_assistant, 21.5)  # a first write: Connected, not "Not tried yet"
    page.wait_for(lambda: points_of(influxdb, DATABASE, DEMO) >= 1, "the first point in InfluxDB")

    page.goto("/config/repairs")
    click_labelled(page, "Menu")
    page.click_text("System information")
    page.wait_text("InfluxDB Ingest")
    line = re.compile(
        rf"{re.escape(title)} Connected; writing: (\w[\w ]*); \d+ points waiting, \d+ of them on disk"
    )
    found = page.wait_for(lambda: line.search(page.text()), f"the line of {title}")
    assert found.group(1) != "closed", found.group(0)  # the state's code, not its word
    assert "target_state" not in page.text()
    assert_in_words(page)
    take(page, shots / "system-information.png")


def test_outage_on_the_device_page(
    tmp_path: Path, chromium: Chromium, influxdb: InfluxDB1Server, home_assistant: HomeAssistantProcess
) -> None:
    """InfluxDB stops after a first write: the Connection sensor says Unreachable, the last
    successful write says when, the point that could not go waits in the disk spool."""
    shots = screenshot_dir(tmp_path)
    page, title = log_in_with_an_entry(tmp_path, chromium, influxdb, home_assistant)
    send_states(home_assistant, 20, unit=None)
    open_device_page(page, title)
    # Written as the integration saw it: in InfluxDB is not enough (a write answered too late on a
    # busy machine is stored there and still retried from the spool).
    page.wait_for(lambda: sensor_value(page, "Points written") >= 1, "the first point written", 60)

    influxdb.stop()
    send_states(home_assistant, 21, unit=None)
    page.wait_for(lambda: re.search(r"Connection Unreachable", page.text()), "Connection: Unreachable", 90)
    page.wait_for(lambda: sensor_value(page, "Points in disk spool") >= 1, "the point kept in the spool", 60)
    page.wait_for(lambda: "Unknown" not in page.text(), "the last successful write's time")
    assert_in_words(page)
    take(page, shots / "device-page-outage.png")
