"""``tagstream run`` ends a bounded replay whose input went idle before it read every replayed record
with exit 1 and one line (the Ray job does the same: both go through :func:`jobs.job.run_with_view`)."""

from __future__ import annotations

import kafka
import pytest
from kafka.structs import OffsetAndMetadata, TopicPartition
from typer.testing import CliRunner

from jobs.cli import app
from stream.kafka import ensure_topics
from tests.helpers import kafka_env


@pytest.mark.integration
def test_tagstream_run_fails_a_bounded_replay_whose_input_went_idle_early(ray_local, kafka_config):
    ensure_topics(kafka_config, partitions=1)
    # The job's group already committed offset 4 of the empty records topic: of the 10 records the
    # run replays it reads the last 6, then nothing more arrives.
    committer = kafka.KafkaConsumer(
        bootstrap_servers=kafka_config.bootstrap_servers, group_id=kafka_config.group_id, enable_auto_commit=False
    )
    try:
        committer.commit({TopicPartition(kafka_config.topics.records, 0): OffsetAndMetadata(4, "", -1)})
    finally:
        committer.close()
    result = CliRunner().invoke(
        app,
        ["run", "--bootstrap-servers", kafka_config.bootstrap_servers, "--dataset", "yeast", "--limit", "10",
         "--learner", "majority", "--metrics-port", "0", "--dashboard-port", "0"],  # fmt: skip
        env=kafka_env(kafka_config) | {"TAGSTREAM_IDLE_TIMEOUT_S": "3", "TAGSTREAM_LABELS_TOPIC": "false", "COLUMNS": "400"},
    )
    assert result.exit_code == 1, result.output
    message = " ".join(result.output.split())
    assert "error: the run consumed 6 of the 10 replayed messages before its input went idle for 3.0 s" in message
    assert "Traceback" not in result.output
