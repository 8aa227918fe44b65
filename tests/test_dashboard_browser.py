"""The live page in a real headless browser (Debian's chromium + chromedriver) while the pipeline runs.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``: ``bash scripts/install-system-deps.sh``
installs them (``make test`` runs it). Outside CI the test skips when they are missing; in CI it fails.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import tempfile

import pytest

from helpers import read_topic, require_binaries
from learners.drift import ALERT_KINDS, SEVERITIES
from test_dashboard import DRIFT_POINTS, LivePipeline, synthetic_records

CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHROMEDRIVER = pathlib.Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1500",
)


def require_browser() -> None:
    require_binaries(CHROMIUM, CHROMEDRIVER)


def start_browser(user_data_dir: pathlib.Path):
    """Headless chromium driven by chromedriver, logging the browser console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def tile(driver, name: str) -> int:
    text = driver.execute_script(f"return document.getElementById('tile-{name}').textContent").replace(",", "")
    return int(text) if text.isdigit() else -1


def event_markers(driver) -> list[dict]:
    """The timeline's markers, monitor alerts and learner events, read in one go (the page redraws them every second)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#timeline .event')).map(m => ({"
        "id: m.getAttribute('data-id'), source: m.getAttribute('data-source'), shape: m.tagName,"
        "level: m.getAttribute('data-level'), kind: m.getAttribute('data-kind'), severity: m.getAttribute('data-severity'),"
        "labels: m.getAttribute('data-labels'), records: Number(m.getAttribute('data-records')),"
        "offset: m.getAttribute('data-offset'), event_id: m.getAttribute('data-event-id'),"
        "title: m.querySelector('title').textContent, y: m.getBBox().y + m.getBBox().height / 2}))"
    )


def monitor_markers(driver) -> list[dict]:
    return [marker for marker in event_markers(driver) if marker["source"] == "monitor"]


def click_event(driver, event_id: str, attempts: int = 5) -> None:
    """Click a timeline marker as a user would; the page may redraw it between finding and clicking."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(attempts):
        try:
            driver.find_element("css selector", f'#timeline .event[data-id="{event_id}"]').click()
            return
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"the marker of event {event_id} kept being redrawn before it could be clicked")


