"""What travels between the stages: polled batches, the driver's poll summary, scored batches.

Also the keys by which the driver finds its parts in a learner stage's stats, and the kind of
the event a champion switch publishes.
"""

from __future__ import annotations

import dataclasses

from stream.records import LabelUpdate, Record, RecordError

#: Kind of the drift-topic event published when another learner starts serving.
CHAMPION_SWITCH = "champion_switch"

#: Key of the label-join counts in a learner stage's stats (beside the learners' names).
JOIN_STATS = "_label_join"

#: Key of a learner stage's stats holding the seconds its batch spent in the extractor and in it.
STAGE_TIMES = "_stage_seconds"


@dataclasses.dataclass(slots=True)
class Batch:
    """A micro-batch of good records in stream order.

    ``origin`` holds, per record, the Kafka timestamp of its message (epoch seconds): where the
    end-to-end latency starts. ``consumed_at`` is when the batch was polled. ``positions`` holds
    each record's ``(topic, partition, offset)`` (how a restored learner skips what its checkpoint
    covers), and ``updates`` the late labels polled from the labels topic with their position and
    timestamp.
    """

    records: list[Record]
    origin: list[float]
    consumed_at: float
    positions: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)
    updates: list[tuple[LabelUpdate, tuple[str, int, int], float]] = dataclasses.field(default_factory=list)
    extract_s: float | None = None  # seconds the extractor spent on it (None: it did not go through it)
    # Partitions found read past their log's end and moved (to this offset) by the policy: the
    # learners take the new log's offsets from there instead of skipping them as seen.
    moved: dict[tuple[str, int], int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class PollInfo:
    """The small part of a poll the driver reads: counts, the offsets to commit, partitions assigned.

    ``partitions`` is 0 until the consumer's group join has finished: until then an empty poll
    does not mean the input is idle. ``texts`` counts the good records that carry text, which
    only the extractor can turn into features. ``first`` holds, per partition, the offset of the
    batch's first message (with ``offsets``, the range a crash of a learner on it points at).
    ``lost`` counts dead letters that could not be published at all since the last poll.
    """

    consumed: int
    good: int
    dead_letters: dict[str, int]
    offsets: dict[tuple[str, int], int]
    partitions: int
    texts: int = 0
    first: dict[tuple[str, int], int] = dataclasses.field(default_factory=dict)
    lost: int = 0
    seconds: float = 0.0  # the poll's time: waiting for messages, parsing, dead-lettering
    offset_gaps: int = 0  # partitions found read past their log's end (jobs.outage.offsets_past_end)


@dataclasses.dataclass(slots=True)
class Scored:
    """Predictions of a learner actor for one batch.

    ``outputs[learner][i]`` is ``(labels predicted on, scores, model version)`` for record ``i``,
    the model version being the number of records the learner had learned from. ``refused``
    holds ``(position, key, value, error)`` of the records and late labels the learner actor
    refused (label or feature space full); the value is the parsed message encoded again.
    """

    ids: list[str]
    origin: list[float]
    consumed_at: float
    outputs: dict[str, list[tuple[tuple[str, ...], dict[str, float], int]]]
    events: list[dict]
    scored: int = 0
    window: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    refused: list[tuple[tuple[str, int, int], bytes, bytes, RecordError]] = dataclasses.field(default_factory=list)
    alerts: list[dict] = dataclasses.field(default_factory=list)  # the drift monitor's (jobs.drift_stage)
