"""The live page in a real headless browser (Debian's chromium + chromedriver) while the pipeline runs.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``: ``bash scripts/install-system-deps.sh``
installs them (``make test`` runs it). Outside CI the test skips when they are missing; in CI it fails.
"""

from __future__ import annotations

import pathlib
import shutil
import tempfile

import pytest

from helpers import require_binaries
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
    """The timeline's markers, read in one go (the page redraws them every second)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#timeline .event')).map(m => ({"
        "id: m.getAttribute('data-id'), kind: m.getAttribute('data-kind'), instance: Number(m.getAttribute('data-instance'))}))"
    )


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
    # BR-HAT's ADWINs signal both injected drifts within a few dozen records and nothing else on
    # this stream, so the timeline has a marker to find; iHOMER's error monitor, which watches a
    # prediction that switches between candidates, may alarm early or late here (benchmarks/results/ihomer.md).
    live = LivePipeline(kafka_config, records, ["ihomer", "br-hat"], rate=300)
    user_data_dir = pathlib.Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path))
    driver = start_browser(user_data_dir)
    try:
        driver.get(live.page.url)
        assert driver.title == "tagstream live"

        # The numbers change while the stream flows, without reloading the page.
        first = live.wait_for(lambda: tile(driver, "records") > 0 and tile(driver, "records"), "a first record count")
        live.wait_for(lambda: tile(driver, "records") > first + 300, "the record count to grow on the page")
        live.wait_for(lambda: driver.execute_script("return document.querySelectorAll('#chart-example_f1 path.series').length") == 2, "quality curves of both learners")

        # Every injected drift shows up on the timeline: a drift or warning event within 500
        # records after it (the learners need some records to notice).
        def drift_markers_after(point):
            return [m for m in event_markers(driver) if m["kind"] in ("drift", "warning") and point <= m["instance"] < point + 500]

        for point in DRIFT_POINTS:
            live.wait_for(lambda: drift_markers_after(point), f"a drift event after the drift at record {point}", timeout_s=120)
        live.wait_for(lambda: live.processed() >= len(records), "every record to be predicted", timeout_s=120)
        live.wait_for(lambda: tile(driver, "records") == len(records), "the final count on the page")

        # The x-axis is records: the axes say so and markers sit in the order of their record positions.
        axis = driver.execute_script("return Array.from(document.querySelectorAll('#timeline text, #chart-example_f1 text')).map(t => t.textContent)")
        assert sum(label.endswith(" records") for label in axis) == 2
        placed = driver.execute_script(
            "return Array.from(document.querySelectorAll('#timeline .event')).map(m => [Number(m.getAttribute('data-records')), Number(m.getAttribute('cx'))])"
        )
        across = [x for _, x in sorted(placed)]
        assert placed and across == sorted(across)

        # Clicking an event shows its labels and detail.
        marker = drift_markers_after(DRIFT_POINTS[0])[0]
        click_event(driver, marker["id"])
        detail = driver.find_element("id", "event-detail").text
        assert f"{marker['kind']} at instance {marker['instance']}" in detail
        assert "labels: y" in detail and "{" in detail

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