@pytest.mark.integration
@pytest.mark.slow
def test_live_page_in_a_browser_while_the_pipeline_runs(ray_local, kafka_config, tmp_path):
    require_browser()
    records = synthetic_records()
    # The drift monitor beside the learners raises the alerts the timeline must show; iHOMER adds
    # its own events (splits, restructures, serving changes), which must stay apart from them.
    live = LivePipeline(kafka_config, records, ["ihomer", "majority"], rate=300)
    user_data_dir = pathlib.Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path))
    driver = start_browser(user_data_dir)
    try:
        driver.get(live.page.url)
        assert driver.title == "tagstream live"

        # The numbers change while the stream flows, without reloading the page.
        first = live.wait_for(lambda: tile(driver, "records") > 0 and tile(driver, "records"), "a first record count")
        live.wait_for(lambda: tile(driver, "records") > first + 300, "the record count to grow on the page")
        live.wait_for(lambda: driver.execute_script("return document.querySelectorAll('#chart-example_f1 path.series').length") == 2, "quality curves of both learners")

        # Every injected drift shows up on the timeline as a drift alert of the monitor within 500
        # records after it (its windows need some records to tell), and the stationary start has none.
        def monitor_drifts_after(point):
            return [m for m in monitor_markers(driver) if m["level"] == "drift" and point < m["records"] <= point + 500]

        for point in DRIFT_POINTS:
            live.wait_for(lambda: monitor_drifts_after(point), f"a drift alert after the drift at record {point}", timeout_s=120)
        live.wait_for(lambda: live.processed() >= len(records), "every record to be predicted", timeout_s=120)
        live.wait_for(lambda: tile(driver, "records") == len(records), "the final count on the page")
        published = [json.loads(m.value) for m in read_topic(kafka_config, kafka_config.topics.drift)]
        live.wait_for(lambda: len(monitor_markers(driver)) == len(published), "a marker for every alert on the drift topic")

        markers = event_markers(driver)
        alerts = [m for m in markers if m["source"] == "monitor"]
        assert {m["event_id"] for m in alerts} == {a["event_id"] for a in published}  # each once, as published
        assert not [m for m in alerts if m["level"] == "drift" and m["records"] <= DRIFT_POINTS[0]], alerts
        by_id = {a["event_id"]: a for a in published}
        for marker in alerts:
            alert = by_id[marker["event_id"]]
            assert marker["kind"] in ALERT_KINDS and marker["severity"] in SEVERITIES
            assert (marker["kind"], marker["severity"], marker["labels"]) == (alert["kind"], alert["severity"], ",".join(alert["labels"]))
            assert marker["records"] == alert["window"]["last"]["index"] + 1 and marker["offset"] == str(alert["window"]["last"]["offset"])
            assert f"{alert['level']} {alert['kind']} ({alert['severity']})" in marker["title"]
            assert all(label in marker["title"] for label in alert["labels"][:8])
        assert tile(driver, "drift") == sum(a["level"] == "drift" for a in published)

        # The learners' own events stay apart: circles on the learner rows, diamonds on the monitor's.
        learner_events = [m for m in markers if m["source"] == "model"]
        assert learner_events and {m["shape"] for m in learner_events} == {"circle"} and {m["shape"] for m in alerts} == {"path"}
        assert max(m["y"] for m in alerts) < min(m["y"] for m in learner_events)

        # The x-axis is records: the axes say so and markers sit in the order of their record positions.
        axis = driver.execute_script("return Array.from(document.querySelectorAll('#timeline text, #chart-example_f1 text')).map(t => t.textContent)")
        assert sum(label.endswith(" records") for label in axis) == 2
        placed = driver.execute_script(
            "return Array.from(document.querySelectorAll('#timeline .event')).map(m => [Number(m.getAttribute('data-records')), m.getBBox().x + m.getBBox().width / 2])"
        )
        across = [x for _, x in sorted(placed)]
        assert placed and across == sorted(across)

        # The list of latest alerts, newest first; clicking an alert shows its labels, window and statistic.
        listed = driver.execute_script("return Array.from(document.querySelectorAll('#alert-list tbody tr')).map(r => Number(r.cells[0].textContent.replace(/,/g, '')))")
        newest_first = sorted(alerts, key=lambda m: -int(m["id"]))
        assert listed == [m["records"] for m in newest_first][:30] and listed
        # Markers close together overlap: the one drawn last is on top, where a click lands.
        marker = max(monitor_drifts_after(DRIFT_POINTS[0]), key=lambda m: int(m["id"]))
        alert = by_id[marker["event_id"]]
        click_event(driver, marker["id"])
        detail = driver.find_element("id", "event-detail").text
        assert f"monitor: drift {alert['kind']}, severity {alert['severity']}, at record {marker['records']:,}" in detail
        assert f"labels: {', '.join(alert['labels']) or '(none)'}" in detail
        window = alert["window"]
        assert f"window: {window['first']['topic']}:p0:o{window['first']['offset']} – o{window['last']['offset']}" in detail
        assert alert["event_id"] in detail and '"statistic"' in detail

        # iHOMER's label tree: the nodes of its partition are drawn, every label in some group
        # (the page polls, so it may draw the last snapshot a moment after the state has it).
        def drawn():
            return driver.execute_script(
                "return {nodes: document.querySelectorAll('#tree .node').length,"
                " homes: document.querySelectorAll('#tree .node.home').length,"
                " groups: document.querySelectorAll('#partition span').length,"
                " cells: document.querySelectorAll('#heatmap rect.cell').length}"
            )

        def partition():
            return live.page.state.to_json()["partitions"]["ihomer"]["partition"]

        live.wait_for(lambda: drawn()["groups"] == len(partition()), "the page to draw the last partition")
        counts = drawn()
        assert counts["nodes"] >= counts["homes"] >= 1 and counts["groups"] == len(partition())
        assert counts["cells"] > 0

        screenshot = tmp_path / "live-page.png"
        assert driver.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
        assert console_errors(driver) == []
    finally:
        driver.quit()
        live.stop()
        shutil.rmtree(user_data_dir, ignore_errors=True)
    assert live.summary.predictions_out == len(records)

