"""Take the README's screenshot of the live page: docs/img/live-page.png.

Runs the real pipeline (embedded broker, local Ray) on the synthetic drifting stream with iHOMER
and MLHAT side by side, opens the page in Debian's headless chromium and saves it once the
stream is done. Needs ``bash scripts/install-system-deps.sh`` first.

    .venv/bin/python scripts/live-page-screenshot.py [--out docs/img/live-page.png]
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import threading
import time

import ray
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from jobs.broker import EmbeddedBroker
from jobs.config import JobConfig
from jobs.dashboard import serve_live_page
from jobs.pipeline.driver import run_pipeline
from jobs.produce import produce
from jobs.telemetry import PipelineMetrics
from stream.kafka import KafkaConfig, ensure_topics
from stream.records import Record
from stream.synthetic import DriftingMultiLabelStream

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "docs" / "img" / "live-page.png")
    parser.add_argument("--records", type=int, default=6000)
    parser.add_argument("--rate", type=float, default=400.0, help="records/s produced")
    args = parser.parse_args()

    n = args.records
    stream = DriftingMultiLabelStream(n_instances=n, n_features=10, n_labels=12, drift_points=[n // 3, 2 * n // 3], seed=7)
    records = [Record(f"syn-{i}", features=x, labels=tuple(l for l, on in y.items() if on)) for i, (x, y) in enumerate(stream)]
    # The broker is a fresh one each time: checkpoints of an earlier run would restore offsets it never had.
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as checkpoints:
        kafka = KafkaConfig(bootstrap_servers=broker.bootstrap_servers, group_id="screenshot")
        ensure_topics(kafka, partitions=1)
        config = JobConfig(
            kafka=kafka, learners=["ihomer", "mlhat"], follow=True, window=500, batch_size=100, dashboard_port=0, checkpoint_dir=checkpoints
        )
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        metrics = PipelineMetrics(config.window)
        page = serve_live_page(config, metrics)
        page.state.title = f"synthetic drifting stream (drifts at {n // 3} and {2 * n // 3})"
        stop = threading.Event()
        runner = threading.Thread(
            target=run_pipeline,
            args=(config,),
            kwargs={"stop": stop, "metrics": metrics, "on_batch": page.state.observe_batch, "on_alerts": page.state.observe_alerts},
        )
        runner.start()
        produce(kafka, records, rate=args.rate)
        while page.state.to_json()["totals"].get("predictions_out", 0) < n:
            time.sleep(0.5)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--window-size=1400,1500"):
            options.add_argument(flag)
        with tempfile.TemporaryDirectory() as profile:
            options.add_argument(f"--user-data-dir={profile}")
            driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
            try:
                driver.get(page.url)
                time.sleep(3)  # a few polls: curves, timeline and tree drawn
                # Show the detail of the drift monitor's latest drift alert (the last drawn is on top).
                drifts = driver.find_elements("css selector", '#timeline .event[data-source="monitor"][data-level="drift"]')
                if drifts:
                    drifts[-1].click()
                args.out.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(args.out))
            finally:
                driver.quit()
        stop.set()
        runner.join()
        page.close()
        metrics.close()
        ray.shutdown()
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
