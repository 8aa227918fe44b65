"""Submit the tagstream entrypoint as a Ray job and follow it: the library behind ``tagstream submit``.

A thin layer over Ray's job SDK (:class:`ray.job_submission.JobSubmissionClient`): it builds
the entrypoint (``python -m jobs.ray_job --config FILE ...``) and the runtime environment (the
working dir uploaded to the cluster, environment variables for the job), checks the config
locally before anything is uploaded, and waits for a terminal status while passing on new log
text. Authentication is Ray's own: with token authentication on (the default of Ray 2.60
clusters), the client reads ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN`` (or
``RAY_AUTH_TOKEN_PATH``, or ``~/.ray/auth_token``) from the environment, exactly like
``ray job submit``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pathlib
import re
import shlex
import time
import typing

from jobs.config import JobConfig

logger = logging.getLogger(__name__)

#: Module the job runs.
ENTRY_MODULE = "jobs.ray_job"

#: Never uploaded with the working dir: environments, caches, outputs (Ray also honours .gitignore).
WORKING_DIR_EXCLUDES = (".venv/", ".git/", "out/", "__pycache__/", "*.egg-info/", ".pytest_cache/", ".hypothesis/")


class SubmitError(RuntimeError):
    """The job could not be submitted, or following it failed; the message says why."""


class SubmitTimeout(SubmitError):
    """The job did not reach a terminal status within the given time."""


@dataclasses.dataclass(frozen=True)
class JobRequest:
    """What to submit.

    Parameters
    ----------
    working_dir
        Folder uploaded to the cluster and used as the job's current directory: the repository
        root (it holds the ``jobs``, ``stream`` and ``learners`` packages). ``None`` uploads
        nothing: the cluster's own tagstream runs (the case of the container images).
    config_file
        Job config: a file inside ``working_dir`` (the job reads the uploaded copy), or without a
        working dir a path on the cluster's nodes.
    env
        Environment variables of the job, for example ``TAGSTREAM_KAFKA__BOOTSTRAP_SERVERS``.
    args
        Further flags of the entrypoint (``--limit 300``, ``--dataset yeast``, ...).
    submission_id
        Id of the job; Ray picks one when ``None``.

    Examples
    --------
    >>> request = JobRequest(pathlib.Path("."), config_file="job.toml", args=("--limit", "300"))
    >>> request.entrypoint()
    'python -m jobs.ray_job --config job.toml --limit 300'

    """

    working_dir: pathlib.Path | None
    config_file: str | None = None
    env: typing.Mapping[str, str] = dataclasses.field(default_factory=dict)
    args: tuple[str, ...] = ()
    submission_id: str | None = None

    def entrypoint(self) -> str:
        config = ["--config", self.config_file] if self.config_file is not None else []
        return shlex.join(["python", "-m", ENTRY_MODULE, *config, *self.args])

    def runtime_env(self) -> dict:
        env: dict = {"env_vars": dict(self.env)}
        if self.working_dir is not None:
            env |= {"working_dir": str(self.working_dir), "excludes": list(WORKING_DIR_EXCLUDES)}
        return env


#: Words of a variable name that say its value is a secret (``TAGSTREAM_KAFKA__SASL_PASSWORD``, ``RAY_AUTH_TOKEN``).
SECRET_NAME_WORDS = frozenset({"PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "TOKEN", "CREDENTIAL", "CREDENTIALS", "APIKEY"})

#: Pairs of consecutive words that say the same (``AWS_SECRET_ACCESS_KEY``, ``OPENAI_API_KEY``).
SECRET_NAME_PAIRS = frozenset({("API", "KEY"), ("ACCESS", "KEY"), ("PRIVATE", "KEY"), ("SECRET", "KEY"), ("SIGNING", "KEY")})

#: Values that carry a secret whatever the name: a URL with a password, a PEM private key.
SECRET_VALUE = re.compile(r"://[^/\s:@]+:[^/\s@]+@|-----BEGIN [A-Z ]*PRIVATE KEY-----")


def secret_looking(name: str, value: str) -> bool:
    """Whether an environment variable looks like it carries a secret, by its name or its value.

    >>> secret_looking("TAGSTREAM_KAFKA__SASL_PASSWORD", "x"), secret_looking("AWS_SECRET_ACCESS_KEY", "x")
    (True, True)
    >>> secret_looking("TAGSTREAM_CHECKPOINT_DIR", "s3://user:pw@host/bucket"), secret_looking("RAY_AUTH_MODE", "token")
    (True, False)

    """
    words = [word for word in re.split(r"[^A-Za-z0-9]+", name.upper()) if word]
    if SECRET_NAME_WORDS.intersection(words) or SECRET_NAME_PAIRS.intersection(zip(words, words[1:])):
        return True
    return SECRET_VALUE.search(value) is not None


def make_request(
    working_dir: os.PathLike | str | None,
    config_file: os.PathLike | str | None = None,
    env: typing.Mapping[str, str] | None = None,
    args: typing.Sequence[str] = (),
    submission_id: str | None = None,
    *,
    allow_secret_env: bool = False,
) -> JobRequest:
    """A checked :class:`JobRequest`: the working dir holds the entry module, the config loads, and
    no environment variable looks like a secret (unless ``allow_secret_env``).

    The config is loaded here with the job's environment variables (not this shell's), so a typo
    fails now rather than on the cluster. ``config_file`` may be given relative to the current
    directory or to ``working_dir``; it must lie inside ``working_dir``. Without a working dir
    the config is a path on the cluster and is not checked here.

    The variables travel in the job's ``runtime_env``, which Ray keeps where every client of the
    cluster reads it (the dashboard, ``ray job list``): a secret there is a secret shared with all
    of them. The error names the variable, never its value.
    """
    env = dict(env or {})
    secrets = sorted(name for name, value in env.items() if secret_looking(name, value))
    if secrets and not allow_secret_env:
        raise SubmitError(
            f"--env {', '.join(secrets)} looks like a secret, and a job's environment is readable by every client of "
            "the Ray cluster (dashboard, `ray job list`). Give secrets to the job from files or Kubernetes Secrets on "
            "the nodes (for example sasl_password in a config file only the job reads, or the variable set in the "
            "Ray containers' environment), or pass --allow-secret-env to send it anyway."
        )
    if working_dir is None:
        config = None if config_file is None else pathlib.PurePosixPath(config_file).as_posix()
        return JobRequest(None, config, env, tuple(args), submission_id)
    root = pathlib.Path(working_dir).resolve()
    entry = root / pathlib.Path(*ENTRY_MODULE.split(".")).with_suffix(".py")
    if not entry.is_file():
        raise SubmitError(f"working dir {root} has no {entry.relative_to(root)}: give the tagstream repository root")
    relative = None
    if config_file is not None:
        relative = _inside(root, pathlib.Path(config_file))
        JobConfig.load(root / relative, environ=env)
    return JobRequest(root, relative, env, tuple(args), submission_id)


def _inside(root: pathlib.Path, path: pathlib.Path) -> str:
    candidates = [path] if path.is_absolute() else [pathlib.Path.cwd() / path, root / path]
    for candidate in candidates:
        candidate = candidate.resolve()
        if candidate.is_file():
            if not candidate.is_relative_to(root):
                raise SubmitError(
                    f"config file {candidate} is outside the working dir {root}: the job could not read it"
                )
            return candidate.relative_to(root).as_posix()
    raise SubmitError(f"config file {path} does not exist (looked in {pathlib.Path.cwd()} and {root})")


def connect(address: str | None = None):
    """A job client for the cluster at ``address`` (``None``: ``RAY_API_SERVER_ADDRESS``/``RAY_ADDRESS``, else local).

    Failures (nothing listening, a missing or wrong token) become :class:`SubmitError` with Ray's reason.
    """
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as error:
        hint = ""
        if "auth" in str(error).lower() or "token" in str(error).lower():
            hint = " (token authentication: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN, or RAY_AUTH_TOKEN_PATH)"
        where = address or "the default address"
        raise SubmitError(f"cannot reach the Ray job API at {where}: {error}{hint}") from None


def submit(client, request: JobRequest) -> str:
    """Submit ``request``; returns the job's submission id."""
    try:
        job_id = client.submit_job(
            entrypoint=request.entrypoint(), runtime_env=request.runtime_env(), submission_id=request.submission_id
        )
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise SubmitError(f"submitting {request.entrypoint()!r} failed: {error}") from None
    logger.info("submitted job %s: %s", job_id, request.entrypoint())
    return job_id


