"""Taking a trained learner out of a job's checkpoints, and giving one to a new job.

A job that checkpoints (``--checkpoint-dir DIR``) keeps each learner actor's state in
``DIR/learner-<i>/`` and the champion selector's in ``DIR/publisher/``. :func:`export_model`
reads the newest intact checkpoint of the actor holding the wanted learner (by default the one
that was serving; a learner the job ran sharded comes back as a
:class:`~learners.sharding.ShardedModel` over in-process hosts, from its shards' checkpoints of
the same epoch in ``DIR/learner-<i>-shard-<k>/``) and writes it as a model file
(:mod:`learners.model_file`), which
``learners.load`` reads in any Python process and ``--init-model`` starts a job or an evaluation
from.
"""

from __future__ import annotations

import os
import re

import fsspec

from jobs.checkpoint import CheckpointError, CheckpointStore
from learners import registry
from learners.model_file import ModelFile, ModelFileError, read
from learners.sharding import LocalExecutor, ShardedModel
from learners.sharding.model import STATE_VERSION as SHARDED_STATE_VERSION
from stream.datasets import open_dataset


#: A learner actor's checkpoint folder (its shards' are ``learner-<i>-shard-<k>``).
_LEARNER_FOLDER = re.compile(r"^learner-\d+$")


def _stores(checkpoint_dir: str, key: bytes | None) -> tuple[list[CheckpointStore], CheckpointStore | None]:
    fs, root = fsspec.core.url_to_fs(checkpoint_dir)
    if not fs.isdir(root):
        raise CheckpointError(f"checkpoint folder {checkpoint_dir} does not exist")
    names = sorted(path.rstrip("/").rsplit("/", 1)[-1] for path in fs.ls(root, detail=False))
    base = checkpoint_dir.rstrip("/")
    learners = [CheckpointStore(f"{base}/{name}", key=key) for name in names if _LEARNER_FOLDER.match(name)]
    publisher = CheckpointStore(f"{base}/publisher", key=key) if "publisher" in names else None
    if not learners:
        raise CheckpointError(f"{checkpoint_dir} holds no learner checkpoints (learner-<i>/ folders)")
    return learners, publisher


def export_model(checkpoint_dir: str, learner: str | None = None, key: bytes | None = None) -> ModelFile:
    """The learner ``learner`` (default: the serving one) of the newest checkpoints in ``checkpoint_dir``.

    ``key`` is the job's checkpoint key when it signs its checkpoints: then only checkpoints signed
    with it are read.
    """
    stores, publisher = _stores(checkpoint_dir, key)
    loaded = [(store, state) for store, state in ((store, store.load_latest()) for store in stores) if state is not None]
    states = [state for _, state in loaded]
    if not states:
        signed = " signed with the job's key" if key is not None else ""
        raise CheckpointError(f"{checkpoint_dir} holds no intact learner checkpoint{signed}")
    available = [name for state in states for name in state["models"]]
    if learner is None:
        learner = _serving(publisher) or available[0]
    for store, state in loaded:
        if learner in state["models"]:
            universe = state["universe"]
            model = state["models"][learner]
            if state["owner"][-1].endswith(" shards"):
                model = _sharded_model(store, learner, model, key)
            return ModelFile(
                learner=learner,
                model=model,
                labels=tuple(universe.labels),
                learned=int(state["learned"][learner]),
                source=f"checkpoint {checkpoint_dir}",
            )
    raise CheckpointError(f"no learner {learner!r} in {checkpoint_dir}; it holds {available}")


def _sharded_model(head: CheckpointStore, learner: str, state: dict, key: bytes | None) -> ShardedModel:
    """A learner a job ran sharded (``--shards``), whole in this process: its head from the learner
    actor's newest checkpoint and its hosts from the shards' checkpoints of the same epoch
    (``learner-<i>-shard-<k>/``), the hosts in process."""
    epoch = max(head.epochs())
    parent, folder = head.uri.rstrip("/").rsplit("/", 1)
    fs, root = fsspec.core.url_to_fs(parent)
    shard_folder = re.compile(rf"^{re.escape(folder)}-shard-(\d+)$")
    found = (shard_folder.match(path.rstrip("/").rsplit("/", 1)[-1]) for path in fs.ls(root, detail=False))
    hosts = []
    for match in sorted((m for m in found if m), key=lambda m: int(m.group(1))):
        shard = CheckpointStore(f"{parent}/{match.group(0)}", key=key)
        if epoch not in shard.epochs():
            raise CheckpointError(f"{shard.uri} holds no intact checkpoint of epoch {epoch}, the newest of {head.uri}")
        shard_state = shard.load(epoch)
        if shard_state["owner"][0] == learner:
            hosts.append(shard_state["host"])
    model = ShardedModel(registry.make(learner, seed=0), state["head"]["n_shards"], LocalExecutor())
    model.load_state({"version": SHARDED_STATE_VERSION, "head": state["head"], "hosts": hosts})
    return model


def _serving(publisher: CheckpointStore | None) -> str | None:
    state = None if publisher is None else publisher.load_latest()
    if state is None:
        return None
    if state.get("champion") is not None:
        return state["champion"]["serving"]
    return state["owner"][0]


def initial_model(path: str | os.PathLike, learners: list[str], labels=None) -> ModelFile:
    """Read the model file of ``--init-model`` and check that it can start one of ``learners``.

    Its learner must be among those of the job, be built by today's catalogue as the same class,
    and, when the stream's label space is known (a dataset), have been trained on that label space.
    Raises :class:`~learners.model_file.ModelFileError` saying what does not fit.
    """
    initial = read(path)
    if initial.learner not in learners:
        raise ModelFileError(f"{path} holds a {initial.learner!r} learner; add it to the learners ({', '.join(learners)})")
    kind = registry.make(initial.learner, seed=0)
    initial.check_fits(initial.learner, f"{type(kind).__module__}:{type(kind).__qualname__}", labels)
    return initial


def job_initial_model(config) -> ModelFile | None:
    """The checked model file of a job's ``init_model`` (``None`` without one).

    The label space is checked when the job replays a dataset whose labels are declared (a
    registered dataset or an ARFF file); records from a topic or a JSON Lines file are not known
    in advance.
    """
    if config.init_model is None:
        return None
    labels = None
    if config.dataset is not None and not config.dataset.endswith((".jsonl", ".jsonl.gz")):
        labels = [str(label) for label in open_dataset(config.dataset).label_names]
    return initial_model(config.init_model, config.learners, labels)
