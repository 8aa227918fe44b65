"""Taking a trained learner out of a job's checkpoints, and giving one to a new job.

A job that checkpoints (``--checkpoint-dir DIR``) keeps each learner actor's state in
``DIR/learner-<i>/`` and the champion selector's in ``DIR/publisher/``. :func:`export_model`
reads the newest intact checkpoint of the actor holding the wanted learner (by default the one
that was serving) and writes it as a model file (:mod:`learners.model_file`), which
``learners.load`` reads in any Python process and ``--init-model`` starts a job or an evaluation
from.
"""

from __future__ import annotations

import os

import fsspec

from jobs.checkpoint import CheckpointError, CheckpointStore
from learners import registry
from learners.model_file import ModelFile, ModelFileError, read
from stream.datasets import open_dataset


def _stores(checkpoint_dir: str, key: bytes | None) -> tuple[list[CheckpointStore], CheckpointStore | None]:
    fs, root = fsspec.core.url_to_fs(checkpoint_dir)
    if not fs.isdir(root):
        raise CheckpointError(f"checkpoint folder {checkpoint_dir} does not exist")
    names = sorted(path.rstrip("/").rsplit("/", 1)[-1] for path in fs.ls(root, detail=False))
    base = checkpoint_dir.rstrip("/")
    learners = [CheckpointStore(f"{base}/{name}", key=key) for name in names if name.startswith("learner-")]
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
    states = [state for state in (store.load_latest() for store in stores) if state is not None]
    if not states:
        signed = " signed with the job's key" if key is not None else ""
        raise CheckpointError(f"{checkpoint_dir} holds no intact learner checkpoint{signed}")
    available = [name for state in states for name in state["models"]]
    if learner is None:
        learner = _serving(publisher) or available[0]
    for state in states:
        if learner in state["models"]:
            universe = state["universe"]
            return ModelFile(
                learner=learner,
                model=state["models"][learner],
                labels=tuple(universe.labels),
                learned=int(state["learned"][learner]),
                source=f"checkpoint {checkpoint_dir}",
            )
    raise CheckpointError(f"no learner {learner!r} in {checkpoint_dir}; it holds {available}")


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