def wait(
    client,
    job_id: str,
    *,
    timeout_s: float | None,
    poll_s: float = 1.0,
    on_logs: typing.Callable[[str], None] | None = None,
) -> str:
    """Wait until the job is SUCCEEDED, FAILED or STOPPED and return that status.

    ``on_logs`` receives the job's log text as it is written (streamed from the job API, so a
    long-running job's log is not downloaded again and again). Raises :class:`SubmitTimeout`
    after ``timeout_s`` (the job keeps running: stop it with ``ray job stop``); ``None`` waits
    as long as the job runs (a follow job runs until stopped).
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    if on_logs is not None:
        try:
            asyncio.run(asyncio.wait_for(_stream_logs(client, job_id, on_logs), timeout_s))
        except TimeoutError:
            status = client.get_job_status(job_id)
            raise SubmitTimeout(f"job {job_id} is still {status.value} after {timeout_s} s") from None
    # The log stream closes when the job ends; its status may take a moment more to be final.
    while True:
        status = client.get_job_status(job_id)
        if status.is_terminal():
            return status.value
        if deadline is not None and time.monotonic() >= deadline:
            raise SubmitTimeout(f"job {job_id} is still {status.value} after {timeout_s} s")
        time.sleep(poll_s)


async def _stream_logs(client, job_id: str, on_logs: typing.Callable[[str], None]) -> None:
    async for text in client.tail_job_logs(job_id):
        on_logs(text)
